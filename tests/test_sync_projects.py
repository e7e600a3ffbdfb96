"""sync.projects against a real Label Studio, with a minimal ML backend it can call."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sync.client import LabelStudioError
from sync.predictions import import_predictions, predictions_by_version
from sync.projects import (
    connect_ml_backend,
    label_config,
    ml_backends,
    model_version,
    project_exists,
    project_url,
    retrieve_predictions,
    set_model_version,
)
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment


class _Backend(BaseHTTPRequestHandler):
    """Speaks the ML backend protocol (/health, /setup, /predict, /webhook); records calls."""

    calls: list = []

    def _answer(self, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.calls.append(("GET", self.path, self.headers.get("Authorization"), None))
        self._answer({"status": "UP", "model_class": "TestBackend"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.calls.append(("POST", self.path, self.headers.get("Authorization"), body))
        if self.path == "/predict":
            results = [
                {"result": sentiment("Neutral"), "score": 0.42, "model_version": "backend@1"} for _ in body["tasks"]
            ]
            self._answer({"results": results})
        else:
            self._answer({"model_version": "backend@1"})

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    _Backend.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)  # quick shutdown()
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Backend.calls
    httpd.shutdown()
    httpd.server_close()


def test_label_config_and_model_version(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "a"}])
    assert label_config(label_studio.client, project) == SENTIMENT_CONFIG
    assert model_version(label_studio.client, project) == ""
    with pytest.raises(LabelStudioError, match="doesn't exist either as live model or as static predictions"):
        set_model_version(label_studio.client, project, "agent@abcd1234")
    task = label_studio.task_ids(project)[0]
    prediction = {"task": task, "result": sentiment("Positive"), "model_version": "agent@abcd1234"}
    import_predictions(label_studio.client, project, [prediction])
    set_model_version(label_studio.client, project, "agent@abcd1234")
    assert model_version(label_studio.client, project) == "agent@abcd1234"
    with pytest.raises(ValueError, match="non-empty"):
        set_model_version(label_studio.client, project, "")


def test_connect_backend_with_basic_auth_and_retrieve_predictions(label_studio, backend):
    url, calls = backend
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(4)])
    ids = label_studio.task_ids(project)
    backend_id = connect_ml_backend(label_studio.client, project, url, "agent", "user", "s3cret")
    expected_auth = "Basic " + base64.b64encode(b"user:s3cret").decode()
    setup = [call for call in calls if call[1] == "/setup"]
    assert setup and {call[2] for call in setup} == {expected_auth}
    assert setup[0][3]["project"].startswith(f"{project}.") and setup[0][3]["schema"] == SENTIMENT_CONFIG
    (listed,) = ml_backends(label_studio.client, project)
    assert listed["id"] == backend_id and listed["auth_method"] == "BASIC_AUTH"
    assert listed["model_version"] == "backend@1"
    assert model_version(label_studio.client, project) == "agent"  # the title, not backend@1

    assert connect_ml_backend(label_studio.client, project, url + "/", "agent v2", "user", "s3cret") == backend_id
    assert [b["title"] for b in ml_backends(label_studio.client, project)] == ["agent v2"]

    assert retrieve_predictions(label_studio.client, project, ids[1:3]) == 2
    (predict,) = [call for call in calls if call[1] == "/predict"]
    assert predict[2] == expected_auth and [task["id"] for task in predict[3]["tasks"]] == ids[1:3]
    found = predictions_by_version(label_studio.client, project, "backend@1")
    assert sorted(found) == ids[1:3] and found[ids[1]][0]["score"] == pytest.approx(0.42)
    assert retrieve_predictions(label_studio.client, project, []) == 0


def test_backend_credentials_come_in_pairs(label_studio):
    with pytest.raises(ValueError, match="both basic_auth_user and basic_auth_pass"):
        connect_ml_backend(label_studio.client, 1, "http://127.0.0.1:9", "x", basic_auth_user="only-user")


def test_project_url():
    assert project_url("http://127.0.0.1:8080/", 12) == "http://127.0.0.1:8080/projects/12/data"


def test_project_exists_without_a_traceback_in_label_studio_s_log(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [])
    before = label_studio.log_path.read_text(errors="replace").count("Traceback")
    assert project_exists(label_studio.client, project) and not project_exists(label_studio.client, 99999999)
    assert label_studio.log_path.read_text(errors="replace").count("Traceback") == before
