"""The parts of the job machinery that need no server: subsets, prices, item fields, leases."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from ml_backend.engine.annotate import Outcome
from ml_backend.jobs import pricing
from ml_backend.jobs.inflight import in_flight
from ml_backend.jobs.items import api_error_kind, item_fields
from ml_backend.jobs.locks import FileLeases, LocalHeartbeats
from ml_backend.jobs.options import JobOptions
from ml_backend.jobs.subset import Subset, SubsetError, parse_subset
from ml_backend.store import StoreInputError


@pytest.mark.parametrize(("text", "expected"), [
    (None, Subset("all")),
    ("", Subset("all")),
    (" ALL ", Subset("all")),
    ("unlabeled", Subset("unlabeled")),
    (" Unverified ", Subset("unlabeled")),
    ("ids:3,1,2,3", Subset("ids", ids=(1, 2, 3))),
    ("ids: 7 , 5", Subset("ids", ids=(5, 7))),
    ("view:12", Subset("view", view=12)),
    ("View: 4", Subset("view", view=4)),
])
def test_subsets_parse_to_a_canonical_form(text: str | None, expected: Subset) -> None:
    assert parse_subset(text) == expected


def test_subset_text_and_selection() -> None:
    assert parse_subset("ids: 3, 1").text == "ids:1,3"
    assert parse_subset("ids:3,1").selection() == {"ids": [1, 3]}
    assert parse_subset("view:9").selection() == {"view": 9}
    assert parse_subset("unlabeled").selection() == {"unlabeled": True}
    assert parse_subset("all").selection() == {"unlabeled": False}


@pytest.mark.parametrize(("text", "message"), [
    ("some", "unknown subset 'some': expected 'all', 'unlabeled' (or 'unverified'), 'ids:1,2,3' or 'view:<view id>'"),
    ("ids:", "subset 'ids:' names no task: give task ids like 'ids:1,2,3'"),
    ("ids:1,,2", "subset 'ids:1,,2' has an empty id: separate ids with single commas"),
    ("ids:1,x", "task id must be a positive integer, got 'x'"),
    ("ids:0", "task id must be a positive integer, got '0'"),
    ("ids:-4", "task id must be a positive integer, got '-4'"),
    ("view:", "view id must be a positive integer, got ''"),
    ("view:abc", "view id must be a positive integer, got 'abc'"),
    (f"ids:{2**64}", f"task id must be below 2**63, got '{2**64}'"),
    ("labeled", "unknown subset 'labeled'"),
])
def test_bad_subsets_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(SubsetError) as error:
        parse_subset(text)
    assert message in str(error.value)


def test_too_many_ids_points_to_a_view() -> None:
    with pytest.raises(SubsetError, match="use 'view:<view id>'"):
        parse_subset("ids:" + ",".join(str(1_000_000 + n) for n in range(400)))


def test_subset_must_be_text() -> None:
    with pytest.raises(SubsetError, match="must be a string"):
        parse_subset(12)  # type: ignore[arg-type]


# --- prices -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "entry"), [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4", "gpt-4"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ("gpt-4.1-nano", "gpt-4.1-nano"),
    ("sim-small", "sim"),
])
def test_builtin_prices_match_the_longest_entry_at_a_word_boundary(model: str, entry: str) -> None:
    price = pricing.price_for(model, env={})
    assert (price.input_per_1m, price.output_per_1m) == pricing.BUILTIN[entry]
    assert f"entry {entry!r}" in price.source and price.known


def test_gpt4_does_not_claim_other_families_and_unknown_costs_nothing() -> None:
    assert pricing.price_for("gpt-4o", env={}).input_per_1m == 2.50
    unknown = pricing.price_for("llama-3-8b", env={})
    assert not unknown.known and unknown.cost(10**6, 10**6) == 0.0
    assert "unknown model 'llama-3-8b'" in unknown.source and pricing.ENV in unknown.source


def test_cost_is_per_million_tokens() -> None:
    price = pricing.price_for("gpt-4o-mini", env={})
    assert price.cost(2_000_000, 500_000) == pytest.approx(2 * 0.15 + 0.5 * 0.60)


def test_price_file_overrides_the_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"gpt-4o": {"input": 1.0, "output": 2.0}, "llama-3": {"input": 0.2, "output": 0.4}}))
    env = {pricing.ENV: str(path)}
    assert pricing.price_for("gpt-4o-2024-08-06", env=env).cost(1_000_000, 1_000_000) == pytest.approx(3.0)
    llama = pricing.price_for("llama-3-70b", env=env)
    assert llama.known and str(path) in llama.source
    assert pricing.price_for("gpt-4o-mini", env=env).input_per_1m == 0.15  # not in the file: the table


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold an object"),
    ('{"m": {"input": 1}}', "entry 'm' must be"),
    ('{"m": {"input": -1, "output": 1}}', "'m' input price must be a number >= 0, got -1"),
    ('{"m": {"input": "1", "output": 1}}', "'m' input price must be a number >= 0, got '1'"),
])
def test_bad_price_files_are_refused_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(pricing.PricingError, match=message.replace("(", r"\(").replace("[", r"\[")):
        pricing.price_for("m", env={pricing.ENV: str(path)})


def test_missing_price_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(pricing.PricingError, match="cannot be read"):
        pricing.price_for("gpt-4o", env={pricing.ENV: str(tmp_path / "nope.json")})


# --- items ----------------------------------------------------------------------------------------

def test_in_flight_counts_overlapping_calls_and_averages_over_their_span() -> None:
    # three calls: [0, 2], [1, 3] and [3, 4]; two open at once at most (the third starts as one ends)
    assert in_flight([(100.0, 2.0), (101.0, 2.0), (103.0, 1.0)], 4) == {
        "peak": 2, "mean": 1.25, "limit": 4, "span_s": 4.0, "last_answer_at": 104.0}
    assert in_flight([], 4) is None


def test_item_fields_price_the_outcome_and_keep_the_results() -> None:
    results = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}]
    outcome = Outcome(7, labels={"sentiment": ["Positive"]}, confidence={"sentiment": 0.9}, score=0.9,
                      tokens_in=1000, tokens_out=10, attempts=2, results=results, meta={"method": "logprobs"},
                      sent_at=1796000000.5)
    fields = item_fields(outcome, pricing.price_for("gpt-4o-mini", env={}))
    assert fields["cost"] == pytest.approx((1000 * 0.15 + 10 * 0.60) / 1e6)
    assert fields["meta"] == {"method": "logprobs", "results": results, "cached": False, "queue_s": 0.0,
                              "sent_at": 1796000000.5}
    assert fields["error_class"] is None and fields["invalid_label"] is None and fields["api_error_kind"] is None


def test_failed_outcomes_name_their_invalid_label_and_error_class() -> None:
    price = pricing.price_for("sim-small", env={})
    invalid = item_fields(Outcome(1, error_class="invalid_label", meta={"invalid": ["Mixed"]}), price)
    assert invalid["invalid_label"] == "Mixed" and invalid["error_class"] == "invalid_label"
    failed = item_fields(Outcome(2, error_class="api_error", error_detail="RateLimitError: Error code: 429"), price)
    assert failed["api_error_kind"] == "RateLimitError"
    assert api_error_kind("no class here: x") == "unknown" and api_error_kind(None) == "unknown"


# --- leases ---------------------------------------------------------------------------------------

def _try_lease(directory: str, answers: multiprocessing.Queue[bool]) -> None:
    answers.put(FileLeases(Path(directory)).try_acquire("job:x", "other", 10))


def test_file_leases_exclude_other_processes_until_released(tmp_path: Path) -> None:
    leases = FileLeases(tmp_path)
    assert leases.try_acquire("job:x", "me", 10)
    assert not FileLeases(tmp_path).try_acquire("job:x", "you", 10)
    answers: multiprocessing.Queue[bool] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_try_lease, args=(str(tmp_path), answers))
    process.start()
    process.join(10)
    assert answers.get(timeout=5) is False
    assert leases.renew("job:x", "me", 10)
    leases.release("job:x", "me")
    assert not leases.renew("job:x", "me", 10)
    assert FileLeases(tmp_path).try_acquire("job:x", "you", 10)


def test_local_heartbeats_expire_and_only_the_owner_forgets() -> None:
    beats = LocalHeartbeats()
    beats.beat(["chunk:j:0"], "a", 60)
    beats.forget("chunk:j:0", "b")
    assert beats.alive("chunk:j:0")
    beats.forget("chunk:j:0", "a")
    assert not beats.alive("chunk:j:0")
    beats.beat(["chunk:j:1"], "a", 0.0)
    assert not beats.alive("chunk:j:1")


def test_job_options_from_env_are_checked() -> None:
    options = JobOptions.from_env({"LSAGENT_QUEUE": "q-1", "LSAGENT_LEASE_S": "6"})
    assert options.queue == "q-1" and options.lease_s == 6.0 and options.heartbeat_s == 2.0
    with pytest.raises(ValueError, match="LSAGENT_LEASE_S must be a number"):
        JobOptions.from_env({"LSAGENT_LEASE_S": "soon"})
    with pytest.raises(ValueError, match="LSAGENT_QUEUE must be"):
        JobOptions.from_env({"LSAGENT_QUEUE": "a queue"})


def test_a_deployment_has_its_own_queue_unless_told_otherwise() -> None:
    """Two deployments sharing a Redis must not take each other's chunks: the queue is named
    after the key prefix by default."""
    assert JobOptions.from_env({}).queue == "lsagent"
    assert JobOptions.from_env({"LSAGENT_KEY_PREFIX": "staging"}).queue == "staging"
    assert JobOptions.from_env({"LSAGENT_KEY_PREFIX": "staging", "LSAGENT_QUEUE": "shared"}).queue == "shared"


# --- batched items (Store.record_items, added for the job runner) ----------------------------------

def test_record_items_counts_each_new_item_once(store: Any) -> None:
    agent_id = "c0ffee00" + "0" * 56
    store.save_agent(id=agent_id, name="a", project=1, label_signature="s", label_config="<View/>",
                     config={"model": "sim-small"}, template_source="t", instructions="i", model_version="a@c0ffee00")
    job = store.create_job(agent_id=agent_id, project=1, subset="all")
    first = [
        {"task_id": 1, "labels": {"c": ["A"]}, "score": 0.9, "tokens_in": 10, "tokens_out": 2, "cost": 0.5},
        {"task_id": 2, "error_class": "invalid_label", "invalid_label": "Z", "tokens_in": 7, "tokens_out": 1},
    ]
    assert store.record_items(job.id, first) == [1, 2]
    again = [{"task_id": 2, "labels": {"c": ["B"]}}, {"task_id": 3, "error_class": "api_error", "attempts": 6}]
    assert store.record_items(job.id, again) == [3]
    assert store.record_items(job.id, []) == []
    job = store.get_job(job.id)
    assert (job.done, job.labeled, job.invalid_label, job.api_error) == (3, 1, 1, 1)
    assert (job.tokens_in, job.tokens_out, job.cost) == (17, 3, 0.5)
    assert store.get_item(job.id, 2).error_class == "invalid_label"  # the first outcome stays
    with pytest.raises(StoreInputError, match="names a task twice"):
        store.record_items(job.id, [{"task_id": 9}, {"task_id": 9}])
    with pytest.raises(StoreInputError, match="unknown error class"):
        store.record_items(job.id, [{"task_id": 9, "error_class": "oops"}])
    assert store.get_job(job.id).done == 3
