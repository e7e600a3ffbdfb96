"""The simulator's ``/v1/embeddings``: deterministic text vectors shaped like OpenAI's answer.

A vector is the sum of one fixed pseudo-random direction per word (hashed from the word, so the
same word always points the same way and texts sharing words are close), plus two axes for the
lexicon's positive and negative evidence (so texts of the same sentiment lean together), scaled
to unit length. Not a language model's embedding: enough for clustering to find real groups.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ml_backend.simulator import lexicon
from ml_backend.simulator.behaviour import unit
from ml_backend.simulator.models import MODELS
from ml_backend.simulator.validation import ApiError, bad

DIMENSIONS = 64
_WORD = re.compile(r"[a-z']+")
_SENTIMENT_WEIGHT = 2.0


def vector(text: str) -> list[float]:
    """The unit vector of ``text`` (all zeros but the last axis for a text without words)."""
    values = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        for axis in range(DIMENSIONS - 2):
            values[axis] += unit("embed", word, axis) - 0.5
    reading = lexicon.read(text)
    values[-2] += _SENTIMENT_WEIGHT * reading.positive
    values[-1] += _SENTIMENT_WEIGHT * reading.negative
    norm = math.sqrt(sum(value * value for value in values))
    if norm == 0:
        return [0.0] * (DIMENSIONS - 1) + [1.0]
    return [value / norm for value in values]


def answer(body: Any) -> dict[str, Any]:
    """The embeddings object for a request body, or OpenAI's 400/404 for a bad one."""
    if not isinstance(body, dict):
        raise bad("We could not parse the JSON body of your request.", code=None)
    model = body.get("model")
    if model not in MODELS:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                       code="model_not_found")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise bad("'input' must be a non-empty string or a non-empty list of strings.", "input")
    data = [{"object": "embedding", "index": index, "embedding": vector(text)} for index, text in enumerate(texts)]
    tokens = sum(len(_WORD.findall(text.lower())) for text in texts)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
