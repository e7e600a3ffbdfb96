"""Client-side pacing of LLM calls to a provider's requests/minute and tokens/minute limits.

Why pace on the client at all: a provider that is pushed past its limits answers 429 and every
rejected call still costs a round trip and a backoff. Both limiters here use GCRA (the generic
cell rate algorithm, a token bucket kept as one "theoretical arrival time" per limit) with a
small burst, so calls are spread evenly over the minute instead of firing a whole minute's
budget at once. The steady rate is lowered by the burst and by a margin so that a provider
counting over a sliding window never sees more than its limit, even when requests reach it a
little later or earlier than they were scheduled (see `Pace`). Lateness is a matter of time, not
of the window's length (a busy machine wakes a thread some hundred milliseconds late), so the
default margin is 2% or half a second's worth of the window, whichever is larger. Providers that count
over shorter windows than a minute (the limit pro rata) are kept to by a shorter `window_s`.

A caller *reserves* its slot and then sleeps until it; reserving is one atomic step, which is
what lets `RedisRateLimiter` share one budget among processes on any number of machines (a Lua
script on Redis server time, so clocks of the workers do not matter).

`pause(seconds)` is how one 429 with `Retry-After` holds back every caller sharing a limiter:
nobody is let through before the pause ends, and the budget restarts empty (no burst).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

MINUTE = 60.0
#: Share of the limit left unused, for requests that reach the provider later than scheduled.
DEFAULT_MARGIN = 0.02
#: How late a request may reach the provider: the default margin covers at least this much.
LATE_S = 0.5
_MICROS = 1_000_000


class RateLimiter(Protocol):
    """What a caller needs from a limiter (both limiters here, or any other with this shape)."""

    def acquire(self, tokens: int) -> None: ...

    def pause(self, seconds: float) -> None: ...


class RequestTooLargeError(ValueError):
    """One request needs more tokens than the per-minute limit: it could never be sent."""


@dataclass(frozen=True)
class Pace:
    """One per-minute limit as a GCRA schedule: one unit per `interval` s, `burst` units at once.

    The provider counts over a sliding window of `window_s` seconds (60 unless it enforces the
    limit pro rata over shorter ones) and lets `limit * window_s / 60` units into any window.
    We aim lower, at the `budget`: that less the `margin` (by default `default_margin`), which
    absorbs the scheduling jitter between our clock and the provider's arrival times. The burst is a
    sixtieth of the budget (one second's worth for a minute window; at least one unit). A
    unit-cost schedule puts at most ``burst + window_s / interval`` units into any closed
    window of `window_s`, so the interval is ``window_s / (budget - burst)``: the window holds
    at most `budget`. A request that costs more than the burst waits until the bucket is full
    rather than being held back indefinitely, so a window can exceed a token budget by at most
    that one request's excess over the burst.
    """

    limit: int
    interval: float
    burst: int
    budget: int
    window_s: float = MINUTE

    @classmethod
    def per_minute(cls, limit: int | None, window_s: float = MINUTE, margin: float | None = None) -> Pace | None:
        """The schedule for `limit` units per minute; None (no limit) for None."""
        if limit is None:
            return None
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a per-minute limit must be a positive integer or None, got {limit!r}")
        if not (math.isfinite(window_s) and 0 < window_s <= MINUTE):
            raise ValueError(f"the rate window must be in (0, 60] seconds, got {window_s!r}")
        if margin is None:
            margin = default_margin(window_s)
        if not (math.isfinite(margin) and 0 <= margin < 0.5):
            raise ValueError(f"the rate margin must be in [0, 0.5), got {margin!r}")
        budget = max(1, math.floor(limit * window_s / MINUTE * (1 - margin) + 1e-9))
        burst = max(1, budget // 60)
        return cls(limit=limit, interval=window_s / max(budget - burst, 1), burst=burst, budget=budget,
                   window_s=window_s)

    @property
    def capacity(self) -> int:
        """What the provider accepts in one window: a larger request could never be sent."""
        return max(1, math.floor(self.limit * self.window_s / MINUTE + 1e-9))

    def reserve(self, tat: float, start: float, cost: int) -> tuple[float, float]:
        """Book `cost` units no earlier than `start`: (new arrival time, earliest send time)."""
        base = max(tat, start)
        return base + cost * self.interval, max(start, base + (cost - max(self.burst, cost)) * self.interval)

    def after_pause(self, tat: float, until: float) -> float:
        """The arrival time that lets exactly one unit through at `until` and then paces."""
        return max(tat, until + (self.burst - 1) * self.interval)


def default_margin(window_s: float) -> float:
    """2%, or `LATE_S` seconds' worth of a shorter window: a request late by that much still fits."""
    return min(max(DEFAULT_MARGIN, LATE_S / window_s), 0.45)


def _check_tokens(tokens: int, pace: Pace | None) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be a non-negative integer, got {tokens!r}")
    if pace is not None and tokens > pace.capacity:
        per = "minute" if pace.window_s == MINUTE else f"{pace.window_s:g} s window"
        raise RequestTooLargeError(
            f"a request of {tokens} tokens exceeds the limit of {pace.capacity} tokens per {per}; "
            "shorten the prompt or max_tokens, or raise tokens_per_minute"
        )


def _check_seconds(seconds: float) -> float:
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"pause seconds must be a finite non-negative number, got {seconds!r}")
    return value


class LocalRateLimiter:
    """Paces the threads of one process. Thread-safe; `clock` and `sleep` are injectable for tests."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        window_s: float = MINUTE,
        margin: float | None = None,
    ) -> None:
        self._requests = Pace.per_minute(rpm, window_s, margin)
        self._tokens = Pace.per_minute(tpm, window_s, margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._request_tat = -math.inf
        self._token_tat = -math.inf
        self._paused_until = -math.inf

    def __repr__(self) -> str:
        rpm = self._requests.limit if self._requests else None
        tpm = self._tokens.limit if self._tokens else None
        return f"LocalRateLimiter(rpm={rpm}, tpm={tpm})"

    def acquire(self, tokens: int) -> None:
        """Block until one request of `tokens` tokens may be sent."""
        _check_tokens(tokens, self._tokens)
        while True:
            wait = self._reserve(tokens)
            if wait <= 0:
                return
            self._sleep(wait)
            if self._pause_left() <= 0:
                return

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds` from now (a provider asked us to back off)."""
        seconds = _check_seconds(seconds)
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            if self._requests:
                self._request_tat = self._requests.after_pause(self._request_tat, until)
            if self._tokens:
                self._token_tat = self._tokens.after_pause(self._token_tat, until)

    def _reserve(self, tokens: int) -> float:
        """Book a slot; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            send = start
            if self._requests:
                self._request_tat, at = self._requests.reserve(self._request_tat, start, 1)
                send = max(send, at)
            if self._tokens:
                self._token_tat, at = self._tokens.reserve(self._token_tat, start, tokens)
                send = max(send, at)
            return send - now

    def _pause_left(self) -> float:
        with self._lock:
            return self._paused_until - self._clock()


# Shared by the scripts below: state is one hash {req, tok, pause} in microseconds of Redis time.
_LUA_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'req', 'tok', 'pause')
local req, tok, pause = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
local function keep(horizon)
  redis.call('HSET', KEYS[1], 'req', string.format('%.0f', req), 'tok', string.format('%.0f', tok),
             'pause', string.format('%.0f', pause))
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(horizon, req, tok, pause) - now) / 1000) + 60000)
end
"""

# ARGV: cost, request interval (us, 0 = unlimited), request burst, token interval, token burst.
_LUA_ACQUIRE = _LUA_PRELUDE + """
local cost = tonumber(ARGV[1])
local start = math.max(now, pause)
local send = start
local function reserve(tat, interval, burst, units)
  local new_tat = math.max(tat, start) + units * interval
  send = math.max(send, new_tat - math.max(burst, units) * interval)
  return new_tat
end
if tonumber(ARGV[2]) > 0 then req = reserve(req, tonumber(ARGV[2]), tonumber(ARGV[3]), 1) end
if tonumber(ARGV[4]) > 0 then tok = reserve(tok, tonumber(ARGV[4]), tonumber(ARGV[5]), cost) end
keep(send)
return math.ceil(send - now)
"""

# ARGV: pause (us), request interval, request burst, token interval, token burst.
_LUA_PAUSE = _LUA_PRELUDE + """
local until_ = now + tonumber(ARGV[1])
pause = math.max(pause, until_)
if tonumber(ARGV[2]) > 0 then req = math.max(req, until_ + (tonumber(ARGV[3]) - 1) * tonumber(ARGV[2])) end
if tonumber(ARGV[4]) > 0 then tok = math.max(tok, until_ + (tonumber(ARGV[5]) - 1) * tonumber(ARGV[4])) end
keep(until_)
return 0
"""

_LUA_PAUSE_LEFT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause')) or 0
return math.max(0, math.ceil(pause - now))
"""


class RedisRateLimiter:
    """Paces every process that uses the same Redis `key` as one client of the provider.

    All workers must be configured with the same limits for the key; the state expires a
    minute after it stops mattering, so an idle key costs nothing.
    """

    def __init__(self, redis_client: Any, key: str, rpm: int | None, tpm: int | None, window_s: float = MINUTE,
                 margin: float | None = None) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("RedisRateLimiter needs a non-empty key naming the shared budget")
        self._requests = Pace.per_minute(rpm, window_s, margin)
        self._tokens = Pace.per_minute(tpm, window_s, margin)
        self.key = key
        self._acquire_script = redis_client.register_script(_LUA_ACQUIRE)
        self._pause_script = redis_client.register_script(_LUA_PAUSE)
        self._pause_left_script = redis_client.register_script(_LUA_PAUSE_LEFT)

    def __repr__(self) -> str:
        rpm = self._requests.limit if self._requests else None
        tpm = self._tokens.limit if self._tokens else None
        return f"RedisRateLimiter(key={self.key!r}, rpm={rpm}, tpm={tpm})"

    def acquire(self, tokens: int) -> None:
        """Block until one request of `tokens` tokens may be sent by this process."""
        _check_tokens(tokens, self._tokens)
        while True:
            wait_us = int(self._acquire_script(keys=[self.key], args=[tokens, *self._schedule_args()]))
            if wait_us <= 0:
                return
            time.sleep(wait_us / _MICROS)
            if int(self._pause_left_script(keys=[self.key])) <= 0:
                return

    def pause(self, seconds: float) -> None:
        """Hold back every process sharing the key for `seconds` from now (Redis time)."""
        micros = math.ceil(_check_seconds(seconds) * _MICROS)
        self._pause_script(keys=[self.key], args=[micros, *self._schedule_args()])

    def _schedule_args(self) -> list[float | int]:
        args: list[float | int] = []
        for pace in (self._requests, self._tokens):
            args += [pace.interval * _MICROS, pace.burst] if pace else [0, 0]
        return args
