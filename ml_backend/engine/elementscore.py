"""Confidence per element of the non-choice controls: each span, a number, a free text.

Why per element: a prediction with five entities can be right about four and unsure about one;
the review threshold must see the weakest, so every span carries its own score and the
control's confidence (and so the prediction's) is the lowest of them.

The rules, all built on ``confidence.label_probability`` (normalised over a label set, with the
unseen-label rule of that module):

- Span (method ``logprobs``): the probability of the span's label at the first token of its label
  as written in the answer, normalised over the control's labels. A label the parser cannot
  locate in the content has confidence None (unknown), never a made-up value.
- Rating and Number (``logprobs``): the probability of the chosen value's tokens normalised over
  the allowed values (1..maxRating; min..max by step, when that is at most 1000 values), read
  where the value is written. With an open or too fine range: None.
- Taxonomy: read by ``postprocess`` like a choice whose options are the full paths
  (``Europe > France``): the walk of ``confidence`` multiplies the conditional probabilities
  along the path's tokens, so the confidence is the chosen path's probability among all paths.
- TextArea: there is no label set to normalise over. With logprobs, the mean token probability
  of the text's own tokens (method ``mean_token_prob``); with sampled answers, the share of
  samples writing the same text (case and whitespace ignored; method ``self_consistency``).
- Self-consistency for spans and numbers: the share of samples holding the same span (offsets
  and label) or the same value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ml_backend.engine.confidence import label_probability
from ml_backend.engine.elements import Reading, allowed_values
from ml_backend.engine.labeling import Control, Label

Token = Mapping[str, Any]


def span_probabilities(control: Control, reading: Reading, content: str,
                       logprobs: Sequence[Token]) -> list[float | None]:
    """Per placed span (in ``reading.spans`` order), its label's probability at its label token."""
    offsets = reading.label_offsets[control.name]
    return [
        label_probability(logprobs, content, offsets.get(span.listing), span.label, control.labels)
        for span in reading.spans[control.name].spans
    ]


def number_probability(control: Control, reading: Reading, content: str, logprobs: Sequence[Token]) -> float | None:
    """The chosen value's probability among the allowed values, where the value is written."""
    allowed = allowed_values(control)
    where = reading.value_offsets.get(control.name)
    if allowed is None or where is None:
        return None
    options = [Label(str(value), str(value)) for value in allowed]
    chosen = next((label for label in options if label.value == str(reading.numbers[control.name])), None)
    if chosen is None:
        return None
    return label_probability(logprobs, content, where[0], chosen, options)


def mean_token_probability(content: str, where: tuple[int, int] | None, logprobs: Sequence[Token]) -> float | None:
    """Mean probability of the tokens that write ``content[start:end]``; None when not located."""
    if where is None:
        return None
    data = content.encode("utf-8")
    start, end = (len(content[:at].encode("utf-8")) for at in where)
    at = 0
    probs: list[float] = []
    for entry in logprobs:
        raw = bytes(entry["bytes"]) if entry.get("bytes") is not None else str(entry["token"]).encode("utf-8")
        if data[at : at + len(raw)] != raw:
            return None
        if at < end and at + len(raw) > start:
            probs.append(math.exp(float(entry["logprob"])))
        at += len(raw)
    return sum(probs) / len(probs) if probs else None


def agreement(chosen: Any, samples: Sequence[Any | None]) -> float:
    """Share of ``samples`` equal to ``chosen`` (a sample that could not be read agrees with nothing)."""
    return sum(1 for sample in samples if sample is not None and sample == chosen) / len(samples)


def normal_text(texts: Sequence[str]) -> tuple[str, ...]:
    """Free texts compared ignoring case and whitespace."""
    return tuple(" ".join(text.split()).casefold() for text in texts)
