"""Recording items in batches, on each store: an item the store refuses fails alone (kept without
its raw text), never the batch, so never its chunk."""

from __future__ import annotations

from typing import Any

from ml_backend.engine.annotate import Outcome
from ml_backend.jobs import pricing
from ml_backend.jobs.items import item_fields
from ml_backend.jobs.recorder import Recorder
from ml_backend.store import Store
from tests.test_store import AGENT_A, save

RESULTS = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}]


def _fields(task_id: int, **meta: Any) -> dict[str, Any]:
    outcome = Outcome(task_id, labels={"sentiment": ["Positive"]}, confidence={"sentiment": 0.9}, score=0.9,
                      raw_response='{"sentiment": "Positive"}', results=RESULTS, meta=meta)
    return item_fields(outcome, pricing.price_for("gpt-4o-mini", env={}))


def test_an_item_the_store_refuses_fails_alone_and_is_kept_without_its_raw_text(store: Store,
                                                                             database_url: str) -> None:
    save(store)
    job = store.create_job(agent_id=AGENT_A, project=1, subset="all", total=3).id
    # PostgreSQL's JSONB takes no NaN; SQLite's JSON text does.
    fields = {1: _fields(1, method="logprobs"), 2: _fields(2, method="logprobs", mean=float("nan")),
              3: _fields(3, method="logprobs")}
    recorder = Recorder(store, max_batch=10, max_delay_s=0.05)
    done: dict[int, bool] = {}
    for task_id, item in fields.items():
        recorder.add(job, task_id, item, lambda ok, task_id=task_id: done.__setitem__(task_id, ok))
    recorder.close()
    assert done == {1: True, 2: True, 3: True}
    items = {item.task_id: item for item in store.items(job)}
    assert sorted(items) == [1, 2, 3] and all(item.labels == {"sentiment": ["Positive"]} for item in items.values())
    assert items[1].raw_response == items[3].raw_response == '{"sentiment": "Positive"}'
    if database_url.startswith("postgresql"):
        assert items[2].raw_response is None and "could not be stored" in items[2].error_detail
        assert items[2].meta["results"] == RESULTS  # what Label Studio gets is kept
