"""The README's main job, ``.venv/bin/lsagent demo``, run in a fresh clone of the repository.

The demo starts its own Label Studio (from the installed Label Studio virtualenv), the service and
the LLM simulator on free ports and a temporary data directory; the test reads Label Studio's API
while the demo runs, stops it with Ctrl-C (SIGINT), runs it again with ``--stop-after-views`` to
see it reuse everything, and finally checks Label Studio once more for duplicates.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli.demo import runner
from ml_backend.cli.demo.command import demo_command
from ml_backend.cli.demo.dataset import LABELS, load_reviews
from sync import filters, server
from sync.client import connect
from sync.predictions import predictions_by_version
from sync.projects import ml_backends, model_version
from sync.server import free_port
from sync.tasks import iter_task_pages
from sync.views import list_views, view_task_ids
from tests.fixtures.browser import LabelStudioPage, chromium
from tests.webapp_bundle import problems

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 420.0
STOP_TIMEOUT_S = 60.0


def fresh_clone(target: Path) -> Path:
    """A clone of this repository; with uncommitted work, a copy of exactly the files a commit
    would hold (tracked and untracked, minus the ignored). The project virtualenv is linked in,
    already installed, as ``make setup`` would leave it."""
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True)
    if not dirty.stdout.strip():
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    else:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            source = REPO / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Demo:
    """``.venv/bin/lsagent demo ...`` running in the clone; its output is collected line by line."""

    def __init__(self, clone: Path, data_dir: Path, ports: tuple[int, int], *extra: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(clone),
               "LSAGENT_LS_VENV": str(server.default_venv())}
        for name in ("OPENAI_BASE_URL", "BASIC_AUTH_USER", "BASIC_AUTH_PASS", "COLUMNS"):
            env.pop(name, None)
        command = [".venv/bin/lsagent", "demo", "--data-dir", str(data_dir), "--port-ls", str(ports[0]),
                   "--port", str(ports[1]), "--sim-latency-ms", "5", *extra]
        # Ctrl-C reaches the demo even when this pytest runs in a background job (which inherits
        # SIGINT ignored, and would pass that on).
        self.process = subprocess.Popen(command, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True, preexec_fn=_default_sigint)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(marker):
                return
        raise AssertionError(f"no {marker!r} from the demo; its output:\n" + "\n".join(self.lines[-60:]))

    def finish(self, timeout: float = STOP_TIMEOUT_S) -> int:
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return fresh_clone(tmp_path / "clone")


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_main_job_in_a_fresh_clone(clone: Path, tmp_path: Path, demos: list[Demo]) -> None:
    where = subprocess.run([".venv/bin/python", "-c", "import ml_backend; print(ml_backend.__file__)"], cwd=clone,
                           env={**os.environ, "PYTHONPATH": str(clone)}, capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(clone / "ml_backend" / "__init__.py")
    data_dir, ports = tmp_path / "demo-data", (free_port(), free_port())

    first = Demo(clone, data_dir, ports)
    demos.append(first)
    first.wait_for("Ready.", READY_TIMEOUT_S)
    state = json.loads((data_dir / "demo.json").read_text())
    account = runner.ACCOUNT
    assert "SIMULATOR" in first.output and f"login {account.username} / {account.password}" in first.output
    assert f"API token {account.token}" in first.output
    held = check_label_studio(state)
    check_in_browser(state, tmp_path / "chromium")
    old = legacy_view(state)
    first.process.send_signal(signal.SIGINT)
    assert first.finish() == 0, first.output
    assert "interrupted" in first.output and "resumes" not in first.output  # the job had finished
    assert "stopping Label Studio" in first.output and not port_open(ports[0]) and not port_open(ports[1])
    assert (data_dir / "logs" / "label-studio.log").stat().st_size > 0
    assert (data_dir / "logs" / "service.log").stat().st_size > 0

    again = Demo(clone, data_dir, ports, "--stop-after-views")
    demos.append(again)
    assert again.finish(READY_TIMEOUT_S) == 0, again.output
    for said in (f"reusing project {state['project']}", "(the same agent as before)", f"reusing job {state['job']}",
                 f"updated view '{runner.LOW_TITLE}'", f"updated view '{runner.AUDIT_TITLE}'",
                 f"view {old} '{OLD_TITLE}' could not load in Label Studio's web app"):
        assert said in again.output, said
    assert f"'{OLD_TITLE}' could not load in Label Studio's web app (operator 'in_list' on filter:tasks:id): " \
           "rewritten" in " ".join(again.output.split())
    assert json.loads((data_dir / "demo.json").read_text()) | {"llm": None} == state | {"llm": None}
    assert not port_open(ports[0]) and not port_open(ports[1])
    log = (data_dir / "logs" / "label-studio.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]  # the project found again quietly
    assert check_label_studio(state, restart=(data_dir, ports[0])) == held


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_a_job_interrupted_midway_is_said_to_resume_and_does(clone: Path, tmp_path: Path, demos: list[Demo]) -> None:
    """Ctrl-C while the job runs: the demo names the unfinished job, and the next run follows that
    same job to the end (the finished case is in test_main_job_in_a_fresh_clone)."""
    data_dir, ports = tmp_path / "demo-data", (free_port(), free_port())
    first = Demo(clone, data_dir, ports, "--sim-latency-ms", "1500")  # 343 tasks, 16 at a time: over 30 s
    demos.append(first)
    first.wait_for("==> started job ", READY_TIMEOUT_S)
    job = first.lines[-1].split()[3].rstrip(":")
    first.wait_for(f"job {job[:8]}: 0/", 60)
    first.wait_for(f"job {job[:8]}: ", 60)  # the next line comes once tasks are done, the job still running
    assert not first.lines[-1].startswith(f"job {job[:8]}: 0/"), first.output
    first.process.send_signal(signal.SIGINT)
    assert first.finish() == 0, first.output
    assert f"interrupted; job {job} did not finish: it resumes on the next run" in first.output
    assert not port_open(ports[0]) and not port_open(ports[1])

    again = Demo(clone, data_dir, ports, "--stop-after-views")
    demos.append(again)
    assert again.finish(READY_TIMEOUT_S) == 0, again.output
    state = json.loads((data_dir / "demo.json").read_text())
    tasks = len(load_reviews())
    assert state["job"] == job and f"following job {job}" in again.output and "started job" not in again.output
    assert f"Label Studio holds {tasks} prediction(s) of {state['model_version']} on {tasks} task(s) (one per " \
           "task)" in " ".join(again.output.split())
    assert "resumes" not in again.output


def check_label_studio(state: dict[str, Any], restart: tuple[Path, int] | None = None) -> dict[int, float]:
    """What Label Studio holds: the tasks with their gold out of the model's sight, one prediction
    of the agent per task, the two views with the right tasks, the service as ML backend.
    Returns {task id: score}. With ``restart``, Label Studio is started again on that data first."""
    process = None
    if restart is not None:
        venv = server.default_venv()
        log = restart[0] / "logs" / "label-studio-check.log"
        account = runner.ACCOUNT
        process = server.start_label_studio(venv, restart[1], restart[0] / "label-studio", account.username,
                                            account.password, account.token, log)
        server.wait_healthy(state["label_studio_url"], 180, process)
    try:
        return _check(connect(state["label_studio_url"], runner.ACCOUNT.token), state)
    finally:
        if process is not None:
            server.stop_label_studio(process)


def _check(client: Any, state: dict[str, Any]) -> dict[int, float]:
    project, version = state["project"], state["model_version"]
    tasks = [task for page in iter_task_pages(client, project, fields=("id", "data", "meta")) for task in page]
    reviews = load_reviews()
    assert len(tasks) == len(reviews) >= 300
    assert all(set(task["data"]) == {"text"} and task["meta"]["gold"] in LABELS for task in tasks)
    assert {task["meta"]["uid"] for task in tasks} == {review.uid for review in reviews}

    predictions = predictions_by_version(client, project, version)
    assert sorted(predictions) == sorted(task["id"] for task in tasks)
    assert all(len(found) == 1 for found in predictions.values())
    scores = {task_id: found[0]["score"] for task_id, found in predictions.items()}
    assert all(0.0 <= score <= 1.0 for score in scores.values())
    assert all(found[0]["result"][0]["value"]["choices"][0] in LABELS for found in predictions.values())
    assert model_version(client, project) == version
    assert [backend["url"] for backend in ml_backends(client, project)] == [state["service_url"]]

    saved = list_views(client, project)
    assert all(problems(view["filters"]) == [] for view in saved)
    views = {view["title"]: view["id"] for view in saved if view["title"] != OLD_TITLE}
    assert sorted(views) == sorted([runner.LOW_TITLE, runner.AUDIT_TITLE])
    low = view_task_ids(client, project, views[runner.LOW_TITLE])
    expected = sorted((task for task, score in scores.items() if score < runner.REVIEW_THRESHOLD),
                      key=lambda task: (scores[task], task))
    assert low and sorted(low) == sorted(expected)
    assert [scores[task] for task in low] == sorted(scores[task] for task in low)
    audit = view_task_ids(client, project, views[runner.AUDIT_TITLE])
    assert len(audit) == runner.AUDIT_SIZE and all(scores[task] >= runner.REVIEW_THRESHOLD for task in audit)
    assert {view["title"]: view["view_id"] for view in state["views"]} == views
    return scores


OLD_TITLE = "lsagent demo: a view of an older version"


def legacy_view(state: dict[str, Any]) -> int:
    """A view as lsagent wrote them before 1.23.2's web app was checked (``in_list``): the next
    demo run must rewrite it."""
    client = connect(state["label_studio_url"], runner.ACCOUNT.token)
    ids = view_task_ids(client, state["project"], state["views"][0]["view_id"])[:3]
    data = {"title": OLD_TITLE, "filters": filters.combine([filters.ids_in(ids), filters.unlabeled()]),
            "ordering": ["tasks:id"]}
    return int(client.views.create(project=state["project"], data=data).id)


def check_in_browser(state: dict[str, Any], profile: Path) -> None:
    """What the printed URLs show a user in Chromium: every tab of the project renders without a
    console error, each review view counts and lists exactly its tasks, and a task opens with the
    agent's label pre-selected."""
    client = connect(state["label_studio_url"], runner.ACCOUNT.token)
    project = state["project"]
    total = sum(len(page) for page in iter_task_pages(client, project, fields=("id",)))
    predictions = predictions_by_version(client, project, state["model_version"])
    driver = chromium(profile)
    try:
        page = LabelStudioPage(driver, state["label_studio_url"])
        page.login(state["username"], state["password"])
        for view in state["views"]:
            listed = view_task_ids(client, project, view["view_id"])
            assert page.open_view(project, view["view_id"]) == (len(listed), total), view["title"]
            assert page.console_errors() == [], view["title"]
            assert [int(row[0]) for row in page.rows()] == listed[: len(page.rows())], view["title"]
            assert {"Prediction score", "Prediction results", "text"} <= set(page.header())
        first = view_task_ids(client, project, state["views"][0]["view_id"])[0]
        label = predictions[first][0]["result"][0]["value"]["choices"][0]
        choices = page.open_task(project, state["views"][0]["view_id"], first)
        assert choices == {name: name == label for name in LABELS}
        assert page.console_errors() == []
    finally:
        driver.quit()


def test_busy_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(demo_command, ["--data-dir", str(tmp_path), "--port-ls", str(port),
                                                   "--port", str(free_port())])
    assert result.exit_code == 1
    assert f"port {port} is already in use, so Label Studio cannot start there" in result.output
    assert "--port-ls PORT" in result.output and not (tmp_path / "logs").exists()


def test_missing_label_studio_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSAGENT_LS_VENV", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(demo_command, ["--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert f"Label Studio 1.23.2 is not installed in {tmp_path / 'nowhere'}" in result.output
    assert "make setup" in result.output


def test_an_unknown_model_is_refused_before_anything_starts(tmp_path: Path, sim: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", sim.api_key)
    ports = ["--port-ls", str(free_port()), "--port", str(free_port())]
    unknown = CliRunner().invoke(demo_command, ["--data-dir", str(tmp_path), "--base-url", sim.base_url,
                                                "--model", "my-own-model", *ports])
    assert unknown.exit_code == 1 and "pass --context-window N" in unknown.output, unknown.output
    absent = CliRunner().invoke(demo_command, ["--data-dir", str(tmp_path), "--base-url", sim.base_url,
                                               "--model", "my-own-model", "--context-window", "4096", *ports])
    assert absent.exit_code == 1 and "does not offer model 'my-own-model'" in absent.output, absent.output
    assert "sim-small" in absent.output
    assert not (tmp_path / "logs").exists() and sim.stats()["requests"] == 0
