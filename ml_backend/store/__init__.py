"""The persistent state of lsagent: agents, jobs, items, chunks, cache and verifications.

`Store(url)` works on a SQLite file (embedded default) or PostgreSQL (`postgresql+psycopg://`,
scale-out). It returns frozen records, never ORM objects, and keeps every invariant in the
database (keys, unique constraints, atomic UPDATEs), so it is safe from many threads and from
workers in other processes or on other machines.
"""

from .agents import AgentOps
from .audits import AuditOps
from .cache import CacheOps
from .chunks import ChunkOps
from .errors import (
    AmbiguousReferenceError,
    InvalidTransitionError,
    NotFoundError,
    SecretInConfigError,
    StoreError,
    StoreInputError,
)
from .items import ItemOps
from .jobs import ADDABLE, STATUSES, TRANSITIONS, JobOps
from .records import AgentRecord, AuditRecord, ChunkRecord, ItemRecord, JobRecord, JobStats, VerificationRecord
from .schema import COUNTERS
from .stats import StatsOps
from .verifications import VERDICTS, VerificationOps


class Store(AgentOps, JobOps, ItemOps, StatsOps, ChunkOps, CacheOps, VerificationOps, AuditOps):
    """The repository: one engine per instance, one short session per call."""


__all__ = [
    "ADDABLE",
    "COUNTERS",
    "STATUSES",
    "TRANSITIONS",
    "VERDICTS",
    "AgentRecord",
    "AmbiguousReferenceError",
    "AuditRecord",
    "ChunkRecord",
    "InvalidTransitionError",
    "ItemRecord",
    "JobRecord",
    "JobStats",
    "NotFoundError",
    "SecretInConfigError",
    "Store",
    "StoreError",
    "StoreInputError",
    "VerificationRecord",
]
