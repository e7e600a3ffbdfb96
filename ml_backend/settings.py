"""Service settings, read once from the environment.

The variable names are those label-studio-ml backends use, so a Label Studio team deploys this
service like any other backend. The job machinery's knobs are ``jobs`` (see ``JobOptions``),
read here too, so that one call reads the whole environment and one bad value stops the start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_backend.engine.endpoints import (
    BASE_URLS_VAR,
    DEFAULT_KEY_PATTERNS,
    KEY_PATTERNS_VAR,
    EndpointPolicy,
    allowed_base_urls,
    key_patterns,
)
from ml_backend.environment import number, url
from ml_backend.jobs.options import JobOptions


def _bounded(env: Mapping[str, str], name: str, default: float, most: float, exclusive: bool = False) -> float:
    """A positive number up to ``most`` (below it with ``exclusive``): the rate limiter's window
    (a provider counts over at most a minute) and margin (a share of the limit)."""
    value = number(env, name, default, 0.0)
    if value <= 0 or value > most or (exclusive and value == most):
        raise ValueError(f"environment variable {name} must be above 0 and {'below' if exclusive else 'at most'} "
                         f"{most:g}, got {env.get(name)!r}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str = field(repr=False)
    label_studio_url: str | None = None
    label_studio_api_key: str | None = field(default=None, repr=False)
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    openai_base_url: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    port: int = 9090
    workers: int = 1
    threads: int = 8
    predict_budget_s: float = 80.0
    webhook_max_bytes: int = 1_000_000
    pool_idle_s: float = 30.0
    api_key_vars: tuple[str, ...] = DEFAULT_KEY_PATTERNS
    allowed_base_urls: tuple[str, ...] = ()
    rate_window_s: float = 60.0
    rate_margin: float | None = None  # None: the limiter's default for the window
    jobs: JobOptions = field(default_factory=JobOptions)

    def __post_init__(self) -> None:
        """Half a basic-auth pair would leave every route open while looking protected: refuse it."""
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            given, missing = (("BASIC_AUTH_USER", "BASIC_AUTH_PASS") if self.basic_auth_user
                              else ("BASIC_AUTH_PASS", "BASIC_AUTH_USER"))
            raise ValueError(f"{given} is set but {missing} is empty: set both to protect the service, "
                             "or neither to run it open (for a service on loopback only)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("LSAGENT_DATA_DIR") or Path.home() / ".lsagent")
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'lsagent.sqlite3'}",
            label_studio_url=url(env, "LABEL_STUDIO_URL"),
            label_studio_api_key=env.get("LABEL_STUDIO_API_KEY") or None,
            basic_auth_user=env.get("BASIC_AUTH_USER") or None,
            basic_auth_pass=env.get("BASIC_AUTH_PASS") or None,
            redis_url=env.get("REDIS_URL") or None,
            openai_base_url=url(env, "OPENAI_BASE_URL"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            port=number(env, "PORT", 9090, 1),
            workers=number(env, "WORKERS", 1, 1),
            threads=number(env, "THREADS", 8, 1),
            predict_budget_s=number(env, "LSAGENT_PREDICT_BUDGET_S", 80.0, 1.0),
            webhook_max_bytes=number(env, "LSAGENT_WEBHOOK_MAX_BYTES", 1_000_000, 1),
            jobs=JobOptions.from_env(env),
            pool_idle_s=number(env, "LSAGENT_POOL_IDLE_S", 30.0, 0.0),
            api_key_vars=key_patterns(env.get(KEY_PATTERNS_VAR)),
            allowed_base_urls=allowed_base_urls(env.get(BASE_URLS_VAR)),
            rate_window_s=_bounded(env, "LSAGENT_RATE_WINDOW_S", 60.0, 60.0),
            rate_margin=(_bounded(env, "LSAGENT_RATE_MARGIN", 0.02, 0.5, exclusive=True)
                         if env.get("LSAGENT_RATE_MARGIN") else None),
        )

    @property
    def endpoint_policy(self) -> EndpointPolicy:
        return EndpointPolicy(self.api_key_vars, self.allowed_base_urls)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        if self.basic_auth_user and self.basic_auth_pass:
            return self.basic_auth_user, self.basic_auth_pass
        return None
