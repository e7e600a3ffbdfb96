"""Uncertainty signals of one answer, and the one an agent reports as its confidence.

Why several: the label probability alone orders tasks by how the model hesitated while writing
the label. Other readings of the same answer rank errors differently, and which one finds the most
errors per task a human reads is an empirical question (``benchmarks/bench_review.py``). Every
answer therefore carries the free signals, and the paid ones when the agent asks for them, in its
item metadata (``meta["signals"]``); the agent's ``confidence`` option picks the one pushed to
Label Studio as the prediction score (``label``, the default, keeps the engine's behaviour):

* ``label``: the chosen labels' probability (``engine.confidence``), the weakest control's;
* ``margin``: the chosen label's probability minus the most likely other label's. The rivals'
  probabilities are read at the chosen label's first token: the mass the listed alternatives
  credit to each other label (a token shared by several labels split evenly among them), scaled
  to the probability the chosen label leaves (``1 - p``). When no rival is listed there, all of
  ``1 - p`` is one rival's (the conservative bound, the smallest margin). Without logprobs it is
  the difference of the sampled answers' shares. Free: no extra call;
* ``self_verify``: P(yes) from a second call asking whether the labels are right
  (``engine.selfverify``). Costs one call per task (and a sampling call without logprobs);
* ``consistency``: the share of ``consistency_samples`` sampled answers agreeing with the chosen
  labels. Free when the endpoint has no logprobs (it is how confidence is read then); otherwise
  one extra call asking for the samples;
* ``combined``: a logistic model over label, margin and self_verify, fitted on the agent's
  verified items (``review.combined``); until there are enough, the label probability, and the
  item says so (``signals["fallback"]``).

A selected signal that could not be read for an item (a verification call that failed) falls
back to the label probability for that item, with the reason in ``signals["fallback"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

from ml_backend.engine.answers import Answer
from ml_backend.engine.confidence import control_confidence, self_consistency
from ml_backend.engine.labeling import Label, LabelSpec
from ml_backend.engine.postprocess import parse_response

ConfidenceSignal = Literal["label", "margin", "self_verify", "consistency", "combined"]
CONFIDENCES: tuple[str, ...] = ("label", "margin", "self_verify", "consistency", "combined")
COMBINED_FEATURES = ("label", "margin", "self_verify")
_FORMATTING = " \t\r\n\"'`“”‘’*[({:,-"


class Combiner(Protocol):
    """The fitted combination of signals (``review.combined``), or why there is none yet."""

    def predict(self, signals: Mapping[str, Any]) -> float | None: ...

    @property
    def unavailable(self) -> str | None: ...


def needs_verification(confidence: str) -> bool:
    """Whether the agent's confidence needs the self-verification call."""
    return confidence in ("self_verify", "combined")


def needs_samples(confidence: str) -> bool:
    """Whether sampled answers are needed even when the endpoint gives logprobs."""
    return confidence == "consistency"


def margin(spec: LabelSpec, answer: Answer, content: str | None, logprobs: Sequence[Mapping[str, Any]] | None,
           samples: Sequence[str | None] | None) -> float | None:
    """The smallest margin between a chosen label and its best rival, over controls (see above)."""
    if answer.error is not None:
        return None
    if answer.method == "logprobs" and logprobs:
        return _margin_from_logprobs(spec, answer, content or "", logprobs)
    if samples:
        return _margin_from_samples(spec, answer, samples)
    return None


def consistency(spec: LabelSpec, answer: Answer, samples: Sequence[str | None] | None) -> float | None:
    """The weakest control's share of sampled answers agreeing with the chosen labels."""
    if answer.error is not None or not samples:
        return None
    shares = self_consistency(_read_samples(spec, samples), answer.labels)
    return control_confidence({name: control_confidence(values) for name, values in shares.items()})


def read_signals(spec: LabelSpec, answer: Answer, response: Mapping[str, Any]) -> dict[str, Any]:
    """Every signal the response allows, plus the extra cost of the paid ones (``cost``)."""
    logprobs, samples, content = response.get("logprobs"), response.get("samples"), response.get("content")
    found: dict[str, Any] = {"label": answer.score, "margin": margin(spec, answer, content, logprobs, samples)}
    if samples:
        found["consistency"] = consistency(spec, answer, samples)
    cost: dict[str, Any] = {}
    if response.get("consistency_cost"):
        cost["consistency"] = response["consistency_cost"]
    verification = response.get("self_verify")
    if verification is not None:
        found["self_verify"] = verification.get("p_yes")
        cost["self_verify"] = verification.get("cost")
        if verification.get("error"):
            found["self_verify_error"] = verification["error"]
    if cost:
        found["cost"] = cost
    return found


def select(confidence: str, answer: Answer, found: dict[str, Any], combiner: Combiner | None) -> Answer:
    """``answer`` with the agent's chosen signal as its confidence; ``found`` gets ``selected``
    (the signal used) and, when the label probability stood in, ``fallback`` (why)."""
    found["selected"] = "label"
    if confidence == "label" or answer.error is not None:
        return answer
    value, reason = _selected_value(confidence, found, combiner)
    if value is None:
        found["fallback"] = reason
        return answer
    found["selected"] = confidence
    if confidence == "combined":
        found["combined"] = value
    scores: dict[str, float | None] = dict.fromkeys(answer.confidence, value)
    return replace(answer, confidence=scores, score=control_confidence(scores))


def _selected_value(confidence: str, found: Mapping[str, Any],
                    combiner: Combiner | None) -> tuple[float | None, str]:
    if confidence == "combined":
        if combiner is None or combiner.unavailable:
            reason = combiner.unavailable if combiner is not None else "no verified items to fit on"
            return None, f"combined: {reason}; the label probability is used"
        missing = ", ".join(name for name in COMBINED_FEATURES if found.get(name) is None)
        return combiner.predict(found), f"combined: no {missing} for this item; the label probability is used"
    value = found.get(confidence)
    detail = found.get(f"{confidence}_error") or "not available for this answer"
    return value, f"{confidence}: {detail}; the label probability is used"


def _margin_from_logprobs(spec: LabelSpec, answer: Answer, content: str,
                          logprobs: Sequence[Mapping[str, Any]]) -> float | None:
    parsed = parse_response(content, spec)
    margins: list[float | None] = []
    for control in spec.controls:
        reading = parsed.answers.get(control.name)
        if reading is None:
            return None
        by_value = {label.value: label for label in control.labels}
        for value, offset in zip(reading.labels, reading.offsets, strict=True):
            chosen = answer.per_label.get(control.name, {}).get(value)
            if chosen is None or offset is None:
                margins.append(None)
                continue
            rivals = [label for label in control.labels if label.value not in reading.labels]
            rival = _best_rival(logprobs, content, offset, by_value[value], rivals, chosen)
            margins.append(max(0.0, chosen - rival))
    return None if not margins or None in margins else min(m for m in margins if m is not None)


def _best_rival(logprobs: Sequence[Mapping[str, Any]], content: str, offset: int, chosen: Label,
                rivals: Sequence[Label], probability: float) -> float:
    """The most likely rival's probability, scaled to what the chosen label leaves (see above)."""
    if not rivals:
        return 0.0
    entry = _token_at(logprobs, content, offset)
    mass = dict.fromkeys(rivals, 0.0)
    for alternative in (entry or {}).get("top_logprobs") or ():
        text = str(alternative["token"]).lstrip(_FORMATTING).casefold()
        credited = [label for label in (chosen, *rivals) if text and _starts(text, label)]
        for label in credited:
            if label in mass:
                mass[label] += math.exp(float(alternative["logprob"])) / len(credited)
    total = sum(mass.values())
    left = max(0.0, 1.0 - probability)
    return left * max(mass.values()) / total if total > 0 else left


def _starts(text: str, label: Label) -> bool:
    for surface in {label.text.casefold(), label.value.casefold()}:
        if surface.startswith(text):
            return True
        rest = text[len(surface): len(surface) + 1]
        if text.startswith(surface) and (not rest or not (rest.isalnum() or rest in "-_")):
            return True
    return False


def _token_at(logprobs: Sequence[Mapping[str, Any]], content: str, offset: int) -> Mapping[str, Any] | None:
    """The token whose bytes hold ``content[offset]``; None when the tokens do not spell the content."""
    data, target, start = content.encode("utf-8"), len(content[:offset].encode("utf-8")), 0
    for entry in logprobs:
        raw = bytes(entry["bytes"]) if entry.get("bytes") is not None else str(entry["token"]).encode("utf-8")
        end = start + len(raw)
        if data[start:end] != raw:
            return None
        if end > target:
            return entry
        start = end
    return None


def _margin_from_samples(spec: LabelSpec, answer: Answer, samples: Sequence[str | None]) -> float | None:
    read = _read_samples(spec, samples)
    margins = []
    for control in spec.controls:
        chosen = answer.labels.get(control.name, [])
        share = {label.value: sum(1 for s in read if s and label.value in s.get(control.name, ())) / len(read)
                 for label in control.labels}
        rival = max((share[label.value] for label in control.labels if label.value not in chosen), default=0.0)
        margins += [max(0.0, share[value] - rival) for value in chosen if value in share]
    return min(margins) if margins else None


def _read_samples(spec: LabelSpec, samples: Sequence[str | None]) -> list[dict[str, list[str]] | None]:
    read: list[dict[str, list[str]] | None] = []
    for sample in samples:
        parsed = parse_response(sample, spec)
        read.append(None if parsed.error else {name: a.labels for name, a in parsed.answers.items()})
    return read
