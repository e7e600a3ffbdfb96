"""The one reader of environment variables: every knob of the service, the jobs and the workers
goes through it, so a bad value is a start-up error that names the variable and says what it
must be, instead of a crash (or a silently truncated value) deep in the code that uses it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TypeVar

N = TypeVar("N", int, float)

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def number(env: Mapping[str, str], name: str, default: N, minimum: N) -> N:
    """``name`` as a number of the default's type (an int knob refuses ``2.5`` rather than
    truncating it), at least ``minimum``; ``default`` when unset or blank."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"environment variable {name} must be {noun} >= {minimum}, got {raw!r}")
    return value


def url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL without its trailing slash, or None when unset."""
    raw = (env.get(name) or "").strip().rstrip("/")
    if raw and not raw.startswith(("http://", "https://")):
        raise ValueError(f"environment variable {name} must be an http(s) URL such as http://localhost:8080")
    return raw or None


def name(env: Mapping[str, str], variable: str, default: str) -> str:
    """A short name safe in Redis keys and queue names (letters, digits, ``_.:-``)."""
    value = (env.get(variable) or "").strip() or default
    if not _NAME.match(value):
        raise ValueError(f"environment variable {variable} must be 1-100 letters, digits or '_.:-', got {value!r}")
    return value
