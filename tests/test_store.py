"""The store on a real SQLite file and a real PostgreSQL database: every test runs on both.

Concurrency tests use real threads and real processes, because the guarantees the job runner
relies on (exactly-once items and chunk claims, no lost counter updates) must hold across RQ
workers that share nothing but the database.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.store import (
    AmbiguousReferenceError,
    InvalidTransitionError,
    NotFoundError,
    SecretInConfigError,
    Store,
    StoreInputError,
)
from ml_backend.store import clock as store_clock

AGENT_A = "abcdef12" + "0" * 56
AGENT_B = "abcdef12" + "1" * 56
AGENT_C = "0123abcd" + "2" * 56
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(store_clock, "utcnow", lambda: fake.now)
    return fake


def save(
    store: Store,
    agent_id: str = AGENT_A,
    name: str = "sentiment",
    project: int = 1,
    config: dict[str, Any] | None = None,
):
    return store.save_agent(
        id=agent_id,
        name=name,
        project=project,
        label_signature="sig",
        label_config="<View/>",
        config=config if config is not None else ModelConfig(model="gpt-4o-mini").normalised(),
        template_source="{{ text }}",
        instructions="Classify the sentiment.",
    )


AGENT_FIELDS = {
    "id": AGENT_A,
    "name": "sentiment",
    "project": 1,
    "label_signature": "sig",
    "label_config": "<View/>",
    "config": {"model": "m"},
    "template_source": "{{ text }}",
    "instructions": "",
}


@pytest.fixture
def job_id(store: Store) -> str:
    save(store)
    return store.create_job(agent_id=AGENT_A, project=1, subset="all", total=10).id


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run `target(i)` in `count` threads released together; return their results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _process_body(
    url: str, operation: str, job: str, keys: list[int], name: str, barrier: Any, results: Any
) -> None:
    """In a fresh process (its own engine): race the other process over the same keys."""
    store = Store(url)
    barrier.wait()
    if operation == "record_item":
        won = [k for k in keys if store.record_item(job, k, labels={"c": [name]}, tokens_in=1)]
    else:
        won = [k for k in keys if store.claim_chunk(job, k, name)]
    store.dispose()
    results.put((name, won))


def run_processes(url: str, operation: str, job: str, keys: list[int]) -> dict[str, list[int]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(
            target=_process_body, args=(url, operation, job, keys, f"p{i}", barrier, results)
        )
        for i in range(2)
    ]
    for process in processes:
        process.start()
    outcome = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcome


# --- agents ---------------------------------------------------------------------------------


def test_save_agent_is_idempotent_and_immutable(store: Store, fake_clock: FakeClock) -> None:
    first = save(store)
    fake_clock.advance(60)
    again = save(store, name="renamed", project=2)
    assert again == first
    assert first.model_version == "sentiment@abcdef12"
    assert first.created_at == T0
    assert [a.id for a in store.list_agents()] == [AGENT_A]


def test_agent_names_and_model_versions_are_checked(store: Store) -> None:
    with pytest.raises(StoreInputError, match="'@'"):
        save(store, name="a@b")
    with pytest.raises(StoreInputError, match="agent id"):
        save(store, agent_id="ABC")
    with pytest.raises(StoreInputError, match="does not match"):
        store.save_agent(**{**AGENT_FIELDS, "model_version": "sentiment@ffffffff"})
    assert store.save_agent(**AGENT_FIELDS, model_version="sentiment@abcdef12").id == AGENT_A
    assert [a.id for a in store.list_agents()] == [AGENT_A]


def test_concurrent_saves_of_one_agent_make_one_row(store: Store) -> None:
    records = run_threads(8, lambda i: save(store, name=f"n{i}"))
    assert len({r.name for r in records}) == 1
    assert len(store.list_agents()) == 1


def test_get_agent_by_id_prefix_and_model_version(store: Store) -> None:
    save(store, AGENT_A, name="a")
    save(store, AGENT_B, name="b")
    save(store, AGENT_C, name="c")
    assert store.get_agent(AGENT_B).name == "b"
    assert store.get_agent("0123abcd").name == "c"
    assert store.get_agent("abcdef120").name == "a"
    assert store.get_agent("b@abcdef12").id == AGENT_B
    with pytest.raises(AmbiguousReferenceError, match="abcdef12"):
        store.get_agent("abcdef12")
    assert store.get_agent("0123abc") is None  # fewer than 8 characters is no prefix
    assert store.get_agent("ffffffff") is None


def test_get_agent_by_unique_name(store: Store) -> None:
    save(store, AGENT_A, name="qwen-defaults")
    save(store, AGENT_B, name="shared")
    save(store, AGENT_C, name="shared")
    assert store.get_agent("qwen-defaults").id == AGENT_A
    with pytest.raises(AmbiguousReferenceError) as caught:
        store.get_agent("shared")
    assert "shared@abcdef12" in str(caught.value) and "shared@0123abcd" in str(caught.value)
    assert store.get_agent("nobody") is None


def test_list_agents_by_project(store: Store) -> None:
    save(store, AGENT_A, project=1)
    save(store, AGENT_C, project=2)
    assert [a.id for a in store.list_agents(project=2)] == [AGENT_C]
    assert {a.id for a in store.list_agents()} == {AGENT_A, AGENT_C}


@pytest.mark.parametrize(
    "config",
    [
        {"model": "m", "api_key": "plain"},
        {"model": "m", "extra": {"headers": {"Authorization": "Bearer x"}}},
        {"model": "m", "OpenAI-API-Key": "x"},
        {"model": "m", "note": "sk-abcdefghijklmnopqrstuvwxyz"},
        {"model": "m", "fallbacks": [{"model": "n", "password": "x"}]},
    ],
)
def test_configs_holding_keys_are_refused(store: Store, config: dict[str, Any]) -> None:
    with pytest.raises(SecretInConfigError) as raised:
        save(store, config=config)
    assert "sk-abc" not in str(raised.value) and "Bearer" not in str(raised.value)
    assert store.list_agents() == []


def test_a_model_config_with_a_key_env_name_is_accepted(store: Store) -> None:
    config = ModelConfig(model="m", api_key_env="MY_KEY", max_tokens=5).normalised()
    assert save(store, config=config).config == config


# --- activations ----------------------------------------------------------------------------


def test_activation_replaces_per_project(store: Store) -> None:
    save(store, AGENT_A)
    save(store, AGENT_C)
    assert store.active_agent(1) is None
    store.activate(1, AGENT_A)
    store.activate(2, AGENT_A)
    assert store.activate(1, AGENT_C).id == AGENT_C
    assert store.active_agent(1).id == AGENT_C
    assert store.active_agent(2).id == AGENT_A
    with pytest.raises(NotFoundError):
        store.activate(1, "f" * 64)
    assert store.active_agent(1).id == AGENT_C


# --- jobs -----------------------------------------------------------------------------------


def test_job_life_cycle(fake_clock: FakeClock, store: Store, job_id: str) -> None:
    job = store.get_job(job_id)
    assert (job.status, job.total, job.done, job.created_at) == ("queued", 10, 0, T0)
    fake_clock.advance(1)
    assert store.set_status(job_id, "running").started_at == T0 + timedelta(seconds=1)
    fake_clock.advance(1)
    again = store.set_status(job_id, "running")
    assert again.started_at == T0 + timedelta(seconds=1)
    done = store.set_status(job_id, "done")
    assert (done.status, done.finished_at) == ("done", T0 + timedelta(seconds=2))
    with pytest.raises(InvalidTransitionError, match="done"):
        store.set_status(job_id, "running")


def test_a_cancelled_job_stays_cancelled(store: Store, job_id: str) -> None:
    store.set_status(job_id, "running")
    store.set_status(job_id, "cancelled", error="stopped by admin")
    for status in ("running", "done", "failed", "queued"):
        assert store.set_status(job_id, status).status == "cancelled"
    assert store.get_job(job_id).error == "stopped by admin"


def test_failed_job_can_be_retried(store: Store, job_id: str) -> None:
    store.set_status(job_id, "running")
    assert store.set_status(job_id, "failed", error="boom").error == "boom"
    retried = store.set_status(job_id, "queued")
    assert (retried.status, retried.error, retried.finished_at) == ("queued", None, None)


def test_job_input_errors(store: Store, job_id: str) -> None:
    with pytest.raises(StoreInputError, match="subset"):
        store.create_job(agent_id=AGENT_A, project=1, subset="some")
    with pytest.raises(NotFoundError):
        store.create_job(agent_id="e" * 64, project=1, subset="ids:1,2")
    with pytest.raises(StoreInputError, match="status"):
        store.set_status(job_id, "paused")
    with pytest.raises(NotFoundError):
        store.set_status("nope", "running")
    with pytest.raises(StoreInputError, match="unknown job counter"):
        store.add_counts(job_id, labelled=1)
    with pytest.raises(StoreInputError, match=">= 0"):
        store.add_counts(job_id, done=-1)
    with pytest.raises(NotFoundError):
        store.add_counts("nope", done=1)


def test_list_jobs_newest_first(fake_clock: FakeClock, store: Store, job_id: str) -> None:
    fake_clock.advance(5)
    newer = store.create_job(agent_id=AGENT_A, project=1, subset="view:5").id
    store.create_job(agent_id=AGENT_A, project=2, subset="unlabeled")
    assert [j.id for j in store.list_jobs(project=1)] == [newer, job_id]
    assert len(store.list_jobs()) == 3


def test_total_and_summary(store: Store, job_id: str) -> None:
    assert store.set_total(job_id, 42).total == 42
    assert store.save_summary(job_id, {"accuracy": 0.9, "bands": [1, 2]}).summary == {
        "accuracy": 0.9,
        "bands": [1, 2],
    }
    assert store.get_job(job_id).summary["bands"] == [1, 2]


def test_counters_are_atomic_under_threads(store: Store, job_id: str) -> None:
    def bump(_: int) -> None:
        for _ in range(50):
            store.add_counts(job_id, done=1, skipped=1, tokens_in=3, cost=0.5)

    run_threads(8, bump)
    job = store.get_job(job_id)
    assert (job.done, job.skipped, job.tokens_in, job.cost) == (400, 400, 1200, 200.0)


# --- items ----------------------------------------------------------------------------------


def test_record_item_never_overwrites(store: Store, job_id: str) -> None:
    assert store.record_item(
        job_id, 7, labels={"s": ["pos"]}, score=0.8, tokens_in=10, tokens_out=2, cost=0.01
    )
    assert not store.record_item(job_id, 7, labels={"s": ["neg"]}, score=0.1, tokens_in=10)
    item = store.get_item(job_id, 7)
    assert (item.labels, item.score, item.pushed, item.prediction_id) == (
        {"s": ["pos"]},
        0.8,
        False,
        None,
    )
    job = store.get_job(job_id)
    assert (job.done, job.labeled, job.tokens_in, job.tokens_out) == (1, 1, 10, 2)
    assert job.cost == pytest.approx(0.01)


def test_record_item_counts_by_error_class(store: Store, job_id: str) -> None:
    store.record_item(job_id, 1, error_class="format_error", raw_response="??")
    store.record_item(job_id, 2, error_class="api_error", api_error_kind="429")
    store.record_item(job_id, 3, error_class="empty_input")
    job = store.get_job(job_id)
    assert (job.done, job.labeled, job.format_error, job.api_error, job.empty_input) == (
        3,
        0,
        1,
        1,
        1,
    )
    with pytest.raises(StoreInputError, match="error class"):
        store.record_item(job_id, 4, error_class="timeout")
    with pytest.raises(StoreInputError, match="score"):
        store.record_item(job_id, 4, score=1.5)
    with pytest.raises(NotFoundError):
        store.record_item("nope", 4)
    assert store.get_job(job_id).done == 3


def test_record_item_exactly_once_under_threads(store: Store, job_id: str) -> None:
    keys = list(range(60))
    won = run_threads(8, lambda i: [k for k in keys if store.record_item(job_id, k, tokens_in=1)])
    winners = sorted(k for keys_won in won for k in keys_won)
    assert winners == keys
    job = store.get_job(job_id)
    assert (job.done, job.labeled, job.tokens_in) == (60, 60, 60)


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_record_item_exactly_once_across_processes(
    store: Store, job_id: str, database_url: str
) -> None:
    keys = list(range(150))
    won = run_processes(database_url, "record_item", job_id, keys)
    assert set(won["p0"]).isdisjoint(won["p1"])
    assert sorted(won["p0"] + won["p1"]) == keys
    job = store.get_job(job_id)
    assert (job.done, job.tokens_in) == (150, 150)
    for name in ("p0", "p1"):
        for key in won[name][:5]:
            assert store.get_item(job_id, key).labels == {"c": [name]}


def test_items_filters_and_pages(store: Store, job_id: str) -> None:
    for task, score in [(5, 0.9), (1, 0.2), (3, 0.5), (9, None)]:
        store.record_item(job_id, task, labels={"s": ["x"]}, score=score)
    store.record_item(job_id, 4, error_class="invalid_label", invalid_label="Neutral-ish")
    assert [i.task_id for i in store.items(job_id, page_size=2)] == [1, 3, 4, 5, 9]
    assert [i.task_id for i in store.items(job_id, outcome="labeled")] == [1, 3, 5, 9]
    assert [i.task_id for i in store.items(job_id, outcome="invalid_label")] == [4]
    assert [i.task_id for i in store.items(job_id, min_score=0.5)] == [3, 5]
    assert [i.task_id for i in store.items(job_id, max_score=0.5, page_size=1)] == [1, 3]
    store.mark_pushed(job_id, [3])
    assert [i.task_id for i in store.items(job_id, pushed=False, outcome="labeled")] == [1, 5, 9]
    with pytest.raises(StoreInputError):
        list(store.items(job_id, outcome="bogus"))


def test_push_bookkeeping(store: Store, job_id: str) -> None:
    for task in (3, 1, 2):
        store.record_item(job_id, task, labels={"s": ["x"]}, score=0.5)
    store.record_item(job_id, 4, error_class="api_error")
    assert [i.task_id for i in store.unpushed_items(job_id, limit=2)] == [1, 2]
    assert store.mark_pushed(job_id, [2, 1], [102, 101]) == 2
    assert store.mark_pushed(job_id, [1, 3]) == 2
    assert store.get_item(job_id, 1).prediction_id == 101  # kept when re-marked without ids
    assert store.get_item(job_id, 3).prediction_id is None
    assert store.unpushed_items(job_id) == []
    with pytest.raises(StoreInputError, match="prediction ids"):
        store.mark_pushed(job_id, [1, 2], [5])


def test_job_stats_against_hand_counts(store: Store, job_id: str) -> None:
    labeled = [  # (task, labels, score, tokens_in, tokens_out, latency)
        (1, {"sentiment": ["Positive"], "topics": ["Sports", "Politics"]}, 0.0, 10, 2, 1.0),
        (2, {"sentiment": ["Positive"], "topics": ["Sports"]}, 0.1, 10, 2, 2.0),
        (3, {"sentiment": ["Negative"], "topics": []}, 0.3, 10, 2, 3.0),
        (4, {"sentiment": ["Negative"], "topics": ["Politics"]}, 0.95, 10, 2, 4.0),
        (5, {"sentiment": ["Positive"], "topics": ["Sports"]}, 1.0, 10, 2, 5.0),
        (6, {"sentiment": ["Neutral"], "topics": []}, 0.2999, 10, 2, 6.0),
        (7, {"sentiment": ["Neutral"], "topics": []}, None, 10, 2, 7.0),
    ]
    for task, labels, score, t_in, t_out, latency in labeled:
        store.record_item(
            job_id,
            task,
            labels=labels,
            score=score,
            tokens_in=t_in,
            tokens_out=t_out,
            latency_s=latency,
            cost=0.25,
        )
    errors = [
        (10, "invalid_label", "Mixed", None),
        (11, "invalid_label", "Mixed", None),
        (12, "invalid_label", "Angry", None),
        (13, "api_error", None, "429"),
        (14, "api_error", None, "429"),
        (15, "api_error", None, "APITimeoutError"),
        (16, "api_error", None, None),
        (17, "format_error", None, None),
        (18, "context_overflow", None, None),
    ]
    for task, error, invalid, kind in errors:
        store.record_item(
            job_id, task, error_class=error, invalid_label=invalid, api_error_kind=kind, tokens_in=5
        )
    store.mark_pushed(job_id, [1, 2])

    stats = store.job_stats(job_id)
    assert stats.items == 16
    assert stats.outcomes == {
        "labeled": 7,
        "api_error": 4,
        "format_error": 1,
        "invalid_label": 3,
        "context_overflow": 1,
        "empty_input": 0,
        "span_not_found": 0,
    }
    assert stats.labels == {
        "sentiment": {"Positive": 3, "Negative": 2, "Neutral": 2},
        "topics": {"Sports": 3, "Politics": 2},
    }
    assert stats.score_histogram == (1, 1, 1, 1, 0, 0, 0, 0, 0, 2)
    assert stats.scored == 6
    assert stats.mean_score == pytest.approx((0.0 + 0.1 + 0.3 + 0.95 + 1.0 + 0.2999) / 6)
    assert stats.top_invalid_labels == [("Mixed", 2), ("Angry", 1)]
    assert stats.api_errors == {"429": 2, "APITimeoutError": 1, "unknown": 1}
    assert (stats.tokens_in, stats.tokens_out, stats.pushed) == (70 + 45, 14, 2)
    assert stats.cost == pytest.approx(7 * 0.25)
    assert stats.mean_latency_s == pytest.approx(4.0)
    with pytest.raises(NotFoundError):
        store.job_stats("nope")


def test_job_stats_of_an_empty_job(store: Store, job_id: str) -> None:
    stats = store.job_stats(job_id)
    assert (stats.items, stats.labels, stats.score_histogram, stats.mean_score) == (
        0,
        {},
        (0,) * 10,
        None,
    )
    assert sum(stats.outcomes.values()) == 0 and stats.cost == 0.0


# --- chunks ---------------------------------------------------------------------------------


def test_chunks_are_added_once(store: Store, job_id: str) -> None:
    assert store.add_chunks(job_id, [[1, 2], [3], [4, 5]]) == 3
    assert store.add_chunks(job_id, [[9], [9], [9], [6]]) == 1
    chunks = store.chunks(job_id)
    assert [(c.index, c.task_ids, c.status) for c in chunks] == [
        (0, [1, 2], "pending"),
        (1, [3], "pending"),
        (2, [4, 5], "pending"),
        (3, [6], "pending"),
    ]
    with pytest.raises(NotFoundError):
        store.add_chunks("nope", [[1]])


def test_claim_chunk_exactly_once_under_threads(store: Store, job_id: str) -> None:
    store.add_chunks(job_id, [[i] for i in range(20)])
    won = run_threads(8, lambda i: [c for c in range(20) if store.claim_chunk(job_id, c, f"w{i}")])
    assert sorted(c for claims in won for c in claims) == list(range(20))
    holders = {c.index: c.claimed_by for c in store.chunks(job_id)}
    for worker, claims in enumerate(won):
        assert all(holders[c] == f"w{worker}" for c in claims)


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_claim_chunk_exactly_once_across_processes(
    store: Store, job_id: str, database_url: str
) -> None:
    store.add_chunks(job_id, [[i] for i in range(60)])
    won = run_processes(database_url, "claim_chunk", job_id, list(range(60)))
    assert set(won["p0"]).isdisjoint(won["p1"])
    assert sorted(won["p0"] + won["p1"]) == list(range(60))
    assert all(c.attempts == 1 for c in store.chunks(job_id))


def test_chunk_claims_finish_release_and_stale_takeover(
    store: Store, job_id: str, fake_clock: FakeClock
) -> None:
    store.add_chunks(job_id, [[1], [2]])
    assert store.claim_chunk(job_id, 0, "a")
    assert not store.claim_chunk(job_id, 0, "b", stale_after_s=60)
    fake_clock.advance(61)
    assert store.claim_chunk(job_id, 0, "b", stale_after_s=60)
    assert not store.finish_chunk(job_id, 0, "a")
    assert store.finish_chunk(job_id, 0, "b")
    assert not store.claim_chunk(job_id, 0, "c", stale_after_s=0)
    assert store.claim_chunk(job_id, 1, "a") and store.release_chunk(job_id, 1, "a")
    assert store.claim_chunk(job_id, 1, "c")
    first, second = store.chunks(job_id)
    assert (first.status, first.attempts, first.claimed_by) == ("done", 2, "b")
    assert first.finished_at == T0 + timedelta(seconds=61)
    assert (second.status, second.attempts, second.claimed_by) == ("running", 2, "c")
    assert not store.claim_chunk(job_id, 7, "a")


# --- cache ----------------------------------------------------------------------------------


def test_cache_first_writer_wins_under_threads(store: Store) -> None:
    key = "c" * 64
    assert store.cache_get(key) is None
    stored = run_threads(8, lambda i: store.cache_put(key, {"content": f"answer {i}"}))
    assert stored.count(True) == 1
    assert store.cache_get(key) == {"content": f"answer {stored.index(True)}"}
    with pytest.raises(StoreInputError, match="cache key"):
        store.cache_put("short", {})


# --- verifications --------------------------------------------------------------------------


def test_verification_upsert_and_deletion(store: Store, job_id: str) -> None:
    def record(annotation: int, verdict: str, human: list[str], minutes: int, control: str = "s"):
        return store.record_verification(
            job_id=job_id,
            task_id=1,
            annotation_id=annotation,
            control=control,
            verdict=verdict,
            human_labels=human,
            agent_labels=["pos"],
            annotator="ann@example.com",
            annotated_at=T0 + timedelta(minutes=minutes),
        )

    first = record(10, "confirmed", ["pos"], 0)
    edited = record(10, "corrected", ["neg"], 5)
    assert edited.id == first.id
    assert (edited.verdict, edited.human_labels) == ("corrected", ["neg"])
    stale = record(10, "confirmed", ["pos"], 1)
    assert (stale.verdict, stale.annotated_at) == ("corrected", T0 + timedelta(minutes=5))
    record(10, "confirmed", ["x"], 0, control="topic")
    record(11, "confirmed", ["pos"], 0)
    assert [(v.annotation_id, v.control) for v in store.verifications(job_id)] == [
        (10, "s"),
        (10, "topic"),
        (11, "s"),
    ]
    assert store.delete_verifications(job_id, 1, keep_annotation_ids=[11]) == 2
    assert [v.annotation_id for v in store.verifications(job_id, task_id=1)] == [11]
    assert store.delete_verifications(job_id, 1, keep_annotation_ids=[]) == 1
    with pytest.raises(StoreInputError, match="verdict"):
        record(12, "maybe", [], 0)
    with pytest.raises(StoreInputError, match="timezone-aware"):
        store.record_verification(
            job_id=job_id,
            task_id=1,
            annotation_id=12,
            control="s",
            verdict="confirmed",
            human_labels=[],
            agent_labels=[],
            annotator="a",
            annotated_at=datetime(2026, 1, 1),
        )


# --- engine ---------------------------------------------------------------------------------


def _child_pool_state(store: Store, job: str, results: Any) -> None:
    # Private on purpose: the invariant is that a forked child starts with an empty pool.
    inherited = store._engine.pool.checkedin()
    results.put((inherited, store.record_item(job, 99)))


def test_forked_child_does_not_reuse_parent_connections(store: Store, job_id: str) -> None:
    store.record_item(job_id, 1)
    assert store._engine.pool.checkedin() >= 1
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_child_pool_state, args=(store, job_id, results))
    child.start()
    assert results.get(timeout=60) == (0, True)
    child.join(timeout=60)
    assert store.get_job(job_id).done == 2


@pytest.mark.parametrize(
    "url, message",
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://u@h/db", "unsupported database"),
        ("not a url", "cannot be parsed"),
        ("postgresql://u:s3cret-pw@host:notaport/db", "cannot be parsed"),
    ],
)
def test_bad_database_urls(url: str, message: str) -> None:
    with pytest.raises(StoreInputError, match=message) as refused:
        Store(url)
    assert "s3cret" not in str(refused.value)  # a password in DATABASE_URL is never repeated


def test_bare_postgresql_urls_use_psycopg(database_url: str) -> None:
    bare = database_url.replace("postgresql+psycopg://", "postgresql://")
    store = Store(bare)
    try:
        store.create_all()
        assert store.dialect in ("sqlite", "postgresql")
        assert "+psycopg" in store.url or store.dialect == "sqlite"
        assert store.list_agents() == []
    finally:
        store.dispose()


@pytest.fixture
def stores(database_url: str) -> Iterator[list[Store]]:
    """Two independent stores (two engines) on one database, as two services would have."""
    instances = [Store(database_url) for _ in range(2)]
    instances[0].create_all()
    yield instances
    for instance in instances:
        instance.dispose()


def test_two_engines_see_each_others_writes(stores: list[Store]) -> None:
    left, right = stores
    save(left)
    job = right.create_job(agent_id=AGENT_A, project=1, subset="ids:1,2")
    assert left.record_item(job.id, 1) and not right.record_item(job.id, 1)
    assert left.get_job(job.id).done == right.get_job(job.id).done == 1


def test_concurrent_read_then_write_transactions_do_not_fail(store: Store) -> None:
    save(store)
    created = run_threads(
        8,
        lambda i: [
            store.create_job(agent_id=AGENT_A, project=i, subset="all").id for _ in range(15)
        ],
    )
    assert len({job for jobs in created for job in jobs}) == 120
    assert len(store.list_jobs()) == 120


def _create_schema(url: str, barrier: Any) -> None:
    barrier.wait()
    store = Store(url)
    store.create_all()
    store.dispose()


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_schema_creation_is_safe_from_processes_starting_together(database_url: str) -> None:
    # A service and its workers start at once against an empty database: all must come up.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(6)
    processes = [context.Process(target=_create_schema, args=(database_url, barrier)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * 6
    store = Store(database_url)
    assert store.list_agents() == []
    store.dispose()


def test_facts_audits_and_summary_written_together_lose_nothing(store: Store, job_id: str) -> None:
    # Each is its own column or row, written blind: no writer can overwrite another's data.
    writers = [
        lambda: store.set_facts(job_id, planned=True),
        lambda: store.set_facts(job_id, project_model_version_set=True),
        lambda: store.save_summary(job_id, {"final": True, "total": 3}),
        *(lambda i=i: store.save_audit(job_id, title=f"audit {i}", view_id=i, threshold=0.5, seed=i, size=1,
                                       task_ids=[i]) for i in range(6)),
    ]
    threads = [threading.Thread(target=write) for write in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    job = store.get_job(job_id)
    assert job.planned and job.project_model_version_set and job.summary == {"final": True, "total": 3}
    assert sorted(audit.title for audit in store.audits(job_id)) == [f"audit {i}" for i in range(6)]


def test_facts_start_false_and_need_a_job(store: Store, job_id: str) -> None:
    job = store.get_job(job_id)
    assert (job.planned, job.project_model_version_set, job.summary) == (False, False, None)
    assert store.set_facts(job_id, planned=True).planned is True
    assert store.get_job(job_id).project_model_version_set is False
    with pytest.raises(NotFoundError):
        store.set_facts("no-such-job", planned=True)
    with pytest.raises(StoreInputError, match="at least one fact"):
        store.set_facts(job_id)


def test_an_audit_of_the_same_title_replaces_the_old_one_and_counts_as_newest(
        store: Store, job_id: str, fake_clock: FakeClock) -> None:
    store.save_audit(job_id, title="a", view_id=1, threshold=0.8, seed=1, size=2, task_ids=[5, 6])
    fake_clock.advance(1)
    store.save_audit(job_id, title="b", view_id=2, threshold=0.8, seed=2, size=1, task_ids=[7])
    fake_clock.advance(1)
    again = store.save_audit(job_id, title="a", view_id=1, threshold=0.9, seed=3, size=1, task_ids=[8])
    audits = store.audits(job_id)
    assert [(a.title, a.threshold, a.seed, a.task_ids) for a in audits] == [("b", 0.8, 2, [7]), ("a", 0.9, 3, [8])]
    assert audits[-1] == again
    assert store.audits("no-such-job") == []


@pytest.mark.parametrize("field,value,message", [
    ("title", "x" * 501, "1 to 500 characters"),
    ("title", " ", "1 to 500 characters"),
    ("seed", 2**64, "fits in 64 bits"),
    ("view_id", -(2**63) - 1, "fits in 64 bits"),
    ("threshold", 1.5, r"within \[0, 1\]"),
])
def test_bad_audits_are_refused_by_name(store: Store, job_id: str, field: str, value: Any, message: str) -> None:
    audit = {"title": "a", "view_id": 1, "threshold": 0.5, "seed": 1, "size": 1, "task_ids": [1], field: value}
    with pytest.raises(StoreInputError, match=message):
        store.save_audit(job_id, **audit)
    with pytest.raises(NotFoundError):
        store.save_audit("no-such-job", **{**audit, field: 1 if field != "title" else "a"})
    assert store.audits(job_id) == []
