"""The models the simulator offers, and what makes each one different."""

from __future__ import annotations

from dataclasses import dataclass

CREATED = 1700000000


@dataclass(frozen=True)
class ModelSpec:
    """``error_rate`` is how often the model is wrong when the task gives it clear evidence."""

    name: str
    context_window: int
    logprobs: bool
    error_rate: float

    def describe(self) -> dict[str, object]:
        """The OpenAI model object, plus the context window (vLLM-style servers add it too)."""
        return {"id": self.name, "object": "model", "created": CREATED, "owned_by": "lsagent-simulator",
                "context_window": self.context_window}


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("sim-small", context_window=16384, logprobs=True, error_rate=0.08),
    ModelSpec("sim-tiny", context_window=512, logprobs=True, error_rate=0.15),
    ModelSpec("sim-nologprobs", context_window=16384, logprobs=False, error_rate=0.10),
)}
DEFAULT_MODEL = "sim-small"
