"""One scored answer per task: the labels read from a response and how sure the model was.

Why a single record: the job runner stores it, ``lsagent parse`` prints it and the Label Studio
push turns it into prediction results, so the three must not disagree. Confidence comes from
token log-probabilities when the endpoint gives them (``method="logprobs"``, see
``ml_backend.engine.confidence``); otherwise from the agreement of n sampled answers
(``"self_consistency"``); with neither it is unknown (``"none"``) and never made up. An answer
with an error carries no labels and no confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ml_backend.engine.confidence import (
    control_confidence,
    label_probability,
    seen_label_mass,
    self_consistency,
    sequence_means,
)
from ml_backend.engine.elementanswers import add_elements
from ml_backend.engine.elements import choice_spec, read_answer
from ml_backend.engine.labeling import LabelSpec
from ml_backend.engine.lsresults import element_results, has_answer
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.postprocess import Parsed, parse_response

Method = Literal["logprobs", "self_consistency", "none"]


@dataclass
class Answer:
    """Labels (result values) and confidences per control, plus what the confidence is based on.

    ``score`` is the prediction-level confidence: the minimum over controls, None when any control's
    is unknown. ``mean_prob`` and ``geo_mean_prob`` are whole-response token-probability means kept
    for comparison, not used as confidence. ``invalid`` holds raw offending labels for reports.
    ``spans`` (Labels controls: {start, end, text, label (result value), confidence}, sorted by
    start), ``texts`` (TextArea), ``numbers`` (Rating, Number) and ``paths`` (Taxonomy, each path
    a list of node values from the root) hold the answers of the non-choice controls.
    ``labels`` per non-choice control (what review views filter on): Labels -> sorted distinct span
    labels; Taxonomy -> every node value on the chosen paths, distinct and sorted; Rating and
    Number -> ``[str(value)]``; TextArea -> ``[]``. ``confidence`` of a span control is its lowest
    span's. A control whose every listed span was dropped is a ``span_not_found`` error, with the
    number of dropped spans per control in ``meta()["dropped_spans"]``.
    ``label_mass`` is, per chosen label, the probability the listed alternatives gave to any label
    where it was generated (``confidence.seen_label_mass``): low where the model was writing prose.
    """

    labels: dict[str, list[str]]
    confidence: dict[str, float | None]
    per_label: dict[str, dict[str, float | None]]
    score: float | None
    error: ErrorClass | None
    detail: str
    method: Method
    mean_prob: float | None = None
    geo_mean_prob: float | None = None
    dropped: dict[str, list[str]] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    label_mass: dict[str, dict[str, float | None]] = field(default_factory=dict)
    spans: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    numbers: dict[str, float | int] = field(default_factory=dict)
    paths: dict[str, list[list[str]]] = field(default_factory=dict)
    dropped_spans: dict[str, int] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    def to_parse_line(self, spec: LabelSpec | None = None) -> dict[str, Any]:
        """The ``lsagent parse`` line: labels, confidence, error and detail; with a ``spec`` holding
        other controls than Choices, ``labels`` keeps the Choices and ``spans``, ``texts``,
        ``numbers`` and ``paths`` hold the others' answers."""
        line: dict[str, Any] = {
            "labels": self.labels,
            "confidence": self.confidence,
            "error": None if self.error is None else self.error.value,
            "detail": self.detail,
        }
        if spec is not None and any(control.kind != "choices" for control in spec.controls):
            choices = {control.name for control in spec.controls if control.kind == "choices"}
            line["labels"] = {name: values for name, values in self.labels.items() if name in choices}
            line.update(spans=self.spans, texts=self.texts, numbers=self.numbers, paths=self.paths)
        return line

    def meta(self) -> dict[str, Any]:
        """What an item stores beside its labels and confidence: the confidence method (so a
        self-consistency fallback is visible), per-label probabilities, the whole-response means,
        dropped and invalid labels. Plain JSON data."""
        return {
            "method": self.method,
            "per_label": self.per_label,
            "mean_prob": self.mean_prob,
            "geo_mean_prob": self.geo_mean_prob,
            "dropped": self.dropped,
            "invalid": self.invalid,
            "label_mass": self.label_mass,
            "spans": self.spans,
            "texts": self.texts,
            "numbers": self.numbers,
            "paths": self.paths,
            "dropped_spans": self.dropped_spans,
            "methods": self.methods,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for the store); ``from_dict`` reads it back."""
        data = asdict(self)
        data["error"] = None if self.error is None else self.error.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        """The Answer that ``to_dict`` produced."""
        values = dict(data)
        values["error"] = None if values.get("error") is None else ErrorClass(values["error"])
        return cls(**values)


def score_answer(
    spec: LabelSpec,
    content: str | None,
    logprobs: Sequence[Mapping[str, Any]] | None,
    samples: Sequence[str | None] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> Answer:
    """Read ``content`` and attach confidences from ``logprobs``, else from the sampled answers.

    ``inputs`` (the task's text per object name, ``LabelSpec.read_inputs``) places spans; only a
    config with a ``Labels`` control needs it."""
    reading = read_answer(content, spec, None if inputs is None else dict(inputs))
    parsed = reading.parsed
    mean_prob, geo_mean_prob = sequence_means(logprobs) if logprobs else (None, None)
    if parsed.error is not None:
        return Answer(
            labels={},
            confidence={},
            per_label={},
            score=None,
            error=parsed.error,
            detail=parsed.detail,
            method="none",
            mean_prob=mean_prob,
            geo_mean_prob=geo_mean_prob,
            invalid=parsed.invalid,
            dropped_spans=reading.dropped_spans,
        )
    choices = choice_spec(spec)
    labels = {name: list(answer.labels) for name, answer in parsed.answers.items()}
    method: Method
    label_mass: dict[str, dict[str, float | None]] = {}
    if logprobs:
        method, per_label = "logprobs", _per_label(label_probability, choices, parsed, content or "", logprobs)
        label_mass = _per_label(seen_label_mass, choices, parsed, content or "", logprobs)
    elif samples:
        method, per_label = "self_consistency", _from_samples(choices, samples, labels)
    else:
        method = "none"
        per_label = {name: dict.fromkeys(values) for name, values in labels.items()}
    confidence = {name: control_confidence(probs) for name, probs in per_label.items()}
    answer = Answer(
        labels=labels,
        confidence=confidence,
        per_label=per_label,
        score=None,
        error=None,
        detail=parsed.detail,
        method=method,
        mean_prob=mean_prob,
        geo_mean_prob=geo_mean_prob,
        dropped={name: list(a.dropped) for name, a in parsed.answers.items() if a.dropped},
        label_mass=label_mass,
    )
    if len(choices.controls) < len(spec.controls) or any(c.kind == "taxonomy" for c in spec.controls):
        add_elements(answer, spec, reading, content or "", logprobs, samples, inputs)
    answer.score = control_confidence(answer.confidence)
    return answer


def _per_label(
    measure: Callable[..., float | None], spec: LabelSpec, parsed: Parsed, content: str,
    logprobs: Sequence[Mapping[str, Any]],
) -> dict[str, dict[str, float | None]]:
    """``measure`` (a label's probability, or the label mass seen) at each chosen label's token."""
    found: dict[str, dict[str, float | None]] = {}
    for control in spec.controls:
        answer = parsed.answers[control.name]
        by_value = {label.value: label for label in control.labels}
        found[control.name] = {
            value: measure(logprobs, content, offset, by_value[value], control.labels)
            for value, offset in zip(answer.labels, answer.offsets, strict=True)
        }
    return found


def _from_samples(
    spec: LabelSpec, samples: Sequence[str | None], labels: dict[str, list[str]]
) -> dict[str, dict[str, float | None]]:
    read = []
    for sample in samples:
        parsed = parse_response(sample, spec)
        read.append(None if parsed.error else {name: a.labels for name, a in parsed.answers.items()})
    shares = self_consistency(read, labels)
    return {name: dict(values) for name, values in shares.items()}


def to_ls_results(spec: LabelSpec, answer: Answer, data: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Label Studio result items in config order (a span control gives one per region); an
    errored answer has none. The task's ``data`` places span regions as Label Studio counts
    (UTF-16 offsets in a Text, XPaths in a HyperText)."""
    if answer.error is not None:
        raise ValueError(f"answer has error {answer.error.value} ({answer.detail}); it has no Label Studio result")
    missing = [control.name for control in spec.controls if not has_answer(control, answer)]
    if missing:
        raise ValueError(f"answer has no labels for control(s) {', '.join(missing)} of this labeling config")
    results: list[dict[str, Any]] = []
    for control in spec.controls:
        if control.kind == "choices":
            results.append({
                "from_name": control.name,
                "to_name": control.to_name,
                "type": "choices",
                "value": {"choices": list(answer.labels[control.name])},
                "score": answer.confidence.get(control.name),
            })
        else:
            results.extend(element_results(control, answer, data))
    return results
