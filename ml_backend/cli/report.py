"""``lsagent jobs report J -o report.html``: save a job's self-contained HTML report.

The page is rendered by the service (``GET /api/jobs/<id>/report``), so this command only writes
it; ``report_command`` is attached to the ``jobs`` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from ml_backend.cli.output import client, console


@click.command("report")
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: report-<job id>.html); '-' for standard output.")
@click.option("--target", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.95, show_default=True,
              help="Target accuracy for the recommended threshold.")
def report_command(job_id: str, output: Path | None, target: float) -> None:
    """Write the job's HTML report: summary, confidence histogram, label distribution, and the
    accuracy by confidence once tasks are verified. One file, no script, opens anywhere."""
    page = client().report(job_id, target)
    if output is not None and str(output) == "-":
        click.echo(page, nl=False)
        return
    path = output or Path(f"report-{job_id[:12]}.html")
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    console.print(f"report of job {job_id} written to [bold]{path}[/bold] ({len(page.encode()) // 1024 + 1} KB); "
                  "open it in a browser", highlight=False)
