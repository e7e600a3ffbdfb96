"""The service under gunicorn, the same server for ``lsagent serve`` and the Docker image.

gunicorn is driven from Python (a small ``BaseApplication``), so no config file is needed and
the settings come from the same environment variables as in Docker. The worker is gthread with
one change (``headworker.WholeHeadWorker``): threads serve Label Studio's long /predict calls
while other requests keep being answered, and a client that sends its request slowly costs no
thread. gunicorn's control socket (a shared ``~/.gunicorn/gunicorn.ctl`` by default, where two
instances would step on each other and any local process of the user could reach the server) is
off: the service is managed through its signals and its environment.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from ml_backend.service.app import configure_logging, create_app
from ml_backend.settings import Settings

# gunicorn must not kill a worker while /predict is still inside its budget.
TIMEOUT_MARGIN_S = 40
# On SIGTERM, workers get this long to finish their requests before gunicorn kills them.
GRACEFUL_TIMEOUT_S = 30


class ServiceApplication(BaseApplication):
    """gunicorn with options from ``Settings``.

    The app is built once in the master (``preload_app``) and the workers fork from it: creating
    the tables from several workers at once fails on SQLite ("database is locked"). Nothing in a
    fresh app holds a thread or a connection a worker could inherit (the store drops pooled
    connections at fork), so each worker still ends up with its own.
    """

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        configure_logging(self._settings)
        return create_app(self._settings)


def gunicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "ml_backend.service.headworker.WholeHeadWorker",
        "http_parser": "python",  # the parser the worker hands its head bytes to
        "control_socket_disable": True,
        "timeout": int(settings.predict_budget_s) + TIMEOUT_MARGIN_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "loglevel": settings.log_level.lower(),
        "accesslog": "-",
        "preload_app": True,
        "post_worker_init": _resume_jobs,
    }


def _resume_jobs(worker: Any) -> None:
    """Unfinished jobs resume as soon as a worker starts, not on the first request after a restart."""
    from ml_backend.service.api.jobs import resume_jobs

    resume_jobs(worker.wsgi)
