"""Thread pools per agent, reused while busy and released once idle.

Each agent gets its own pool so that one agent's backlog never queues ahead of another's tasks.
But a ``ThreadPoolExecutor`` keeps its threads until it is shut down, so one pool per agent for
the life of the process grows with every agent ever used (a probe left 320 idle threads after
four agents). Here a pool lives while it has work and for ``idle_s`` after its last task, then it
is shut down and its threads exit; at most ``keep_idle`` idle pools wait for reuse at any time
(the longest idle is released first). So threads at rest are bounded by ``keep_idle`` pools and
drop to none after ``idle_s``; threads at work are bounded by the pools of agents with work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

IDLE_S = 30.0
KEEP_IDLE = 4


@dataclass
class _Pool:
    executor: ThreadPoolExecutor
    size: int
    busy: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    timer: threading.Timer | None = None


class AgentPools:
    """Thread-safe. ``submit(key, size, fn, ...)`` runs ``fn`` on the pool of ``key`` (an agent
    id), made with ``size`` threads when the key has no live pool."""

    def __init__(self, name: str, *, idle_s: float = IDLE_S, keep_idle: int = KEEP_IDLE) -> None:
        self.name = name
        self.idle_s = idle_s
        self.keep_idle = keep_idle
        self._lock = threading.Lock()
        self._pools: dict[str, _Pool] = {}
        self._closed = False

    def submit(self, key: str, size: int, fn: Callable[..., T], *args: Any) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} pools are shut down")
            pool = self._pools.get(key)
            if pool is None:
                executor = ThreadPoolExecutor(size, thread_name_prefix=f"{self.name}-{key[:8]}")
                pool = self._pools[key] = _Pool(executor, size)
            if pool.timer is not None:
                pool.timer.cancel()
                pool.timer = None
            pool.busy += 1
            future = pool.executor.submit(fn, *args)
        future.add_done_callback(lambda _: self._task_over(key, pool))
        return future

    def threads(self) -> int:
        """Threads the live pools may hold (their sizes): what this object keeps alive at most."""
        with self._lock:
            return sum(pool.size for pool in self._pools.values())

    def shutdown(self, wait: bool = False, cancel_futures: bool = True) -> None:
        """Stop every pool (process exit, tests); running tasks finish unless the process ends."""
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            if pool.timer is not None:
                pool.timer.cancel()
            pool.executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def _task_over(self, key: str, pool: _Pool) -> None:
        with self._lock:
            pool.busy -= 1
            if pool.busy or self._pools.get(key) is not pool:
                return
            pool.idle_since = time.monotonic()
            released = self._over_keep_idle()
            if self._pools.get(key) is pool:
                pool.timer = threading.Timer(self.idle_s, self._expire, args=(key, pool))
                pool.timer.daemon = True
                pool.timer.start()
        for executor in released:
            executor.shutdown(wait=False)

    def _over_keep_idle(self) -> list[ThreadPoolExecutor]:
        """Called with the lock held: drop the longest-idle pools beyond ``keep_idle``."""
        idle = sorted((pool.idle_since, key) for key, pool in self._pools.items() if not pool.busy)
        released = []
        for _, key in idle[: max(0, len(idle) - self.keep_idle)]:
            pool = self._pools.pop(key)
            if pool.timer is not None:
                pool.timer.cancel()
            released.append(pool.executor)
        return released

    def _expire(self, key: str, pool: _Pool) -> None:
        with self._lock:
            if pool.busy or self._pools.get(key) is not pool:
                return
            del self._pools[key]
        pool.executor.shutdown(wait=False)
