"""Few-shot examples from verified tasks: what a derived agent adds to its prompt, and where.

Why a part of the agent's config and not of its template: the examples are as much the agent's
identity as its model and temperature (the same verified examples give the same agent id, a new
verification a new one), and like the label options they are locked: the prompt code adds them
after the template has rendered, so a custom template cannot drop or reword them.

Two selections, decided when the agent is derived (``review.derive``):

* ``diverse``: a fixed set of K examples, put in the system message, which stays byte-identical
  across tasks (provider prompt caching still applies).
* ``similar``: the agent keeps every verified example (its pool) and, per task, sends the K
  nearest to the task's text as user/assistant turns before the task (the per-task part of the
  prompt). Nearness is cosine similarity of the endpoint's embeddings when it served them at
  derivation: the pool's vectors are then part of the config (``vectors``, rounded to
  ``DECIMALS`` places, at most ``MAX_VECTOR_NUMBERS`` numbers), so the agent's id covers them and
  every worker ranks against the same pool; the task's own vector is asked per task
  (``engine.nearest``). Otherwise, and for a task whose embedding call fails, nearness is the
  cosine of TF-IDF vectors fitted on the pool, computed locally at render time.

``representation`` says which ("embeddings <model>" or "TF-IDF") and ``representation_note`` why
not embeddings; the note is left out of the agent's id (``ModelConfig.identity``), since the
reason an endpoint served no embeddings does not change a prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.feature_extraction.text import TfidfVectorizer

Selection = Literal["similar", "diverse"]
HEADING = "## Verified examples"
INTRO = "Texts a human has checked, with the correct answer, in the output format above:"
TFIDF = "TF-IDF"
#: Places the pool's vectors keep: cosine ranks move by at most ~1e-4, and the JSON stays small.
DECIMALS = 4
#: Numbers (examples x dimensions) a derived agent may hold: ~2 MB of JSON in its config, e.g.
#: 160 examples of OpenAI's 1536-dimension embeddings, or 3,900 of the simulator's 64.
MAX_VECTOR_NUMBERS = 250_000
Vectors = tuple[tuple[float, ...], ...]


class Example(BaseModel):
    """One verified task: its input texts (in the config's input order) and the human's answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: int
    inputs: tuple[str, ...]
    answer: dict[str, Any]

    def answer_json(self) -> str:
        return json.dumps(self.answer, ensure_ascii=False)


class FewShot(BaseModel):
    """A derived agent's examples: ``examples`` is the fixed set (diverse) or the pool (similar)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    select: Selection
    k: int = Field(ge=1, le=50)
    base: str = Field(min_length=1, description="id of the agent this one was derived from")
    examples: tuple[Example, ...] = Field(min_length=1)
    representation: str = TFIDF
    representation_note: str = ""
    vectors: Vectors | None = Field(None, description="the pool's unit vectors, one per example (similar)")

    @model_validator(mode="after")
    def _vectors_fit(self) -> FewShot:
        if self.vectors is None:
            if self.representation != TFIDF and self.select == "similar":
                raise ValueError(f"representation {self.representation!r} needs the pool's vectors")
            return self
        if self.select != "similar" or self.representation == TFIDF:
            raise ValueError("vectors belong to a 'similar' selection by embeddings")
        if len(self.vectors) != len(self.examples) or len({len(vector) for vector in self.vectors}) != 1:
            raise ValueError("vectors must hold one vector per example, all of one length")
        size = len(self.vectors) * len(self.vectors[0])
        if size > MAX_VECTOR_NUMBERS:
            raise ValueError(f"{size} vector numbers exceed the bound of {MAX_VECTOR_NUMBERS}")
        return self

    @property
    def embedded(self) -> bool:
        """Whether tasks are matched by the endpoint's embeddings (each task then needs its own)."""
        return self.vectors is not None

    def identity(self) -> dict[str, Any]:
        """What of the examples makes the agent: all but the note, and without the representation
        fields for a TF-IDF agent (so agents derived before they existed keep their ids)."""
        data = self.model_dump(exclude={"representation_note"})
        if self.vectors is None:
            del data["representation"], data["vectors"]
        return data

    def by_vector(self, query: Sequence[float]) -> list[int]:
        """The task ids of the ``k`` examples whose vectors are nearest ``query`` (cosine), most
        similar first, ties by task id; the pool's vectors are unit length (rounded)."""
        if self.vectors is None:
            raise ValueError("this agent matches tasks by TF-IDF, not by vectors")
        pool = np.asarray(self.vectors, dtype=float)
        vector = np.asarray(query, dtype=float)
        if vector.shape != (pool.shape[1],):
            raise ValueError(f"a {vector.size}-dimension vector for a pool of {pool.shape[1]} dimensions")
        norm = float(np.linalg.norm(vector))
        scores = pool @ (vector / norm) if norm else np.zeros(len(pool))
        order = sorted(range(len(pool)), key=lambda index: (-round(float(scores[index]), 9), self.examples[index].task))
        return [self.examples[index].task for index in order[: self.k]]

    def static_block(self, fill: Any) -> str:
        """The system-message block of a ``diverse`` agent ("" for ``similar``); ``fill`` turns an
        example's inputs into the text the user message would hold."""
        if self.select != "diverse":
            return ""
        shown = "\n\n".join(f"Text:\n{fill(example.inputs)}\nAnswer: {example.answer_json()}"
                            for example in self.examples)
        return f"{HEADING}\n{INTRO}\n\n{shown}"

    def turns(self, task_text: str, fill: Any, chosen: Sequence[int] | None = None) -> list[dict[str, str]]:
        """The per-task user/assistant turns of a ``similar`` agent ([] for ``diverse``): the
        examples of the task ids ``chosen`` (by embeddings, ``by_vector``), else the TF-IDF nearest."""
        if self.select != "similar":
            return []
        if chosen is None:
            shown = nearest(self.examples, task_text, self.k)
        else:
            by_task = {example.task: example for example in self.examples}
            shown = [by_task[task] for task in chosen]
        turns = []
        for example in shown:
            turns += [{"role": "user", "content": fill(example.inputs)},
                      {"role": "assistant", "content": example.answer_json()}]
        return turns


def nearest(examples: tuple[Example, ...], text: str, k: int) -> list[Example]:
    """The ``k`` examples most like ``text`` (TF-IDF cosine), most similar first, ties by task id."""
    vectorizer, matrix = _index(tuple("\n".join(example.inputs) for example in examples))
    if vectorizer is None:
        scores = np.zeros(len(examples))
    else:
        scores = (matrix @ vectorizer.transform([text]).T).toarray().ravel()
    order = sorted(range(len(examples)), key=lambda index: (-float(scores[index]), examples[index].task))
    return [examples[index] for index in order[:k]]


@lru_cache(maxsize=32)
def _index(texts: tuple[str, ...]) -> tuple[Any, Any]:
    """The pool's TF-IDF (rows L2-normalised), fitted once per pool; (None, None) without words."""
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    try:
        return vectorizer, vectorizer.fit_transform(texts)
    except ValueError:
        return None, None
