"""Response cache: key = the caller's hash of (agent id, rendered prompt). Re-running a job, or
running it again on another worker, reads the answer back instead of paying for it twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import clock, validate
from .base import StoreBase
from .errors import StoreInputError
from .schema import CacheEntry

_LOOKUP_BATCH = 500


class CacheOps(StoreBase):
    def cache_get(self, key: str) -> Any | None:
        """The cached response (plain JSON data), or None."""
        validate.hex64(key, "cache key")
        with self._read() as session:
            row = session.get(CacheEntry, key)
            return row.response if row is not None else None

    def cache_get_many(self, keys: list[str]) -> dict[str, Any]:
        """The cached responses of those keys that have one, in one query per 500 keys (a
        /predict batch of 200,000 cached tasks must not make 200,000 round trips)."""
        for key in keys:
            validate.hex64(key, "cache key")
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._read() as session:
            for start in range(0, len(unique), _LOOKUP_BATCH):
                chunk = unique[start:start + _LOOKUP_BATCH]
                rows = session.execute(select(CacheEntry.key, CacheEntry.response).where(CacheEntry.key.in_(chunk)))
                found.update((key, response) for key, response in rows)
        return found

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
