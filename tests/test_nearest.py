"""A ``similar`` agent derived with embeddings, per task: the task's embedding from the simulator
(real openai client over HTTP), the nearest examples by cosine as an independent computation over
the simulator's vectors predicts them, in the prompt sent; one embeddings call per task text,
none for a cached answer; and the TF-IDF fallback when the endpoint gives no embedding."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml_backend.engine import agents
from ml_backend.engine.annotate import Annotator
from ml_backend.engine.fewshot import Example, FewShot, nearest
from ml_backend.engine.llm import LLMClient
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.ratelimit import LocalRateLimiter
from ml_backend.review.derive import pool_vectors
from ml_backend.simulator.embeddings import vector
from tests.fixtures.annotators import SIM_CAPABILITIES

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
          '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/></Choices></View>')
POOL_TEXTS = ("the pizza was hot and the crust crisp", "cold rain all week, grim grey weather",
              "the train was late again, missed my bus", "a lovely sunny day at the beach",
              "the soup was cold and the bread stale", "my parcel arrived broken, the box crushed")
POOL = tuple(Example(task=100 + index, inputs=(text,), answer={"sentiment": "Neutral"})
             for index, text in enumerate(POOL_TEXTS))
TASKS = ("hot pizza with a crisp crust", "grey rain and grim weather", "the bus and the train were late",
         "sunny beach day", "a crushed box, the parcel broken")
K = 2


def shots() -> FewShot:
    matrix = np.asarray([vector(text) for text in POOL_TEXTS])
    return FewShot(select="similar", k=K, base="b" * 64, examples=POOL, representation="embeddings sim-small",
                   vectors=pool_vectors(matrix))


def predicted(text: str) -> list[int]:
    """The K nearest examples by cosine over the simulator's own vectors, computed here."""
    query = np.asarray(vector(text))
    scores = {example.task: float(np.dot(vector(example.inputs[0]), query)) for example in POOL}
    ranked = sorted(scores, key=lambda task: (-scores[task], task))
    assert scores[ranked[K - 1]] - scores[ranked[K]] > 1e-3, "a near tie would make the test depend on rounding"
    return ranked[:K]


@pytest.fixture
def annotator(sim_annotator: Any) -> Annotator:
    return sim_annotator(CONFIG, few_shot=shots())


def test_each_task_is_shown_the_examples_nearest_by_its_embedding(annotator: Annotator, sim: Any) -> None:
    for number, text in enumerate(TASKS):
        outcome = annotator.annotate({"id": number, "data": {"text": text}})
        expected = predicted(text)
        assert outcome.ok and outcome.meta["few_shot"]["examples"] == expected, text
        assert outcome.meta["few_shot"]["representation"] == "embeddings sim-small"
        assert outcome.meta["few_shot"]["embedding_tokens"] == len(text.replace(",", "").split())
        sent = sim.stats()["last_request"]["messages"]
        shown = [POOL_TEXTS.index(message["content"]) + 100 for message in sent[1:-1:2]]
        assert shown == expected and sent[-1]["content"] == text
    assert sim.stats()["embeddings"] == {"requests": len(TASKS), "texts": len(TASKS)}, "one call per task text"
    assert len({tuple(predicted(text)) for text in TASKS}) == len(TASKS), "the tasks must differ to show anything"


def test_a_cached_answer_costs_no_embeddings_call(annotator: Annotator, sim: Any) -> None:
    task = {"id": 1, "data": {"text": TASKS[0]}}
    assert annotator.cached(task) is None and sim.stats()["embeddings"]["requests"] == 0, "a lookup never calls"
    first = annotator.annotate(task)
    again, peeked = annotator.annotate({**task, "id": 2}), annotator.cached(task)
    assert sim.stats()["embeddings"]["requests"] == 1 and sim.stats()["requests"] == 1
    assert again.cached and peeked is not None and peeked.labels == first.labels
    assert again.meta["few_shot"] == {"representation": "embeddings sim-small", "examples": predicted(TASKS[0]),
                                      "embedding_tokens": 0, "embedding_cached": True}


def test_without_an_embedding_the_task_falls_back_to_tfidf(annotator: Annotator, sim: Any) -> None:
    sim.configure(reject="embeddings")
    outcomes = [annotator.annotate({"id": number, "data": {"text": text}}) for number, text in enumerate(TASKS)]
    assert all(outcome.ok for outcome in outcomes), "a failed embedding never fails the task"
    for text, outcome in zip(TASKS, outcomes, strict=True):
        meta = outcome.meta["few_shot"]
        assert meta["representation"] == "TF-IDF" and "/embeddings with 404" in meta["fallback"]
        assert meta["examples"] == [example.task for example in nearest(POOL, text, K)]
    sent = sim.stats()["last_request"]["messages"]
    assert [POOL_TEXTS.index(m["content"]) + 100 for m in sent[1:-1:2]] == outcomes[-1].meta["few_shot"]["examples"]

    sim.configure(reject="")  # the fallback was not cached: the next run asks for the embedding again
    again = annotator.annotate({"id": 9, "data": {"text": TASKS[0]}})
    assert again.meta["few_shot"]["representation"] == "embeddings sim-small"
    assert again.meta["few_shot"]["examples"] == predicted(TASKS[0])


def test_the_embeddings_call_counts_against_the_agents_rate_limit(sim: Any, sqlite_store: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests a minute: the task's embeddings call takes the first, so its chat call waits
    for the second (on a test clock: the wait is recorded, not slept)."""
    now, slept = [1000.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setenv("SIM_KEY", sim.api_key)
    config = ModelConfig(model="sim-small", base_url=sim.base_url, api_key_env="SIM_KEY",
                         capabilities=SIM_CAPABILITIES, few_shot=shots(), requests_per_minute=2)
    agent = agents.draft(name="test", project=1, label_config=CONFIG, config=config)
    limiter = LocalRateLimiter(2, None, clock=lambda: now[0], sleep=sleep)
    outcome = Annotator(agent, LLMClient(config, limiter=limiter), sqlite_store).annotate(
        {"id": 1, "data": {"text": TASKS[0]}})
    assert outcome.ok and outcome.meta["few_shot"]["representation"] == "embeddings sim-small"
    assert sim.stats()["embeddings"]["requests"] == 1 and sim.stats()["requests"] == 1
    assert len(slept) == 1 and slept[0] >= 20, f"the chat call waits for the second request's room: {slept}"
