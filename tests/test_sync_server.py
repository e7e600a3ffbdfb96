"""sync.server and the fixture's stop/start: the same Label Studio goes away and comes back."""

import sqlite3
import time

import pytest

from sync import server
from sync.client import LabelStudioUnavailable, connect
from sync.tasks import count_tasks, iter_task_pages
from tests.fixtures.label_studio import SENTIMENT_CONFIG, template_cache_dir


def test_wait_healthy_times_out_on_a_port_nobody_serves():
    started = time.monotonic()
    with pytest.raises(server.LabelStudioStartError, match="not healthy after 0.2 s"):
        server.wait_healthy(f"http://127.0.0.1:{server.free_port()}", timeout=0.2)
    assert time.monotonic() - started < 5


def test_start_refuses_a_venv_without_label_studio(tmp_path):
    with pytest.raises(server.LabelStudioStartError, match="no Label Studio at"):
        server.start_label_studio(tmp_path, 1, tmp_path / "d", "u@example.com", "p", "t", tmp_path / "log")


def test_child_environment_does_not_leak_plain_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("USERNAME", "someone-else")
    monkeypatch.setenv("DJANGO_DB", "postgresql")
    env = server.label_studio_env(tmp_path, "admin@example.com", "pw", "token")
    assert "USERNAME" not in env and "DJANGO_DB" not in env
    assert env["LABEL_STUDIO_USERNAME"] == "admin@example.com"
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["USE_DEFAULT_BANNED_SUBNETS"] == "false"


def test_log_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "ls.log"
    log.write_text("\n".join(f"line {n}" for n in range(100)))
    assert server.log_tail(log, 2) == "line 98\nline 99"
    assert server.log_tail(tmp_path / "missing.log") == "(no log)"


def test_label_studio_going_away_and_coming_back(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(5)])
    client = label_studio.client
    label_studio.stop()
    try:
        assert not label_studio.running
        with pytest.raises(LabelStudioUnavailable, match="unreachable"):
            connect(label_studio.url, label_studio.api_key, max_retries=0)
        with pytest.raises(LabelStudioUnavailable):
            next(iter_task_pages(client, project))
    finally:
        label_studio.start()
    assert label_studio.running and label_studio.startup_seconds < 60
    assert count_tasks(client, project) == 5
    assert connect(label_studio.url, label_studio.api_key).users.whoami().email == label_studio.username


def test_seed_database_copies_a_migrated_database_without_users(label_studio, tmp_path):
    cache = template_cache_dir(label_studio.venv)
    assert server.seed_database(label_studio.venv, tmp_path / "data", cache) is True
    with sqlite3.connect(tmp_path / "data" / server.DATABASE) as database:
        assert database.execute("select count(*) from htx_user").fetchone() == (0,)
        assert database.execute("select count(*) from django_migrations").fetchone()[0] > 100
    assert server.seed_database(label_studio.venv, tmp_path / "data", cache) is False


def test_no_template_without_label_studio(tmp_path):
    with pytest.raises(server.LabelStudioStartError, match="label-studio is not installed"):
        server.migrated_template(tmp_path, tmp_path / "cache")
