"""The combined confidence (a logistic model over the signals, fitted on verified items) and the
signal costs a job reports, on known synthetic data and a real SQLite store."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from ml_backend.engine import agents, prompts, selfverify, tokens
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.jobs import signalcost
from ml_backend.review.combined import MIN_VERIFIED, StoreCombiner, fit
from ml_backend.store import Store

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
          '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')


def synthetic(n: int, seed: int = 7) -> list[tuple[dict[str, float], bool]]:
    """Right exactly when self_verify + noise > 0.5; label and margin are noise."""
    draw = random.Random(seed)
    rows = []
    for _ in range(n):
        verify = draw.random()
        rows.append(({"label": draw.random(), "margin": draw.random(), "self_verify": verify},
                     verify + draw.gauss(0, 0.1) > 0.5))
    return rows


def test_the_fit_weighs_the_informative_signal_and_outputs_probabilities() -> None:
    model = fit(synthetic(400))
    assert model.unavailable is None and model.n == 400
    label, margin, verify = model.coefficients
    assert verify > 3 and abs(label) < 1 and abs(margin) < 1
    low = model.predict({"label": 0.9, "margin": 0.9, "self_verify": 0.1})
    high = model.predict({"label": 0.1, "margin": 0.1, "self_verify": 0.9})
    assert low is not None and high is not None and low < 0.2 < 0.8 < high
    assert model.predict({"label": 0.9, "margin": 0.9}) is None  # a missing signal: no guess


def test_too_few_or_one_sided_verified_items_give_no_model_and_say_why() -> None:
    few = fit(synthetic(MIN_VERIFIED - 1))
    assert few.unavailable is not None and f"{MIN_VERIFIED - 1} verified items" in few.unavailable
    confirmed_only = fit([(signals, True) for signals, _ in synthetic(100)])
    assert confirmed_only.unavailable is not None and "0 corrected" in confirmed_only.unavailable
    without_verify = fit([({"label": s["label"], "margin": s["margin"]}, ok) for s, ok in synthetic(100)])
    assert without_verify.n == 0 and without_verify.unavailable is not None


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def test_the_store_combiner_fits_on_the_agents_verified_items(store: Store) -> None:
    agent = agents.draft(name="c", project=3, label_config=CONFIG,
                         config=ModelConfig(model="sim-small", confidence="combined"))
    store.save_agent(**agent.columns())
    job = store.create_job(agent_id=agent.id, project=3, subset="all")
    rows = synthetic(60)
    for task_id, (found, correct) in enumerate(rows, start=1):
        store.record_item(job.id, task_id, labels={"sentiment": ["Positive"]}, score=found["label"],
                          meta={"signals": {**found, "cost": {"self_verify": {
                              "calls": 1, "prompt_tokens": 100, "completion_tokens": 5}}}})
        store.record_verification(job_id=job.id, task_id=task_id, annotation_id=task_id, control="sentiment",
                                  verdict="confirmed" if correct else "corrected", human_labels=["Positive"],
                                  agent_labels=["Positive"], annotator="a@b.c", annotated_at=datetime.now(UTC))
    combiner = StoreCombiner(store, agent.id, 3)
    assert combiner.unavailable is None and combiner.model().n == 60
    assert combiner.predict({"label": 0.5, "margin": 0.5, "self_verify": 0.95}) > 0.8
    other = StoreCombiner(store, "another-agent", 3)
    assert other.unavailable is not None and other.unavailable.startswith("0 verified items")
    spent = signalcost.counted(store, store.get_job(job.id), "combined")
    assert spent == {"confidence": "combined", "fallback_items": 0,
                     "cost": {"self_verify": {"calls": 60, "prompt_tokens": 6000, "completion_tokens": 300}}}
    assert signalcost.counted(store, store.get_job(job.id), "label") is None


def test_the_estimate_adds_the_verification_call_per_billable_task() -> None:
    agent = agents.draft(name="e", project=1, label_config=CONFIG,
                         config=ModelConfig(model="gpt-4o-mini", confidence="self_verify"))
    extra = signalcost.estimated(agent, billable=10, prompt_tokens=1000, answer_tokens=8)
    verify = extra["self_verify"]
    assert verify["calls"] == 10 and verify["completion_tokens"] == 10 * signalcost.VERDICT_OUTPUT_TOKENS
    task = {"text": "The battery died after two days and support never answered."}
    label_prompt = prompts.render_messages(agent.template, agent.spec, task)
    question = selfverify.messages(agent.spec, agent.template.instructions, label_prompt,
                                   {"sentiment": ["Positive"]})
    one = signalcost.estimated(agent, 1, tokens.count_messages(label_prompt, "gpt-4o-mini"), 8)["self_verify"]
    assert one["prompt_tokens"] == tokens.count_messages(question, "gpt-4o-mini")
    assert signalcost.estimated(agents.draft(name="e", project=1, label_config=CONFIG,
                                             config=ModelConfig(model="gpt-4o-mini")), 10, 1000, 8) == {}
    sampled = agents.draft(name="e", project=1, label_config=CONFIG,
                           config=ModelConfig(model="gpt-4o-mini", confidence="consistency", consistency_samples=4))
    assert signalcost.estimated(sampled, 10, 1000, 8) == {
        "consistency": {"calls": 10, "prompt_tokens": 1000, "completion_tokens": 320}}
