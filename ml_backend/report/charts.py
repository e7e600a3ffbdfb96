"""Inline SVG charts for the job report and for notebooks, drawn here: no JS, no CDN, no fonts.

A report must open anywhere (a mail attachment, an air-gapped machine), so every chart is one
``<svg>`` string with a ``viewBox`` (it scales with the page), its numbers in ``<text>``
elements (readable, searchable, copyable) and a ``<title>`` per mark as a tooltip. All text that
comes from data (labels are the user's) is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

BLUE = "#2563eb"
ORANGE = "#f59e0b"
GREEN = "#16a34a"
GRID = "#e5e7eb"
INK = "#374151"
MUTED = "#6b7280"
PALETTE = ("#2563eb", "#dc2626", "#6b7280", "#16a34a", "#9333ea", "#f59e0b", "#0891b2", "#db2777")
FONT = "font-family='system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif'"
LABEL_CHARS = 22


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate: short, and without a trailing '.0'."""
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class Frame:
    """A plot area inside an SVG canvas, with linear scales for x in [0, x_max] and y in [0, y_max]."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    x_max: float = 1.0
    y_max: float = 1.0

    def x(self, value: float) -> float:
        return self.left + (self.width - self.left - self.right) * value / self.x_max

    def y(self, value: float) -> float:
        return self.height - self.bottom - (self.height - self.top - self.bottom) * value / self.y_max


RELIABILITY = Frame(420, 414, left=52, right=20, top=34, bottom=42)


def nice_max(value: float) -> int:
    """The smallest 1, 2 or 5 x 10^k at or above ``value`` (at least 1): a readable axis end."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def _svg(frame: Frame, kind: str, label: str, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='chart {kind}' role='img' aria-label='{_e(label)}' "
            f"viewBox='0 0 {_n(frame.width)} {_n(frame.height)}' width='{_n(frame.width)}' "
            f"style='max-width:100%;height:auto' {FONT} font-size='12'>" + "".join(body) + "</svg>")


def _text(x: float, y: float, text: Any, *, anchor: str = "middle", fill: str = INK, size: int = 12,
          extra: str = "") -> str:
    return (f"<text x='{_n(x)}' y='{_n(y)}' text-anchor='{anchor}' fill='{fill}' font-size='{size}'{extra}>"
            f"{_e(text)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = GRID, extra: str = "") -> str:
    return f"<line x1='{_n(x1)}' y1='{_n(y1)}' x2='{_n(x2)}' y2='{_n(y2)}' stroke='{stroke}'{extra}/>"


def count_steps(y_max: int) -> int:
    """Grid steps that put a count axis's ticks on whole numbers (y_max from ``nice_max``)."""
    if y_max <= 2:
        return y_max
    return 4 if str(y_max)[0] == "2" else 5


def _y_grid(frame: Frame, steps: int, as_share: bool = False) -> list[str]:
    """Horizontal grid lines with their values on the left axis."""
    out = []
    for index in range(steps + 1):
        value = frame.y_max * index / steps
        y = frame.y(value)
        out.append(_line(frame.left, y, frame.width - frame.right, y))
        shown = f"{value:.0%}" if as_share else f"{value:g}"
        out.append(_text(frame.left - 6, y + 4, shown, anchor="end", fill=MUTED, size=11))
    return out


def _x_axis(frame: Frame, title: str) -> list[str]:
    """Ticks at 0, 0.2, ... 1.0 and the axis title."""
    base = frame.height - frame.bottom
    out = [_line(frame.left, base, frame.width - frame.right, base, INK)]
    for index in range(6):
        x = frame.x(index / 5)
        out.append(_line(x, base, x, base + 4, INK))
        out.append(_text(x, base + 17, f"{index / 5:.1f}", fill=MUTED, size=11))
    out.append(_text((frame.left + frame.width - frame.right) / 2, frame.height - 4, title, fill=MUTED))
    return out


def _y_title(frame: Frame, title: str) -> str:
    middle = (frame.top + frame.height - frame.bottom) / 2
    return _text(13, middle, title, fill=MUTED, extra=f" transform='rotate(-90 13 {_n(middle)})'")


def histogram(bins: Sequence[Mapping[str, Any]], threshold: float | None = None) -> str:
    """Tasks per confidence bin (``[{"from", "to", "count"}]``); bins below ``threshold`` (the
    ones sent to humans) in orange, with the threshold as a dashed line."""
    peak = max((int(entry["count"]) for entry in bins), default=0)
    frame = Frame(600, 260, left=52, right=16, top=30, bottom=42, y_max=nice_max(peak))
    body = _y_grid(frame, count_steps(int(frame.y_max))) + _x_axis(frame, "confidence") + [_y_title(frame, "tasks")]
    for entry in bins:
        low, high, count = float(entry["from"]), float(entry["to"]), int(entry["count"])
        below = threshold is not None and high <= threshold + 1e-9
        x0, x1 = frame.x(low) + 1.5, frame.x(high) - 1.5
        top = frame.y(count)
        body.append(f"<rect class='bar' x='{_n(x0)}' y='{_n(top)}' width='{_n(x1 - x0)}' "
                    f"height='{_n(frame.y(0) - top)}' fill='{ORANGE if below else BLUE}' rx='2'>"
                    f"<title>{_e(f'{low:.1f} to {high:.1f}: {count} task(s)')}</title></rect>")
        if count:
            body.append(_text((x0 + x1) / 2, top - 5, count, size=11))
    if threshold is not None:
        x = frame.x(threshold)
        body.append(_line(x, frame.top - 14, x, frame.y(0), INK, " stroke-dasharray='4 3' stroke-width='1.5'"))
        body.append(_text(x - 4, frame.top - 18, f"review below {threshold:g}", anchor="end", size=11))
    total = sum(int(entry["count"]) for entry in bins)
    return _svg(frame, "histogram", f"confidence histogram of {total} task(s)", body)


def bars(counts: Mapping[str, int], total: int | None = None) -> str:
    """Horizontal bars, largest first, each with its count and share of ``total`` (default: the sum)."""
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    total = total if total else sum(counts.values())
    row_height, label_width = 30, 170
    frame = Frame(560, 16 + row_height * max(len(rows), 1), left=label_width, right=96, top=8, bottom=8,
                  x_max=max((count for _, count in rows), default=1) or 1)
    body: list[str] = []
    for index, (label, count) in enumerate(rows):
        y = frame.top + index * row_height
        shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        share = count / total if total else 0.0
        width = max(frame.x(count) - frame.left, 1.0 if count else 0.0)
        body.append(_text(label_width - 10, y + 19, shown, anchor="end"))
        body.append(f"<rect class='bar' x='{_n(frame.left)}' y='{_n(y + 5)}' width='{_n(width)}' height='20' "
                    f"fill='{PALETTE[index % len(PALETTE)]}' rx='2'>"
                    f"<title>{_e(f'{label}: {count} ({share:.1%})')}</title></rect>")
        body.append(_text(frame.left + width + 6, y + 19, f"{count} ({share:.0%})", anchor="start"))
    if not rows:
        body.append(_text(frame.width / 2, frame.top + 19, "no labels", fill=MUTED))
    return _svg(frame, "bars", f"distribution over {len(rows)} label(s)", body)


def reliability(bands: Sequence[Mapping[str, Any]]) -> str:
    """Accuracy by confidence band (the reliability diagram): per band with verified tasks, a bar
    over its range up to its accuracy, and at its mean confidence a dot (area ~ tasks) with the 95%
    interval; points on the dashed diagonal mean the confidence is calibrated."""
    frame = RELIABILITY
    body = _y_grid(frame, 5, as_share=True) + _x_axis(frame, "confidence") + [_y_title(frame, "accuracy")]
    body.append(_line(frame.x(0), frame.y(0), frame.x(1), frame.y(1), MUTED, " stroke-dasharray='5 4'"))
    body.append(_line(frame.left, 12, frame.left + 22, 12, MUTED, " stroke-dasharray='5 4'"))
    body.append(_text(frame.left + 28, 16, "perfectly calibrated", anchor="start", fill=MUTED, size=11))
    body.append(f"<circle cx='{_n(frame.left + 160)}' cy='12' r='5' fill='{GREEN}'/>")
    body.append(_text(frame.left + 170, 16, "accuracy of a band (area ~ tasks)", anchor="start", fill=MUTED, size=11))
    largest = max((int(band["n"]) for band in bands), default=0)
    for band in bands:
        if not band.get("n") or band.get("accuracy") is None:
            continue
        body.extend(_band_marks(frame, band, largest))
    verified = sum(int(band.get("n") or 0) for band in bands)
    return _svg(frame, "reliability", f"accuracy by confidence over {verified} verified task(s)", body)


def _band_marks(frame: Frame, band: Mapping[str, Any], largest: int) -> list[str]:
    low, high, n = float(band["low"]), float(band["high"]), int(band["n"])
    accuracy = float(band["accuracy"])
    centre = float(band["mean_confidence"] if band.get("mean_confidence") is not None else (low + high) / 2)
    tip = _e(f"confidence {low:g}-{high:g}: {band['correct']}/{n} confirmed, accuracy {accuracy:.1%}, "
             f"mean confidence {centre:.3f}")
    x0, x1, top = frame.x(low) + 1, frame.x(high) - 1, frame.y(accuracy)
    marks = [f"<rect class='band' x='{_n(x0)}' y='{_n(top)}' width='{_n(x1 - x0)}' height='{_n(frame.y(0) - top)}' "
             f"fill='{BLUE}' fill-opacity='0.18'><title>{tip}</title></rect>"]
    interval = band.get("interval")
    if interval:
        x = frame.x(centre)
        marks.append(_line(x, frame.y(float(interval["low"])), x, frame.y(float(interval["high"])), INK,
                           " stroke-width='1.5'"))
    radius = 3 + 6 * math.sqrt(n / largest) if largest else 4
    marks.append(f"<circle class='point' cx='{_n(frame.x(centre))}' cy='{_n(top)}' r='{_n(radius)}' fill='{GREEN}' "
                 f"stroke='white' stroke-width='1.5'><title>{tip}</title></circle>")
    marks.append(_text((x0 + x1) / 2, frame.y(0) - 6, f"n={n}", fill=MUTED, size=10))
    return marks
