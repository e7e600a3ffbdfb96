"""Knobs of the job machinery, read from the environment by the service and by every worker
(they must agree on the queue name and the key prefix to work on the same jobs).

Every Redis key of a deployment carries its key prefix (leases, heartbeats, rate limits, RQ job
ids), and the queue is named after the prefix unless ``LSAGENT_QUEUE`` says otherwise, so two
deployments sharing a Redis share neither a budget nor a queue."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ml_backend.environment import name, number


@dataclass(frozen=True)
class JobOptions:
    """``lease_s``: a chunk whose worker has not sent a heartbeat for this long is taken back
    (RQ cannot tell a SIGKILLed worker in time); ``poll_s``: how often a coordinator looks at
    its job; ``push_batch``: predictions per bulk import; ``push_interval_s``: how often finished
    predictions are written (fewer, larger requests); ``push_backoff_max_s``: the longest
    wait between two tries while Label Studio is unreachable; ``plan_ahead``: chunks read from
    Label Studio and waiting to be claimed, at most (enough to keep every worker busy, few enough
    that a huge subset never sits in memory or in Redis); ``chunk_size``: tasks per chunk, read from
Label Studio as one page."""

    queue: str = "lsagent"
    key_prefix: str = "lsagent"
    lease_s: float = 15.0
    poll_s: float = 0.5
    push_batch: int = 500
    push_interval_s: float = 0.5
    push_backoff_max_s: float = 30.0
    max_chunk_attempts: int = 5
    plan_ahead: int = 8
    janitor_s: float = 10.0
    drain_s: float = 120.0
    chunk_size: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JobOptions:
        env = os.environ if env is None else env
        key_prefix = name(env, "LSAGENT_KEY_PREFIX", cls.key_prefix)
        return cls(
            queue=name(env, "LSAGENT_QUEUE", key_prefix),
            key_prefix=key_prefix,
            lease_s=number(env, "LSAGENT_LEASE_S", cls.lease_s, 1.0),
            poll_s=number(env, "LSAGENT_POLL_S", cls.poll_s, 0.05),
            push_batch=number(env, "LSAGENT_PUSH_BATCH", cls.push_batch, 1),
            push_interval_s=number(env, "LSAGENT_PUSH_INTERVAL_S", cls.push_interval_s, 0.05),
            push_backoff_max_s=number(env, "LSAGENT_PUSH_BACKOFF_MAX_S", cls.push_backoff_max_s, 0.1),
            max_chunk_attempts=number(env, "LSAGENT_MAX_CHUNK_ATTEMPTS", cls.max_chunk_attempts, 1),
            plan_ahead=number(env, "LSAGENT_PLAN_AHEAD", cls.plan_ahead, 1),
            chunk_size=number(env, "LSAGENT_CHUNK_SIZE", cls.chunk_size, 1),
        )

    @property
    def heartbeat_s(self) -> float:
        """Three heartbeats per lease, so one late beat never loses a live chunk."""
        return self.lease_s / 3
