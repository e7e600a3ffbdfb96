"""What a non-choice control tag adds to its reading: numbers' ranges and taxonomy paths.

Why a module of its own: ``labeling`` reads every control through label-studio-sdk's
``label_interface``, which knows the tags but flattens a ``Taxonomy`` into a plain list of
choices; the tree (which node is whose child) is read here from the config's XML.

Readings:

- ``Rating``: the values 1..``maxRating`` (default 5), as labels "1".."N".
- ``Number``: ``min``, ``max`` and ``step`` as numbers, each optional; a bad one is an error.
- ``Taxonomy``: every path from a root to a node (to the leaves only with ``leafsOnly="true"``);
  a path's value joins the node values (``alias`` where set, as Label Studio stores them) with
  ``PATH_JOIN``, its text joins the display values with ``" > "``. Several paths may be chosen
  unless ``maxUsages="1"``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

KINDS = {
    "Choices": "choices",
    "Labels": "labels",
    "TextArea": "textarea",
    "Rating": "rating",
    "Number": "number",
    "Taxonomy": "taxonomy",
}
SPAN_OBJECTS = ("Text", "HyperText")
PATH_JOIN = "\x1f"
PATH_SHOWN = " > "
DEFAULT_MAX_RATING = 5


class TagError(ValueError):
    """A control tag's attributes cannot be used."""


@dataclass(frozen=True)
class Extras:
    """What a tag adds: labels (None: the SDK's labels stand), multiple (None: ``choice``), range."""

    labels: list[tuple[str, str]] | None = None
    multiple: bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None


def read_extras(kind: str, tag: Any, config: str) -> Extras:
    """The extra reading of one control tag of ``config``; raises TagError for bad attributes."""
    if kind == "rating":
        top = _number(tag.attr, "maxRating", DEFAULT_MAX_RATING)
        if top is None or top < 1 or not float(top).is_integer():
            raise TagError(f"maxRating must be a whole number of at least 1, got {tag.attr.get('maxRating')!r}")
        values = [str(i) for i in range(1, int(top) + 1)]
        return Extras(labels=[(v, v) for v in values], multiple=False, minimum=1, maximum=int(top), step=1)
    if kind == "number":
        minimum, maximum = _number(tag.attr, "min"), _number(tag.attr, "max")
        step = _number(tag.attr, "step")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise TagError(f"min {minimum:g} is above max {maximum:g}")
        if step is not None and step <= 0:
            raise TagError(f"step must be above 0, got {step:g}")
        return Extras(labels=[], multiple=False, minimum=minimum, maximum=maximum, step=step)
    if kind == "textarea":
        return Extras(labels=[], multiple=False)
    if kind == "taxonomy":
        return Extras(labels=_taxonomy_paths(tag, config), multiple=str(tag.attr.get("maxUsages", "")) != "1")
    return Extras()


def _number(attrs: dict[str, Any], key: str, default: float | None = None) -> float | None:
    raw = attrs.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise TagError(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise TagError(f"{key} must be a finite number, got {raw!r}")
    return int(value) if value.is_integer() else value


def _taxonomy_paths(tag: Any, config: str) -> list[tuple[str, str]]:
    root = ET.fromstring(config)
    element = next((el for el in root.iter("Taxonomy") if el.get("name") == tag.name), None)
    if element is None:
        raise TagError("its element is not in the config")
    leafs_only = str(element.get("leafsOnly", "")).lower() == "true"
    paths: list[tuple[str, str]] = []

    def walk(node: ET.Element, values: list[str], texts: list[str]) -> None:
        for child in node.findall("Choice"):
            text = child.get("value") or ""
            if not text.strip():
                raise TagError("a Choice has no value")
            value = child.get("alias") or text
            if PATH_JOIN in value:
                raise TagError(f"choice value {value!r} holds a control character")
            here_values, here_texts = [*values, value], [*texts, text]
            if not leafs_only or not child.findall("Choice"):
                paths.append((PATH_JOIN.join(here_values), PATH_SHOWN.join(here_texts)))
            walk(child, here_values, here_texts)

    walk(element, [], [])
    return paths


def split_path(value: str) -> list[str]:
    """A taxonomy path's node values, from its label value."""
    return value.split(PATH_JOIN)
