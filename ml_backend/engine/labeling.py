"""What an agent can label, read from a Label Studio labeling config.

The config is parsed with label-studio-sdk's ``label_interface`` so that our reading of
controls, objects and ``alias`` values is the one Label Studio itself uses.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from ml_backend.engine.controltags import KINDS, SPAN_OBJECTS, TagError, read_extras

SUPPORTED_CONTROLS = ("Choices", "Labels", "TextArea", "Rating", "Number", "Taxonomy")
SUPPORTED_OBJECTS = ("Text", "HyperText", "Paragraphs")


class LabelConfigError(ValueError):
    """The labeling config cannot be used by an agent."""


class EmptyInputError(ValueError):
    """A task has nothing for the agent to read."""


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Label:
    """One option of a control.

    ``value`` is what Label Studio stores in a result (the ``alias`` when the config sets
    one); ``text`` is what annotators see, and so what the model is shown and answers with.
    """

    value: str
    text: str


@dataclass(frozen=True)
class InputField:
    """An object tag whose task data the model reads."""

    name: str
    tag: str
    data_key: str
    name_key: str = "author"
    text_key: str = "text"

    def read(self, data: dict[str, Any]) -> str:
        """The task's value for this field as plain text; raises EmptyInputError if blank."""
        raw: Any = data
        for part in self.data_key.split("."):
            raw = raw.get(part) if isinstance(raw, dict) else None
        text = _as_text(self, raw)
        if not text.strip():
            raise EmptyInputError(f"task data has no text in '{self.data_key}' for <{self.tag} name=\"{self.name}\">")
        if bad := _LONE_SURROGATE.search(text):
            # JSON may carry "\ud800" alone; no encoder, database or model accepts it, so the
            # task fails here, alone, instead of failing its whole batch later.
            raise EmptyInputError(f"task data in '{self.data_key}' is not valid Unicode: a lone UTF-16 surrogate "
                                  f"U+{ord(bad.group()):04X} at character {bad.start()}")
        return text


@dataclass(frozen=True)
class Control:
    """A control the model answers once per task.

    ``kind`` is the Label Studio result type: ``choices`` (the default), ``labels`` (spans; the
    labels are the entity types, ``multiple`` lets one span hold several), ``textarea``,
    ``rating`` (``maximum`` is ``maxRating``), ``number`` (``minimum``/``maximum``/``step``) or
    ``taxonomy``: its labels are the selectable paths, each ``Label.value`` the path's node values
    joined by ``PATH_JOIN`` and ``Label.text`` their display texts joined by ``" > "``; ``multiple``
    unless ``maxUsages="1"``.
    """

    name: str
    to_name: str
    input: InputField
    multiple: bool
    labels: tuple[Label, ...]
    kind: str = "choices"
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    @property
    def texts(self) -> list[str]:
        return [label.text for label in self.labels]

    def value_of(self, text: str) -> str:
        """The result value for a label's display text."""
        for label in self.labels:
            if label.text == text:
                return label.value
        raise KeyError(text)

    def text_of(self, value: str) -> str:
        """The display text for a stored result value."""
        for label in self.labels:
            if label.value == value:
                return label.text
        raise KeyError(value)


@dataclass(frozen=True)
class LabelSpec:
    """The controls of a config that an agent answers, in config order."""

    controls: tuple[Control, ...]
    ignored: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[InputField, ...]:
        seen: dict[str, InputField] = {}
        for control in self.controls:
            seen.setdefault(control.input.name, control.input)
        return tuple(seen.values())

    def control(self, name: str) -> Control:
        for control in self.controls:
            if control.name == name:
                return control
        raise KeyError(name)

    def read_inputs(self, data: dict[str, Any]) -> dict[str, str]:
        """Plain text of every input the controls read, keyed by object name."""
        return {field.name: field.read(data) for field in self.inputs}

    def signature(self) -> str:
        """A hash of controls and labels: two projects with equal signatures can share an agent."""
        shape = [
            [c.name, c.to_name, c.multiple, [[lb.value, lb.text] for lb in c.labels]]
            + ([] if c.kind == "choices" else [c.kind, c.minimum, c.maximum, c.step])
            for c in self.controls
        ]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()


@lru_cache(maxsize=256)
def parse_label_config(config: str) -> LabelSpec:
    """Read the supported controls of a labeling config; raise LabelConfigError when none.

    Cached by the config's text: the spec is immutable, and the service reads the same few
    configs on every agent read, review and job, where a parse costs milliseconds each time."""
    try:
        interface = LabelInterface(config)
    except Exception as exc:  # the SDK raises several unrelated types for bad XML
        raise LabelConfigError(f"labeling config is not valid XML: {exc}") from None
    controls: list[Control] = []
    ignored: list[str] = []
    for tag in interface.controls:
        try:
            control = _control_from_tag(tag, config)
        except TagError as exc:
            raise LabelConfigError(f"<{tag.tag} name=\"{tag.name}\">: {exc}") from None
        if control is None:
            ignored.append(f"<{tag.tag} name=\"{tag.name}\">")
        else:
            controls.append(control)
    if not controls:
        raise LabelConfigError(
            f"labeling config has no control an agent can answer: supported are {SUPPORTED} over "
            f"{', '.join(SUPPORTED_OBJECTS)}; found {', '.join(ignored) or 'no control tags'}"
        )
    return LabelSpec(controls=tuple(controls), ignored=tuple(ignored))


SUPPORTED = (
    'Choices (single or choice="multiple"), Labels (spans over Text or HyperText), TextArea, '
    "Rating, Number and Taxonomy"
)


def _control_from_tag(tag: Any, config: str) -> Control | None:
    if tag.tag not in SUPPORTED_CONTROLS or len(tag.objects) != 1:
        return None
    obj = tag.objects[0]
    if obj.tag not in SUPPORTED_OBJECTS or not str(obj.value or "").startswith("$"):
        return None
    kind = KINDS[tag.tag]
    if kind == "labels" and obj.tag not in SPAN_OBJECTS:
        return None
    extras = read_extras(kind, tag, config)
    pairs = extras.labels if extras.labels is not None else [
        (value, str(attrs.attr.get("value", value))) for value, attrs in tag.labels_attrs.items()
    ]
    labels = tuple(Label(value=value, text=text) for value, text in pairs)
    if not labels and kind in ("choices", "labels", "taxonomy"):
        return None
    field = InputField(
        name=obj.name,
        tag=obj.tag,
        data_key=obj.value[1:],
        name_key=obj.attr.get("nameKey", "author"),
        text_key=obj.attr.get("textKey", "text"),
    )
    return Control(
        name=tag.name,
        to_name=obj.name,
        input=field,
        multiple=extras.multiple if extras.multiple is not None else tag.attr.get("choice") == "multiple",
        labels=labels,
        kind=kind,
        minimum=extras.minimum,
        maximum=extras.maximum,
        step=extras.step,
    )


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _as_text(field: InputField, raw: Any) -> str:
    if raw is None:
        return ""
    if field.tag == "Paragraphs":
        if not isinstance(raw, list):
            raise EmptyInputError(
                f"'{field.data_key}' must be a list of paragraphs for <Paragraphs name=\"{field.name}\">")
        lines = []
        for item in raw:
            if isinstance(item, dict):
                speaker = item.get(field.name_key)
                text = str(item.get(field.text_key, ""))
                lines.append(f"{speaker}: {text}" if speaker else text)
        return "\n".join(lines)
    if field.tag == "HyperText":
        extractor = _TextExtractor()
        extractor.feed(str(raw))
        return " ".join(" ".join(extractor.parts).split())
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
