"""Reading answers to the controls that are not a choice: spans, free text, ratings and numbers.

Why a module of its own: ``postprocess`` reads labels out of loosely written answers; these
controls need structure (a list of ``{text, label}`` objects, a string, a number), so they are
read from the answer's JSON object only (found strictly, else repaired, as for choices). A config
with any such control therefore needs a JSON answer: other content is a ``format_error``.
Choices and Taxonomy (whose options are paths) are read by ``postprocess``, unchanged.

Per control:

- ``labels``: the entities are placed in the control's input text by ``spans.place``. Dropped
  listings are counted; a control whose every listing was dropped is ``span_not_found`` (an
  empty list is a valid answer: no entity).
- ``textarea``: a string, or a list of strings; blank strings are left out.
- ``rating``/``number``: a number (a numeric string is read too). Outside ``min``/``max``, off
  the ``step`` grid (counted from ``min``, else 0) or, for a rating, not whole: ``invalid_label``,
  never clamped or rounded into range.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ml_backend.engine.jsonobject import find_object, repaired_object
from ml_backend.engine.labeling import Control, LabelSpec
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.postprocess import Parsed, parse_response
from ml_backend.engine.spans import Listing, Placement, describe, listings, place

CHOICE_KINDS = ("choices", "taxonomy")
_FENCE = re.compile(r"```[\w+-]*")
_STEP_TOLERANCE = 1e-9


@dataclass
class Reading:
    """A whole answer read: choices (``Parsed``) plus the other controls' answers.

    ``label_offsets`` holds, per span control, where each listing's label is written in the
    content (by listing index); ``value_offsets`` where a number or free text starts and ends.
    """

    parsed: Parsed
    spans: dict[str, Placement] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    numbers: dict[str, int | float] = field(default_factory=dict)
    label_offsets: dict[str, dict[Listing, int | None]] = field(default_factory=dict)
    value_offsets: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    dropped_spans: dict[str, int] = field(default_factory=dict)


def choice_spec(spec: LabelSpec) -> LabelSpec:
    """The controls ``postprocess`` reads (Choices and Taxonomy)."""
    return LabelSpec(controls=tuple(c for c in spec.controls if c.kind in CHOICE_KINDS))


def read_answer(content: str | None, spec: LabelSpec, inputs: dict[str, str] | None) -> Reading:
    """Read every control of ``spec`` from ``content``; ``inputs`` (text per object name) places spans."""
    others = [c for c in spec.controls if c.kind not in CHOICE_KINDS]
    if not others:
        return Reading(parse_response(content, spec))
    if content is None or not content.strip():
        return _failed(ErrorClass.FORMAT_ERROR, "empty response")
    masked = _FENCE.sub(lambda m: " " * len(m.group()), content)
    found = find_object(content, spec) or repaired_object(masked, spec)
    if found is None:
        return _failed(ErrorClass.FORMAT_ERROR, f"answer is not a JSON object keyed by control name: {content[:60]!r}")
    choices = choice_spec(spec)
    parsed = parse_response(content, choices) if choices.controls else Parsed({}, None, "")
    reading = Reading(parsed)
    obj, start, end, keys = found
    failures: list[tuple[ErrorClass, str]] = []
    for control in others:
        if control.name not in keys:
            failures.append((ErrorClass.FORMAT_ERROR, f"JSON answer has no key for '{control.name}'"))
            continue
        key_at = content.find(keys[control.name], start, end)
        failure = _read_control(control, obj[keys[control.name]], content, key_at, end, inputs, reading)
        if failure is not None:
            failures.append(failure)
    if parsed.error is not None:
        failures.append((parsed.error, parsed.detail))
    if failures:
        order = (ErrorClass.FORMAT_ERROR, ErrorClass.EMPTY_INPUT, ErrorClass.INVALID_LABEL, ErrorClass.SPAN_NOT_FOUND)
        worst = min((error for error, _ in failures), key=order.index)
        failed = _failed(worst, "; ".join(detail for _, detail in failures if detail))
        failed.dropped_spans = reading.dropped_spans
        return failed
    return reading


def _failed(error: ErrorClass, detail: str) -> Reading:
    return Reading(Parsed({}, error, detail))


def _read_control(control: Control, value: Any, content: str, key_at: int, end: int,
                  inputs: dict[str, str] | None, reading: Reading) -> tuple[ErrorClass, str] | None:
    if control.kind == "labels":
        return _read_spans(control, value, content, key_at, end, inputs, reading)
    if control.kind == "textarea":
        return _read_text(control, value, content, key_at, end, reading)
    return _read_number(control, value, content, key_at, end, reading)


def _read_spans(control: Control, value: Any, content: str, key_at: int, end: int,
                inputs: dict[str, str] | None, reading: Reading) -> tuple[ErrorClass, str] | None:
    entities = listings(value)
    if entities is None:
        return ErrorClass.FORMAT_ERROR, f"'{control.name}' must be a list of {{\"text\", \"label\"}} objects"
    if inputs is None or control.to_name not in inputs:
        return ErrorClass.EMPTY_INPUT, f"no task text for '{control.to_name}' to place the spans of '{control.name}' in"
    placement = place(inputs[control.to_name], entities, control)
    reading.spans[control.name] = placement
    reading.label_offsets[control.name] = _label_offsets(content, key_at, end, entities)
    if placement.dropped:
        reading.dropped_spans[control.name] = len(placement.dropped)
        shown = "; ".join(describe(listing, why) for listing, why in placement.dropped)
        note = f"dropped {len(placement.dropped)} of {len(entities)} span(s) of '{control.name}': {shown}"
        reading.parsed.detail = "; ".join(filter(None, [reading.parsed.detail, note]))
        if not placement.spans:
            return ErrorClass.SPAN_NOT_FOUND, note
    return None


def _label_offsets(content: str, key_at: int, end: int, entities: list[Listing]) -> dict[Listing, int | None]:
    """Where each listing's label is written: the n-th ``"label"`` key after the control's key."""
    found: dict[Listing, int | None] = {}
    at = key_at
    pattern = re.compile(r"[\"']label[\"']\s*:\s*\[?\s*[\"']")
    for number, entity in enumerate(entities):
        if number and entity.index == entities[number - 1].index:
            raw = json.dumps(entity.label, ensure_ascii=False)[1:-1]
            spot = content.find(raw, at, end) if at >= 0 else -1
        else:
            match = pattern.search(content, at, end) if at >= 0 else None
            spot = -1 if match is None else match.end()
            if spot >= 0 and not content.startswith(json.dumps(entity.label, ensure_ascii=False)[1:-1], spot):
                spot = -1
        found[entity] = None if spot < 0 else spot
        at = -1 if spot < 0 else spot + len(entity.label)
    return found


def _read_text(control: Control, value: Any, content: str, key_at: int, end: int,
               reading: Reading) -> tuple[ErrorClass, str] | None:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        return ErrorClass.FORMAT_ERROR, f"'{control.name}' must be a string (or a list of strings)"
    reading.texts[control.name] = [item.strip() for item in items if item.strip()]
    first = json.dumps(items[0], ensure_ascii=False)[1:-1] if items else ""
    spot = content.find(first, key_at + len(control.name), end) if first and key_at >= 0 else -1
    reading.value_offsets[control.name] = None if spot < 0 else (spot, spot + len(first))
    return None


def _read_number(control: Control, value: Any, content: str, key_at: int, end: int,
                 reading: Reading) -> tuple[ErrorClass, str] | None:
    number = _as_number(value)
    if number is None:
        return ErrorClass.FORMAT_ERROR, f"'{control.name}' must be a number, got {json.dumps(value)[:40]}"
    problem = out_of_range(control, number)
    if problem:
        return ErrorClass.INVALID_LABEL, f"'{control.name}' {problem}, got {number:g}"
    reading.numbers[control.name] = number
    raw = value.strip() if isinstance(value, str) else json.dumps(value)
    spot = content.find(raw, key_at + len(control.name), end) if key_at >= 0 else -1
    reading.value_offsets[control.name] = None if spot < 0 else (spot, spot + len(raw))
    return None


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else float(value)


def out_of_range(control: Control, number: float) -> str | None:
    """Why ``number`` is not an allowed value of a rating or number control; None when it is."""
    low, high = control.minimum, control.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        return f"must be from {_bound(low, '-inf')} to {_bound(high, 'inf')}"
    if control.step is not None:
        steps = (number - (low or 0)) / control.step
        if abs(steps - round(steps)) > _STEP_TOLERANCE * max(1.0, abs(steps)):
            return f"must be a multiple of step {control.step:g} from {low or 0:g}"
    return None


def _bound(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:g}"


def allowed_values(control: Control, limit: int = 1000) -> list[int | float] | None:
    """Every value a rating or number control admits, when finite and at most ``limit``; else None."""
    if control.minimum is None or control.maximum is None:
        return None
    step = control.step or 1
    count = int(math.floor((control.maximum - control.minimum) / step + _STEP_TOLERANCE)) + 1
    if count > limit:
        return None
    values = [control.minimum + i * step for i in range(count)]
    return [int(v) if float(v).is_integer() else round(v, 10) for v in values]
