"""The job report: one self-contained HTML page (inline CSS, inline SVG charts, no script).

It is built from what the REST API already says about a job (``job`` as ``GET /api/jobs/<id>``
returns it, and the verification figures of ``GET /api/jobs/<id>/verification``), so the page the
service serves and a page built from saved JSON are the same. The template autoescapes: labels
and titles are user data. The charts come from ``ml_backend.report.charts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ml_backend import __version__
from ml_backend.report import charts, display

ERROR_OUTCOMES = ("format_error", "invalid_label", "api_error", "context_overflow", "empty_input",
                  "span_not_found")
OUTCOME_TEXT = {
    "labeled": "labelled",
    "format_error": "unparseable answer",
    "invalid_label": "label not offered",
    "api_error": "API error",
    "context_overflow": "prompt too long",
    "empty_input": "empty input",
    "span_not_found": "spans not in the text",
    "skipped": "skipped",
}

_environment = Environment(
    loader=PackageLoader("ml_backend.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(percent=display.percent, number=display.number, interval=display.interval,
                            seconds=display.seconds)


def render_report(job: Mapping[str, Any], verification: Mapping[str, Any] | None = None, *,
                  generated_at: datetime | None = None) -> str:
    """The report page of ``job``; ``verification`` adds the accuracy section when any task
    has been verified."""
    summary = job.get("summary") or None
    verified = verification if verification and verification.get("verified") else None
    context = {
        "job": job,
        "summary": summary,
        "cards": _cards(job, summary, verified),
        "outcomes": _outcomes(job, summary),
        "charts": _charts(summary, verified),
        "labels": _labels(summary),
        "spans": _spans(verification or {}),
        "verification": verified,
        "overview": display.VerificationFigures(verified).overview() if verified else None,
        "bands": [band for band in (verified or {}).get("bands") or [] if band.get("n")],
        "thresholds": _thresholds(verified),
        "marked": review_threshold(verified),
        "audit": display.audit_rows(verified.get("audit") or {}) if verified else None,
        "job_overview": _job_overview(job, summary),
        "version": __version__,
        "generated_at": (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return _environment.get_template("report.html.j2").render(**context)


def review_threshold(verification: Mapping[str, Any] | None) -> float | None:
    """The threshold the histogram marks: the one in use, else the recommended one; none when the
    figures are on the calibrated scale, since the histogram counts the raw confidence."""
    if not verification or scale_of(verification) != "raw":
        return None
    value = verification.get("threshold")
    return float(value) if value is not None else verification.get("recommended_threshold")


def scale_of(verification: Mapping[str, Any]) -> str:
    """The confidence scale of the figures ("raw" for figures made before they named one)."""
    return str(verification.get("scale") or "raw")


def _cards(job: Mapping[str, Any], summary: Mapping[str, Any] | None,
           verification: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """The headline figures: (label, value, note)."""
    counts = job.get("counts") or {}
    total = int(job.get("total") or 0)
    errors = sum(int(counts.get(name) or 0) for name in ERROR_OUTCOMES)
    cards = [
        ("tasks", display.number(total), f"{display.number(counts.get('done'))} done"),
        ("labelled", display.number(counts.get("labeled")), display.share(int(counts.get("labeled") or 0), total)),
        ("errors", display.number(errors), display.share(errors, total)),
    ]
    if summary:
        cards += [
            ("mean confidence", display.number(summary.get("mean_confidence")), f"{summary.get('scored', 0)} scored"),
            ("tokens in", display.number(summary.get("tokens_in")), "prompts"),
            ("tokens out", display.number(summary.get("tokens_out")), "answers"),
            ("cost", display.money(summary.get("cost"), summary.get("currency", "USD")),
             str(summary.get("price_source") or "")),
            ("wall time", display.seconds(summary.get("wall_time_s")),
             f"{display.number(summary.get('throughput_per_s'))} tasks/s"),
        ]
        flight = summary.get("in_flight")
        if flight:
            cards.append(("LLM calls in flight", display.number(float(flight["mean"])),
                          f"mean; peak {flight['peak']} of {flight.get('limit', '-')} allowed"))
    if verification:
        accuracy = verification.get("accuracy") or {}
        cards.append(("verified accuracy", display.percent(accuracy.get("accuracy")),
                      f"{display.number(verification.get('verified'))} verified"))
        cards.append(("recommended threshold", display.number(verification.get("recommended_threshold")),
                      f"target {display.percent(verification.get('target'), 0)}, {scale_of(verification)} scale"))
    return cards


def _outcomes(job: Mapping[str, Any], summary: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    counts = (summary or {}).get("counts") or job.get("counts") or {}
    total = int(job.get("total") or 0)
    return [(OUTCOME_TEXT.get(name, name), display.number(n), display.share(int(n or 0), total))
            for name, n in counts.items() if name != "done"]


def _charts(summary: Mapping[str, Any] | None, verification: Mapping[str, Any] | None) -> dict[str, Markup]:
    """SVG strings from ``charts``, which escapes their text itself: safe to insert as they are."""
    drawn: dict[str, Markup] = {}
    if summary and summary.get("confidence_histogram"):
        drawn["histogram"] = Markup(charts.histogram(summary["confidence_histogram"], review_threshold(verification)))
    for control, counts in ((summary or {}).get("labels") or {}).items():
        drawn[f"labels:{control}"] = Markup(charts.bars(counts))
    if verification and verification.get("bands"):
        drawn["reliability"] = Markup(charts.reliability(verification["bands"]))
    return drawn


def _labels(summary: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Per control: its chart key and rows (label, count, share), most frequent first."""
    controls = []
    for control, counts in ((summary or {}).get("labels") or {}).items():
        total = sum(counts.values())
        rows = [(label, display.number(n), display.share(n, total))
                for label, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
        controls.append({"name": control, "chart": f"labels:{control}", "rows": rows})
    return controls


def _spans(verification: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per span control: its spans per label over the job, and, once annotators verified some,
    the label's precision and recall with their 95% intervals and F1 (``review.elements``)."""
    controls = []
    for name, figures in (verification.get("controls") or {}).items():
        if figures.get("kind") != "labels":
            continue
        scores = figures.get("labels") or {}
        rows = []
        for label in sorted({*figures.get("job_spans", {}), *scores}):
            verified = scores.get(label) or {}
            rows.append((label, display.number(figures.get("job_spans", {}).get(label, 0)),
                         display.number(verified.get("predicted", 0)), display.number(verified.get("human", 0)),
                         _with_interval(verified, "precision"), _with_interval(verified, "recall"),
                         display.percent(verified.get("f1"))))
        controls.append({"name": name, "rows": rows, "verified": bool(verification.get("verified")),
                         "spans": figures.get("spans") or {}, "auroc": display.number(figures.get("auroc"))})
    return controls


def _with_interval(scores: Mapping[str, Any], name: str) -> str:
    return f"{display.percent(scores.get(name))} ({display.interval(scores.get(name + '_interval'))})"


def _thresholds(verification: Mapping[str, Any] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    recommendation = (verification or {}).get("recommendation") or {}
    names = {"wilson": "95% sure (Wilson lower bound reaches the target)", "point": "observed accuracy reaches "
             "the target (optimistic on few tasks)"}
    return [(names[key], display.threshold_rows(recommendation[key])) for key in ("wilson", "point")
            if key in recommendation]


def _job_overview(job: Mapping[str, Any], summary: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    rows = [
        ("job", str(job.get("id"))),
        ("agent", f"{job.get('model_version')} ({(summary or {}).get('model') or 'model unknown'})"),
        ("project", str(job.get("project"))),
        ("subset", str(job.get("subset"))),
        ("status", str(job.get("status"))),
        ("created", display.when(job.get("created_at"))),
        ("finished", display.when(job.get("finished_at"))),
    ]
    if summary:
        rows.append(("predictions written", display.number(summary.get("predictions_written"))))
        rows.append(("mean latency per call", display.seconds(summary.get("mean_latency_s"))))
        rows.append(("mean wait for a call slot", display.seconds(summary.get("mean_queue_s"))))
    if job.get("error"):
        rows.append(("error", str(job["error"])))
    return rows
