"""Per task, the verified examples a ``similar`` agent derived with embeddings shows: the task's
text embedded by the agent's endpoint, ranked against the pool's vectors (``FewShot.by_vector``).

Why here and not in the prompt code: the embedding is an HTTP call, and a prompt renders without
any (previews, estimates, the cache lookups that must never call the model). The annotator asks
this module first and hands the prompt the chosen task ids.

* One ``/embeddings`` call per task text, through the agent's own endpoint and key (the config the
  agent's LLM client was built from, after the operator's endpoint rule), within the agent's
  timeout (one retry), holding one of the agent's concurrency slots and its rate limiter's room
  like a chat call: the provider sees one agent and its limits, whatever the request.
* The choice, not the vector, is cached under (agent id, text) in the response cache: a few task
  ids, so re-running the job or answering /predict from the cache costs no embeddings call and
  renders the same prompt; ``lookup`` reads only the cache.
* A failed call never fails the task: its examples are the TF-IDF nearest, and the item's
  metadata says so (``fallback``). Such a choice is not cached, so a later run asks again (and
  its answer, cached under the TF-IDF prompt, is not found by the cache-only lookups).
* The project prices chat tokens only: the embedding tokens are in the item's metadata
  (``few_shot.embedding_tokens``), not in its tokens or cost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ml_backend.engine.embeddings import Embedder, EmbeddingsUnavailable
from ml_backend.engine.fewshot import TFIDF, FewShot, nearest
from ml_backend.engine.llm import LLMClient, rough_tokens

log = logging.getLogger(__name__)

#: The task ids of the examples to show (None: the prompt's own TF-IDF choice) and the item's
#: ``few_shot`` metadata: representation, examples, embedding tokens, and a fallback's reason.
Choice = tuple[list[int] | None, dict[str, Any]]


class ChoiceCache(Protocol):
    """The part of the response cache (``engine.annotate.ResponseCache``) used here."""

    def cache_get_many(self, keys: list[str]) -> dict[str, Any]: ...

    def cache_put(self, key: str, response: dict[str, Any]) -> bool | None: ...


class NearestExamples:
    """The embeddings-based choice of one agent's examples; thread-safe."""

    def __init__(self, agent_id: str, shots: FewShot, client: LLMClient, cache: ChoiceCache) -> None:
        self.agent_id = agent_id
        self.shots = shots
        self.cache = cache
        self._client = client
        self._embedder = Embedder(client.config, client.config.base_url)

    def close(self) -> None:
        self._embedder.close()

    def key(self, text: str) -> str:
        payload = json.dumps(["nearest-examples", self.agent_id, text], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def lookup(self, texts: Sequence[str]) -> list[Choice | None]:
        """The cached choice of each text, None where there is none (never calls the endpoint)."""
        found = self.cache.cache_get_many([self.key(text) for text in texts])
        choices: list[Choice | None] = []
        for text in texts:
            entry = found.get(self.key(text))
            choices.append(None if entry is None else self._chosen(list(entry["tasks"]), 0, cached=True))
        return choices

    def choose(self, text: str) -> Choice:
        """The task ids to show for ``text`` and the item's ``few_shot`` metadata (the TF-IDF
        nearest, and why, when the endpoint gives no embedding)."""
        [cached] = self.lookup([text])
        if cached is not None:
            return cached
        try:
            with self._client.reserved(max(1, rough_tokens(text))):
                vectors, tokens = self._embedder.embed([text])
            chosen = self.shots.by_vector(vectors[0])
        except (EmbeddingsUnavailable, ValueError) as exc:
            chosen = [example.task for example in nearest(self.shots.examples, text, self.shots.k)]
            return chosen, {"representation": TFIDF, "examples": chosen,
                            "fallback": f"no embedding for this task ({exc}): examples nearest by TF-IDF"}
        try:
            self.cache.cache_put(self.key(text), {"tasks": chosen})
        except Exception:  # the choice is made: this task keeps it even if the cache cannot
            log.exception("agent %s: a task's examples could not be cached", self.agent_id)
        return self._chosen(chosen, tokens, cached=False)

    def _chosen(self, chosen: list[int], tokens: int, *, cached: bool) -> Choice:
        return chosen, {"representation": self.shots.representation, "examples": chosen,
                        "embedding_tokens": tokens, "embedding_cached": cached}
