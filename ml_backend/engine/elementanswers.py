"""The non-choice controls' part of an ``Answer``: spans, texts, numbers and taxonomy paths.

Why apart from ``answers``: a choice control's answer is its labels; these controls' answers
have their own shapes (the contract every consumer reads, see ``Answer``), and what review
views filter on (``Answer.labels``) is derived from them here:

- Labels: the sorted distinct labels of the placed spans; confidence = the lowest span's (a
  control answered with no entity: the probability of the token closing its empty list,
  method ``empty_list``; by samples, the share of samples with no entity either);
- Taxonomy: every node value on the chosen paths, distinct and sorted; ``per_label`` is keyed by
  the path's node values joined by ``" > "``;
- Rating and Number: ``[str(value)]``; TextArea: ``[]``.

Confidence rules per element are in ``elementscore``; ``Answer.methods`` names the rule used per
control (``logprobs``, ``mean_token_prob``, ``self_consistency``, ``empty_list``, ``none``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ml_backend.engine.confidence import control_confidence
from ml_backend.engine.controltags import PATH_SHOWN, split_path
from ml_backend.engine.elements import Reading, read_answer
from ml_backend.engine.elementscore import (
    agreement,
    mean_token_probability,
    normal_text,
    number_probability,
    span_probabilities,
)
from ml_backend.engine.labeling import Control, LabelSpec
from ml_backend.engine.spans import describe

if TYPE_CHECKING:
    from ml_backend.engine.answers import Answer

Token = Mapping[str, Any]


def add_elements(answer: Answer, spec: LabelSpec, reading: Reading, content: str,
                 logprobs: Sequence[Token] | None, samples: Sequence[str | None] | None,
                 inputs: Mapping[str, str] | None) -> None:
    """Fill ``answer``'s element fields, labels and confidences for the non-choice controls."""
    others = [read_answer(sample, spec, None if inputs is None else dict(inputs)) for sample in samples or ()]
    read_samples = [None if other.parsed.error else other for other in others]
    labels: dict[str, list[str]] = {}
    for control in spec.controls:
        if control.kind == "choices":
            labels[control.name] = answer.labels[control.name]
            continue
        method = "logprobs" if logprobs else "self_consistency" if samples else "none"
        if control.kind == "taxonomy":
            _taxonomy(answer, control)
        elif control.kind == "labels":
            method = _spans(answer, control, reading, content, logprobs, read_samples, method)
        elif control.kind == "textarea":
            answer.texts[control.name] = reading.texts[control.name]
            answer.labels[control.name] = []
            answer.per_label[control.name] = {}
            if logprobs:
                method = "mean_token_prob"
                value = mean_token_probability(content, reading.value_offsets.get(control.name), logprobs)
            else:
                chosen = normal_text(reading.texts[control.name])
                value = agreement(chosen, [None if s is None else normal_text(s.texts.get(control.name, []))
                                           for s in read_samples]) if samples else None
            answer.confidence[control.name] = value
        else:
            _number(answer, control, reading, content, logprobs, read_samples)
        answer.methods[control.name] = method
        labels[control.name] = answer.labels[control.name]
    answer.labels = labels
    answer.confidence = {name: answer.confidence.get(name) for name in labels}
    answer.per_label = {name: answer.per_label.get(name, {}) for name in labels}


def _taxonomy(answer: Answer, control: Control) -> None:
    values = answer.labels[control.name]
    paths = [split_path(value) for value in values]
    answer.paths[control.name] = paths
    answer.labels[control.name] = sorted({node for path in paths for node in path})
    answer.per_label[control.name] = {
        PATH_SHOWN.join(split_path(value)): prob for value, prob in answer.per_label[control.name].items()
    }
    if control.name in answer.label_mass:
        answer.label_mass[control.name] = {
            PATH_SHOWN.join(split_path(value)): mass for value, mass in answer.label_mass[control.name].items()
        }


def _spans(answer: Answer, control: Control, reading: Reading, content: str, logprobs: Sequence[Token] | None,
           samples: Sequence[Reading | None], method: str) -> str:
    placed = reading.spans[control.name].spans
    dropped = reading.spans[control.name].dropped
    if dropped:
        answer.dropped_spans[control.name] = len(dropped)
        answer.dropped[control.name] = [describe(listing, why) for listing, why in dropped]
    if logprobs:
        probs = span_probabilities(control, reading, content, logprobs)
    elif samples:
        probs = [agreement(True, [None if s is None else _holds(s, control, span.start, span.end, span.label.value)
                                  for s in samples]) for span in placed]
    else:
        probs = [None] * len(placed)
    answer.spans[control.name] = [
        {"start": span.start, "end": span.end, "text": span.text, "label": span.label.value, "confidence": prob}
        for span, prob in zip(placed, probs, strict=True)
    ]
    answer.labels[control.name] = sorted({span.label.value for span in placed})
    per_label: dict[str, float | None] = {}
    for span, prob in zip(placed, probs, strict=True):
        per_label[span.label.value] = control_confidence(
            {"a": per_label[span.label.value], "b": prob} if span.label.value in per_label else {"b": prob})
    answer.per_label[control.name] = per_label
    if placed:
        answer.confidence[control.name] = control_confidence({str(i): p for i, p in enumerate(probs)})
        return method
    if logprobs:
        answer.confidence[control.name] = _empty_list_probability(content, control, logprobs)
        return "empty_list"
    answer.confidence[control.name] = agreement(
        True, [None if s is None else not s.spans[control.name].spans for s in samples]) if samples else None
    return method


def _holds(reading: Reading, control: Control, start: int, end: int, label: str) -> bool:
    return any((s.start, s.end, s.label.value) == (start, end, label) for s in reading.spans[control.name].spans)


def _empty_list_probability(content: str, control: Control, logprobs: Sequence[Token]) -> float | None:
    """The probability of the token that closes the control's empty list (``[]``)."""
    key_at = content.find(control.name)
    opening = content.find("[", key_at) if key_at >= 0 else -1
    closing = content.find("]", opening) if opening >= 0 else -1
    return None if closing < 0 else mean_token_probability(content, (closing, closing + 1), logprobs)


def _number(answer: Answer, control: Control, reading: Reading, content: str, logprobs: Sequence[Token] | None,
            samples: Sequence[Reading | None]) -> None:
    value = reading.numbers[control.name]
    answer.numbers[control.name] = value
    answer.labels[control.name] = [str(value)]
    if logprobs:
        prob = number_probability(control, reading, content, logprobs)
    elif samples:
        prob = agreement(value, [None if s is None else s.numbers.get(control.name) for s in samples])
    else:
        prob = None
    answer.per_label[control.name] = {str(value): prob}
    answer.confidence[control.name] = prob
