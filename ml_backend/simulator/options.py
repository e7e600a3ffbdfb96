"""The simulator's knobs: one frozen dataclass shared by the command (``cli``), ``serve()`` and
``/_sim/config``.

Options are validated here once, so a typo in a test's ``configure(...)`` or a fault rate of 1.5 on
the command line fails with a message naming the option instead of silently simulating nonsense.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

API_KEY_ENV = "LSAGENT_SIM_API_KEY"
FAULT_FIELDS = ("fault_429", "fault_500", "fault_timeout", "fault_drop", "fault_malformed", "fault_offlabel")
# Request parameters the simulator can refuse, as some OpenAI-compatible servers do.
REJECTABLE = ("json_schema", "json_object", "logprobs", "top_logprobs", "seed", "n", "embeddings")


class OptionsError(ValueError):
    """An option has a bad name, type or value."""


@dataclass(frozen=True)
class SimulatorOptions:
    """Behaviour of a running simulator; every field except ``api_key`` can change at runtime."""

    seed: int = 0
    latency_ms: float = 200.0
    jitter_ms: float = 0.0
    rpm: int = 0
    rpm_window_s: float = 60.0
    api_key: str | None = field(default=None, repr=False)
    fault_429: float = 0.0
    fault_500: float = 0.0
    fault_timeout: float = 0.0
    fault_drop: float = 0.0
    fault_malformed: float = 0.0
    fault_offlabel: float = 0.0
    timeout_sleep_s: float = 30.0
    logprobs: bool = True
    reject: str = ""
    reject_status: int = 400

    def __post_init__(self) -> None:
        unknown = [name for name in self.rejected() if name not in REJECTABLE]
        if unknown:
            raise OptionsError(f"reject: unknown parameter {unknown[0]!r}; rejectable: {', '.join(REJECTABLE)}")
        if not 400 <= self.reject_status <= 599:
            raise OptionsError(f"reject_status must be a 4xx or 5xx status, got {self.reject_status}")
        for name in ("latency_ms", "jitter_ms", "timeout_sleep_s", "rpm"):
            if getattr(self, name) < 0:
                raise OptionsError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.rpm_window_s <= 60:
            raise OptionsError(f"rpm_window_s must be in (0, 60], got {self.rpm_window_s}")
        for name in FAULT_FIELDS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionsError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        total = sum(getattr(self, name) for name in FAULT_FIELDS)
        if total > 1.0 + 1e-9:
            raise OptionsError(f"the fault rates add up to {total:.3f}; their sum must be <= 1")

    def rejected(self) -> list[str]:
        """The parameters this simulator refuses (``reject`` is a comma-separated list)."""
        return [name.strip() for name in self.reject.split(",") if name.strip()]

    def public(self) -> dict[str, Any]:
        """The options as JSON, without the API key (a secret is never returned)."""
        data = asdict(self)
        data.pop("api_key")
        data["api_key_set"] = self.api_key is not None
        return data

    def updated(self, changes: dict[str, Any]) -> SimulatorOptions:
        """A copy with ``changes`` applied; raises OptionsError naming the first bad option."""
        kinds = {item.name: item.type for item in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "api_key":
                raise OptionsError("api_key cannot be changed at runtime; restart the simulator")
            if name not in kinds:
                known = ", ".join(sorted(k for k in kinds if k != "api_key"))
                raise OptionsError(f"unknown option '{name}'; known options: {known}")
            clean[name] = _coerce(name, str(kinds[name]), value)
        return replace(self, **clean)


def _coerce(name: str, kind: str, value: Any) -> Any:
    """Check a JSON value against the field's declared type (``bool`` is not a number here)."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise OptionsError(f"{name} must be true or false, got {value!r}")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise OptionsError(f"{name} must be a string, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionsError(f"{name} must be a number, got {value!r}")
    if kind == "int":
        if value != int(value):
            raise OptionsError(f"{name} must be an integer, got {value!r}")
        return int(value)
    return float(value)
