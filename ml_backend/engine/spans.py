"""Placing the entities a model lists as ``{text, label}`` at exact offsets in the source text.

Why the service places them: models are poor at counting characters, so they are never asked
for offsets; they copy the entity's text, and the offsets are computed here. A span is only ever
placed where its text really is: nothing is placed at a guessed offset.

The rule, exactly (entities are taken in the order the model listed them):

1. Label: the listed label must be one of the control's labels: its display text exactly, else
   its result value (``alias``) exactly, else either ignoring case. Anything else is dropped and
   counted (``invalid_label``). A list of labels is read as that many listings of the same text.
2. Candidates: the listed text is stripped of surrounding whitespace (a blank text has none).
   The exact (case-sensitive) occurrences of it in the source, in text order, come first, then
   the occurrences that match only ignoring case and whitespace (its words joined by any run of
   whitespace), in text order. An occurrence that starts or ends inside a word of the source is
   not a candidate ("Ann" is not found in "Annual"). Occurrences never overlap each other within
   one search (the search resumes after each match).
3. Claiming: an occurrence is claimed once a span of the same label sits at the same offsets
   (so an entity listed n times takes its first n unclaimed occurrences in text order). Among
   the unclaimed candidates, the first that overlaps no placed span is taken; when every
   unclaimed candidate overlaps a placed span, the first of them is taken (Label Studio's
   ``Text`` holds nested and overlapping regions: "America" inside "Bank of America").
4. Overlaps and the config: a candidate at exactly the offsets of a span of another label is a
   second label for that region. With ``choice="multiple"`` it is placed (two spans, same
   offsets, one label each). With a single-label control it is not a candidate; if no other is
   left the listing is dropped and counted (``label_conflict``).
5. Not found: a listing with no candidate left (its text is not in the source, or it was listed
   more times than it occurs) is dropped and counted (``span_not_found``).

The placed span's ``text`` is the source's own text at its offsets (the source's casing and
whitespace), so ``source[start:end] == text`` always holds. Offsets are Python string indices
(Unicode code points).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ml_backend.engine.labeling import Control, Label

NOT_FOUND = "span_not_found"
INVALID_LABEL = "invalid_label"
LABEL_CONFLICT = "label_conflict"


@dataclass(frozen=True)
class Listing:
    """One entity as the model listed it; ``index`` is its position in the model's list."""

    text: str
    label: str
    index: int


@dataclass
class Placed:
    """A span placed in the source, with the listing it came from."""

    start: int
    end: int
    text: str
    label: Label
    listing: Listing


@dataclass
class Placement:
    """The spans placed (sorted by start, end, listing order) and every listing dropped, with why."""

    spans: list[Placed] = field(default_factory=list)
    dropped: list[tuple[Listing, str]] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        """Dropped listings per reason."""
        return Counter(reason for _, reason in self.dropped)


def listings(value: Any) -> list[Listing] | None:
    """The entities of a JSON answer: a list of ``{"text", "label"}`` objects; None when not that shape."""
    if not isinstance(value, list):
        return None
    found: list[Listing] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            return None
        labels = item.get("label")
        for label in labels if isinstance(labels, list) else [labels]:
            if not isinstance(label, str):
                return None
            found.append(Listing(item["text"], label, index))
    return found


def find_label(written: str, control: Control) -> Label | None:
    """The control's label a listed label names (rule 1), or None."""
    for match in (
        lambda lb: lb.text == written,
        lambda lb: lb.value == written,
        lambda lb: written.strip().casefold() in (lb.text.casefold(), lb.value.casefold()),
    ):
        for label in control.labels:
            if match(label):
                return label
    return None


def place(source: str, entities: list[Listing], control: Control) -> Placement:
    """Place ``entities`` in ``source`` by the rule of this module."""
    result = Placement()
    for listing in entities:
        label = find_label(listing.label, control)
        if label is None:
            result.dropped.append((listing, INVALID_LABEL))
            continue
        reason = _place_one(source, listing, label, control.multiple, result)
        if reason is not None:
            result.dropped.append((listing, reason))
    result.spans.sort(key=lambda span: (span.start, span.end, span.listing.index))
    return result


def _place_one(source: str, listing: Listing, label: Label, multiple: bool, result: Placement) -> str | None:
    """Place one listing; the reason it was dropped, or None when placed."""
    usable: list[tuple[int, int]] = []
    conflict = False
    for start, end in candidates(source, listing.text):
        same = [span for span in result.spans if (span.start, span.end) == (start, end)]
        if any(span.label == label for span in same):
            continue
        if same and not multiple:
            conflict = True
            continue
        usable.append((start, end))
    if not usable:
        return LABEL_CONFLICT if conflict else NOT_FOUND
    free = [(s, e) for s, e in usable if all(e <= span.start or s >= span.end for span in result.spans)]
    start, end = (free or usable)[0]
    result.spans.append(Placed(start, end, source[start:end], label, listing))
    return None


def candidates(source: str, written: str) -> list[tuple[int, int]]:
    """Exact occurrences of ``written`` in text order, then those matching only loosely (rule 2)."""
    written = written.strip()
    if not written:
        return []
    exact = [(m.start(), m.end()) for m in re.finditer(re.escape(written), source) if _whole(source, m)]
    loose_pattern = r"\s+".join(re.escape(word) for word in written.split())
    loose = [(m.start(), m.end()) for m in re.finditer(loose_pattern, source, re.I) if _whole(source, m)]
    return exact + [found for found in loose if found not in exact]


def _whole(source: str, match: re.Match[str]) -> bool:
    """Whether a match neither starts nor ends inside a word of ``source``."""
    start, end = match.start(), match.end()
    cut_before = start > 0 and source[start - 1].isalnum() and source[start].isalnum()
    cut_after = end < len(source) and source[end - 1].isalnum() and source[end].isalnum()
    return not (cut_before or cut_after)


def describe(listing: Listing, reason: str) -> str:
    """A dropped listing as a reader sees it in a detail line or report."""
    why = {NOT_FOUND: "not in the text", INVALID_LABEL: "not a label of this control",
           LABEL_CONFLICT: "already labelled otherwise (single label per span)"}[reason]
    return f"{listing.text!r} as {listing.label!r}: {why}"
