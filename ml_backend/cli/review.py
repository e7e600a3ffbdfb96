"""``lsagent review create``, ``lsagent verification sync|show`` and ``lsagent export``: the human
half of the workflow, through the service's REST API."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from ml_backend.cli.output import client, console, emit, json_option

PROBABILITY = click.FloatRange(0.0, 1.0)
KIND_OPTIONS = ("lowest", "label", "keyword", "errors", "disagree_with", "audit", "diverse", "budget")


@click.group("review")
def review_group() -> None:
    """Review views: Data Manager tabs with only the tasks worth a human look."""


@review_group.command("create")
@click.option("--job", required=True, help="Job id.")
@click.option("--threshold", type=PROBABILITY,
              help="Tasks with a confidence below T; with --audit, the acceptance threshold (default: recommended).")
@click.option("--lowest", type=click.IntRange(min=1), help="The K least confident tasks.")
@click.option("--label", help="Tasks the agent labelled L (label value or display text).")
@click.option("--keyword", help="Tasks whose text contains W (case-insensitive).")
@click.option("--errors", is_flag=True, help="Tasks the agent failed on.")
@click.option("--disagree-with", metavar="JOB2", help="Tasks where this job's agent and JOB2's chose differently.")
@click.option("--audit", type=click.IntRange(min=1), metavar="N",
              help="A random sample of N tasks accepted at or above the threshold.")
@click.option("--diverse", type=click.IntRange(min=1), metavar="N",
              help="N tasks covering the data's variety: one representative per cluster of the job's tasks.")
@click.option("--budget", type=click.IntRange(min=1), metavar="N",
              help="The N tasks with the most expected errors (1 - confidence) that cover every cluster.")
@click.option("--seed", type=int, help="Seed of the audit sample (default 0).")
@click.option("--title", help="View title (default: derived from the job, kind and parameters).")
@json_option
def create_command(job: str, threshold: float | None, seed: int | None, title: str | None, as_json: bool,
                   **choices: Any) -> None:
    """Create (or update) a review view and print its id and URL."""
    kind = _kind(threshold, choices)
    if seed is not None and kind != "audit":
        raise click.UsageError("--seed only goes with --audit")
    options = {"threshold": threshold, "lowest": choices["lowest"], "label": choices["label"],
               "keyword": choices["keyword"], "other_job": choices["disagree_with"], "audit": choices["audit"],
               "diverse": choices["diverse"], "budget": choices["budget"], "seed": seed, "title": title}
    emit(client().create_review(job, kind, **options), as_json, _show_review)


@review_group.command("repair")
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@json_option
def repair_command(project: int, as_json: bool) -> None:
    """Rewrite this service's review views that Label Studio's web app cannot load."""
    emit(client().repair_reviews(project), as_json, _show_repair)


def _show_repair(data: dict[str, Any]) -> None:
    if not data["views"]:
        console.print(f"every view of project {data['project']} loads in Label Studio's web app", highlight=False)
    for view in data["views"]:
        console.print(f"view {view['view_id']} {view['title']!r}: {view['action']} ({'; '.join(view['problems'])})",
                      highlight=False)


def _kind(threshold: float | None, choices: dict[str, Any]) -> str:
    """The one kind of review asked for; --threshold alone is a kind, with --audit its threshold."""
    given = [name for name in KIND_OPTIONS if choices[name] not in (None, False)]
    if len(given) > 1:
        flags = " and ".join("--" + name.replace("_", "-") for name in given)
        raise click.UsageError(f"choose one kind of review, not {flags}")
    if not given:
        if threshold is None:
            raise click.UsageError("choose a review: --threshold, --lowest, --label, --keyword, --errors, "
                                   "--disagree-with, --audit, --diverse or --budget")
        return "threshold"
    if threshold is not None and given[0] != "audit":
        raise click.UsageError("--threshold goes alone, or with --audit as its acceptance threshold")
    return "disagree" if given[0] == "disagree_with" else given[0]


def _show_review(data: dict[str, Any]) -> None:
    action = "created" if data["created"] else "updated"
    console.print(f"view [bold]{data['view_id']}[/bold] {action}: {data['title']}", highlight=False)
    console.print(data["url"], highlight=False, soft_wrap=True)
    console.print(f"{len(data['task_ids'])} task(s) to review, ordered by "
                  f"{'ascending confidence' if data['ordering'] == 'predictions_score' else 'task id'}")
    if data.get("representation"):
        console.print(f"{data['clusters']} cluster(s) over {data['representation']}"
                      f"{'; ' + data['representation_note'] if data.get('representation_note') else ''}",
                      highlight=False)
    if data["kind"] == "audit":
        console.print(f"audit sample of {len(data['sample'])} among {data['accepted']} task(s) accepted at "
                      f">= {data['threshold']:g} (seed {data['seed']})")


@click.group("verification")
def verification_group() -> None:
    """What annotators decided about the agent's labels, and how far to trust the rest."""


@verification_group.command("sync")
@click.option("--job", required=True, help="Job id.")
@json_option
def sync_command(job: str, as_json: bool) -> None:
    """Read the job's annotated tasks from Label Studio and record confirmed/corrected verdicts."""
    emit(client().sync_verification(job), as_json, lambda data: console.print(
        f"{data['synced']} verified task(s): {data['confirmed']} confirmed, {data['corrected']} corrected"
        f"{_failed_note(data['failed_tasks'])}; {data['removed']} stale verdict(s) removed", highlight=False))


def _failed_note(count: int) -> str:
    return f", {count} the agent had failed on" if count else ""


@verification_group.command("show")
@click.option("--job", required=True, help="Job id.")
@click.option("--target", type=PROBABILITY, default=0.95, show_default=True, help="Target accuracy.")
@click.option("--calibrated/--raw", default=None,
              help="Figures on the agent's calibrated or raw confidence [default: the scale Label Studio shows: "
                   "calibrated once the job was rescored].")
@json_option
def show_command(job: str, target: float, calibrated: bool | None, as_json: bool) -> None:
    """Accuracy on verified tasks, by confidence band, AUROC, ECE, threshold and audit estimate; for
    span controls precision, recall and F1 per label, for text, ratings and numbers their rates."""
    emit(client().verification(job, target, calibrated), as_json, _show_figures)


def _show_figures(data: dict[str, Any]) -> None:
    console.print(f"[bold]verification of job {data['job']}[/bold] ({data['model_version']})", highlight=False)
    overview = Table(show_header=False, box=None)
    accuracy = data["accuracy"]
    rows = [
        ("verified tasks", str(data["verified"])),
        ("confirmed", str(data["confirmed"])),
        ("corrected", str(data["corrected"])),
        ("accuracy (95% interval)", _accuracy(accuracy) if accuracy["available"] else accuracy["reason"]),
        ("AUROC", _number(data["auroc"])),
        ("expected calibration error", _number(data["ece"])),
        ("calibration of the agent", _calibration(data.get("calibration"))),
        ("confidence scale of these figures", data.get("scale") or "raw"),
        ("tasks labelled by the agent or failed", str(data["labelled"])),
    ]
    if data["failed_verified"]:
        rows.append(("annotated tasks the agent failed on", str(data["failed_verified"])))
    for key, value in rows:
        overview.add_row(f"[bold]{key}[/bold]", value)
    console.print(overview)
    console.print(_bands(data["bands"]))
    _show_recommendation(data["recommendation"], data.get("scale") or "raw")
    _show_audit(data)
    _show_effort(data.get("effort"), data["target"])
    for name, figures in (data.get("controls") or {}).items():
        _show_control(name, figures)


def _show_effort(effort: dict[str, Any] | None, target: float) -> None:
    """Tasks humans must verify for the final dataset to reach the target, per strategy."""
    if not effort:
        return
    table = _table(f"tasks to verify for a final accuracy of {target:g} (estimated; 95% bootstrap interval)",
                   "verify by", "tasks", "share", "95% interval")
    for strategy, figure in effort.items():
        if figure["available"]:
            interval = figure["interval"]
            table.add_row(strategy, str(figure["tasks"]), _number(figure["share"]),
                          f"[{interval['low']}, {interval['high']}]")
        else:
            table.add_row(strategy, "-", "-", figure["reason"])
    console.print(table)


def _calibration(calibration: dict[str, Any] | None) -> str:
    """ECE before and after the agent's calibration map (cross-validated), or why there is none."""
    if not calibration:
        return "-"
    if not calibration["available"]:
        return f"not yet: {calibration['reason']}"
    return (f"ECE {_number(calibration['ece_before'])} -> {_number(calibration['ece_after'])} "
            f"({calibration['method']}, cross-validated on {calibration['n']} verified items; "
            "lsagent jobs rescore writes it to Label Studio)")


def _show_control(name: str, figures: dict[str, Any]) -> None:
    """A control verified element by element: spans per label, or the text and number rates."""
    kind = figures["kind"]
    if kind == "labels":
        table = _table(f"spans of {name}: verified tasks", "label", "agent", "annotator", "confirmed",
                       "precision (95% interval)", "recall (95% interval)", "F1 (interval)")
        for label, scores in [*figures["labels"].items(), ("all labels", figures["overall"])]:
            table.add_row(label, str(scores["predicted"]), str(scores["human"]), str(scores["confirmed"]),
                          _rate(scores["precision"], scores["precision_interval"]),
                          _rate(scores["recall"], scores["recall_interval"]),
                          _rate(scores["f1"], scores["f1_interval"]))
        counts = figures["spans"]
        table.caption = (f"{counts['confirmed']} confirmed, {counts['corrected']} corrected, {counts['rejected']} "
                         f"rejected, {counts['missed']} missed; span confidence AUROC {_number(figures['auroc'])}")
        console.print(table)
        return
    shares = {"textarea": ("unedited",), "rating": ("exact", "within_one"), "number": ("exact", "within_one"),
              "taxonomy": ("exact",)}[kind]
    parts = [f"{share.replace('_', ' ')} {figures[share]}/{figures['verified']} "
             f"{_rate(figures[share + '_rate'], figures[share + '_interval'])}" for share in shares]
    if kind == "textarea":
        parts.append(f"mean edit distance {_number(figures['mean_edit_distance'])}")
    console.print(f"[bold]{name}[/bold] ({kind}): {'; '.join(parts)}", highlight=False)


def _rate(value: float | None, interval: dict[str, float] | None) -> str:
    return "-" if value is None else f"{value:.4f} {_interval(interval)}"


def _bands(bands: list[dict[str, Any]]) -> Table:
    table = _table("accuracy by confidence band", "confidence", "verified", "confirmed", "accuracy", "95% interval",
                   "mean conf.")
    for band in bands:
        upper = "]" if band["high"] >= 1.0 else ")"
        table.add_row(f"[{band['low']:.2f}, {band['high']:.2f}{upper}", str(band["n"]), str(band["correct"]),
                      _number(band["accuracy"]), _interval(band["interval"]), _number(band["mean_confidence"]))
    return table


def _show_recommendation(recommendation: dict[str, Any], scale: str) -> None:
    """The two standards side by side; a standard the data cannot meet yet says why below."""
    table = _table(f"threshold for a target accuracy of {recommendation['target']:g} ({scale} confidence)",
                   "standard", "threshold", "verified", "accuracy", "95% interval", "to humans")
    table.caption = ("Wilson (recommended): the low end of the 95% interval reaches the target; "
                     "verified: confirmed/verified tasks at or above the threshold")
    reasons = []
    for name, label in (("wilson", "Wilson"), ("point", "observed")):
        found = recommendation[name]
        if not found["available"]:
            table.add_row(label, "-", "-", "-", "-", "-")
            reasons.append(f"{label}: {found['reason']}")
            continue
        share = "" if found["human_share"] is None else f" ({found['human_share']:.1%})"
        table.add_row(label, f"{found['threshold']:.4g}", f"{found['correct']}/{found['n']}",
                      _number(found["accuracy"]), _interval(found["interval"]), f"{found['to_humans']}{share}")
    console.print(table)
    for reason in reasons:
        console.print(reason, highlight=False)


def _table(title: str, *headers: str) -> Table:
    """A table whose figures never wrap (headers may)."""
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for header in headers:
        table.add_column(header, no_wrap=True)
    return table


def _show_audit(data: dict[str, Any]) -> None:
    audit = data["audit"]
    if not audit["available"]:
        console.print(f"[bold]final dataset accuracy (audit):[/bold] not available: {audit['reason']}", highlight=False)
        return
    console.print(
        f"[bold]final dataset accuracy (audit at >= {data['threshold']:g}):[/bold] {audit['accuracy']:.4f} "
        f"{_interval(audit['interval'])}; audit {audit['audit_correct']}/{audit['audit_n']} confirmed "
        f"of {audit['accepted']} accepted, {audit['human']} left to humans", highlight=False)


def _accuracy(figure: dict[str, Any]) -> str:
    return f"{figure['accuracy']:.4f} {_interval(figure['interval'])} ({figure['correct']}/{figure['n']})"


def _interval(interval: dict[str, float] | None) -> str:
    return "-" if interval is None else f"[{interval['low']:.3f}, {interval['high']:.3f}]"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@click.command("export")
@click.option("--job", required=True, help="Job id.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--threshold", type=PROBABILITY, help="Keep the agent's label at or above this confidence.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
@json_option
def export_command(job: str, fmt: str, threshold: float | None, output: Path | None, as_json: bool) -> None:
    """Final labels, one row per task, with their source: human, llm (agent kept) or none.

    With --json: the rows as one JSON list, or with -o, where the file went and how many rows."""
    if as_json and output is None:
        records = [json.loads(line) for line in client().export(job, "jsonl", threshold).splitlines() if line.strip()]
        emit(records, as_json)
        return
    chunks = client().export_chunks(job, fmt, threshold)
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    partial = output.with_name(output.name + ".part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(chunks)
        partial.replace(output)  # only a complete export ever takes the file's name
    finally:
        partial.unlink(missing_ok=True)
    rows = _count_rows(output, fmt)
    emit({"job": job, "format": fmt, "output": str(output), "rows": rows}, as_json,
         lambda data: console.print(f"wrote {data['rows']} row(s) to {data['output']}", highlight=False))


def _count_rows(path: Path, fmt: str) -> int:
    """Rows written, read back as the format defines them (a CSV cell may hold a newline)."""
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
        return sum(1 for line in handle if line.strip())


COMMANDS = [review_group, verification_group, export_command]
