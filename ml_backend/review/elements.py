"""Verification per element: span by span, text by text, number by number.

A task-level verdict says whether the annotator kept *everything* the agent answered; for spans,
free text and numbers that hides how good the agent is. Here the annotator's final answer is
set against the agent's, element by element, as pure functions over plain values (see
``ml_backend.review.regions`` for their shapes):

- spans: each predicted span is **confirmed** (a human span with the same offsets and label),
  **corrected** (it overlaps a human span but with another label or other boundaries) or
  **rejected** (removed: nothing overlaps it); each human span no predicted span was matched to
  is **missed**. Matching is one-to-one: exact matches first, then each remaining predicted span
  (in text order) takes the remaining human span it overlaps most (the earlier one on a tie).
  Per label: precision = confirmed / predicted, recall = confirmed / human spans, each with its
  Wilson interval; F1 = 2 confirmed / (predicted + human), its interval the F1 of the two
  intervals' ends (F1 grows with both, so it is at least as wide as either). AUROC: do confirmed
  spans carry a higher confidence than the others?
- free text: the share of answers the annotator accepted unedited (Wilson interval) and the mean
  Levenshtein distance between the agent's text and the final one (texts joined by newlines).
- ratings and numbers: the share exactly kept and the share within one of the final value.
- taxonomies: the share whose set of paths was kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from ml_backend.review.calibration import Verified, auroc, interval_dict, wilson_interval

Span = dict[str, Any]


@dataclass
class SpanMatch:
    """One task's spans, sorted into the four outcomes (pairs are (predicted, human))."""

    confirmed: list[tuple[Span, Span]] = field(default_factory=list)
    corrected: list[tuple[Span, Span]] = field(default_factory=list)
    rejected: list[Span] = field(default_factory=list)
    missed: list[Span] = field(default_factory=list)


def match_spans(predicted: Sequence[Span], human: Sequence[Span]) -> SpanMatch:
    """Pair the agent's spans with the annotator's (see the module notes for the rule)."""
    match = SpanMatch()
    left = sorted(predicted, key=_position)
    open_human = sorted(human, key=_position)
    unmatched: list[Span] = []
    for span in left:
        twin = next((h for h in open_human if _position(h) == _position(span)), None)
        if twin is None:
            unmatched.append(span)
        else:
            open_human.remove(twin)
            match.confirmed.append((span, twin))
    pairs = sorted(((p, h) for p in unmatched for h in open_human if _overlap(p, h) > 0),
                   key=lambda pair: (-_overlap(*pair), _position(pair[0]), _position(pair[1])))
    paired: set[int] = set()
    for predicted_span, human_span in pairs:
        if id(predicted_span) not in paired and any(h is human_span for h in open_human):
            paired.add(id(predicted_span))
            open_human = [h for h in open_human if h is not human_span]
            match.corrected.append((predicted_span, human_span))
    match.corrected.sort(key=lambda pair: _position(pair[0]))
    match.rejected = [span for span in unmatched if id(span) not in paired]
    match.missed = open_human
    return match


def span_figures(tasks: Iterable[tuple[Sequence[Span], Sequence[Span]]]) -> dict[str, Any]:
    """Outcome counts, per-label and overall precision/recall/F1, and AUROC over the verified
    tasks' (predicted spans, human spans)."""
    counts = {"confirmed": 0, "corrected": 0, "corrected_label": 0, "corrected_boundary": 0, "rejected": 0,
              "missed": 0}
    per_label: dict[str, dict[str, int]] = {}
    scored: list[Verified] = []
    numbers = count()  # AUROC's records need distinct ids; a span's is its place in this list
    for predicted, human in tasks:
        match = match_spans(predicted, human)
        for name in ("confirmed", "corrected", "rejected", "missed"):
            counts[name] += len(getattr(match, name))
        for span, final in match.corrected:
            counts["corrected_label" if _offsets(span) == _offsets(final) else "corrected_boundary"] += 1
        for span in predicted:
            _tally(per_label, span["label"], "predicted")
        for span in human:
            _tally(per_label, span["label"], "human")
        for span, _ in match.confirmed:
            _tally(per_label, span["label"], "confirmed")
        confirmed_ids = {id(span) for span, _ in match.confirmed}
        scored += [Verified(next(numbers), span["confidence"], id(span) in confirmed_ids)
                   for span in predicted if span.get("confidence") is not None]
    overall = {key: sum(tally[key] for tally in per_label.values()) for key in ("predicted", "human", "confirmed")}
    return {
        "spans": counts,
        "labels": {label: _scores(tally) for label, tally in sorted(per_label.items())},
        "overall": _scores(overall),
        "auroc": auroc(scored),
        "scored_spans": len(scored),
    }


def text_figures(tasks: Iterable[tuple[Sequence[str], Sequence[str]]]) -> dict[str, Any]:
    """Share of free-text answers accepted unedited, and the mean edit distance to the final text."""
    distances = [levenshtein("\n".join(agent).strip(), "\n".join(human).strip()) for agent, human in tasks]
    unedited = sum(distance == 0 for distance in distances)
    return {"verified": len(distances), **_share("unedited", unedited, len(distances)),
            "mean_edit_distance": sum(distances) / len(distances) if distances else None}


def number_figures(tasks: Iterable[tuple[float | int | None, float | int | None]]) -> dict[str, Any]:
    """Shares of the agent's numbers kept exactly, and within one of the annotator's final value."""
    pairs = [(agent, human) for agent, human in tasks if agent is not None]
    exact = sum(human is not None and float(human) == float(agent) for agent, human in pairs)
    near = sum(human is not None and abs(float(human) - float(agent)) <= 1 for agent, human in pairs)
    return {"verified": len(pairs), **_share("exact", exact, len(pairs)), **_share("within_one", near, len(pairs))}


def path_figures(tasks: Iterable[tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]]]) -> dict[str, Any]:
    """Share of taxonomy answers whose set of paths the annotator kept."""
    outcomes = [{tuple(p) for p in agent} == {tuple(p) for p in human} for agent, human in tasks]
    return {"verified": len(outcomes), **_share("exact", sum(outcomes), len(outcomes))}


def levenshtein(a: str, b: str) -> int:
    """Insertions, deletions and substitutions turning ``a`` into ``b`` (two-row dynamic programme)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _scores(tally: dict[str, int]) -> dict[str, Any]:
    """Precision, recall and F1 with intervals from (predicted, human, confirmed) counts."""
    predicted, human, confirmed = tally.get("predicted", 0), tally.get("human", 0), tally.get("confirmed", 0)
    precision = wilson_interval(confirmed, predicted)
    recall = wilson_interval(confirmed, human)
    f1_interval = None
    if precision is not None and recall is not None:
        f1_interval = {"low": _f1(precision[0], recall[0]), "high": _f1(precision[1], recall[1])}
    return {
        "predicted": predicted, "human": human, "confirmed": confirmed,
        "precision": confirmed / predicted if predicted else None, "precision_interval": interval_dict(precision),
        "recall": confirmed / human if human else None, "recall_interval": interval_dict(recall),
        "f1": 2 * confirmed / (predicted + human) if predicted + human else None, "f1_interval": f1_interval,
    }


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _share(name: str, count: int, n: int) -> dict[str, Any]:
    return {name: count, f"{name}_rate": count / n if n else None,
            f"{name}_interval": interval_dict(wilson_interval(count, n))}


def _tally(per_label: dict[str, dict[str, int]], label: Any, key: str) -> None:
    tally = per_label.setdefault(str(label), {"predicted": 0, "human": 0, "confirmed": 0})
    tally[key] += 1


def _position(span: Span) -> tuple[int, int, str]:
    return int(span["start"]), int(span["end"]), str(span["label"])


def _offsets(span: Span) -> tuple[int, int]:
    return int(span["start"]), int(span["end"])


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(int(a["end"]), int(b["end"])) - max(int(a["start"]), int(b["start"])))
