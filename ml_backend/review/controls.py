"""The controls of an agent's labeling config as the review side reads them: name, kind, values.

Review views, verdicts, figures and exports treat each control by its kind (a span control is
verified span by span, a number by its distance, a taxonomy by its paths) and need the label
values it offers. They read the config here, with label-studio-sdk's ``label_interface`` as Label
Studio itself reads it, for every control type an agent answers, so that reviewing never depends
on which controls the prompt side supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from ml_backend.engine.labeling import SUPPORTED_OBJECTS, InputField, LabelConfigError

#: Label Studio control tag -> kind, which is also the result ``type`` Label Studio writes.
KINDS = {"Choices": "choices", "Labels": "labels", "TextArea": "textarea", "Rating": "rating",
         "Number": "number", "Taxonomy": "taxonomy"}
#: Kinds whose answer is a set of label values (what a label review matches).
LABELLED = ("choices", "labels", "taxonomy")


@dataclass(frozen=True)
class ReviewControl:
    """One control: its name, kind and ``values`` ({result value: display text}) where it has labels."""

    name: str
    kind: str
    values: dict[str, str]


def review_controls(label_config: str) -> list[ReviewControl]:
    """The config's answerable controls in config order; LabelConfigError when there are none."""
    interface = _interface(label_config)
    controls = [ReviewControl(tag.name, KINDS[tag.tag], _values(tag)) for tag in interface.controls
                if tag.tag in KINDS and _input_object(tag) is not None]
    if not controls:
        raise LabelConfigError(f"the labeling config has no control an agent answers ({', '.join(KINDS)})")
    return controls


def review_inputs(label_config: str) -> list[InputField]:
    """The text objects the answerable controls read, once each, in config order."""
    seen: dict[str, InputField] = {}
    for tag in _interface(label_config).controls:
        obj = _input_object(tag) if tag.tag in KINDS else None
        if obj is not None:
            seen.setdefault(obj.name, InputField(name=obj.name, tag=obj.tag, data_key=obj.value[1:],
                                                 name_key=obj.attr.get("nameKey", "author"),
                                                 text_key=obj.attr.get("textKey", "text")))
    return list(seen.values())


def _interface(label_config: str) -> LabelInterface:
    try:
        return LabelInterface(label_config)
    except Exception as exc:  # the SDK raises several unrelated types for bad XML
        raise LabelConfigError(f"labeling config is not valid XML: {exc}") from None


def _input_object(tag: Any) -> Any:
    """The one text object a control reads from task data, or None."""
    objects = [obj for obj in tag.objects if obj.tag in SUPPORTED_OBJECTS and str(obj.value or "").startswith("$")]
    return objects[0] if len(objects) == 1 else None


def _values(tag: Any) -> dict[str, str]:
    """{result value: display text} of a control's labels (a taxonomy's: every node, nested too)."""
    if KINDS[tag.tag] not in LABELLED:
        return {}
    return {value: str(attrs.attr.get("value", value)) for value, attrs in tag.labels_attrs.items()}
