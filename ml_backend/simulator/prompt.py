"""What the simulator reads from a request: the controls to answer, the task text, directives.

Controls come from the ``response_format`` JSON schema when there is one (an object with one
property per control: ``{"type": "string", "enum": [...]}`` for a single choice, ``{"type":
"array", "items": {"enum": [...]}}`` for multiple choice; a list of ``{text, label}`` objects for
spans, a plain string for free text, an integer or number with ``minimum``/``maximum`` for a
rating or number: see ``engine.promptparts.value_schema``). Otherwise they are read leniently from
the system prompt: a heading line whose last word (or a quoted/backticked word in it) is the
control name, followed by bullet lines ``- <label text>``; a bullet list made mostly of sentences
(a list of rules) is not a control. A heading saying "one or more", "multiple", "all that apply",
"any number", "several" or "at least one" makes the control multiple choice. When the prompt has
lsagent's own label headings (``## Choose exactly one label for: <control>``, see
``prompt_templates/classification.j2``), everything before the first of them is skipped: that is
the user's instruction, whose own bullets (``- Positive: the customer is happy``) are not a control.
lsagent's headings for the other controls (``Mark every mention...``, ``Write a free-text
answer...``, ``Give a [whole] number from A to B...``) give spans, free-text and number controls.

Directives are ``[[sim:...]]`` markers in the task text (the last message) that make one task
behave in a fixed way, so a test can make exactly that task fail:
``500``, ``429``, ``timeout``, ``drop``, ``malformed``, ``nul`` (an answer with NUL characters),
``offlabel``, ``two-labels``,
``label=<text>`` (several labels separated by ``|``) and ``confidence=<0..1>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

FAULT_DIRECTIVES = frozenset({"500", "429", "timeout", "drop", "malformed", "nul", "offlabel", "two-labels"})
_DIRECTIVE = re.compile(r"\[\[sim:([a-z0-9-]+)(?:=([^\]]*))?\]\]", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")
_QUOTED = re.compile(r"[`\"']([A-Za-z_][\w.-]*)[`\"']")
_WORD = re.compile(r"[A-Za-z_][\w.-]*")
_TRAILING_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")
_MULTIPLE_HINT = re.compile(r"one or more|multiple|all that apply|any number|several|at least one", re.IGNORECASE)
_SPANS_HEADING = re.compile(r"^\s*#{1,6}\s*Mark every mention", re.IGNORECASE)
_FREE_HEADING = re.compile(r"^\s*#{1,6}\s*Write a free-text answer", re.IGNORECASE)
_NUMBER_HEADING = re.compile(
    r"^\s*#{1,6}\s*Give a (?P<whole>whole )?number(?: from (?P<low>-?[\d.]+) to (?P<high>-?[\d.]+)| of at least "
    r"(?P<least>-?[\d.]+)| of at most (?P<most>-?[\d.]+))?(?: in steps of (?P<step>[\d.]+))?", re.IGNORECASE)
_CONTROL_HEADING = re.compile(r"^\s*#{1,6}\s.*\bfor:\s*\S+\s*$", re.IGNORECASE)


class DirectiveError(ValueError):
    """A ``[[sim:...]]`` directive is unknown or has a bad value."""


@dataclass(frozen=True)
class SimControl:
    """A question in the prompt: its name, the label texts offered, single or multiple choice.

    ``kind`` is ``choices``, or ``labels`` (spans), ``textarea``, ``rating`` or ``number`` when
    the schema (or lsagent's heading) asks for that shape; numbers carry their range."""

    name: str
    labels: tuple[str, ...]
    multiple: bool
    kind: str = "choices"
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Directives:
    """The ``[[sim:...]]`` markers of one task."""

    faults: frozenset[str] = frozenset()
    labels: tuple[str, ...] = ()
    confidence: float | None = None


@dataclass
class _Group:
    heading: str
    labels: list[str] = field(default_factory=list)


def controls_from_schema(schema: Any) -> list[SimControl]:
    """The enum-valued properties of a JSON schema object, in order."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    controls: list[SimControl] = []
    for name, prop in (properties or {}).items():
        if not isinstance(prop, dict):
            continue
        element = _element_from_schema(name, prop)
        if element is not None:
            controls.append(element)
        elif isinstance(prop.get("enum"), list):
            controls.append(SimControl(name, _texts(prop["enum"]), multiple=False))
        elif isinstance(prop.get("items"), dict) and isinstance(prop["items"].get("enum"), list):
            controls.append(SimControl(name, _texts(prop["items"]["enum"]), multiple=True))
    return [control for control in controls if control.labels or control.kind in ("textarea", "rating", "number")]


def _element_from_schema(name: str, prop: dict[str, Any]) -> SimControl | None:
    """A spans, free-text or number control from its schema (see ``engine.promptparts.value_schema``)."""
    kind = prop.get("type")
    items = prop.get("items")
    if kind == "array" and isinstance(items, dict) and isinstance(items.get("properties"), dict):
        label = items["properties"].get("label")
        if isinstance(label, dict) and isinstance(label.get("enum"), list):
            return SimControl(name, _texts(label["enum"]), multiple=True, kind="labels")
    if kind == "string" and "enum" not in prop:
        return SimControl(name, (), multiple=False, kind="textarea")
    if kind in ("integer", "number"):
        return SimControl(name, (), multiple=False, kind="rating" if kind == "integer" else "number",
                          minimum=prop.get("minimum"), maximum=prop.get("maximum"), step=prop.get("multipleOf"))
    return None


def controls_from_prompt(text: str) -> list[SimControl]:
    """Bullet groups under a named heading, read leniently from the prompt text."""
    groups: list[_Group] = []
    for line in _from_first_control_heading(text.splitlines()):
        bullet = _BULLET.match(line)
        if bullet and groups:
            groups[-1].labels.append(_clean_label(bullet.group(1)))
        elif line.strip() and not bullet:
            groups.append(_Group(line.strip()))
    controls: list[SimControl] = []
    for group in groups:
        name = _heading_name(group.heading)
        labels = tuple(dict.fromkeys(label for label in group.labels if label))
        if not name or name in {control.name for control in controls}:
            continue
        element = _element_from_heading(name, group.heading, labels)
        if element is not None:
            controls.append(element)
        elif labels and _looks_like_labels(labels):
            controls.append(SimControl(name, labels, bool(_MULTIPLE_HINT.search(group.heading))))
    return controls


def _element_from_heading(name: str, heading: str, labels: tuple[str, ...]) -> SimControl | None:
    """A spans, free-text or number control from lsagent's heading for it (``engine.promptparts``)."""
    if _SPANS_HEADING.search(heading) and labels:
        return SimControl(name, labels, multiple=True, kind="labels")
    if _FREE_HEADING.search(heading):
        return SimControl(name, (), multiple=False, kind="textarea")
    number = _NUMBER_HEADING.search(heading)
    if number is None:
        return None
    low = number["low"] or number["least"]
    high = number["high"] or number["most"]
    return SimControl(name, (), multiple=False, kind="rating" if number["whole"] else "number",
                      minimum=None if low is None else float(low), maximum=None if high is None else float(high),
                      step=None if number["step"] is None else float(number["step"]))


def _from_first_control_heading(lines: list[str]) -> list[str]:
    """The lines from the first ``## ... for: <control>`` heading on; all of them when there is none."""
    first = next((index for index, line in enumerate(lines) if _CONTROL_HEADING.match(line)), 0)
    return lines[first:]


def parse_directives(text: str) -> Directives:
    """The directives in a task text; raises DirectiveError on an unknown one."""
    faults: set[str] = set()
    labels: tuple[str, ...] = ()
    confidence = None
    for match in _DIRECTIVE.finditer(text):
        name, value = match.group(1).lower(), match.group(2)
        if name in FAULT_DIRECTIVES and value is None:
            faults.add(name)
        elif name == "label" and value:
            labels = tuple(part.strip() for part in value.split("|") if part.strip())
        elif name == "confidence" and value is not None:
            confidence = _probability(value)
        else:
            raise DirectiveError(f"unknown simulator directive '{match.group(0)}'")
    return Directives(frozenset(faults), labels, confidence)


def _probability(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DirectiveError(f"[[sim:confidence=...]] needs a number in [0, 1], got '{value}'") from None
    if not 0.0 <= number <= 1.0:
        raise DirectiveError(f"[[sim:confidence=...]] needs a number in [0, 1], got {number}")
    return number


def _texts(values: list[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(value) for value in values if str(value).strip()))


def _clean_label(text: str) -> str:
    """Strip markdown emphasis and quotes that a template may put around a label."""
    return text.strip().strip("*_`\"'").strip()


def _looks_like_labels(bullets: tuple[str, ...]) -> bool:
    """Label options are short names; a list of instructions is mostly sentences."""
    sentences = sum(1 for text in bullets if text.endswith((".", "!", "?")) or len(text.split()) > 8)
    return sentences * 2 <= len(bullets)


def _heading_name(heading: str) -> str | None:
    """The control name of a heading: a quoted word in it, else its last word."""
    quoted = _QUOTED.findall(heading)
    if quoted:
        return quoted[-1]
    stripped = _TRAILING_PAREN.sub("", heading.rstrip(" :*#_")).rstrip(" :*#_")
    words = _WORD.findall(stripped)
    return words[-1].rstrip(".") if words else None
