"""How the simulated model chooses labels, deterministically for (seed, task text, model).

The simulator's "truth" for a task is a cheap reading of the text, the same for every seed and
model, so different models mostly agree and disagreements are meaningful:

* labels that look like sentiment (some contain "pos", some "neg"): the hand-written lexicon of
  ``lexicon`` (phrases, negation, intensifiers, contrast) weighs positive against negative
  evidence; little evidence, or both polarities about equally, means the neutral label when
  there is one. How clear the evidence is grows with the margin and shrinks when the text is
  mixed; a text with no opinion at all is a middling-clear neutral;
* other labels: the label whose words (their first five letters) occur most in the text, else a
  stable hash of the text.

The model is then wrong with a seeded probability (the model's base error rate, higher when the
text gave little evidence; halved when the prompt shows answered examples, as few-shot prompting
helps a real model: the same seeded draw decides, so the tasks a model with examples gets wrong
are a subset of those it gets wrong without), and its confidence reflects that: a right answer's probability rises
with the clarity of the evidence (about 0.6-0.75 for a balanced mixed text, 0.75-0.85 for a text
with no opinion, up to 0.99 for a clearly one-sided one; seeded noise included), a wrong one's
is 0.5-0.7 with the true label as runner-up. Because the reading itself errs most where its
evidence is thin (sarcasm, opinions in words it does not know), confidence tracks agreement with
a human the way a calibrated model's would.
Multiple choice adds a second label when another label also matches the text, or one time in three.
With temperature > 0, choices after the first are sampled from the distribution sharpened or
flattened by the temperature, so self-consistency sees realistic disagreement.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from ml_backend.simulator import lexicon
from ml_backend.simulator.models import ModelSpec
from ml_backend.simulator.prompt import Directives, SimControl

OFF_LABELS = ("Mixed", "Other", "Unknown", "Uncertain")
_FLOOR = 1e-6
_WORDS = re.compile(r"[a-z']+")
_INTENSE = re.compile(r"very|strong|extreme|highly")
_NEUTRAL_MARGIN = 0.8
_MIXED_BALANCE = 0.35
_ONE_SIDED_BALANCE = 0.7
_NO_OPINION_EVIDENCE = 0.5
_INTENSE_MARGIN = 3.0
_FLIP_PER_DOUBT = 0.1
_EXAMPLES_FACTOR = 0.5


@dataclass(frozen=True)
class Pick:
    """One control's answer: the label texts written, and per written label the probability of
    each option at that position (the distribution the logprobs are built from)."""

    control: SimControl
    labels: tuple[str, ...]
    dists: tuple[dict[str, float], ...]
    joined: bool = False


@dataclass(frozen=True)
class Guess:
    """The simulator's truth for one control: a label index, how clear the evidence for it is
    (0..1), and the label a reader would hesitate towards (None when nothing stands out)."""

    index: int
    evidence: float
    runner_up: int | None = None


@dataclass(frozen=True)
class Context:
    """Everything a decision depends on; ``sample`` is the choice index (``n``)."""

    text: str
    seed: int | str
    model: ModelSpec
    temperature: float
    sample: int
    directives: Directives
    offlabel: bool = False
    two_labels: bool = False
    shown_examples: bool = False


def unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide(controls: list[SimControl], ctx: Context) -> list[Pick]:
    """The answer to every choice control, faults of the content kind included."""
    forced = _forced_labels(controls, ctx.directives.labels)
    picks = [_decide_control(control, ctx, forced.get(control.name, ())) for control in controls]
    if ctx.offlabel and picks:
        picks[0] = _offlabel(picks[0])
    if ctx.two_labels:
        picks = [_two_labels(pick) for pick in picks]
    return picks


def _decide_control(control: SimControl, ctx: Context, forced: tuple[str, ...]) -> Pick:
    labels = control.labels
    key = (ctx.seed, ctx.model.name, ctx.text, control.name)
    guess = _guess(labels, ctx.text, control.name)
    doubt = 1 - guess.evidence
    threshold = (ctx.model.error_rate + doubt * _FLIP_PER_DOUBT) * (_EXAMPLES_FACTOR if ctx.shown_examples else 1.0)
    wrong = not forced and len(labels) > 1 and unit(*key, "wrong") < threshold
    chosen = forced[0] if forced else (_other(labels, guess.index, key) if wrong else labels[guess.index])
    forced_confidence = ctx.directives.confidence
    confidence = forced_confidence if forced_confidence is not None else _confidence(wrong, guess.evidence, key)
    options = labels if chosen in labels else (*labels, chosen)
    dist = _distribution(options, chosen, confidence, _runner_up(labels, guess, wrong, forced), key,
                         even=forced_confidence is not None)
    if ctx.sample > 0 and ctx.temperature > 0 and not forced:
        chosen = _sample(dist, ctx.temperature, unit(*key, "sample", ctx.sample))
    if not control.multiple:
        return Pick(control, (chosen,), (dist,))
    written, dists = [chosen], [dist]
    for extra in forced[1:] if forced else _second(labels, chosen, ctx.text, key):
        remaining = [label for label in options if label not in written]
        if extra not in remaining:
            remaining.append(extra)
        dists.append(_distribution(remaining, extra, 0.5 + 0.4 * unit(*key, "second", extra), None, key, even=False))
        written.append(extra)
    return Pick(control, tuple(written), tuple(dists))


def _runner_up(labels: tuple[str, ...], guess: Guess, wrong: bool, forced: tuple[str, ...]) -> str | None:
    """The second most likely label: the truth when the model erred, else the reading's hesitation."""
    if forced:
        return None
    if wrong:
        return labels[guess.index]
    return None if guess.runner_up is None else labels[guess.runner_up]


def _forced_labels(controls: list[SimControl], wanted: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Assign ``[[sim:label=...]]`` texts to the controls offering them; else verbatim to the first."""
    forced: dict[str, tuple[str, ...]] = {}
    for control in controls:
        by_lower = {label.lower(): label for label in control.labels}
        matched = tuple(dict.fromkeys(by_lower[text.lower()] for text in wanted if text.lower() in by_lower))
        if matched:
            forced[control.name] = matched if control.multiple else matched[:1]
    if wanted and not forced and controls:
        forced[controls[0].name] = wanted if controls[0].multiple else wanted[:1]
    return forced


def _guess(labels: tuple[str, ...], text: str, control: str) -> Guess:
    """The simulator's truth for a task."""
    polarity = [_polarity(label) for label in labels]
    if 1 in polarity and -1 in polarity:
        return _sentiment_guess(labels, polarity, lexicon.read(text), (text, control))
    words = _WORDS.findall(text.lower())
    scores = [_keyword_score(label, words) for label in labels]
    best = max(scores)
    if best == 0:
        return Guess(int(unit(text, control, "truth") * len(labels)), 0.3)
    tied = [index for index, score in enumerate(scores) if score == best]
    return Guess(tied[int(unit(text, control, "tie") * len(tied))], 1.0 if best >= 2 else 0.6)


def _sentiment_guess(labels: tuple[str, ...], polarity: list[int | None], reading: lexicon.Reading,
                     key: tuple[str, str]) -> Guess:
    """Neutral when the reading is weak or mixed (if there is a neutral label), else its lean.

    Evidence: a clear lean grows with the margin (1 - e^(-margin/1.5)) and shrinks the more mixed
    the text is; a neutral call is surest (0.5) when the text holds no opinion at all, and less
    sure the more opinion it holds. The runner-up is the other polarity for a mixed text, else
    neutral."""
    neutral = polarity.index(0) if 0 in polarity else None
    lean = (1 if reading.net > 0 else -1) if reading.net else (1 if unit(*key, "coin") < 0.5 else -1)
    leaning, opposite = _polar(labels, polarity, lean, reading), _polar(labels, polarity, -lean, reading)
    if abs(reading.net) < _NEUTRAL_MARGIN or reading.balance < _MIXED_BALANCE:
        if neutral is not None:
            return Guess(neutral, _NO_OPINION_EVIDENCE * 2 / (2 + reading.mass), leaning)
        return Guess(leaning, 0.1 * min(abs(reading.net) / _NEUTRAL_MARGIN, 1.0), opposite)
    strength = 1 - math.exp(-abs(reading.net) / 1.5)
    one_sided = reading.balance >= _ONE_SIDED_BALANCE and neutral is not None
    return Guess(leaning, strength * (0.4 + 0.6 * reading.balance), neutral if one_sided else opposite)


def _polar(labels: tuple[str, ...], polarity: list[int | None], sign: int, reading: lexicon.Reading) -> int:
    """The label of polarity ``sign``: its intense variant ("Very positive") for a strong one-sided text."""
    candidates = [index for index, value in enumerate(polarity) if value == sign]
    intense = [index for index in candidates if _INTENSE.search(labels[index].lower())]
    plain = [index for index in candidates if index not in intense]
    strong = abs(reading.net) >= _INTENSE_MARGIN and reading.balance >= 0.8
    return (intense if strong and intense else plain or candidates)[0]


def _polarity(label: str) -> int | None:
    lowered = label.lower()
    if "neg" in lowered:
        return -1
    if "pos" in lowered:
        return 1
    if any(word in lowered for word in ("neu", "mixed", "neither")):
        return 0
    return None


def _keyword_score(label: str, words: list[str]) -> int:
    stems = [word[:5] for word in _WORDS.findall(label.lower()) if len(word) >= 3]
    return sum(1 for word in words if any(word.startswith(stem) for stem in stems))


def _other(labels: tuple[str, ...], guess: int, key: tuple[object, ...]) -> str:
    others = [label for index, label in enumerate(labels) if index != guess]
    return others[int(unit(*key, "other") * len(others))]


def _confidence(wrong: bool, evidence: float, key: tuple[object, ...]) -> float:
    """Right answers: 0.52 + 0.43 * evidence + up to 0.1 of noise; wrong ones 0.5-0.7."""
    draw = unit(*key, "confidence")
    if wrong:
        return 0.5 + 0.2 * draw
    return min(0.52 + 0.43 * evidence + 0.1 * draw, 0.995)


def _distribution(options: tuple[str, ...] | list[str], chosen: str, confidence: float, runner_up: str | None,
                  key: tuple[object, ...], even: bool) -> dict[str, float]:
    """``chosen`` gets ``confidence``; the rest is shared, the runner-up taking the largest part."""
    others = [option for option in options if option != chosen]
    if not others:
        return {chosen: 1.0}
    weights = {option: 1.0 if even else 0.2 + unit(*key, "weight", option) for option in others}
    if runner_up in weights:
        weights[runner_up] = max(weights.values()) + 1.0
    total = sum(weights.values())
    rest = 1.0 - min(max(confidence, 0.0), 1.0)
    dist = {chosen: 1.0 - rest, **{option: rest * weight / total for option, weight in weights.items()}}
    return _normalised({option: max(prob, _FLOOR) for option, prob in dist.items()})


def _normalised(dist: dict[str, float]) -> dict[str, float]:
    total = sum(dist.values())
    return {option: prob / total for option, prob in dist.items()}


def _sample(dist: dict[str, float], temperature: float, draw: float) -> str:
    """One label drawn from ``dist`` tempered by ``temperature`` (lower = sharper)."""
    tempered = _normalised({option: prob ** (1.0 / temperature) for option, prob in dist.items()})
    cumulative = 0.0
    for option, prob in tempered.items():
        cumulative += prob
        if draw < cumulative:
            return option
    return option


def _second(labels: tuple[str, ...], chosen: str, text: str, key: tuple[object, ...]) -> list[str]:
    """A second label for multiple choice: another matching label, or a random one a third of the time."""
    others = [label for label in labels if label != chosen]
    if not others:
        return []
    words = _WORDS.findall(text.lower())
    scored = sorted(((_keyword_score(label, words), label) for label in others), key=lambda item: -item[0])
    if scored[0][0] > 0:
        return [scored[0][1]]
    if unit(*key, "add-second") < 1 / 3:
        return [others[int(unit(*key, "second-label") * len(others))]]
    return []


def _offlabel(pick: Pick) -> Pick:
    """The first written label replaced by one the control does not offer (e.g. "Mixed")."""
    off = next((label for label in OFF_LABELS if label not in pick.control.labels), "Mixed feelings")
    dist = {off: 0.6, **{option: 0.4 * prob for option, prob in pick.dists[0].items()}}
    return Pick(pick.control, (off, *pick.labels[1:]), (dist, *pick.dists[1:]))


def _two_labels(pick: Pick) -> Pick:
    """A single-choice answer naming two different labels in one string ("A, B")."""
    if pick.control.multiple or len(pick.dists[0]) < 2:
        return pick
    first = pick.labels[0]
    rest = _normalised({option: prob for option, prob in pick.dists[0].items() if option != first})
    second = max(rest, key=rest.__getitem__)
    return Pick(pick.control, (first, second), (pick.dists[0], rest), joined=True)
