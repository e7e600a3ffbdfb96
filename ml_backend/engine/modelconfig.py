"""The model half of an agent: what to call, how, and within which provider limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    max_concurrency: int = Field(8, ge=1, le=256)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    context_window: int | None = Field(None, ge=1)
    consistency_samples: int = Field(5, ge=2, le=20)

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

    def normalised(self) -> dict[str, Any]:
        """Sorted plain data: the part of an agent's identity that comes from the model."""
        return dict(sorted(self.model_dump().items()))
