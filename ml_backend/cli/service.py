"""``lsagent serve``: the service under gunicorn (``ml_backend.service.server``). The server is
imported when the command runs: Flask, SQLAlchemy and the engine would slow every other command."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--port", type=int, help="Port (default: $PORT or 9090).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface; 0.0.0.0 to accept remote calls.")
@click.option("--workers", type=click.IntRange(1), help="Worker processes (default: $WORKERS or 1).")
@click.option("--threads", type=click.IntRange(1), help="Threads per worker (default: $THREADS or 8).")
def serve_command(port: int | None, host: str, workers: int | None, threads: int | None) -> None:
    """Run the ML backend service for Label Studio and the admin REST API."""
    from ml_backend.service.server import ServiceApplication, gunicorn_options
    from ml_backend.settings import Settings

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
