"""The report a finished job keeps: what happened to its tasks, what it cost, how fast it ran.

Counts come from the job's counters (moved atomically with every item), the distributions from
the store's aggregates over the items; only the calls' in-flight profile reads two numbers per
item, a page at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.jobs.inflight import in_flight
from ml_backend.jobs.pricing import price_for
from ml_backend.jobs.signalcost import counted
from ml_backend.store import COUNTERS, AgentRecord, JobRecord, Store

BINS = 10


def build_summary(store: Store, job: JobRecord, agent: AgentRecord, *, now: datetime | None = None) -> dict[str, Any]:
    """The summary of ``job`` as plain JSON data."""
    stats = store.job_stats(job.id)
    price = price_for(agent.config["model"])
    end = job.finished_at or now or datetime.now(UTC)
    start = job.started_at or job.created_at
    wall = max((end - start).total_seconds(), 0.0)
    return {
        "final": True,
        "model_version": agent.model_version,
        "model": agent.config["model"],
        "total": job.total,
        "counts": {name: getattr(job, name) for name in COUNTERS},
        "labels": stats.labels,
        "confidence_histogram": histogram(stats.score_histogram),
        "scored": stats.scored,
        "mean_confidence": None if stats.mean_score is None else round(stats.mean_score, 4),
        "invalid_labels": [{"label": label, "count": count} for label, count in stats.top_invalid_labels],
        "api_errors": stats.api_errors,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "cost": round(job.cost, 6),
        "currency": "USD",
        "price_source": price.source,
        "predictions_written": stats.pushed,
        "mean_latency_s": None if stats.mean_latency_s is None else round(stats.mean_latency_s, 4),
        "mean_queue_s": None if stats.mean_queue_s is None else round(stats.mean_queue_s, 4),
        "wall_time_s": round(wall, 3),
        "throughput_per_s": round(job.done / wall, 3) if wall > 0 else None,
        "in_flight": in_flight(store.call_spans(job.id), ModelConfig(**agent.config).concurrency()),
        "signals": counted(store, job, agent.config.get("confidence", "label")),
    }


def histogram(counts: tuple[int, ...] | list[int]) -> list[dict[str, Any]]:
    """Ten bins [i/10, (i+1)/10); the last one holds 1.0."""
    return [{"from": index / BINS, "to": (index + 1) / BINS, "count": count} for index, count in enumerate(counts)]
