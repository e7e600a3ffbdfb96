"""``lsagent jobs ...`` (clients of the service's jobs API) and ``lsagent worker`` (runs chunks)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Column, Table
from rich.text import Text

from ml_backend.cli.output import client, console, emit, json_option, key_values
from ml_backend.cli.report import report_command
from ml_backend.client import Client

FINAL = ("done", "failed", "cancelled")
POLL_S = 0.5
SHORT_ID = 8  # the shortest job id prefix the service accepts
LINE_EVERY_S = 5.0  # progress lines without a terminal
PROJECT_OPTION = click.option(
    "--project", type=click.IntRange(1), help="Another project with the same labels (default: the agent's)."
)
ERRORS = ("format_error", "invalid_label", "api_error", "context_overflow", "empty_input", "span_not_found")


SUBSET_HELP = "all | unlabeled (alias unverified: tasks nobody annotated) | ids:1,2,3 | view:<view id>"


@click.group("jobs")
def jobs_group() -> None:
    """Annotation jobs: an agent labels a subset of its project's tasks."""


@jobs_group.command("run")
@click.option("--agent", required=True, help="Agent id, id prefix, model_version or unique name.")
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@PROJECT_OPTION
@click.option("--wait", is_flag=True, help="Follow the job with a progress bar, then show its summary.")
@json_option
def run_command(agent: str, subset: str, project: int | None, wait: bool, as_json: bool) -> None:
    """Start a job; prints its id (with --wait: progress, then the summary)."""
    service = client()
    job = service.run_job(agent, subset, project=project)
    if not wait:
        emit(job, as_json, lambda data: click.echo(data["id"]))
        return
    final = follow(service, job, progress=not as_json)
    emit(final, as_json, render_job)
    if final["status"] != "done":
        sys.exit(1)


@jobs_group.command("show")
@click.argument("job_id")
@json_option
def show_command(job_id: str, as_json: bool) -> None:
    """A job's status, counts and (once ended) its summary."""
    emit(client().job(job_id), as_json, render_job)


@jobs_group.command("list")
@click.option("--project", type=int, required=True, help="Label Studio project id.")
@json_option
def list_command(project: int, as_json: bool) -> None:
    """The project's jobs, newest first."""
    jobs = client().jobs(project)
    emit({"jobs": jobs}, as_json, lambda data: _render_list(data["jobs"]))


@jobs_group.command("cancel")
@click.argument("job_id")
@json_option
def cancel_command(job_id: str, as_json: bool) -> None:
    """Stop a queued or running job (finished predictions are still written)."""
    emit(client().cancel(job_id), as_json, render_job)


@jobs_group.command("rescore")
@click.argument("job_id")
@click.option("--method", type=click.Choice(["auto", "isotonic", "platt"]), default="auto", show_default=True,
              help="Calibration map; auto takes the one with the lower cross-validated ECE.")
@json_option
def rescore_command(job_id: str, method: str, as_json: bool) -> None:
    """Rewrite the job's prediction scores in Label Studio with the agent's calibrated confidence
    (fitted on its verified items; the raw confidence stays in the store)."""
    emit(client().rescore_job(job_id, method), as_json, lambda data: console.print(
        f"{data['rescored']} prediction(s) of {data['model_version']} rescored with the {data['method']} map "
        f"from {data['n']} verified items: ECE {data['ece_before']:.4f} -> {data['ece_after']:.4f} "
        "(cross-validated)", highlight=False))


@jobs_group.command("estimate")
@click.option("--agent", required=True, help="Agent id, id prefix, model_version or unique name.")
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@PROJECT_OPTION
@json_option
def estimate_command(agent: str, subset: str, project: int | None, as_json: bool) -> None:
    """Estimate tokens and cost from the real prompts of the subset (nothing is sent to the model)."""
    emit(client().estimate(agent, subset, project=project), as_json, _render_estimate)


@click.command("worker")
@click.option("--queue", default=None, help="RQ queue to work on (default: $LSAGENT_QUEUE or 'lsagent').")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty and the chunks in hand are done.")
def worker_command(queue: str | None, burst: bool) -> None:
    """Run chunks of annotation jobs from Redis (needs REDIS_URL, DATABASE_URL, LABEL_STUDIO_*)."""
    from ml_backend.jobs.worker import WorkerConfigError, work

    try:
        drained = work(queue, burst)
    except WorkerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(0 if drained else 1)


jobs_group.add_command(report_command)

COMMANDS = [jobs_group, worker_command]


# --- following a job ------------------------------------------------------------------------

class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} tasks/s" if speed else "- tasks/s", style="cyan")


def follow(service: Client, job: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Follow the job until it ends; with ``progress``, a live bar (done/total, rate, ETA,
    errors, tokens, cost). While the service restarts, say so and keep waiting for it (the job
    goes on), then resume the bar. Ctrl-C stops following, not the job."""
    if not progress:
        return service.wait(job["id"], poll=POLL_S, on_waiting=_say_on_stderr)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
               TimeRemainingColumn(), TextColumn("{task.fields[extra]}"))
    try:
        if not console.is_terminal:
            return _follow_in_lines(service, job)
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(f"job {job['id'][:8]}", total=None, extra="")

            def show(current: dict[str, Any]) -> None:
                bar.update(task, total=current["total"] or None, completed=current["counts"]["done"],
                           extra=_extra(current))

            def waiting(message: str) -> None:
                bar.console.print(f"[yellow]{message}[/yellow]")
                bar.update(task, extra="waiting for the lsagent service ...")

            show(job)
            return service.wait(job["id"], poll=POLL_S, on_progress=show, on_waiting=waiting)
    except KeyboardInterrupt:
        console.print(f"stopped following; the job goes on: lsagent jobs show {job['id']}")
        sys.exit(130)


def _say_on_stderr(message: str) -> None:
    click.echo(message, err=True)


def _follow_in_lines(service: Client, job: dict[str, Any]) -> dict[str, Any]:
    """Progress for a log or a pipe: a whole line whenever the count moves (at most every
    ``LINE_EVERY_S``), never a bar cut to 80 columns and redrawn with control characters."""
    shown: dict[str, Any] = {"done": None, "at": 0.0}

    def show(current: dict[str, Any]) -> None:
        done = (current["counts"]["done"], current["status"])
        if done != shown["done"] and (current["status"] in FINAL or time.monotonic() - shown["at"] >= LINE_EVERY_S):
            total = current["total"] if current["total"] is not None else "?"
            console.print(f"job {current['id'][:8]}: {current['counts']['done']}/{total} done · {_extra(current)}",
                          highlight=False, soft_wrap=True)
            shown.update(done=done, at=time.monotonic())

    show(job)
    return service.wait(job["id"], poll=POLL_S, on_progress=show, on_waiting=_say_on_stderr)


def _extra(job: dict[str, Any]) -> str:
    errors = sum(job["counts"][name] for name in ERRORS)
    return (f"{job['status']} · errors {errors} · tokens {job['tokens_in']:,}/{job['tokens_out']:,} · "
            f"${job['cost']:.4f}")


# --- rendering --------------------------------------------------------------------------------

def render_job(job: dict[str, Any]) -> None:
    counts = job["counts"]
    console.print(f"[bold]job {job['id']}[/bold] {job['status']}: {counts['done']}/{job['total']} task(s), "
                  f"agent {job['model_version']}, project {job['project']}, subset {job['subset']}")
    if job.get("error"):
        console.print(f"[red]{job['error']}[/red]", highlight=False)
    if job.get("project_model_version_set"):
        console.print(f"Label Studio project {job['project']} model_version set to [bold]{job['model_version']}"
                      "[/bold]: the Data Manager score column and filters show this agent's predictions")
    summary = job.get("summary")
    if summary:
        _render_summary(summary)
    else:
        console.print("  " + " · ".join(f"{name} {value}" for name, value in counts.items() if value))


def _render_summary(summary: dict[str, Any]) -> None:
    counts = " · ".join(f"{name} {value}" for name, value in summary["counts"].items())
    console.print(f"  outcomes: {counts}")
    for control, labels in summary["labels"].items():
        shown = ", ".join(f"{label} {n}" for label, n in sorted(labels.items(), key=lambda item: -item[1]))
        console.print(f"  labels ({control}): {shown}")
    _render_histogram(summary["confidence_histogram"], summary.get("mean_confidence"))
    if summary["invalid_labels"]:
        shown = ", ".join(f"{entry['label']!r} ×{entry['count']}" for entry in summary["invalid_labels"])
        console.print(f"  invalid labels: {shown}", highlight=False)
    if summary["api_errors"]:
        console.print("  API errors: " + ", ".join(f"{kind} {n}" for kind, n in summary["api_errors"].items()))
    console.print(f"  tokens in {summary['tokens_in']:,} · out {summary['tokens_out']:,} · cost "
                  f"${summary['cost']:.4f} ({summary['price_source']})", highlight=False)
    _render_signal_cost(summary.get("signals"))
    rate = summary.get("throughput_per_s")
    console.print(f"  wall time {summary['wall_time_s']:.1f} s · {rate if rate is not None else '-'} tasks/s · "
                  f"predictions written {summary['predictions_written']}")
    console.print(f"  per call: latency {_seconds(summary.get('mean_latency_s'))} · waiting for a slot "
                  f"{_seconds(summary.get('mean_queue_s'))} (mean)", highlight=False)
    flight = summary.get("in_flight")
    if flight:
        console.print(f"  LLM calls in flight: peak {flight['peak']} · mean {flight['mean']} of "
                      f"{flight.get('limit', '-')} allowed, over {flight['span_s']:.1f} s", highlight=False)


def _render_signal_cost(signals: dict[str, Any] | None) -> None:
    """The calls and tokens the agent's confidence signal added (included in the totals above)."""
    if not signals:
        return
    for name, cost in signals["cost"].items():
        console.print(f"  of which {name}: {cost['calls']:,} calls · tokens in {cost['prompt_tokens']:,} · "
                      f"out {cost['completion_tokens']:,}", highlight=False)
    if signals.get("fallback_items"):
        console.print(f"  {signals['fallback_items']} items scored by the label probability instead of "
                      f"{signals['confidence']} (see each item's meta.signals.fallback)", highlight=False)


def _render_histogram(bins: list[dict[str, Any]], mean: float | None) -> None:
    peak = max((entry["count"] for entry in bins), default=0)
    if not peak:
        return
    console.print(f"  confidence (mean {mean}):")
    for entry in bins:
        bar = "█" * round(30 * entry["count"] / peak)
        console.print(f"    {entry['from']:.1f}-{entry['to']:.1f} {bar} {entry['count']}")


def short_ids(ids: list[str], minimum: int = SHORT_ID) -> dict[str, str]:
    """Each id cut to the shortest prefix (at least ``minimum`` characters) no other listed id
    starts with: what every command taking a job id accepts."""
    short = {}
    for job_id in ids:
        length = minimum
        while length < len(job_id) and any(other != job_id and other.startswith(job_id[:length]) for other in ids):
            length += 1
        short[job_id] = job_id[:length]
    return short


def _render_list(jobs: list[dict[str, Any]]) -> None:
    short = short_ids([job["id"] for job in jobs])
    widest = max((len(value) for value in short.values()), default=SHORT_ID)
    table = Table(Column("id", no_wrap=True, min_width=widest), "status", "agent", "subset", "done/total", "labeled",
                  "errors", "cost", "created")
    for job in jobs:
        errors = sum(job["counts"][name] for name in ERRORS)
        table.add_row(short[job["id"]], job["status"], job["model_version"] or job["agent_id"][:8], job["subset"],
                      f"{job['counts']['done']}/{job['total']}", str(job["counts"]["labeled"]), str(errors),
                      f"${job['cost']:.4f}", (job["created_at"] or "")[:19])
    console.print(table)


def _render_estimate(data: dict[str, Any]) -> None:
    key_values({key: value for key, value in data.items() if key != "estimate"},
               title=f"ESTIMATE for {data['model_version']} on {data['subset']}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
