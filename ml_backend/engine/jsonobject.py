"""Finding the JSON object in a model's answer: strictly first, then leniently.

Why a module of its own: reading the object (where it is, which keys answer which control,
whether a broken one can be repaired) is separate from matching labels, which
``engine.postprocess`` does the same way for JSON and plain text. Lenient reading uses the
``json-repair`` library (single quotes, trailing commas, a missing final brace), never on an
answer cut off inside a string or a list, where a label may have been lost.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

from ml_backend.engine.labeling import LabelSpec

Found = tuple[dict[str, Any], int, int, dict[str, str]]


def json_error(masked: str) -> str | None:
    """Why an answer that opens a JSON object does not decode; None when it is not such an answer."""
    start = len(masked) - len(masked.lstrip())
    if not masked.startswith("{", start):
        return None
    try:
        json.JSONDecoder().raw_decode(masked, start)
    except ValueError as exc:
        return str(exc)
    return None


def norm_key(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key).casefold()


def _keys_for(obj: dict[str, Any], spec: LabelSpec) -> dict[str, str]:
    """Control name -> the object's key that answers it."""
    by_norm = {norm_key(key): key for key in obj}
    return {c.name: by_norm[norm_key(c.name)] for c in spec.controls if norm_key(c.name) in by_norm}


def find_object(content: str, spec: LabelSpec) -> Found | None:
    """The first decodable JSON object that answers at least one control, with its span and keys."""
    decoder = json.JSONDecoder()
    at = content.find("{")
    while at >= 0:
        try:
            obj, end = decoder.raw_decode(content, at)
        except ValueError:
            at = content.find("{", at + 1)
            continue
        if isinstance(obj, dict) and (keys := _keys_for(obj, spec)):
            return obj, at, end, keys
        at = content.find("{", at + 1)
    return None


def repaired_object(masked: str, spec: LabelSpec) -> Found | None:
    """The object from the first ``{`` as ``json-repair`` reads it, unless the text was cut off."""
    start = masked.find("{")
    if start < 0 or _cut_off(masked[start:]):
        return None
    repaired = json_repair.loads(masked[start:])
    for obj in repaired if isinstance(repaired, list) else [repaired]:
        if isinstance(obj, dict) and (keys := _keys_for(obj, spec)):
            return obj, start, len(masked), keys
    return None


def _cut_off(text: str) -> bool:
    """Whether ``text`` (from an object's ``{``) ends inside a string or an open list: a missing
    final ``}`` is a slip, but there a label may have been lost."""
    quote: str | None = None
    escaped = False
    stack: list[str] = []
    for char in text:
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
            if not stack:
                return False
    return quote is not None or "[" in stack
