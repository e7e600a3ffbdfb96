"""The model half of an agent: what to call, how, and within which provider limits."""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ml_backend.engine.fewshot import FewShot

Format = Literal["json_schema", "json_object", "none"]
# Config fields that describe the endpoint rather than the agent's choices: not part of its id.
NEGOTIATED = ("capabilities",)
# Concurrent calls when the agent sets none: OpenAI's API takes many; any other endpoint (often a
# single local server answering one request at a time) starts low until the user raises it.
OPENAI_CONCURRENCY = 8
OTHER_ENDPOINT_CONCURRENCY = 2


class Capabilities(BaseModel):
    """What the endpoint accepted when the agent was registered (see ``engine.capabilities``):
    calls send only these parameters, so no job rediscovers a refusal call by call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response_format: Format
    logprobs: bool
    top_logprobs: int = Field(ge=0, le=20)
    seed: bool
    choices: bool

    def format_body(self, schema_format: dict[str, Any] | None) -> dict[str, Any] | None:
        """The ``response_format`` to send, given the JSON-schema one the labels call for."""
        if schema_format is None or self.response_format == "none":
            return None
        return schema_format if self.response_format == "json_schema" else {"type": "json_object"}


class ModelConfig(BaseModel):
    """Validated, immutable model settings. Holds the *name* of the key's env var, never the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int = Field(64, ge=1, le=32768)
    seed: int | None = None
    logprobs: bool = True
    top_logprobs: int = Field(5, ge=0, le=20)
    base_url: str | None = None
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(30.0, gt=0.0, le=600.0)
    max_concurrency: int | None = Field(None, ge=1, le=256)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    context_window: int | None = Field(None, ge=1)
    consistency_samples: int = Field(5, ge=2, le=20)
    response_format: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    # The signal pushed as the prediction score (``engine.signals``); "label" is the engine's default.
    confidence: Literal["label", "margin", "self_verify", "consistency", "combined"] = "label"
    capabilities: Capabilities | None = None
    # Verified examples of a derived agent (``lsagent agents derive``); None for every other agent.
    few_shot: FewShot | None = None

    @field_validator("base_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        """An endpoint URL, never a place for a key: agents are stored and shown, keys never are."""
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL such as http://localhost:8000/v1")
        if parts.username or parts.password or parts.query:
            raise ValueError("base_url must not carry credentials or a query string: "
                             "the key comes from the environment variable named by api_key_env")
        return value.rstrip("/")

    def concurrency(self) -> int:
        """``max_concurrency``, or the default for the endpoint this config calls (see above)."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        endpoint = self.base_url or os.environ.get("OPENAI_BASE_URL")
        official = endpoint is None or urlsplit(endpoint).hostname == "api.openai.com"
        return OPENAI_CONCURRENCY if official else OTHER_ENDPOINT_CONCURRENCY

    def normalised(self) -> dict[str, Any]:
        """Sorted plain data, negotiated capabilities included: what an agent stores."""
        data = self.model_dump()
        if data["few_shot"] is None:  # agents without examples keep the shape (and id) they always had
            del data["few_shot"]
        return dict(sorted(data.items()))

    def identity(self) -> dict[str, Any]:
        """The part of an agent's identity that comes from the model: the user's choices only.
        Negotiated capabilities are left out, and so are the defaults ``response_format="auto"``
        and ``confidence="label"``, so agents registered before these fields existed keep their ids
        (and the few-shot part as ``FewShot.identity`` keeps it)."""
        data = {key: value for key, value in self.normalised().items() if key not in NEGOTIATED}
        for key, default in (("response_format", "auto"), ("confidence", "label")):
            if data[key] == default:
                del data[key]
        if self.few_shot is not None:
            data["few_shot"] = self.few_shot.identity()
        return data
