"""Text embeddings from an agent's endpoint (``/v1/embeddings``, OpenAI-compatible), for reviews that
cover the data's variety (``review.diversity``).

Why the agent's endpoint and model: it is the model that labelled the tasks, and the endpoint
the operator already allowed (the same policy check as every LLM call). Many chat endpoints serve
no embeddings (OpenAI's chat models, llama.cpp without ``--embedding``): that is not an error here
but ``EmbeddingsUnavailable``, whose message says why, so the caller can fall back to a local
representation and say so.
"""

from __future__ import annotations

import os

import openai

from ml_backend.engine.llm import tls_context
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.redact import public_url

BATCH = 256


class EmbeddingsUnavailable(Exception):
    """The endpoint gave no embeddings; the message says why (for the view's title and the logs)."""


def embed(config: ModelConfig, base_url: str | None, texts: list[str]) -> list[list[float]]:
    """One vector per text from ``config.model`` at ``base_url`` (None: OpenAI's)."""
    embedder = Embedder(config, base_url)
    try:
        return embedder.embed(texts)[0]
    finally:
        embedder.close()


class Embedder:
    """One endpoint's embeddings with the config's key and timeout (one retry), its connections
    kept for many calls (a derived agent asks one per task: ``engine.nearest``). Thread-safe."""

    def __init__(self, config: ModelConfig, base_url: str | None) -> None:
        key = os.environ.get(config.api_key_env)
        self.model = config.model
        self._missing = None if key else f"the key variable {config.api_key_env} is not set"
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key or "unset", max_retries=1, timeout=config.timeout,
            http_client=openai.DefaultHttpxClient(timeout=config.timeout, verify=tls_context()))

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(one vector per text, the prompt tokens the endpoint counted: 0 when it says none)."""
        if self._missing:
            raise EmbeddingsUnavailable(self._missing)
        vectors: list[list[float]] = []
        tokens = 0
        try:
            for start in range(0, len(texts), BATCH):
                batch = texts[start : start + BATCH]
                answer = self._client.embeddings.create(model=self.model, input=batch)
                if len(answer.data) != len(batch):
                    raise EmbeddingsUnavailable(f"{len(answer.data)} embeddings for {len(batch)} texts")
                vectors += [list(item.embedding) for item in sorted(answer.data, key=lambda item: item.index)]
                tokens += int(getattr(answer.usage, "prompt_tokens", 0) or 0)
        except openai.APIStatusError as exc:
            raise EmbeddingsUnavailable(f"{public_url(str(self._client.base_url))} answered /embeddings with "
                                        f"{exc.status_code}") from None
        except openai.APIError as exc:
            raise EmbeddingsUnavailable(f"/embeddings failed: {type(exc).__name__}") from None
        return vectors, tokens
