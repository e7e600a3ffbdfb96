"""Failures on purpose: seeded random faults, an rpm limit, and the counters tests read back.

Random faults come from one seeded RNG advanced once per request, so a retry of the same request
draws again and can succeed, while a run with the same seed and the same request order fails the
same way. Directives in a task's text (``[[sim:500]]``...) fail that task every time.
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from typing import Any

from ml_backend.simulator.options import SimulatorOptions

MINUTE_S = 60.0
TRANSPORT_FAULTS = ("429", "500", "timeout", "drop")
CONTENT_FAULTS = ("malformed", "nul", "offlabel", "two-labels")
_RATES = (("429", "fault_429"), ("500", "fault_500"), ("timeout", "fault_timeout"), ("drop", "fault_drop"),
          ("malformed", "fault_malformed"), ("offlabel", "fault_offlabel"))


class FaultDice:
    """The seeded per-request draw of one fault (or none) by the configured rates."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def draw(self, options: SimulatorOptions) -> tuple[str | None, float]:
        """(fault name or None, a second uniform number for the fault's details, e.g. Retry-After)."""
        with self._lock:
            roll, detail = self._rng.random(), self._rng.random()
        cumulative = 0.0
        for fault, field in _RATES:
            cumulative += getattr(options, field)
            if roll < cumulative:
                return fault, detail
        return None, detail


class RateWindow:
    """A strict sliding window: the requests admitted in the last ``window_s`` seconds; beyond
    ``rpm`` pro rata (``rpm * window_s / 60``) the caller is told when a slot frees up.

    A provider may count its per-minute limit over shorter windows than a minute; a short window
    also lets a test cross many window boundaries in a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: collections.deque[float] = collections.deque()

    def clear(self) -> None:
        with self._lock:
            self._times.clear()

    @staticmethod
    def capacity(rpm: int, window_s: float) -> int:
        """Requests admitted per window (0: no limit)."""
        return max(1, math.floor(rpm * window_s / MINUTE_S + 1e-9)) if rpm > 0 else 0

    def admit(self, now: float, rpm: int, window_s: float = MINUTE_S) -> float | None:
        """None if admitted (and counted), else the seconds until a slot frees up."""
        limit = self.capacity(rpm, window_s)
        with self._lock:
            self._forget(now, window_s)
            if limit == 0 or len(self._times) < limit:
                self._times.append(now)
                return None
            return max(self._times[len(self._times) - limit] + window_s - now, 0.001)

    def used(self, now: float, window_s: float = MINUTE_S) -> int:
        with self._lock:
            return sum(1 for moment in self._times if moment > now - window_s)

    def _forget(self, now: float, window_s: float) -> None:
        while self._times and self._times[0] <= now - window_s:
            self._times.popleft()


class Stats:
    """Counters of chat completion requests, read by tests through ``GET /_sim/stats``.

    ``by_status`` keys are HTTP status codes as strings, plus ``"drop"`` (closed without an
    answer) and ``"timeout"`` (counted when the sleep starts; its late answer is not counted).

    ``in_flight`` is the number of chat requests the server holds (from their body read to their
    answer sent): ``max``, and ``mean`` as the time average from the first request's arrival to
    the last answer (``busy_s``), which is how close a client keeps to its concurrency; ``last_at``
    is the wall time of the last answer (a benchmark measures a job's tail from it).
    ``embeddings`` counts ``/v1/embeddings`` requests answered and the texts they embedded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._completions = 0
            self._by_status: collections.Counter[str] = collections.Counter()
            self._prompt_tokens = 0
            self._completion_tokens = 0
            self._last_request: Any = None
            # requests held across a reset still count (they leave later), from the reset on
            self._in_flight: int = getattr(self, "_in_flight", 0)
            self._max_in_flight = self._in_flight
            self._area = 0.0  # in-flight x seconds since the first request
            self._first: float | None = time.monotonic() if self._in_flight else None
            self._changed = self._first or 0.0
            self._last_at: float | None = None
            self._embeddings = {"requests": 0, "texts": 0}

    def enter(self) -> None:
        """A chat request arrived (call ``leave`` once it is answered)."""
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = self._changed = now
            self._area += self._in_flight * (now - self._changed)
            self._changed = now
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._area += self._in_flight * (now - self._changed)
            self._changed = now
            self._in_flight -= 1
            self._last_at = time.time()

    def received(self, body: Any) -> None:
        with self._lock:
            self._requests += 1
            self._last_request = body

    def outcome(self, status: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        with self._lock:
            self._by_status[status] += 1
            if status == "200":
                self._completions += 1
                self._prompt_tokens += prompt_tokens
                self._completion_tokens += completion_tokens

    def embedded(self, texts: int) -> None:
        with self._lock:
            self._embeddings["requests"] += 1
            self._embeddings["texts"] += texts

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self._requests, "completions": self._completions, "by_status": dict(self._by_status),
                    "prompt_tokens": self._prompt_tokens, "completion_tokens": self._completion_tokens,
                    "last_request": self._last_request, "in_flight": self._in_flight_stats(),
                    "embeddings": dict(self._embeddings)}

    def _in_flight_stats(self) -> dict[str, Any]:
        """Called with the lock held."""
        busy = 0.0 if self._first is None else self._changed - self._first
        area = self._area
        if self._in_flight:  # up to now for the requests still held
            now = time.monotonic()
            area += self._in_flight * (now - self._changed)
            busy = now - (self._first or now)
        return {"now": self._in_flight, "max": self._max_in_flight, "mean": round(area / busy, 3) if busy else 0.0,
                "busy_s": round(busy, 3), "last_at": self._last_at}
