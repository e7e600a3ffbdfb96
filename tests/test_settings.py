"""Service settings from the environment: defaults, and clear start-up errors for bad values."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ml_backend.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_defaults_keep_everything_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({"LSAGENT_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'lsagent.sqlite3'}"
    assert (settings.redis_url, settings.basic_auth, settings.port, settings.predict_budget_s) == (
        None, None, 9090, 80.0)


def test_values_are_read_and_urls_lose_their_trailing_slash() -> None:
    settings = Settings.from_env({
        "LABEL_STUDIO_URL": "http://ls:8080/", "BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "p", "PORT": "9191",
        "LSAGENT_PREDICT_BUDGET_S": "12.5", "LOG_LEVEL": "debug", "REDIS_URL": "redis://r:6379/0",
        "LABEL_STUDIO_API_KEY": "ls-secret-token",
    })
    assert (settings.label_studio_url, settings.basic_auth, settings.port) == ("http://ls:8080", ("u", "p"), 9191)
    assert (settings.predict_budget_s, settings.log_level, settings.redis_url) == (12.5, "DEBUG", "redis://r:6379/0")
    assert settings.label_studio_api_key == "ls-secret-token"
    assert (settings.rate_window_s, settings.rate_margin) == (60.0, None)  # the limiter's default for the window
    paced = Settings.from_env({"LSAGENT_RATE_WINDOW_S": "6", "LSAGENT_RATE_MARGIN": "0.05"})
    assert (paced.rate_window_s, paced.rate_margin) == (6.0, 0.05)
    assert "ls-secret-token" not in repr(settings) and "basic_auth_pass" not in repr(settings)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("PORT", "http", "PORT must be an integer >= 1"),
        ("THREADS", "0", "THREADS must be an integer >= 1"),
        ("LSAGENT_PREDICT_BUDGET_S", "soon", "LSAGENT_PREDICT_BUDGET_S must be a number >= 1.0"),
        ("LSAGENT_CHUNK_SIZE", "2.5", "LSAGENT_CHUNK_SIZE must be an integer >= 1"),
        ("LABEL_STUDIO_URL", "localhost:8080", "LABEL_STUDIO_URL must be an http(s) URL"),
        ("OPENAI_BASE_URL", "api.openai.com/v1", "OPENAI_BASE_URL must be an http(s) URL"),
        ("LSAGENT_RATE_WINDOW_S", "120", "LSAGENT_RATE_WINDOW_S must be above 0 and at most 60"),
        ("LSAGENT_RATE_MARGIN", "0.5", "LSAGENT_RATE_MARGIN must be above 0 and below 0.5"),
        ("LSAGENT_RATE_MARGIN", "-0.1", "LSAGENT_RATE_MARGIN must be a number >= 0.0"),
    ],
)
def test_a_bad_value_is_a_start_up_error_naming_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({name: value})


@pytest.mark.parametrize("given, missing", [("BASIC_AUTH_USER", "BASIC_AUTH_PASS"),
                                            ("BASIC_AUTH_PASS", "BASIC_AUTH_USER")])
def test_half_a_basic_auth_pair_is_refused(given: str, missing: str) -> None:
    """Issue 10 item 9: a user without a password used to leave every route open, silently."""
    with pytest.raises(ValueError, match=f"{given} is set but {missing} is empty"):
        Settings.from_env({given: "lsagent", missing: ""})
    with pytest.raises(ValueError, match=f"{given} is set but {missing} is empty"):
        Settings(data_dir=Path("."), database_url="sqlite://", **{given.lower(): "lsagent"})
    assert Settings.from_env({given: "", missing: ""}).basic_auth is None


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_lsagent_serve_refuses_to_start_with_half_a_basic_auth_pair(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LSAGENT_DATA_DIR": str(tmp_path), "BASIC_AUTH_USER": "lsagent", "BASIC_AUTH_PASS": "",
           "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", "from ml_backend.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output = process.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
        pytest.fail(f"the service started with BASIC_AUTH_PASS empty: {output[-500:]}")
    assert process.returncode != 0
    assert "BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty" in output and "Traceback" not in output
def test_the_job_knobs_are_read_with_the_settings() -> None:
    """One read of the environment gives the service and its job machinery the same knobs."""
    settings = Settings.from_env({"LSAGENT_CHUNK_SIZE": "25", "LSAGENT_QUEUE": "q-2", "LSAGENT_LEASE_S": "6"})
    assert (settings.jobs.chunk_size, settings.jobs.queue, settings.jobs.lease_s) == (25, "q-2", 6.0)
    assert Settings.from_env({}).jobs.chunk_size == 100
