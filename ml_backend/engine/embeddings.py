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
    key = os.environ.get(config.api_key_env)
    if not key:
        raise EmbeddingsUnavailable(f"the key variable {config.api_key_env} is not set")
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=1, timeout=config.timeout,
                           http_client=openai.DefaultHttpxClient(timeout=config.timeout, verify=tls_context()))
    vectors: list[list[float]] = []
    try:
        for start in range(0, len(texts), BATCH):
            batch = texts[start : start + BATCH]
            answer = client.embeddings.create(model=config.model, input=batch)
            if len(answer.data) != len(batch):
                raise EmbeddingsUnavailable(f"{len(answer.data)} embeddings for {len(batch)} texts")
            vectors += [list(item.embedding) for item in sorted(answer.data, key=lambda item: item.index)]
    except openai.APIStatusError as exc:
        raise EmbeddingsUnavailable(f"{public_url(str(client.base_url))} answered /embeddings with "
                                    f"{exc.status_code}") from None
    except openai.APIError as exc:
        raise EmbeddingsUnavailable(f"/embeddings failed: {type(exc).__name__}") from None
    finally:
        client.close()
    return vectors
