"""How the simulated model answers spans, free text, ratings and numbers, with realistic mistakes.

Deterministic for (seed, model, task text, control, sample), like the choices of ``behaviour``.

* Spans (``labels``): the "truth" is every run of capitalised words that is not a function word
  ("The", "She"...); it is an organisation when a word is an organisation suffix ("Inc", "Bank",
  "University"...) or an acronym, a location after "in", "at", "from", "to" or "near", else a
  person; each maps to the control's label whose text says so (``per``/``org``/``loc``|``gpe``),
  else to a label chosen by hash. Mistakes, each with the model's error rate per entity: a wrong
  label (the true one the runner-up), a wrong boundary (a multi-word name loses its last word, a
  single word takes the next word), a copy in lower case (still placed: the engine's loose
  match), a missed entity; and once per answer a hallucinated name that is not in the text.
* Free text (``textarea``): the text's first sentence, at most 12 words, with middling token
  probabilities.
* Rating: the sentiment lexicon's lean scaled to 1..maxRating (a hash when the text has no
  opinion); Number: a hash of the text over the allowed range (0..100 when open). With half the
  error rate the value is off range (one step above the maximum), as models do.
The probabilities of values and labels are distributions over the options, so the logprobs
carry them (``logprobs.render``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ml_backend.simulator import lexicon
from ml_backend.simulator.behaviour import Context, unit
from ml_backend.simulator.prompt import SimControl

_NAME = re.compile(r"[A-Z][\w&'.-]*(?:\s+(?:of\s+)?[A-Z][\w&'.-]*)*")
_FUNCTION = frozenset("The A An He She It They We I You On In At This That These Those But And Or If When "
                      "Yesterday Today Tomorrow Last Next After Before Our My His Her Their".split())
_ORG = frozenset("Inc Corp Ltd Group Bank University Company Council Airlines Motors Labs Foundation FC".split())
_PLACE_CUE = frozenset("in at from to near".split())
_HALLUCINATED = ("Alex Morgan", "Northwind Traders", "Port Elsby")
_FREE_WORDS = 12


@dataclass(frozen=True)
class ElementPick:
    """One non-choice control's answer as plan items: ("struct", text), ("label", text, dist), ("free", text)."""

    control: SimControl
    body: tuple[tuple[object, ...], ...]


def decide_element(control: SimControl, ctx: Context) -> ElementPick:
    """The answer to one non-choice control."""
    key = (ctx.seed, ctx.model.name, ctx.text, control.name, ctx.sample)
    if control.kind == "labels":
        return ElementPick(control, _spans_body(control, ctx, key))
    if control.kind == "textarea":
        words = re.split(r"(?<=[.!?])\s", ctx.text.strip())[0].split()[:_FREE_WORDS]
        return ElementPick(control, (("struct", '":"'), ("free", " ".join(words)), ("struct", '"')))
    value, dist = _number(control, ctx, key)
    return ElementPick(control, (("struct", '":'), ("label", value, dist)))


def _entities(text: str) -> list[tuple[str, str, int]]:
    """(name, kind, start) of the capitalised names in ``text``."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        while words and words[0] in _FUNCTION:
            words.pop(0)
        if not words:
            continue
        name = " ".join(words).rstrip(".'")
        start = match.start() + match.group().index(words[0])
        before = text[:start].split()[-1:] or [""]
        if any(word in _ORG for word in words) or (len(name) > 1 and name.isupper()):
            kind = "org"
        elif before[0].lower() in _PLACE_CUE:
            kind = "loc"
        else:
            kind = "per"
        found.append((name, kind, start))
    return found


def _label_for(kind: str, labels: tuple[str, ...], name: str) -> str:
    hints = {"per": ("per",), "org": ("org",), "loc": ("loc", "gpe", "place")}[kind]
    for label in labels:
        if any(hint in label.lower() for hint in hints):
            return label
    return labels[int(unit(name, "label") * len(labels))]


def _spans_body(control: SimControl, ctx: Context, key: tuple[object, ...]) -> tuple[tuple[object, ...], ...]:
    rate = ctx.model.error_rate
    listed: list[tuple[str, str, dict[str, float]]] = []
    for index, (name, kind, start) in enumerate(_entities(ctx.text)):
        truth = _label_for(kind, control.labels, name)
        if unit(*key, index, "miss") < rate:
            continue
        wrong = len(control.labels) > 1 and unit(*key, index, "wrong") < rate
        others = [lb for lb in control.labels if lb != truth]
        label = others[int(unit(*key, index, "other") * len(others))] if wrong else truth
        listed.append((_written(name, ctx.text, start, (*key, index), rate), label,
                       _dist(control.labels, label, truth, wrong, (*key, index))))
    if unit(*key, "hallucinate") < rate:
        label = control.labels[int(unit(*key, "hallucinated label") * len(control.labels))]
        listed.append((_HALLUCINATED[int(unit(*key, "which") * len(_HALLUCINATED))], label,
                       _dist(control.labels, label, label, True, (*key, "hallucinated"))))
    if not listed:
        return (("struct", '":[]'),)
    body: list[tuple[object, ...]] = [("struct", '":[')]
    for index, (text, label, dist) in enumerate(listed):
        body += [("struct", ('{"' if index == 0 else ',{"') + 'text":"'), ("free", text),
                 ("struct", '","label":"'), ("label", label, dist), ("struct", '"}')]
    body.append(("struct", "]"))
    return tuple(body)


def _written(name: str, text: str, start: int, key: tuple[object, ...], rate: float) -> str:
    """The name as the model copies it: right, cut or stretched at the boundary, or lower-cased."""
    draw = unit(*key, "boundary")
    if draw < rate:
        words = name.split()
        if len(words) > 1:
            return " ".join(words[:-1])
        following = text[start + len(name):].split()[:1]
        return f"{name} {following[0].strip('.,;:!?')}" if following and following[0].strip(".,;:!?") else name
    if draw < 1.5 * rate:
        return name.lower()
    return name


def _dist(labels: tuple[str, ...], chosen: str, truth: str, wrong: bool, key: tuple[object, ...]) -> dict[str, float]:
    confidence = 0.45 + 0.25 * unit(*key, "conf") if wrong else 0.7 + 0.28 * unit(*key, "conf")
    others = [label for label in labels if label != chosen]
    if not others:
        return {chosen: 1.0}
    weights = {label: (2.0 if label == truth else 0.2 + unit(*key, "w", label)) for label in others}
    total = sum(weights.values())
    return {chosen: confidence, **{label: (1 - confidence) * w / total for label, w in weights.items()}}


def _number(control: SimControl, ctx: Context, key: tuple[object, ...]) -> tuple[str, dict[str, float]]:
    low = control.minimum if control.minimum is not None else 0
    high = control.maximum if control.maximum is not None else max(low, 0) + 100
    step = control.step or 1
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    if control.kind == "rating":
        reading = lexicon.read(ctx.text)
        share = 1 / (1 + math.exp(-reading.net)) if reading.mass else unit(ctx.text, "rating")
        index = round(share * (count - 1))
    else:
        index = int(unit(ctx.text, control.name, "number") * count)
    if unit(*key, "off range") < ctx.model.error_rate / 2:
        index = count
    options = sorted({min(max(index + d, 0), count) for d in (-2, -1, 0, 1, 2)})
    confidence = 0.5 + 0.45 * unit(*key, "value conf")
    values = {i: _show(low + i * step) for i in options}
    rest = [i for i in options if i != index]
    dist = {values[index]: confidence, **{values[i]: (1 - confidence) / len(rest) for i in rest}}
    return values[index], dist


def _show(value: float) -> str:
    rounded = round(value, 10)
    return str(int(rounded)) if float(rounded).is_integer() else repr(rounded)
