"""What an annotation (or the agent) answered per control, as plain values comparable across both.

A Label Studio annotation is a list of result items, several per control for spans (one region
each). Verification compares the annotator's final answer with the agent's, so both are read
into the same shapes, the ones ``lsagent parse`` prints and an item's meta keeps:

- ``choices``: the chosen values (list of str);
- ``labels``: spans ``{"start", "end", "text", "label"}`` sorted by start (a region with several
  labels is one span per label; a HyperText region's character offsets are its ``globalOffsets``);
- ``textarea``: the texts (list of str);
- ``rating`` / ``number``: the number, or None when the annotator cleared it;
- ``taxonomy``: the chosen paths (list of lists of str).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_backend.store import ItemRecord

#: Where an item's meta keeps the agent's answer of each kind (Choices live in ``item.labels``).
META_KEYS = {"labels": "spans", "textarea": "texts", "rating": "numbers", "number": "numbers",
             "taxonomy": "paths"}
EMPTY: dict[str, Any] = {"choices": [], "labels": [], "textarea": [], "rating": None, "number": None,
                         "taxonomy": []}


def human_values(result: Any, kinds: Mapping[str, str]) -> dict[str, Any]:
    """{control: value} of an annotation's result, for the controls in ``kinds`` ({name: kind})."""
    values = {name: empty(kind) for name, kind in kinds.items()}
    for entry in result if isinstance(result, list) else []:
        if not isinstance(entry, dict) or str(entry.get("from_name")) not in kinds:
            continue
        name = str(entry["from_name"])
        kind = kinds[name]
        if entry.get("type") not in (kind, "hypertextlabels" if kind == "labels" else kind):
            continue
        values[name] = _add(kind, values[name], entry.get("value") or {})
    for name, kind in kinds.items():
        if kind == "labels":
            values[name] = sorted(values[name], key=lambda span: (span["start"], span["end"], span["label"]))
    return values


def agent_value(item: ItemRecord, name: str, kind: str) -> Any:
    """The agent's answer for a control, from the item (``labels`` for Choices, else its meta)."""
    if kind == "choices":
        return list(item.labels.get(name, []))
    stored = (item.meta.get(META_KEYS[kind]) or {}).get(name)
    if stored is None:
        return empty(kind)
    if kind == "labels":
        return sorted(({key: span.get(key) for key in ("start", "end", "text", "label", "confidence")}
                       for span in stored), key=lambda span: (span["start"], span["end"], str(span["label"])))
    return stored


def as_labels(kind: str, value: Any) -> list[str]:
    """The label values of an answer, as ``Item.labels`` holds them: Choices as chosen; spans
    their distinct labels, sorted; a taxonomy every node on its paths, sorted; a number its text."""
    if kind == "choices":
        return [str(label) for label in value]
    if kind == "labels":
        return sorted({str(span["label"]) for span in value})
    if kind == "taxonomy":
        return sorted({str(node) for path in value for node in path})
    if kind in ("rating", "number"):
        return [] if value is None else [str(value)]
    return []


def same(kind: str, agent: Any, human: Any) -> bool:
    """Whether the annotator kept the agent's answer exactly (order aside)."""
    if kind == "choices":
        return sorted(agent) == sorted(human)
    if kind == "labels":
        return _span_keys(agent) == _span_keys(human)
    if kind == "taxonomy":
        return {tuple(path) for path in agent} == {tuple(path) for path in human}
    if kind in ("rating", "number"):
        return agent is not None and human is not None and float(agent) == float(human)
    return [text.strip() for text in agent] == [text.strip() for text in human]


def _span_keys(spans: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return sorted((int(span["start"]), int(span["end"]), str(span["label"])) for span in spans)


def empty(kind: str) -> Any:
    value = EMPTY[kind]
    return list(value) if isinstance(value, list) else value


def _add(kind: str, current: Any, value: Mapping[str, Any]) -> Any:
    """``current`` with one more result item of the control merged in."""
    if kind == "choices":
        return [*current, *(str(choice) for choice in value.get("choices") or [])]
    if kind == "labels":
        offsets: Mapping[str, Any] = value["globalOffsets"] if isinstance(value.get("globalOffsets"), dict) else value
        start, end = offsets.get("start"), offsets.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            return current
        text = str(value.get("text") or "")
        return [*current, *({"start": start, "end": end, "text": text, "label": str(label)}
                            for label in value.get("labels") or value.get("hypertextlabels") or [])]
    if kind == "textarea":
        return [*current, *(str(text) for text in value.get("text") or [])]
    if kind in ("rating", "number"):
        found = value.get(kind)
        return found if isinstance(found, int | float) and not isinstance(found, bool) else current
    return [*current, *([str(node) for node in path] for path in value.get("taxonomy") or [] if isinstance(path, list))]
