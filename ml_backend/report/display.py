"""Plain results that Jupyter shows as tables: a dict stays a dict, with an HTML face.

What the service answers is JSON; the client wraps it in these classes so that a notebook cell
ending in ``client.job(j)`` shows a readable table instead of a wall of nested dicts, while code
still indexes it like the dict it is (``job["counts"]["done"]``). The number formatting here is
shared with the HTML job report, so both say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from ml_backend.report import charts

DASH = "–"
TABLE = "<table style='border-collapse:collapse;margin:4px 0'>{}</table>"
TH = "<th style='text-align:left;vertical-align:top;padding:2px 10px 2px 0'>{}</th>"
TD = "<td style='text-align:left;vertical-align:top;padding:2px 10px 2px 0'>{}</td>"
NUM = "<td style='text-align:right;vertical-align:top;padding:2px 10px 2px 0'>{}</td>"


# --- numbers as people read them -----------------------------------------------------------

def percent(value: float | None, digits: int = 1) -> str:
    """0.8765 -> '87.7%'; None -> a dash (a figure the data cannot give yet)."""
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def number(value: Any) -> str:
    """An int with thousands separators, a float with four significant digits, None as a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def interval(value: Mapping[str, float] | None) -> str:
    """A 95% interval ``{"low", "high"}`` as percentages."""
    if not value:
        return DASH
    return f"{percent(value['low'])} – {percent(value['high'])}"


def money(value: float | None, currency: str = "USD") -> str:
    if value is None:
        return DASH
    return f"${value:,.4f}" if currency == "USD" else f"{value:,.4f} {currency}"


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


def when(value: str | None) -> str:
    """An ISO 8601 time from the service as 'YYYY-MM-DD HH:MM:SS UTC' (as given when not UTC)."""
    if not value:
        return DASH
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.utcoffset() != timedelta(0):
        return value
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def share(part: int, whole: int) -> str:
    return percent(part / whole) if whole else DASH


# --- records ---------------------------------------------------------------------------------

class Record(dict):
    """A JSON object from the service; ``_repr_html_`` renders it as a nested key/value table."""

    def _repr_html_(self) -> str:
        return _table(self)


class Records(list):
    """A list of records; Jupyter shows one table with a row per record and ``columns`` as columns
    (default: the first record's keys whose values are not nested)."""

    def __init__(self, items: Iterable[Mapping[str, Any]] = (), columns: Sequence[str] = ()) -> None:
        super().__init__(items)
        self.columns = tuple(columns)

    def _repr_html_(self) -> str:
        if not self:
            return "<p><em>none</em></p>"
        columns = self.columns or tuple(k for k, v in self[0].items() if not isinstance(v, (dict, list)))
        head = "<tr>" + "".join(TH.format(escape(c)) for c in columns) + "</tr>"
        rows = "".join("<tr>" + "".join(TD.format(_cell(_dig(item, c))) for c in columns) + "</tr>" for item in self)
        return TABLE.format(head + rows)


class Job(Record):
    """A job: its status and counts, and once it has ended its summary as tables and a histogram."""

    @property
    def summary(self) -> JobSummary | None:
        return JobSummary(self["summary"]) if self.get("summary") else None

    def _repr_html_(self) -> str:
        counts = self.get("counts") or {}
        head = (f"<p><strong>job {escape(str(self.get('id')))}</strong> · {escape(str(self.get('status')))} · "
                f"{number(counts.get('done'))}/{number(self.get('total'))} task(s) · agent "
                f"{escape(str(self.get('model_version')))} · project {escape(str(self.get('project')))} · subset "
                f"{escape(str(self.get('subset')))}</p>")
        if self.get("error"):
            head += f"<p style='color:#b91c1c'>{escape(str(self['error']))}</p>"
        summary = self.summary
        if summary is not None:
            return head + summary._repr_html_()
        return head + _rows({name: number(value) for name, value in counts.items()}.items())


class JobSummary(Record):
    """A finished job's summary: overview, outcomes, label distribution, confidence histogram."""

    def overview(self) -> dict[str, str]:
        return {
            "agent": str(self.get("model_version")),
            "model": str(self.get("model")),
            "tasks": number(self.get("total")),
            "mean confidence": number(self.get("mean_confidence")),
            "tokens in / out": f"{number(self.get('tokens_in'))} / {number(self.get('tokens_out'))}",
            "cost": f"{money(self.get('cost'), self.get('currency', 'USD'))} ({self.get('price_source', DASH)})",
            "wall time": seconds(self.get("wall_time_s")),
            "throughput": f"{number(self.get('throughput_per_s'))} tasks/s",
            "predictions written": number(self.get("predictions_written")),
        }

    def _repr_html_(self) -> str:
        total = int(self.get("total") or 0)
        outcomes = [(name, f"{number(n)} ({share(n, total)})") for name, n in (self.get("counts") or {}).items()]
        parts = ["<h4>Summary</h4>", _rows(self.overview().items()), "<h4>Outcomes</h4>", _rows(outcomes)]
        for control, counts in (self.get("labels") or {}).items():
            labelled = sum(counts.values())
            rows = [(label, f"{number(n)} ({share(n, labelled)})")
                    for label, n in sorted(counts.items(), key=lambda item: -item[1])]
            parts += [f"<h4>Labels: {escape(control)}</h4>", _rows(rows)]
        if self.get("confidence_histogram"):
            parts += ["<h4>Confidence</h4>", charts.histogram(self["confidence_histogram"])]
        if self.get("invalid_labels"):
            parts += ["<h4>Invalid labels</h4>",
                      _rows((entry["label"], number(entry["count"])) for entry in self["invalid_labels"])]
        if self.get("api_errors"):
            parts += ["<h4>API errors</h4>", _rows((k, number(v)) for k, v in self["api_errors"].items())]
        return "".join(parts)


def _effort_rows(effort: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Per strategy, tasks to verify with share and 95% interval, or why there is no figure."""
    rows = []
    for strategy, figure in effort.items():
        if not figure.get("available"):
            rows.append((f"verify by {strategy}", str(figure.get("reason", DASH))))
            continue
        low, high = figure["interval"]["low"], figure["interval"]["high"]
        rows.append((f"verify by {strategy}",
                     f"{number(figure['tasks'])} ({percent(figure['share'])}; 95% interval {low}–{high})"))
    return rows


def _calibration(calibration: dict[str, Any] | None) -> str:
    """ECE before -> after the agent's calibration map, or why there is none yet."""
    if not calibration:
        return DASH
    if not calibration.get("available"):
        return str(calibration.get("reason", DASH))
    return (f"{number(calibration['ece_before'])} → {number(calibration['ece_after'])} "
            f"({calibration['method']}, {number(calibration['n'])} verified items)")


class VerificationFigures(Record):
    """How accurate the agent is on verified tasks, by confidence band, and where to trust it."""

    def overview(self) -> dict[str, str]:
        accuracy = self.get("accuracy") or {}
        return {
            "verified tasks": f"{number(self.get('verified'))} of {number(self.get('labelled'))} labelled",
            "confirmed / corrected": f"{number(self.get('confirmed'))} / {number(self.get('corrected'))}",
            "accuracy": (f"{percent(accuracy.get('accuracy'))} (95% CI {interval(accuracy.get('interval'))})"
                         if accuracy.get("available") else accuracy.get("reason", DASH)),
            "AUROC": number(self.get("auroc")),
            "expected calibration error": number(self.get("ece")),
            "calibration of the agent (cross-validated ECE)": _calibration(self.get("calibration")),
            "confidence scale": str(self.get("scale") or "raw"),
            "threshold in use": number(self.get("threshold")),
            f"recommended threshold (target {percent(self.get('target'), 0)})": number(
                self.get("recommended_threshold")),
        }

    def _repr_html_(self) -> str:
        parts = ["<h4>Verification</h4>", _rows(self.overview().items())]
        bands = [band for band in self.get("bands") or [] if band.get("n")]
        if bands:
            head = "<tr>" + "".join(TH.format(h) for h in ("confidence", "verified", "confirmed", "accuracy",
                                                              "95% CI", "mean confidence")) + "</tr>"
            rows = "".join(
                "<tr>" + TD.format(f"{band['low']:g} – {band['high']:g}") + NUM.format(number(band["n"]))
                + NUM.format(number(band["correct"])) + NUM.format(percent(band["accuracy"]))
                + TD.format(interval(band.get("interval"))) + NUM.format(number(band.get("mean_confidence")))
                + "</tr>" for band in bands)
            parts += ["<h4>Accuracy by confidence</h4>", TABLE.format(head + rows), charts.reliability(bands)]
        effort = self.get("effort") or {}
        if effort:
            parts += [f"<h4>Tasks to verify for a final accuracy of {percent(self.get('target'), 0)}</h4>",
                      _rows(_effort_rows(effort))]
        calibrated = [band for band in (self.get("calibration") or {}).get("reliability_after") or [] if band["n"]]
        if calibrated:
            parts += ["<h4>Accuracy by calibrated confidence (cross-validated)</h4>", charts.reliability(calibrated)]
        recommendation = self.get("recommendation") or {}
        for standard in ("wilson", "point"):
            if standard in recommendation:
                parts += [f"<h4>Threshold ({standard})</h4>", _rows(threshold_rows(recommendation[standard]))]
        audit = self.get("audit") or {}
        parts += ["<h4>Audit estimate of the final dataset</h4>", _rows(audit_rows(audit))]
        return "".join(parts)


def threshold_rows(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A recommended threshold in words, or the reason there is none."""
    if not entry.get("available"):
        return [("not available", str(entry.get("reason", DASH)))]
    return [
        ("threshold", number(entry["threshold"])),
        ("verified at or above", f"{number(entry['n'])} ({number(entry['correct'])} confirmed)"),
        ("accuracy there", f"{percent(entry['accuracy'])} (95% CI {interval(entry.get('interval'))})"),
        ("accepted / to humans", f"{number(entry['accepted'])} / {number(entry['to_humans'])} "
                                 f"({percent(entry.get('human_share'))} to humans)"),
    ]


def audit_rows(audit: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The audit estimate in words, or the reason there is none."""
    if not audit.get("available"):
        return [("not available", str(audit.get("reason", DASH)))]
    return [
        ("estimated accuracy", f"{percent(audit['accuracy'])} (95% CI {interval(audit.get('interval'))})"),
        ("audited", f"{number(audit['audit_correct'])}/{number(audit['audit_n'])} confirmed "
                    f"({percent(audit.get('audit_accuracy'))})"),
        ("accepted / human", f"{number(audit['accepted'])} / {number(audit['human'])}"),
    ]


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    return TABLE.format("".join(f"<tr>{TH.format(escape(str(k)))}{TD.format(escape(str(v)))}</tr>" for k, v in rows))


def _dig(item: Mapping[str, Any], column: str) -> Any:
    """``a.b`` reaches into nested objects, so a list can show ``counts.done``."""
    value: Any = item
    for part in column.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _table(value: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr>{TH.format(escape(str(key)))}{TD.format(_cell(item))}</tr>" for key, item in value.items())
    return TABLE.format(rows)


def _cell(value: Any) -> str:
    if isinstance(value, Mapping):
        return _table(value) if value else ""
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        return "".join(_table(item) for item in value)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return f"<a href='{escape(value, quote=True)}' target='_blank'>{escape(value)}</a>"
    return escape(number(value) if not isinstance(value, str) else value) if value is not None else ""
