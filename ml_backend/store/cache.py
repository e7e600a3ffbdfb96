"""Response cache: key = the caller's hash of (agent id, rendered prompt). Re-running a job, or
running it again on another worker, reads the answer back instead of paying for it twice."""

from __future__ import annotations

from typing import Any

from . import clock, validate
from .base import StoreBase
from .errors import StoreInputError
from .schema import CacheEntry


class CacheOps(StoreBase):
    def cache_get(self, key: str) -> Any | None:
        """The cached response (plain JSON data), or None."""
        validate.hex64(key, "cache key")
        with self._read() as session:
            row = session.get(CacheEntry, key)
            return row.response if row is not None else None

    def cache_put(self, key: str, response: Any) -> bool:
        """Store `response` unless the key is already cached (first writer wins, races
        included). Returns whether this call stored it."""
        validate.hex64(key, "cache key")
        if response is None:
            raise StoreInputError("a cached response must not be None")
        values = {"key": key, "response": response, "created_at": clock.utcnow()}
        statement = (
            self._insert(CacheEntry)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(CacheEntry.key)
        )
        with self._write() as session:
            return session.execute(statement).first() is not None
