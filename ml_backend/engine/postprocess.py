"""Turn a model's answer into valid labels, or into a classified error.

Why forgiving reading: with a strict ``response_format`` the model can only write the JSON object
keyed by control name, but many OpenAI-compatible endpoints lack structured output, and then models
wrap answers in prose, code fences, quotes and odd casing. A task lost to a cosmetic slip costs a
human's time; a wrong guess costs more. So reading is lenient about form and strict about labels.

Reading order (the first that applies wins):

1. Empty content -> ``format_error``.
2. The first JSON object in the content (prose and code fences around it are skipped) whose keys
   name controls; keys compare ignoring case, spaces, ``_`` and ``-``.
3. ``name: value`` lines naming controls; a value left empty continues on the following lines
   (e.g. a bullet list) up to the next ``key:`` line.
4. With a single control, the whole content is its answer.

Lenient JSON: where no object decodes strictly, the text from the first ``{`` is read with the
``json-repair`` library, so single-quoted (Python-literal) objects, trailing commas and an
unclosed final brace are read. Labels are then matched exactly as for strict JSON. Content that
still yields no object, or that was cut off inside a string or a list, is a ``format_error``: a
truncated answer may have lost labels, so nothing is read from it.

Matching an answer's text to a control's labels:

- Exact: a label's display text (``Label.text``) occurs as whole words, case-insensitive (a ``.``
  between word characters joins them, so ``4`` is not read in ``4.5``); longer labels first,
  without overlaps (so ``Not Spam`` is not also read as ``Spam``). Result values (``Label.value``,
  the alias) are searched the same way only when no display text occurs.
- Fuzzy (only where nothing matched exactly): a window of whole words maps to a label when their
  Damerau-Levenshtein distance (optimal string alignment, case-insensitive) is at most 1 for
  labels of 4-7 characters and at most 2 for 8 or more characters; labels shorter than 4
  characters are never fuzzy-matched. The closest label must be unique: a window equally close
  to two labels maps to neither. Each correction is noted in ``Parsed.detail``.
- Single choice: exactly one distinct label, else ``invalid_label``; two labels are never
  resolved by guessing.
- No label at all: ``invalid_label`` when the answer is made of label-sized entries (``Mixed``,
  ``entailment``; kept raw in ``Parsed.invalid`` for reports); ``format_error`` when any part of
  it is prose (``I'm sorry, but I can't decide...``): the model gave no answer in the asked form.
  Prose is a fragment with more words than the longest label plus one, or of several words
  ending in ``!`` or ``?``; a lead-in ending in ``:`` ("The topics are:") is neither.
- Multiple choice: the answer is split into entries (JSON arrays; commas, semicolons, ``|``,
  newlines, ``and``/``or``; bullets and numbering are stripped). Unknown entries are dropped and
  listed in ``ControlAnswer.dropped``; a label named twice counts once; no valid label left ->
  ``invalid_label``. Prose fragments are not entries and are not counted as dropped.

Invariant: ``Parsed.error is None`` exactly when ``Parsed.answers`` holds every control.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ml_backend.engine.jsonobject import Found, find_object, json_error, norm_key, repaired_object
from ml_backend.engine.labeling import Control, Label, LabelSpec
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.promptparts import value_schema

_FENCE = re.compile(r"```[\w+-]*")
_KEY_LINE = re.compile(r"^[ \t>*#-]*[\"'`*]*(?P<key>\w[\w .-]{0,63}?)[\"'`*]*[ \t]*[:=](?P<rest>.*)$", re.M)
_ENTRY_BREAK = re.compile(r"[,;|\n]|(?<=[.!?:])\s+")
_CONJUNCTION = re.compile(r"\b(?:and|or)\b", re.I)
_LEAD = re.compile(r"^[\s\"'`*•>#\[\](){}.,;:!?-]*(?:\d{1,2}[.)](?:\s+|$))?[\s\"'`*\[\](){}]*")
_TRAIL = re.compile(r"[\s\"'`*.,;:!?\[\](){}]*$")
_WORD_PUNCT = "\"'`*.,;:!?()[]{}<>“”‘’"
_SHOWN = 60


@dataclass
class ControlAnswer:
    """One control's reading: result values, their display texts, and where each was written."""

    labels: list[str]
    texts: list[str]
    offsets: list[int | None]
    dropped: list[str] = field(default_factory=list)


@dataclass
class Parsed:
    """The reading of one response; ``invalid`` keeps raw offending labels for error reports."""

    answers: dict[str, ControlAnswer]
    error: ErrorClass | None
    detail: str
    invalid: list[str] = field(default_factory=list)


@dataclass
class _Hit:
    label: Label
    offset: int | None
    written: str
    fuzzy: bool


def response_format(spec: LabelSpec) -> dict[str, Any]:
    """The OpenAI ``json_schema`` response format that admits only valid labels for every control."""
    properties: dict[str, Any] = {}
    for control in spec.controls:
        choice = {"type": "string", "enum": list(dict.fromkeys(control.texts))}
        properties[control.name] = {"type": "array", "items": choice} if control.multiple else choice
        if control.kind not in ("choices", "taxonomy"):
            properties[control.name] = value_schema(control)
    schema = {
        "type": "object",
        "properties": properties,
        "required": [control.name for control in spec.controls],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "labels", "strict": True, "schema": schema}}


def parse_response(content: str | None, spec: LabelSpec) -> Parsed:
    """Read a model's answer into result values per control, or classify why it cannot be read."""
    if content is None or not content.strip():
        return Parsed({}, ErrorClass.FORMAT_ERROR, "empty response")
    masked = _FENCE.sub(lambda m: " " * len(m.group()), content)
    found = find_object(content, spec) or repaired_object(masked, spec)
    if found is not None:
        segments, problems = _json_segments(content, found, spec)
        return _read(spec, segments, problems)
    broken = json_error(masked)
    if broken is not None:
        return Parsed({}, ErrorClass.FORMAT_ERROR, f"answer is not valid JSON ({broken}): {_shorten(content)!r}")
    segments, problems = _text_segments(masked, spec)
    return _read(spec, segments, problems)


Segments = dict[str, list[tuple[str, int | None]]]


def _read(spec: LabelSpec, segments: Segments, problems: list[str]) -> Parsed:
    if problems:
        return Parsed({}, ErrorClass.FORMAT_ERROR, "; ".join(problems))
    answers: dict[str, ControlAnswer] = {}
    failures: list[ErrorClass] = []
    invalid: list[str] = []
    notes: list[str] = []
    for control in spec.controls:
        answer, failure, bad, note = _answer(control, segments[control.name])
        notes.extend(note)
        invalid.extend(bad)
        if answer is not None:
            answers[control.name] = answer
        elif failure is not None:
            failures.append(failure)
    if failures:
        worst = ErrorClass.FORMAT_ERROR if ErrorClass.FORMAT_ERROR in failures else ErrorClass.INVALID_LABEL
        return Parsed({}, worst, "; ".join(notes), invalid if worst is ErrorClass.INVALID_LABEL else [])
    return Parsed(answers, None, "; ".join(notes))


def _answer(
    control: Control, segments: list[tuple[str, int | None]]
) -> tuple[ControlAnswer | None, ErrorClass | None, list[str], list[str]]:
    """A control's answer, or why there is none: (answer, error, offending labels, notes)."""
    hits: list[_Hit] = []
    unknown: list[str] = []
    prose = False
    for text, base in segments:
        seg_hits, seg_unknown, seg_prose = _match(text, base, control)
        hits.extend(seg_hits)
        unknown.extend(seg_unknown)
        prose = prose or seg_prose
    distinct: list[_Hit] = []
    for hit in hits:
        if all(hit.label.value != seen.label.value for seen in distinct):
            distinct.append(hit)
    notes = [f"read {hit.written!r} as {hit.label.text!r} for '{control.name}'" for hit in distinct if hit.fuzzy]
    written = _shorten(" ".join(text for text, _ in segments))
    if not distinct and (prose or not unknown):
        return None, ErrorClass.FORMAT_ERROR, [], [f"no answer for '{control.name}' in {written!r}"]
    if not distinct:
        listed = ", ".join(repr(r) for r in unknown)
        return None, ErrorClass.INVALID_LABEL, unknown, [f"no label of '{control.name}' in {listed}"]
    if not control.multiple and len(distinct) > 1:
        named = " and ".join(repr(hit.label.text) for hit in distinct)
        return None, ErrorClass.INVALID_LABEL, [written], [f"single-choice '{control.name}' answered with {named}"]
    dropped = unknown if control.multiple else []
    if dropped:
        notes.append(f"dropped unknown label(s) for '{control.name}': {', '.join(map(repr, dropped))}")
    answer = ControlAnswer(
        labels=[hit.label.value for hit in distinct],
        texts=[hit.label.text for hit in distinct],
        offsets=[hit.offset for hit in distinct],
        dropped=dropped,
    )
    return answer, None, [], notes


def _match(text: str, base: int | None, control: Control) -> tuple[list[_Hit], list[str], bool]:
    """Labels in one answer segment (ordered by position), its unknown entries, and whether it has prose."""
    spans = _exact(text, control)
    found = [(start, label, text[start:end], False) for start, end, label in spans]
    pieces = [] if spans and not control.multiple else _pieces(text, spans, _widest(control))
    unknown: list[str] = []
    for piece, start, kind in pieces:
        fuzzy = _fuzzy(piece, control)
        found.extend((start + at, label, written, True) for at, label, written in fuzzy)
        if kind == "entry" and not fuzzy and _clean(piece):
            unknown.append(_clean(piece))
    found.sort(key=lambda item: item[0])
    hits = [_Hit(label, None if base is None else base + at, written, fuzzy) for at, label, written, fuzzy in found]
    return hits, unknown, any(kind == "prose" for _, _, kind in pieces)


def _widest(control: Control) -> int:
    """Words in the control's longest label (text or value)."""
    return max(len(surface.split()) for label in control.labels for surface in (label.text, label.value))


def _surface_pattern(surface: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(word) for word in surface.split())
    return re.compile(rf"(?<![\w-])(?<!\w\.){words}(?![\w-]|\.\w)", re.I)


def _exact(text: str, control: Control) -> list[tuple[int, int, Label]]:
    """Whole-word occurrences of display texts, else of result values; longest first, no overlaps."""
    for attr in ("text", "value"):
        spans: list[tuple[int, int, Label]] = []
        for label in sorted(control.labels, key=lambda lb: -len(getattr(lb, attr))):
            if not getattr(label, attr).strip():
                continue
            for m in _surface_pattern(getattr(label, attr)).finditer(text):
                if all(m.end() <= start or m.start() >= end for start, end, _ in spans):
                    spans.append((m.start(), m.end(), label))
        if spans:
            return sorted(spans, key=lambda span: span[0])
    return []


def _pieces(text: str, spans: list[tuple[int, int, Label]], widest: int) -> list[tuple[str, int, str]]:
    """The text around exact matches cut into (piece, offset in ``text``, kind).

    Kinds: ``lead`` ends with ``:`` ("The topics are:"); ``prose`` has more words than the longest
    label plus one, or several words ending in ``!`` or ``?``; else ``entry`` (split on "and"/"or").
    """
    pieces: list[tuple[str, int, str]] = []
    cuts = [0] + [edge for start, end, _ in spans for edge in (start, end)] + [len(text)]
    for gap_start, gap_end in zip(cuts[::2], cuts[1::2], strict=True):
        for piece, at in _split(text, gap_start, gap_end, _ENTRY_BREAK):
            kind = _kind(piece, widest)
            if kind != "entry":
                pieces.append((piece, at, kind))
                continue
            pieces.extend((part, part_at, kind) for part, part_at in _split(text, at, at + len(piece), _CONJUNCTION))
    return [(piece, at, kind) for piece, at, kind in pieces if any(ch.isalnum() for ch in piece)]


def _kind(piece: str, widest: int) -> str:
    words = len(_clean(piece).split())
    tail = piece.rstrip()
    if tail.endswith(":"):
        return "lead"
    if words > widest + 1 or (words > 1 and tail.endswith(("!", "?"))):
        return "prose"
    return "entry"


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    for sep in pattern.finditer(text, start, end):
        parts.append((text[start : sep.start()], start))
        start = sep.end()
    parts.append((text[start:end], start))
    return parts


def _clean(piece: str) -> str:
    stripped = _TRAIL.sub("", _LEAD.sub("", piece))
    return " ".join(stripped.split())


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN else flat[: _SHOWN - 1] + "…"


def allowed_edits(surface: str) -> int:
    """Edits a fuzzy match may need for a label of this length (see the module docstring)."""
    size = len(" ".join(surface.split()))
    return 0 if size < 4 else 1 if size < 8 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment); anything above ``limit`` is ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
    return min(row[-1], limit + 1)


def _closest(window: str, control: Control) -> Label | None:
    """The label whose text or value is uniquely closest to ``window`` within its allowed edits."""
    best: dict[str, tuple[int, Label]] = {}
    for label in control.labels:
        for surface in (label.text, label.value):
            limit = allowed_edits(surface)
            if limit == 0:
                continue
            distance = edit_distance(window, " ".join(surface.split()).casefold(), limit)
            if distance <= limit and distance < best.get(label.value, (limit + 1, label))[0]:
                best[label.value] = (distance, label)
    if not best:
        return None
    ranked = sorted(best.values(), key=lambda item: item[0])
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        return None
    return ranked[0][1]


def _fuzzy(piece: str, control: Control) -> list[tuple[int, Label, str]]:
    """Non-overlapping word windows of ``piece`` that map to a label: (offset, label, text written)."""
    words = []
    for m in re.finditer(r"\S+", piece):
        word = m.group().strip(_WORD_PUNCT)
        if word:
            start = m.start() + m.group().index(word)
            words.append((start, start + len(word)))
    sizes = {len(surface.split()) for label in control.labels for surface in (label.text, label.value)}
    found: list[tuple[int, int, Label]] = []
    for size in sorted(sizes, reverse=True):
        for i in range(len(words) - size + 1):
            start, end = words[i][0], words[i + size - 1][1]
            window = " ".join(piece[start:end].split()).casefold()
            label = _closest(window, control)
            if label and all(end <= s or start >= e for s, e, _ in found):
                found.append((start, end, label))
    return [(start, label, piece[start:end]) for start, end, label in sorted(found, key=lambda f: f[0])]


def _json_segments(
    content: str, found: Found, spec: LabelSpec
) -> tuple[Segments, list[str]]:
    obj, start, end, keys = found
    segments: Segments = {}
    problems: list[str] = []
    for control in spec.controls:
        if control.name not in keys:
            problems.append(f"JSON answer has no key for '{control.name}' (keys: {', '.join(obj)})")
            continue
        value = obj[keys[control.name]]
        items = _json_items(value)
        if not items:
            shown = "no label" if items == [] else json.dumps(value)
            problems.append(f"'{control.name}' must be a label or a list of labels, got {shown}")
            continue
        offsets = _value_offsets(content, start, end, keys[control.name], items)
        segments[control.name] = [(str(item), at) for item, at in zip(items, offsets, strict=True)]
    return segments, problems


def _json_items(value: Any) -> list[str | int | float] | None:
    """The labels a JSON value holds: [] when it names none, None when it cannot hold labels."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in items):
        return None
    if not any(str(item).strip() for item in items):
        return []
    return [int(item) if isinstance(item, float) and item.is_integer() else item for item in items]


def _value_offsets(content: str, start: int, end: int, key: str, items: list[str | int | float]) -> list[int | None]:
    """Where each JSON item's text starts in ``content``; None where escapes hide it. Items are
    found as written, after the key (in either quote style: repaired answers use single quotes)."""
    key_at = content.find(key, start, end)
    at: int | None = None if key_at < 0 else key_at + len(key)
    offsets: list[int | None] = []
    for item in items:
        raw = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        found = -1 if at is None else content.find(raw, at, end)
        if found < 0:
            offsets.append(None)
            continue
        offsets.append(found)
        at = found + len(raw)
    return offsets


def _text_segments(masked: str, spec: LabelSpec) -> tuple[Segments, list[str]]:
    """Plain-text answers per control: named lines, else the whole text for a single control."""
    names = {norm_key(control.name): control.name for control in spec.controls}
    lines = list(_KEY_LINE.finditer(masked))
    segments: Segments = {}
    for i, line in enumerate(lines):
        name = names.get(norm_key(line["key"]))
        if name is None:
            continue
        start, end = line.start("rest"), line.end("rest")
        if not masked[start:end].strip():
            end = lines[i + 1].start() if i + 1 < len(lines) else len(masked)
        segments.setdefault(name, []).append((masked[start:end], start))
    if not segments and len(spec.controls) == 1:
        segments[spec.controls[0].name] = [(masked, 0)]
    missing = [c.name for c in spec.controls if c.name not in segments]
    problems = [f"no answer found for {', '.join(repr(name) for name in missing)}"] if missing else []
    return segments, problems
