"""The simulated answer as tokens with log-probabilities, shaped like the chat API's logprobs.

Token split rule (so the engine's split-label code path is exercised): a label is cut into words,
each keeping the whitespace before it, and a word longer than 6 characters becomes two tokens, its
first 3 characters and the rest: "Positive" -> "Pos" + "itive", "Neutral" -> "Neu" + "tral",
"Very negative" -> "Very" + " neg" + "ative"; "Sports" stays one token. In a plain-text answer
the label's first token carries the space after the colon (" Pos"). Punctuation is its own
token: ``{"`` ``sentiment`` ``":"`` ``Pos`` ``itive`` ``"}``; lists use ``":["``, ``","``,
``"]}``; plain text is ``sentiment`` ``:`` `` Pos`` ``itive`` and ``\\n`` between controls.

At a label's first token, ``top_logprobs`` holds the first tokens of all the control's labels
(labels sharing a first token add up) with probabilities summing to 1 - eps, plus non-label
tokens (``"``, space, ``The``) sharing eps (0.2%-1.2%), sorted by logprob: the chosen label's
token is on top unless a later sample (n > 1, temperature > 0) drew a less likely label. At a
label's later tokens the alternatives are the continuations of the labels that share the prefix
written so far, conditional on that prefix (so "itive" after "Pos" is close to certain unless
another label also starts with "Pos"), plus near-misses of the same piece. Every token's list
contains the token itself; all logprobs are <= 0 and each list's probabilities sum to <= 1.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ml_backend.simulator.behaviour import Pick, unit
from ml_backend.simulator.elements import ElementPick

_SPLIT_LONGER_THAN = 6
_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Token:
    """One generated token, its logprob and the most likely tokens at its position (desc)."""

    text: str
    logprob: float
    top: tuple[tuple[str, float], ...]

    def to_api(self, count: int) -> dict[str, Any]:
        """The chat API's ``logprobs.content`` item with the ``count`` best alternatives."""
        return {"token": self.text, "logprob": self.logprob, "bytes": list(self.text.encode()),
                "top_logprobs": [{"token": text, "logprob": logprob, "bytes": list(text.encode())}
                                 for text, logprob in self.top[:count]]}


@dataclass(frozen=True)
class _Struct:
    text: str


@dataclass(frozen=True)
class _Free:
    text: str


@dataclass(frozen=True)
class _Label:
    text: str
    dist: dict[str, float]
    lead: str


def pieces(text: str, lead: str = "") -> list[str]:
    """A label's tokens under the split rule above; ``lead`` is prepended to the first word."""
    words = _WORD.findall(text) or [""]
    words[-1] += text[len("".join(words)):]
    result: list[str] = []
    for index, word in enumerate(words):
        word = lead + word if index == 0 else word
        core = word.lstrip()
        prefix = word[: len(word) - len(core)]
        if len(core) > _SPLIT_LONGER_THAN:
            result.extend([prefix + core[:3], core[3:]])
        else:
            result.append(word)
    return result


def render(picks: Sequence[Pick | ElementPick], json_mode: bool, key: tuple[object, ...]) -> list[Token]:
    """The answer to all controls as tokens: a JSON object, or ``control: label`` lines (choices only)."""
    plan = _json_plan(picks) if json_mode else _text_plan([pick for pick in picks if isinstance(pick, Pick)])
    tokens: list[Token] = []
    for index, item in enumerate(plan):
        if isinstance(item, _Struct):
            tokens.append(_struct_token(item.text, (*key, index)))
            continue
        if isinstance(item, _Free):
            tokens.extend(_free_tokens(_escape(item.text), (*key, index)))
            continue
        following = plan[index + 1].text if index + 1 < len(plan) else "\n"
        tokens.extend(_label_tokens(item, following, json_mode, (*key, index)))
    return tokens


def _free_tokens(text: str, key: tuple[object, ...]) -> list[Token]:
    """Copied or written text inside a JSON string: word pieces, fairly sure of each."""
    tokens = []
    for index, piece in enumerate(piece for word in _WORD.findall(text) or [text] for piece in pieces(word)):
        logprob = -(0.01 + 0.5 * unit(*key, "copy", index))
        tokens.append(Token(piece, logprob, _with_alternatives(piece, logprob, (" the", ",", '"'), (0.5, 0.3))))
    return tokens


def render_free(text: str, key: tuple[object, ...]) -> list[Token]:
    """Free text (a malformed answer) as word tokens with middling confidence."""
    tokens = []
    for index, word in enumerate(_WORD.findall(text)):
        logprob = -(0.05 + 2.0 * unit(*key, "free", index))
        tokens.append(Token(word, logprob, _with_alternatives(word, logprob, ("\n", " the", "."), (0.5, 0.3))))
    return tokens


def _escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _json_plan(picks: Sequence[Pick | ElementPick]) -> list[_Struct | _Label | _Free]:
    plan: list[_Struct | _Label | _Free] = [_Struct('{"')]
    for index, pick in enumerate(picks):
        last = index == len(picks) - 1
        if isinstance(pick, ElementPick):
            plan.append(_Struct(_escape(pick.control.name)))
            plan += [_element_item(item) for item in pick.body]
            plan.append(_Struct("}" if last else ',"'))
            continue
        multiple = pick.control.multiple
        plan += [_Struct(_escape(pick.control.name)), _Struct('":["' if multiple else '":"')]
        plan += _labels_plan(pick, '","' if multiple else ",", json_mode=True)
        plan.append(_Struct(('"]' if multiple else '"') + ("}" if last else ',"')))
    return plan


def _element_item(item: tuple[object, ...]) -> _Struct | _Label | _Free:
    if item[0] == "struct":
        return _Struct(str(item[1]))
    if item[0] == "free":
        return _Free(str(item[1]))
    dist = item[2]
    assert isinstance(dist, dict)
    return _Label(str(item[1]), dist, "")


def _text_plan(picks: list[Pick]) -> list[_Struct | _Label | _Free]:
    plan: list[_Struct | _Label | _Free] = []
    for index, pick in enumerate(picks):
        if index:
            plan.append(_Struct("\n"))
        plan += [_Struct(pick.control.name), _Struct(":")]
        plan += _labels_plan(pick, ",", json_mode=False)
    return plan


def _labels_plan(pick: Pick, separator: str, json_mode: bool) -> list[_Struct | _Label]:
    """The written labels with separators; a second label in one JSON string gets a leading space."""
    plan: list[_Struct | _Label] = []
    for index, (label, dist) in enumerate(zip(pick.labels, pick.dists, strict=True)):
        if index:
            plan.append(_Struct(separator))
        lead = " " if not json_mode or (pick.joined and index) else ""
        plan.append(_Label(label, dist, lead))
    return plan


def _label_tokens(item: _Label, following: str, json_mode: bool, key: tuple[object, ...]) -> list[Token]:
    spelled = {option: pieces(_escape(option) if json_mode else option, item.lead) for option in item.dist}
    mine = spelled[item.text]
    tokens = []
    for position, piece in enumerate(mine):
        group = {option: prob for option, prob in item.dist.items() if spelled[option][:position] == mine[:position]}
        total = sum(group.values())
        eps = 0.002 + 0.01 * unit(*key, "eps") if position == 0 else 0.0005
        probs: dict[str, float] = {}
        for option, prob in group.items():
            text = spelled[option][position] if position < len(spelled[option]) else following
            probs[text] = probs.get(text, 0.0) + (1 - eps) * prob / total
        junk = [text for text in _junk(piece, position, json_mode) if text not in probs]
        for text, share in zip(junk, (0.6, 0.3, 0.1), strict=False):
            probs[text] = eps * share
        ranked = tuple(sorted(((text, math.log(prob)) for text, prob in probs.items()), key=lambda pair: -pair[1]))
        tokens.append(Token(piece, math.log(probs[piece]), ranked))
    return tokens


def _junk(piece: str, position: int, json_mode: bool) -> list[str]:
    """Plausible non-label tokens: other openings at a label's start, near-misses later."""
    if position == 0:
        return ['"', " ", "The"] if json_mode else [" The", " I", "\n"]
    return list(dict.fromkeys(text for text in (piece[:-1], piece + "s", piece[:2]) if text and text != piece))


def _struct_token(text: str, key: tuple[object, ...]) -> Token:
    logprob = -(0.0001 + 0.003 * unit(*key, "struct"))
    return Token(text, logprob, _with_alternatives(text, logprob, ("\n", " ", "```"), (0.6, 0.3)))


def _with_alternatives(text: str, logprob: float, candidates: tuple[str, ...],
                       shares: tuple[float, ...]) -> tuple[tuple[str, float], ...]:
    rest = 1.0 - math.exp(logprob)
    others = [candidate for candidate in candidates if candidate != text]
    ranked = [(text, logprob)] + [(other, math.log(rest * share)) for other, share in zip(others, shares, strict=False)]
    return tuple(sorted(ranked, key=lambda pair: -pair[1]))
