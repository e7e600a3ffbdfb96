"""Pacing: the local limiter on a patched clock (exact schedules, 60 s windows), the Redis limiter
on real Redis with real threads and processes (the budget is shared, the timing is real).
Exact schedules are checked without the safety margin (``margin=0``) so the arithmetic stays
plain; the margin itself has its own tests."""

from __future__ import annotations

import bisect
import math
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from ml_backend.engine.ratelimit import LocalRateLimiter, Pace, RedisRateLimiter, RequestTooLargeError, default_margin

REDIS_URL = "redis://127.0.0.1:6379/15"


class FakeClock:
    """A clock that only moves when someone sleeps; `on_sleep` lets a test act mid-sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        hook, self.on_sleep = self.on_sleep, None
        if hook:
            hook()
        self.now += seconds


def local(rpm: int | None, tpm: int | None, margin: float | None = 0.0, window_s: float = 60.0
          ) -> tuple[LocalRateLimiter, FakeClock]:
    clock = FakeClock()
    return LocalRateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep, window_s=window_s, margin=margin), clock


def send_times(limiter: LocalRateLimiter, clock: FakeClock, costs: list[int]) -> list[float]:
    times = []
    for cost in costs:
        limiter.acquire(cost)
        times.append(clock.now - 1000.0)
    return times


def max_in_window(times: list[float], costs: list[int], width: float, closed: bool = False) -> int:
    """The largest total cost sent in any half-open window [t, t + width), or with ``closed``
    in any closed one [t, t + width] (what a provider sees when two requests fall on its edges)."""
    best = 0
    for i, start in enumerate(times):
        end = (bisect.bisect_right(times, start + width + 1e-9) if closed
               else bisect.bisect_left(times, start + width - 1e-9))
        best = max(best, sum(costs[i:end]))
    return best


def test_pace_lowers_the_rate_by_the_burst() -> None:
    pace = Pace.per_minute(600, margin=0)
    assert pace is not None and (pace.budget, pace.burst) == (600, 10)
    assert pace.interval == pytest.approx(60 / 590)
    single = Pace.per_minute(1, margin=0)
    assert single is not None and (single.burst, single.interval) == (1, 60.0)
    assert Pace.per_minute(None) is None


def test_pace_leaves_a_margin_by_default() -> None:
    pace = Pace.per_minute(600)
    assert pace is not None and (pace.budget, pace.burst) == (588, 9)  # 2% below 600
    assert pace.interval == pytest.approx(60 / 579)
    wider = Pace.per_minute(600, margin=0.1)
    assert wider is not None and wider.budget == 540


def test_a_short_window_holds_the_limit_pro_rata() -> None:
    """A provider that counts 6000 rpm over 6-s windows takes 600 per window: 588 with a 2%
    margin. The default margin is half a second's worth of the window here (8.3%, 550): a
    request half a second late is 2% of a minute but a twelfth of 6 s."""
    pace = Pace.per_minute(6000, window_s=6.0, margin=0.02)
    assert pace is not None and (pace.budget, pace.burst) == (588, 9)
    assert pace.interval == pytest.approx(6 / 579)
    default = Pace.per_minute(6000, window_s=6.0)
    assert default is not None and (default.budget, default.burst) == (550, 9)
    assert default_margin(60.0) == 0.02 and default_margin(6.0) == pytest.approx(0.5 / 6)
    assert default_margin(0.5) == 0.45  # never more than the margin's bound allows
    limiter, clock = local(6000, None, margin=0.02, window_s=6.0)
    times = send_times(limiter, clock, [1] * 1500)
    assert max_in_window(times, [1] * 1500, 6.0, closed=True) == 588


@pytest.mark.parametrize("window_s, margin", [(0, 0.02), (61, 0.02), (math.nan, 0.02), (60, -0.1), (60, 0.5)])
def test_bad_windows_and_margins_are_refused(window_s: float, margin: float) -> None:
    with pytest.raises(ValueError, match="rate window|rate margin"):
        LocalRateLimiter(60, None, window_s=window_s, margin=margin)


def test_no_closed_minute_sees_more_than_rpm() -> None:
    """The scale-out run that saw a 429: 600 rpm, a burst, then even spacing put 601 requests
    into the closed minute [0 s, 60 s]. The schedule now keeps closed windows at the limit."""
    limiter, clock = local(600, None)
    times = send_times(limiter, clock, [1] * 900)
    assert max_in_window(times, [1] * 900, 60.0, closed=True) == 600


def test_the_default_margin_absorbs_half_a_second_late_in_a_short_window() -> None:
    """The scale-out run with 6-s windows saw five 429s with a 2% margin (120 ms of slack on a
    busy machine); the default leaves half a second."""
    limiter, clock = local(6000, None, margin=None, window_s=6.0)
    times = send_times(limiter, clock, [1] * 1500)
    assert max_in_window(times, [1] * 1500, 6.0, closed=True) == 550
    assert max_in_window(times, [1] * 1500, 6.5, closed=True) <= 600


def test_the_margin_absorbs_late_arrivals() -> None:
    """With the default 2% margin a window may stretch by over a second (requests that reach
    the provider late, on a busy machine) and still hold no more than the limit."""
    limiter, clock = local(600, None, margin=0.02)
    times = send_times(limiter, clock, [1] * 1200)
    assert max_in_window(times, [1] * 1200, 60.0, closed=True) == 588
    assert max_in_window(times, [1] * 1200, 61.2, closed=True) <= 600


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "60"])
def test_bad_limits_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        LocalRateLimiter(bad, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        LocalRateLimiter(None, bad)  # type: ignore[arg-type]


def test_unlimited_never_waits() -> None:
    limiter, clock = local(None, None)
    for _ in range(1000):
        limiter.acquire(10_000)
    assert clock.sleeps == []


def test_even_spacing_at_60_rpm() -> None:
    limiter, clock = local(60, None)  # a burst of one, then 59 more in the closed minute
    assert send_times(limiter, clock, [1] * 5) == pytest.approx([k * 60 / 59 for k in range(5)])


def test_small_burst_then_even_spacing() -> None:
    limiter, clock = local(600, None)
    times = send_times(limiter, clock, [1] * 14)
    assert times[:10] == pytest.approx([0.0] * 10, abs=1e-9)
    assert times[10:] == pytest.approx([60 / 590 * k for k in range(1, 5)])


def test_no_sliding_minute_sees_more_than_rpm() -> None:
    limiter, clock = local(120, None)
    times = send_times(limiter, clock, [1] * 400)
    assert max_in_window(times, [1] * 400, 60.0) <= 120
    # and the pacing is not needlessly slow: the steady state uses the budget
    assert max_in_window(times, [1] * 400, 60.0) >= 118


def test_no_sliding_minute_sees_more_than_tpm() -> None:
    limiter, clock = local(None, 6000)  # burst 100 tokens
    costs = [(17 * i) % 100 + 1 for i in range(600)]
    times = send_times(limiter, clock, costs)
    assert 5800 <= max_in_window(times, costs, 60.0) <= 6000


def test_both_limits_apply() -> None:
    limiter, clock = local(60, 600)  # 59 requests/min after the first, 590 tokens/min after a 10-token burst
    times = send_times(limiter, clock, [1, 1, 30, 1])
    # the request limit paces the first three; the 30-token request leaves a debt that paces the last
    request, token = 60 / 59, 60 / 590
    assert times == pytest.approx([0, request, 2 * request, request + 21 * token])


def test_large_request_goes_at_once_when_idle() -> None:
    limiter, clock = local(None, 6000)
    limiter.acquire(5000)
    assert clock.sleeps == []
    limiter.acquire(1)  # pays for the large one
    assert clock.now - 1000.0 == pytest.approx(4901 * 60 / 5900)


def test_request_larger_than_tpm_is_refused() -> None:
    limiter, _ = local(None, 1000)
    with pytest.raises(RequestTooLargeError, match="1001 tokens exceeds the limit of 1000 tokens per minute"):
        limiter.acquire(1001)
    short, _ = local(None, 1000, window_s=6.0)  # the provider takes 100 tokens per 6 s
    with pytest.raises(RequestTooLargeError, match="101 tokens exceeds the limit of 100 tokens per 6 s window"):
        short.acquire(101)


@pytest.mark.parametrize("bad", [-1, 2.5, None, True])
def test_bad_token_counts_are_refused(bad: object) -> None:
    limiter, _ = local(60, 1000)
    with pytest.raises(ValueError, match="non-negative integer"):
        limiter.acquire(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf])
def test_bad_pause_is_refused(bad: float) -> None:
    limiter, _ = local(60, None)
    with pytest.raises(ValueError, match="pause seconds"):
        limiter.pause(bad)


def test_pause_holds_back_even_an_unlimited_limiter() -> None:
    limiter, clock = local(None, None)
    limiter.pause(7.5)
    limiter.acquire(1)
    assert clock.now - 1000.0 == pytest.approx(7.5)


def test_pause_restarts_without_a_burst() -> None:
    limiter, clock = local(600, None)
    limiter.acquire(1)
    limiter.pause(5)
    times = send_times(limiter, clock, [1] * 3)
    assert times == pytest.approx([5, 5 + 60 / 590, 5 + 2 * 60 / 590])


def test_shorter_pause_does_not_shorten_a_longer_one() -> None:
    limiter, clock = local(None, None)
    limiter.pause(10)
    limiter.pause(2)
    limiter.acquire(1)
    assert clock.now - 1000.0 == pytest.approx(10)


def test_pause_arriving_while_a_caller_sleeps_holds_it_back() -> None:
    limiter, clock = local(60, None)
    limiter.acquire(1)
    clock.on_sleep = lambda: limiter.pause(5)  # another thread sees a 429 during our wait
    limiter.acquire(1)
    assert clock.now - 1000.0 == pytest.approx(5)


def test_threads_share_a_local_limiter() -> None:
    limiter = LocalRateLimiter(6000, None, margin=0)  # burst 100, then one per 60/5900 s (~10 ms)
    stamps = run_threads(lambda: limiter, threads=6, each=20)
    assert stamps[-1] - stamps[0] >= 20 * 60 / 5900 - 0.005  # one slot given twice would be 10 ms short
    assert stamps[-1] - stamps[0] < 20 * 60 / 5900 + 1.0


def run_threads(make: Callable[[], object], threads: int, each: int) -> list[float]:
    """Acquire `each` times in each of `threads` threads; sorted wall-clock send times."""
    stamps: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work() -> None:
        limiter = make()
        barrier.wait()
        for _ in range(each):
            limiter.acquire(1)  # type: ignore[attr-defined]
            with lock:
                stamps.append(time.time())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(stamps) == threads * each
    return sorted(stamps)


@pytest.fixture
def redis_key(redis_url: str) -> Iterator[str]:
    """A key of our own in db 15 of the test Redis (``redis_url`` checked it answers); only
    that key is removed afterwards."""
    key = f"lsagent-test:ratelimit:{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(key)
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


RPM = 600
BURST, INTERVAL = 9, 60 / 579  # Pace.per_minute(600) with the default 2% margin


def test_redis_limit_is_shared_by_threads(redis_client: redis.Redis, redis_key: str) -> None:
    stamps = run_threads(lambda: RedisRateLimiter(redis_client, redis_key, RPM, None), threads=5, each=5)
    elapsed = stamps[-1] - stamps[0]
    assert (25 - BURST) * INTERVAL - 0.01 <= elapsed < (25 - BURST) * INTERVAL + 1.0
    assert max_in_window(stamps, [1] * 25, 1.0) <= BURST + math.ceil(1.0 / INTERVAL)


def _process_worker(key: str, barrier: object, queue: object, each: int) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, key, RPM, None)
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(each):
        limiter.acquire(1)
        queue.put(time.time())  # type: ignore[attr-defined]


def test_redis_limit_is_shared_by_processes(redis_key: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_process_worker, args=(redis_key, barrier, queue, 9)) for _ in range(3)]
    for process in processes:
        process.start()
    stamps = sorted(queue.get(timeout=60) for _ in range(27))
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    elapsed = stamps[-1] - stamps[0]
    assert (27 - BURST) * INTERVAL - 0.01 <= elapsed < (27 - BURST) * INTERVAL + 1.5
    assert max_in_window(stamps, [1] * 27, 1.0) <= BURST + math.ceil(1.0 / INTERVAL)


def test_redis_token_limit(redis_client: redis.Redis, redis_key: str) -> None:
    limiter = RedisRateLimiter(redis_client, redis_key, None, 60_000)  # budget 58,800: a 980-token burst
    started = time.monotonic()
    for _ in range(4):
        limiter.acquire(500)
    elapsed = time.monotonic() - started
    expected = (4 * 500 - 980) * 60 / (58_800 - 980)  # the fourth waits for what the burst does not cover
    assert expected - 0.01 <= elapsed < expected + 0.5


def test_redis_unlimited_does_not_wait(redis_client: redis.Redis, redis_key: str) -> None:
    limiter = RedisRateLimiter(redis_client, redis_key, None, None)
    started = time.monotonic()
    for _ in range(50):
        limiter.acquire(1_000_000)
    assert time.monotonic() - started < 0.5


def test_redis_pause_holds_back_other_limiters(redis_client: redis.Redis, redis_key: str) -> None:
    RedisRateLimiter(redis_client, redis_key, RPM, None).pause(0.6)
    other = RedisRateLimiter(redis.Redis.from_url(REDIS_URL), redis_key, RPM, None)
    started = time.monotonic()
    other.acquire(1)
    other.acquire(1)
    elapsed = time.monotonic() - started
    assert 0.6 + INTERVAL - 0.01 <= elapsed < 0.6 + INTERVAL + 0.3  # no burst after the pause


def test_redis_pause_during_a_wait(redis_client: redis.Redis, redis_key: str) -> None:
    limiter = RedisRateLimiter(redis_client, redis_key, 60, None)
    limiter.acquire(1)  # the next slot is one second away
    timer = threading.Timer(0.2, lambda: RedisRateLimiter(redis_client, redis_key, 60, None).pause(1.3))
    started = time.monotonic()
    timer.start()
    limiter.acquire(1)
    assert 1.5 - 0.01 <= time.monotonic() - started < 2.5


def test_redis_state_expires(redis_client: redis.Redis, redis_key: str) -> None:
    RedisRateLimiter(redis_client, redis_key, RPM, 60_000).acquire(10)
    assert 59_000 < redis_client.pttl(redis_key) <= 61_000


def test_redis_refuses_bad_input(redis_client: redis.Redis, redis_key: str) -> None:
    with pytest.raises(ValueError, match="non-empty key"):
        RedisRateLimiter(redis_client, "", RPM, None)
    limiter = RedisRateLimiter(redis_client, redis_key, None, 100)
    with pytest.raises(RequestTooLargeError):
        limiter.acquire(101)
    with pytest.raises(ValueError, match="pause seconds"):
        limiter.pause(-1)
