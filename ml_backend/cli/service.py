"""``lsagent serve``: the service under gunicorn, the same server the Docker image runs.

gunicorn is driven from Python (a small ``BaseApplication``), so no config file is needed and
the settings come from the same environment variables as in Docker. The gthread worker serves
Label Studio's long /predict calls on threads while other requests keep being answered.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from ml_backend.app import configure_logging, create_app
from ml_backend.settings import Settings

# gunicorn must not kill a worker while /predict is still inside its budget.
TIMEOUT_MARGIN_S = 40


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
        "worker_class": "gthread",
        "timeout": int(settings.predict_budget_s) + TIMEOUT_MARGIN_S,
        "graceful_timeout": 30,
        "loglevel": settings.log_level.lower(),
        "accesslog": "-",
        "preload_app": True,
        "post_worker_init": _resume_jobs,
    }


def _resume_jobs(worker: Any) -> None:
    """Unfinished jobs resume as soon as a worker starts, not on the first request after a restart."""
    from ml_backend.api.jobs import resume_jobs

    resume_jobs(worker.wsgi)


@click.command("serve")
@click.option("--port", type=int, help="Port (default: $PORT or 9090).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface; 0.0.0.0 to accept remote calls.")
@click.option("--workers", type=click.IntRange(1), help="Worker processes (default: $WORKERS or 1).")
@click.option("--threads", type=click.IntRange(1), help="Threads per worker (default: $THREADS or 8).")
def serve_command(port: int | None, host: str, workers: int | None, threads: int | None) -> None:
    """Run the ML backend service for Label Studio and the admin REST API."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    options = gunicorn_options(settings, host, port or settings.port)
    options.update({key: value for key, value in (("workers", workers), ("threads", threads)) if value})
    click.echo(f"lsagent service on http://{host}:{port or settings.port} "
               f"({options['workers']} worker(s) x {options['threads']} threads)", err=True)
    ServiceApplication(settings, options).run()


COMMANDS = [serve_command]
