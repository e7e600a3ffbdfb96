"""Input checks at the store's edge: bad values fail here with a message naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import SecretInConfigError, StoreInputError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")
_SUBSET = re.compile(r"^(all|unlabeled|ids:\d+(,\d+)*|view:\d+)$")
#: Names (lower-cased, without "_" and "-") that mean a credential, wherever they are nested.
_SECRET_SUFFIXES = ("apikey", "secret", "password", "accesstoken", "authorization")
#: Values that look like a provider key even under an innocent name.
_KEY_VALUE = re.compile(r"^(sk|pk|rk)-[A-Za-z0-9_-]{16,}$")


def hex64(value: str, what: str) -> str:
    """A full 64-hex id (lowercase sha256), the form callers compute for agents and cache keys."""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise StoreInputError(f"{what} must be 64 lowercase hex characters, got {value!r}")
    return value


def int64(value: int, what: str) -> int:
    """An integer both databases can keep in a BIGINT column."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise StoreInputError(f"{what} must be an integer that fits in 64 bits, got {value!r}")
    return value


def is_hex_prefix(value: str) -> bool:
    """Whether `value` can be an agent id prefix (8 to 64 lowercase hex characters)."""
    return bool(_HEX_PREFIX.match(value))


def subset(value: str) -> str:
    """A job's task selection: all, unlabeled, ids:<id,...> or view:<view id>."""
    if not isinstance(value, str) or not _SUBSET.match(value):
        raise StoreInputError(
            f"invalid subset {value!r}: expected 'all', 'unlabeled', 'ids:1,2,...' or 'view:<id>'"
        )
    return value


def no_secrets(value: Any, path: str = "config") -> None:
    """Refuse a config holding an API key: keys come from the environment only, never the DB.
    Walks nested mappings and lists; the message names the field and never echoes the value."""
    if isinstance(value, str) and _KEY_VALUE.match(value):
        raise SecretInConfigError(f"{path} holds a value that looks like an API key")
    if isinstance(value, list | tuple):
        for i, element in enumerate(value):
            no_secrets(element, f"{path}[{i}]")
    if isinstance(value, Mapping):
        for key, element in value.items():
            name = str(key).lower().replace("_", "").replace("-", "")
            if name.endswith(_SECRET_SUFFIXES) or name == "token":
                raise SecretInConfigError(
                    f"{path}.{key} looks like a credential; the store keeps only the name of "
                    "the environment variable holding the key (api_key_env)"
                )
            no_secrets(element, f"{path}.{key}")


def non_negative(value: float, what: str) -> None:
    if value < 0:
        raise StoreInputError(f"{what} must be >= 0, got {value!r}")


def unit_interval(value: float | None, what: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise StoreInputError(f"{what} must be within [0, 1], got {value!r}")
