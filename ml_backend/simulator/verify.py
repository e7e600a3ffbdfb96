"""The simulated model's answer to a self-verification question (``ml_backend.engine.selfverify``).

A question is recognised by its ``## Proposed label for: <control>`` headings; each control's
options come from the ``## Options for: <control>`` heading before it. The model takes a second
look at the task: it decides the original controls again as it would label them, but with the
seed salted, so its slips (the seeded chance of a wrong label) are drawn anew while its reading of
the text (the truth it believes) stays the same. P(yes) is the probability that second look gives
the proposed labels (their product over controls, and over the labels of a multiple choice). So
verification catches many slips of the first answer but never a misreading both looks share, as
with a real model. The verdict is written like any one-control answer (``{"verdict": "yes"}``)
with its logprobs; sampled verdicts (n > 1, temperature > 0) draw yes with the tempered P(yes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from ml_backend.simulator.behaviour import Context, Pick, decide, unit
from ml_backend.simulator.logprobs import Token, render
from ml_backend.simulator.prompt import SimControl

_HEADING = re.compile(r"^##\s+(Options|Proposed label) for:\s*(\S+)\s*$")
_BULLET = re.compile(r"^-\s+(.+?)\s*$")
_VERDICT = SimControl("verdict", ("yes", "no"), multiple=False)
_FLOOR = 1e-4


@dataclass(frozen=True)
class Question:
    """The controls to look at again, and the labels proposed for each."""

    controls: tuple[SimControl, ...]
    proposed: dict[str, tuple[str, ...]]


def read_question(instructions: str) -> Question | None:
    """The verification question in a system prompt; None for any other prompt."""
    options: dict[str, list[str]] = {}
    proposed: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in instructions.splitlines():
        heading = _HEADING.match(line.strip())
        bullet = _BULLET.match(line.strip())
        if heading:
            target = options if heading.group(1) == "Options" else proposed
            current = target.setdefault(heading.group(2), [])
        elif bullet and current is not None:
            current.append(bullet.group(1))
        elif line.strip():
            current = None
    if not proposed:
        return None
    controls = tuple(SimControl(name, tuple(labels), multiple=len(proposed.get(name, ())) > 1)
                     for name, labels in options.items() if labels)
    return Question(controls, {name: tuple(labels) for name, labels in proposed.items()})


def p_yes(question: Question, ctx: Context) -> float:
    """The second look's probability of the proposed labels (see the module docstring)."""
    second = replace(ctx, seed=f"{ctx.seed}:verify", sample=0)
    probability = 1.0
    for pick in decide(list(question.controls), second):
        probability *= _agreement(pick, question.proposed.get(pick.control.name, ()))
    return min(max(probability, _FLOOR), 1 - _FLOOR)


def tokens(question: Question, ctx: Context, json_mode: bool, key: tuple[object, ...]) -> list[Token]:
    """The verdict as tokens with logprobs."""
    probability = p_yes(question, ctx)
    verdict = "yes" if probability >= 0.5 else "no"
    if ctx.sample > 0 and ctx.temperature > 0:
        tempered = probability ** (1 / ctx.temperature)
        share = tempered / (tempered + (1 - probability) ** (1 / ctx.temperature))
        verdict = "yes" if unit(*key, "verdict", ctx.sample) < share else "no"
    pick = Pick(_VERDICT, (verdict,), ({"yes": probability, "no": 1 - probability},))
    return render([pick], json_mode, key)


def _agreement(pick: Pick, proposed: tuple[str, ...]) -> float:
    """Probability of the proposed labels: each one's probability where the second look wrote it,
    else in the distribution of its first written label."""
    if not proposed:
        return _FLOOR
    written = dict(zip(pick.labels, pick.dists, strict=True))
    return math.prod(written.get(label, pick.dists[0]).get(label, _FLOOR) for label in proposed)
