"""Service settings from the environment: defaults, and clear start-up errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_backend.settings import Settings


def test_defaults_keep_everything_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({"LSAGENT_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'lsagent.sqlite3'}"
    assert (settings.redis_url, settings.basic_auth, settings.port, settings.predict_budget_s) == (None, None, 9090, 80.0)


def test_values_are_read_and_urls_lose_their_trailing_slash() -> None:
    settings = Settings.from_env({
        "LABEL_STUDIO_URL": "http://ls:8080/", "BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "p", "PORT": "9191",
        "LSAGENT_PREDICT_BUDGET_S": "12.5", "LOG_LEVEL": "debug", "REDIS_URL": "redis://r:6379/0",
        "LABEL_STUDIO_API_KEY": "ls-secret-token",
    })
    assert (settings.label_studio_url, settings.basic_auth, settings.port) == ("http://ls:8080", ("u", "p"), 9191)
    assert (settings.predict_budget_s, settings.log_level, settings.redis_url) == (12.5, "DEBUG", "redis://r:6379/0")
    assert settings.label_studio_api_key == "ls-secret-token"
    assert (settings.rate_window_s, settings.rate_margin) == (60.0, 0.02)
    paced = Settings.from_env({"LSAGENT_RATE_WINDOW_S": "6", "LSAGENT_RATE_MARGIN": "0.05"})
    assert (paced.rate_window_s, paced.rate_margin) == (6.0, 0.05)
    assert "ls-secret-token" not in repr(settings) and "basic_auth_pass" not in repr(settings)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("PORT", "http", "PORT must be a positive integer"),
        ("THREADS", "0", "THREADS must be a positive integer"),
        ("LSAGENT_PREDICT_BUDGET_S", "soon", "LSAGENT_PREDICT_BUDGET_S must be a positive number"),
        ("LABEL_STUDIO_URL", "localhost:8080", "LABEL_STUDIO_URL must be an http(s) URL"),
        ("OPENAI_BASE_URL", "api.openai.com/v1", "OPENAI_BASE_URL must be an http(s) URL"),
        ("LSAGENT_RATE_WINDOW_S", "120", "LSAGENT_RATE_WINDOW_S must be at most 60"),
        ("LSAGENT_RATE_MARGIN", "0.5", "LSAGENT_RATE_MARGIN must be below 0.5"),
        ("LSAGENT_RATE_MARGIN", "-0.1", "LSAGENT_RATE_MARGIN must be a positive number"),
    ],
)
def test_a_bad_value_is_a_start_up_error_naming_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({name: value})
