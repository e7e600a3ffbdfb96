"""How many LLM calls a job had in flight: what tells a user whether the job kept the agent's
``max_concurrency`` busy, or something else (the service's own work, Label Studio, the rate limit)
held it back.

Computed from each answered call's start and duration as stored with its item, so it covers
every process that ran the job's chunks: ``peak`` is the most calls open at one instant, ``mean``
the time average over the span from the first call's start to the last call's answer (Little's
law: the sum of the calls' durations over that span), ``limit`` the agent's ``max_concurrency``
they are measured against, ``last_answer_at`` the wall time of the last answer (the job's tail is
measured from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def in_flight(spans: Sequence[tuple[float, float]], limit: int) -> dict[str, Any] | None:
    """``spans``: (start, duration) in seconds of every answered call; None without any."""
    if not spans:
        return None
    events = sorted([(start, 1) for start, _ in spans] + [(start + duration, -1) for start, duration in spans],
                    key=lambda event: (event[0], event[1]))  # an answer before a start at the same instant
    current = peak = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    first, last = events[0][0], events[-1][0]
    busy = last - first
    mean = sum(duration for _, duration in spans) / busy if busy > 0 else float(peak)
    return {"peak": peak, "mean": round(mean, 2), "limit": limit, "span_s": round(busy, 3),
            "last_answer_at": round(last, 3)}
