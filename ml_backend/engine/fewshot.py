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
  prompt). Nearness is cosine similarity of TF-IDF vectors fitted on the pool: computed locally
  at render time, so a prompt renders without an embeddings call per task and is the same on
  every worker.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import TfidfVectorizer

Selection = Literal["similar", "diverse"]
HEADING = "## Verified examples"
INTRO = "Texts a human has checked, with the correct answer, in the output format above:"


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

    def static_block(self, fill: Any) -> str:
        """The system-message block of a ``diverse`` agent ("" for ``similar``); ``fill`` turns an
        example's inputs into the text the user message would hold."""
        if self.select != "diverse":
            return ""
        shown = "\n\n".join(f"Text:\n{fill(example.inputs)}\nAnswer: {example.answer_json()}"
                            for example in self.examples)
        return f"{HEADING}\n{INTRO}\n\n{shown}"

    def turns(self, task_text: str, fill: Any) -> list[dict[str, str]]:
        """The per-task user/assistant turns of a ``similar`` agent ([] for ``diverse``)."""
        if self.select != "similar":
            return []
        turns = []
        for example in nearest(self.examples, task_text, self.k):
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
