"""The controls of an agent's labeling config as the review side reads them: name, kind, values.

Review views, verdicts, figures and exports treat each control by its kind (a span control is
verified span by span, a number by its distance, a taxonomy by its paths) and need the label
values a label review can match. They read the config through the engine's parser, the one the
agent was registered with, so a review never sees a control the agent does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_backend.engine.controltags import PATH_SHOWN, split_path
from ml_backend.engine.labeling import Control, InputField, parse_label_config

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
    return [ReviewControl(control.name, control.kind, _values(control))
            for control in parse_label_config(label_config).controls]


def review_inputs(label_config: str) -> list[InputField]:
    """The text objects the answerable controls read, once each, in config order."""
    return list(parse_label_config(label_config).inputs)


def _values(control: Control) -> dict[str, str]:
    """{result value: display text} of a control's labels; a taxonomy's are every node on its
    paths, since an item holds the nodes of the paths it chose."""
    if control.kind not in LABELLED:
        return {}
    if control.kind != "taxonomy":
        return {label.value: label.text for label in control.labels}
    nodes: dict[str, str] = {}
    for label in control.labels:
        values, texts = split_path(label.value), label.text.split(PATH_SHOWN)
        nodes.update(zip(values, texts if len(texts) == len(values) else values, strict=True))
    return nodes
