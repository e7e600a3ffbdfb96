"""How sure the model was of the label it chose, from its token log-probabilities.

Why not the mean token probability of the whole response: formatting tokens (``{"sentiment": "``)
are near-certain and dilute the one decision that matters. The confidence of a chosen label is
instead the model's probability of that label *normalised over the control's label set*, read
from ``top_logprobs`` where the label is generated. The whole-response arithmetic and geometric
means (MEGAnno+ and Autolabel style) are kept only as comparison metadata (``sequence_means``).

The rule, exactly:

1. Position: the label's character offset in the content is mapped to the token that holds it by
   accumulating the tokens' bytes (``bytes``, else the UTF-8 of ``token``). A label written over
   several tokens is read at its FIRST token. Tokens that do not spell the content up to the label
   make the position unknown, and the probability ``None``.
2. Credit: an alternative token in ``top_logprobs`` is credited to every label (display text or
   result value, case-insensitive) that starts with the token's text, or that the token's text
   starts with when the label ends there (the next character is not a letter, digit, ``-`` or
   ``_``). At the first position, leading whitespace, quotes and the formatting characters
   ``*[({:,-`` are stripped from alternatives first (the raw token text also counts, for labels
   that start with such a character). Tokens crediting no label (``"``, `` ``, ``The``) are
   non-label mass and are left out of the normalisation. The token actually generated always
   counts for the chosen label (a typo the parser corrected stays the model's pick), and is added
   with its own logprob when ``top_logprobs`` does not list it.
3. At a position, ``E`` = mass credited to the chosen label only, ``S`` = mass credited to it and
   to other still-possible labels (a shared prefix such as ``Ne`` for Negative/Neutral), ``O`` =
   mass credited only to other labels. Where the generated token leaves the chosen label as the
   only possible one, the factor is ``E / (E + O)`` (shared mass split in the same proportion).
   Where it is shared, the walk moves to the next token (alternatives there are read after the
   text generated so far) and the factor is ``(E + S * f_next) / (E + S + O)``: shared mass
   follows the chosen path's conditional probability. The confidence is the first position's
   factor. If the tokens end while still shared, the last factor is ``(E + S) / (E + S + O)``:
   the model stopped, so it chose the shorter label. A position with no ``top_logprobs`` at all
   ends the walk with the generated token's own probability.
4. Unseen labels: a still-possible label that no alternative at a position credits is not
   probability zero, it is *unknown*: ``top_logprobs`` lists the k most likely tokens, so any
   token not listed, and hence the label it would start, has at most the probability of the
   smallest listed alternative, ``m``. Each unseen label adds ``m`` to ``O`` at that position.
   The confidence is therefore a lower bound where labels are unseen, never 1.0 because the list
   was too short to show the rivals (a small model answering in prose put ``" positive"`` at
   p = 0.22 with no other label in its top 5: that is not certainty).
5. Multiple choice: each selected label gets its own probability at its own position; the
   control's confidence is the minimum of them (conservative: a review threshold catches the
   weakest label of the set).

``seen_label_mass`` is the probability the listed alternatives at the label's first position
give to any label: close to 1 when the model was choosing among the labels there, small when it
was mostly writing something else (prose, formatting). It is kept as item metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ml_backend.engine.labeling import Label

_FORMATTING = " \t\r\n\"'`“”‘’*[({:,-"

Token = Mapping[str, Any]


def label_probability(
    logprobs: Sequence[Token], content: str, offset: int | None, chosen: Label, labels: Sequence[Label]
) -> float | None:
    """The chosen label's probability normalised over ``labels``; None when its token is not found."""
    if offset is None:
        return None
    positions = _positions(logprobs, content, offset)
    if not positions:
        return None
    return _walk(positions, chosen, labels)


def seen_label_mass(
    logprobs: Sequence[Token], content: str, offset: int | None, chosen: Label, labels: Sequence[Label]
) -> float | None:
    """Probability credited to any label by the alternatives at the chosen label's first token."""
    positions = _positions(logprobs, content, offset) if offset is not None else []
    if not positions:
        return None
    entry = positions[0][0]
    if not entry.get("top_logprobs"):
        return None
    live = [chosen] + [label for label in labels if label != chosen]
    exclusive, shared, other, _ = _masses(entry, "", True, chosen, live)
    return exclusive + shared + other


def control_confidence(per_label: Mapping[str, float | None]) -> float | None:
    """The weakest of several confidences (a control's labels, a prediction's controls); None if any is unknown."""
    values = list(per_label.values())
    if not values or any(value is None for value in values):
        return None
    return min(value for value in values if value is not None)


def sequence_means(logprobs: Sequence[Token]) -> tuple[float | None, float | None]:
    """(arithmetic mean, geometric mean) of the token probabilities over the whole response."""
    values = [float(entry["logprob"]) for entry in logprobs]
    if not values:
        return None, None
    return sum(math.exp(v) for v in values) / len(values), math.exp(sum(values) / len(values))


def self_consistency(
    samples: Sequence[Mapping[str, Sequence[str]] | None], chosen: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, float]]:
    """Share of samples agreeing with each chosen value, per control.

    ``samples`` are the labels (result values per control) read from n sampled answers; a sample
    that could not be read is ``None`` and agrees with nothing. A single-choice sample agrees when
    it chose the same label; for multiple choice each selected label is counted on its own.
    """
    if not samples:
        raise ValueError("self-consistency needs at least one sampled answer")
    return {
        control: {
            value: sum(1 for s in samples if s is not None and value in s.get(control, ())) / len(samples)
            for value in values
        }
        for control, values in chosen.items()
    }


def _token_bytes(entry: Token) -> bytes:
    raw = entry.get("bytes")
    return bytes(raw) if raw is not None else str(entry["token"]).encode("utf-8")


def _positions(logprobs: Sequence[Token], content: str, offset: int) -> list[tuple[Token, str]]:
    """From the token holding ``content[offset]`` on: each token with the text it generated there."""
    data = content.encode("utf-8")
    target = len(content[:offset].encode("utf-8"))
    start = 0
    positions: list[tuple[Token, str]] = []
    for entry in logprobs:
        raw = _token_bytes(entry)
        end = start + len(raw)
        if data[start:end] != raw:
            break
        if end > target:
            positions.append((entry, data[max(start, target) : end].decode("utf-8", errors="ignore")))
        start = end
    return positions


def _credits(candidate: str, label: Label) -> bool:
    for surface in {label.text.casefold(), label.value.casefold()}:
        if surface.startswith(candidate):
            return True
        if candidate.startswith(surface):
            rest = candidate[len(surface) : len(surface) + 1]
            if not rest or not (rest.isalnum() or rest in "-_"):
                return True
    return False


def _credited(token: str, prefix: str, first: bool, live: Sequence[Label]) -> set[Label]:
    texts = {token.lstrip(_FORMATTING), token} if first else {token}
    candidates = [prefix + text.casefold() for text in texts if text]
    return {label for label in live for candidate in candidates if _credits(candidate, label)}


def _alternatives(entry: Token) -> list[tuple[str, float]]:
    """``top_logprobs`` of a position, with the generated token added when not listed."""
    top = [(str(alt["token"]), float(alt["logprob"])) for alt in entry.get("top_logprobs") or ()]
    if top and all(token != entry["token"] for token, _ in top):
        top.append((str(entry["token"]), float(entry["logprob"])))
    return top


def _masses(entry: Token, prefix: str, first: bool, chosen: Label,
            live: Sequence[Label]) -> tuple[float, float, float, float]:
    """(E, S, O, U) at one position, as defined in the module docstring: U is the bound on the
    unseen labels' mass, the smallest listed alternative's probability per label not credited."""
    exclusive = shared = other = 0.0
    seen: set[Label] = set()
    for token, logprob in _alternatives(entry):
        credited = _credited(token, prefix, first, live)
        if token == entry["token"]:
            credited.add(chosen)
        seen |= credited
        mass = math.exp(logprob)
        if chosen not in credited:
            other += mass if credited else 0.0
        elif len(credited) == 1:
            exclusive += mass
        else:
            shared += mass
    smallest = min((math.exp(float(alt["logprob"])) for alt in entry.get("top_logprobs") or ()), default=0.0)
    return exclusive, shared, other, smallest * len(set(live) - seen)


def _walk(positions: list[tuple[Token, str]], chosen: Label, labels: Sequence[Label]) -> float | None:
    live = [chosen] + [label for label in labels if label != chosen]
    prefix = ""
    levels: list[tuple[float, float, float]] = []
    tail: float | None = None
    for index, (entry, text) in enumerate(positions):
        if not entry.get("top_logprobs"):
            tail = math.exp(float(entry["logprob"]))
            break
        exclusive, shared, other, unseen = _masses(entry, prefix, index == 0, chosen, live)
        other += unseen
        prefix += text.casefold()
        live = [label for label in live if label == chosen or _credits(prefix, label)]
        if live == [chosen]:
            tail = exclusive / (exclusive + other) if exclusive + other else None
            break
        levels.append((exclusive, shared, other))
    else:
        exclusive, shared, other = levels.pop()
        tail = (exclusive + shared) / (exclusive + shared + other)
    for exclusive, shared, other in reversed(levels):
        if tail is None:
            return None
        tail = (exclusive + shared * tail) / (exclusive + shared + other)
    return tail
