"""No URL's userinfo is ever shown: not by /health while the LLM endpoint is still being probed, not
in the HTTP libraries' log lines, not in a repr (issue 10 item 6). Against the real service."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.redact import public_url, redact_text
from tests.fixtures.label_studio import SENTIMENT_CONFIG

USERINFO = "bob:hunter2-secret"


@pytest.fixture
def slow_endpoint() -> Iterator[int]:
    """An endpoint that answers a byte every 0.2 s: no socket timeout fires, so the LLM probe is
    still running when /health answers (the "still probing" branch)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            for byte in b"HTTP/1.1 404 Not Found\r\nX-Padding: " + b"x" * 40:
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection = server.accept()[0]
            except OSError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def answering_endpoint() -> Iterator[int]:
    """An HTTP server that answers every request 404, as an endpoint without /models would."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_health_never_shows_the_userinfo_of_the_llm_endpoint(make_service: Any, slow_endpoint: int,
                                                             answering_endpoint: int) -> None:
    slow = make_service(openai_base_url=f"http://{USERINFO}@127.0.0.1:{slow_endpoint}/v1")
    probing = requests.get(f"{slow.url}/health", timeout=5)
    assert "still probing" in probing.json()["checks"]["llm"]["detail"]
    answering = make_service(openai_base_url=f"http://{USERINFO}@127.0.0.1:{answering_endpoint}/v1")
    probed = requests.get(f"{answering.url}/health", timeout=5)
    assert "answered HTTP 404" in probed.json()["checks"]["llm"]["detail"]
    for answer, port in ((probing, slow_endpoint), (probed, answering_endpoint)):
        assert f"127.0.0.1:{port}" in answer.text
        assert "hunter2" not in answer.text and "bob" not in answer.text


def test_http_log_lines_never_show_userinfo(make_service: Any, label_studio: Any, answering_endpoint: int,
                                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used-0123456789")
    service = make_service(label_studio=label_studio,
                           openai_base_url=f"http://{USERINFO}@127.0.0.1:{answering_endpoint}/v1")
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "Fine."}])
    answer = requests.post(f"{service.url}/api/agents", timeout=30,
                           json={"project": project, "name": "probe", "model": "sim-small"})
    assert answer.status_code == 422 and answer.json()["check"] == "endpoint"
    assert f"GET http://127.0.0.1:{answering_endpoint}/v1/models" in caplog.text  # the line is there...
    assert "hunter2" not in caplog.text and "bob:" not in caplog.text  # ...without the userinfo
    assert "hunter2" not in answer.text and "hunter2" not in repr(service.settings)
    client = service.runtime.llm_client(ModelConfig(model="sim-small"))
    try:
        assert f"127.0.0.1:{answering_endpoint}" in repr(client) and "hunter2" not in repr(client)
    finally:
        client.close()


def test_public_url_and_redact_text() -> None:
    assert public_url("https://u:p@host:8443/v1?x=1") == "https://host:8443/v1?x=1"
    assert public_url("http://host/v1") == "http://host/v1"
    assert redact_text("GET http://u:p@a/v1 then redis://:pw@r:6379/0 and mail a@b") == \
        "GET http://a/v1 then redis://r:6379/0 and mail a@b"
