"""Label Studio result items for the non-choice controls, in the shape Label Studio stores.

Why exact shapes: Label Studio renders a prediction only when each result carries the type and
value keys its control expects (``labels`` with ``start``/``end``/``text``, ``textarea`` with
``text``, ``rating``, ``number``, ``taxonomy`` as lists of node-value paths). A span is one region
with its own ``score``; with ``choice="multiple"`` the spans of several labels at the same offsets
are one region holding those labels, scored by the lowest. Span offsets are converted to the
UTF-16 code units the web app counts in (they differ from Python's only after characters
outside the Basic Multilingual Plane, such as emoji), given the task's text. Over a HyperText a
region's ``start``/``end`` are XPaths to text nodes and ``startOffset``/``endOffset`` offsets in
them (``hypertext``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ml_backend.engine.confidence import control_confidence
from ml_backend.engine.hypertext import region, text_map
from ml_backend.engine.labeling import Control

if TYPE_CHECKING:
    from ml_backend.engine.answers import Answer


def has_answer(control: Control, answer: Answer) -> bool:
    """Whether ``answer`` holds this control's answer in the field its kind uses."""
    holders: dict[str, Mapping[str, Any]] = {
        "labels": answer.spans, "textarea": answer.texts, "rating": answer.numbers, "number": answer.numbers,
        "taxonomy": answer.paths,
    }
    return control.name in holders.get(control.kind, answer.labels)


def element_results(control: Control, answer: Answer, data: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The result items of one non-choice control; the task's ``data`` places span regions
    (UTF-16 offsets in a Text, XPaths in a HyperText)."""
    base = {"from_name": control.name, "to_name": control.to_name}
    score = answer.confidence.get(control.name)
    if control.kind == "labels":
        raw = _raw(control, data)
        regions = _regions(control, answer.spans[control.name], raw if control.input.tag == "Text" else None)
        return regions if control.input.tag == "Text" else _hypertext(regions, raw)
    if control.kind == "textarea":
        return [{**base, "type": "textarea", "value": {"text": list(answer.texts[control.name])}, "score": score}]
    if control.kind in ("rating", "number"):
        kind = control.kind
        return [{**base, "type": kind, "value": {kind: answer.numbers[control.name]}, "score": score}]
    return [{**base, "type": "taxonomy", "value": {"taxonomy": [list(p) for p in answer.paths[control.name]]},
             "score": score}]


def _regions(control: Control, spans: list[dict[str, Any]], source: str | None) -> list[dict[str, Any]]:
    groups: list[list[dict[str, Any]]] = []
    at: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for span in spans:
        key = (span["start"], span["end"])
        if control.multiple and key in at:
            at[key].append(span)
        else:
            at[key] = [span]
            groups.append(at[key])
    results = []
    for members in groups:
        first = members[0]
        start, end = utf16_offset(source, first["start"]), utf16_offset(source, first["end"])
        results.append({
            "id": _region_id(control.name, first["start"], first["end"], first["label"]),
            "from_name": control.name,
            "to_name": control.to_name,
            "type": "labels",
            "value": {"start": start, "end": end, "text": first["text"],
                      "labels": [member["label"] for member in members]},
            "score": control_confidence({str(i): m["confidence"] for i, m in enumerate(members)}),
        })
    return results


def _raw(control: Control, data: Mapping[str, Any] | None) -> str | None:
    """The task's own value for the control's input (the text, or the HyperText's HTML)."""
    raw: Any = data
    for part in control.input.data_key.split("."):
        raw = raw.get(part) if isinstance(raw, Mapping) else None
    return raw if isinstance(raw, str) else None


def _hypertext(regions: list[dict[str, Any]], html: str | None) -> list[dict[str, Any]]:
    """Text regions as HyperText regions: XPaths and offsets in the HTML's text nodes."""
    if html is None:
        raise ValueError("the task's HTML is needed to place HyperText spans")
    text, origins = text_map(html)
    converted = []
    for item in regions:
        value = item["value"]
        where = region(origins, value["start"], value["end"])
        if where is None or text[value["start"]:value["end"]] != value["text"]:
            raise ValueError(f"span {value['text']!r} is not in the task's HTML text")
        converted.append({**item, "value": {**where, "text": value["text"], "labels": value["labels"]}})
    return converted


def _region_id(control: str, start: int, end: int, label: str) -> str:
    """A stable region id (Label Studio needs one per region; 10 characters like its own)."""
    return hashlib.sha256(f"{control}\x1f{start}\x1f{end}\x1f{label}".encode()).hexdigest()[:10]


def utf16_offset(source: str | None, offset: int) -> int:
    """``offset`` (Python characters) in UTF-16 code units of ``source``; unchanged without a source."""
    if source is None:
        return offset
    return offset + sum(1 for char in source[:offset] if ord(char) > 0xFFFF)
