"""What a model costs, in USD per million input and output tokens.

The built-in table holds list prices of common OpenAI models (they change: a user with other
prices, a discount or another provider points ``LSAGENT_PRICES`` at a JSON file
``{"model": {"input": usd_per_1M, "output": usd_per_1M}, ...}``, which wins over the table).
A name matches an entry when it starts with it at a word boundary (``gpt-4o-2024-08-06`` is
``gpt-4o``; ``gpt-4`` does not claim ``gpt-4o``); the longest entry of both tables wins, so a
file entry ``gpt-4o`` does not reprice ``gpt-4o-mini``. The simulator's
``sim-*`` models cost nothing. An unknown model costs 0 and says so in ``source``, so a figure
is never silently made up.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV = "LSAGENT_PRICES"
TABLE_DATE = "2025-08"
_BOUNDARIES = "-:_@ ./"

#: USD per 1M (input, output) tokens, list prices as of TABLE_DATE.
BUILTIN: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "chatgpt-4o-latest": (5.00, 15.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-4-32k": (60.00, 120.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "sim": (0.0, 0.0),
}


class PricingError(ValueError):
    """The price file named by LSAGENT_PRICES cannot be used; the message says why."""


@dataclass(frozen=True)
class Price:
    model: str
    input_per_1m: float
    output_per_1m: float
    source: str
    known: bool = True

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """USD for this many tokens."""
        return (tokens_in * self.input_per_1m + tokens_out * self.output_per_1m) / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_per_1m": self.input_per_1m, "output_per_1m": self.output_per_1m,
                "currency": "USD", "source": self.source, "known": self.known}


def price_for(model: str, env: Mapping[str, str] | None = None) -> Price:
    """The price of ``model``: the longest matching entry of the override file and the built-in
    table together (the file wins a tie), else 0 (unknown)."""
    env = os.environ if env is None else env
    path = (env.get(ENV) or "").strip()
    overrides: dict[str, tuple[float, float]] = {}
    if path:
        file = Path(path).expanduser()
        overrides = _load(str(file), _mtime(file))
    mine, builtin = _match(model, overrides), _match(model, BUILTIN)
    if mine is not None and (builtin is None or len(mine) >= len(builtin)):
        return Price(model, *overrides[mine], source=f"{ENV} file {path} (entry {mine!r})")
    if builtin is not None:
        return Price(model, *BUILTIN[builtin], source=f"built-in price table ({TABLE_DATE}, entry {builtin!r})")
    return Price(model, 0.0, 0.0, known=False,
                 source=f"unknown model {model!r}: cost counted as 0; add it to a JSON file named by {ENV}")


def _match(model: str, table: Mapping[str, Any]) -> str | None:
    name = model.strip().lower()
    best = None
    for entry in table:
        key = entry.lower()
        if name == key or (name.startswith(key) and name[len(key)] in _BOUNDARIES):
            if best is None or len(key) > len(best):
                best = entry
    return best


def _mtime(file: Path) -> float:
    try:
        return file.stat().st_mtime
    except OSError as exc:
        raise PricingError(f"{ENV} names {file}, which cannot be read: {exc.strerror}") from None


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> dict[str, tuple[float, float]]:
    """The file's prices; cached per modification time, so an edit is picked up."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PricingError(f"{ENV} names {path}, which cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise PricingError(f"{ENV} file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PricingError(f'{ENV} file {path} must hold an object {{"model": {{"input": x, "output": y}}}}')
    return {str(model): _entry(path, str(model), value) for model, value in data.items()}


def _entry(path: str, model: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, dict) or set(value) != {"input", "output"}:
        raise PricingError(f"{ENV} file {path}: entry {model!r} must be "
                           '{"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}')
    prices = []
    for side in ("input", "output"):
        number = value[side]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or number < 0:
            raise PricingError(f"{ENV} file {path}: {model!r} {side} price must be a number >= 0, got {number!r}")
        prices.append(float(number))
    return prices[0], prices[1]
