"""Leases and heartbeats shared between processes: who coordinates a job, who may write a
model version's predictions, and which chunks still have a live worker.

With Redis (distributed mode) they are keys with a time to live, so a SIGKILLed holder loses
them when the TTL runs out. Without Redis every chunk runs inside the service, so leases are
``flock`` locks on files in the data directory (the kernel frees them when the holder dies,
whatever killed it) and heartbeats are an in-process table.

Every lease and heartbeat lives ``LSAGENT_LEASE_S`` and is renewed by its live holder
(``LeaseKeeper``, the chunk heartbeat thread), never held for a fixed long time: that one
setting bounds how long a dead holder's work waits to be taken over.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases(Protocol):
    def try_acquire(self, name: str, owner: str, ttl_s: float) -> bool: ...

    def renew(self, name: str, owner: str, ttl_s: float) -> bool: ...

    def release(self, name: str, owner: str) -> None: ...


class Heartbeats(Protocol):
    def beat(self, names: Iterable[str], owner: str, ttl_s: float) -> None: ...

    def alive(self, name: str) -> bool: ...

    def forget(self, name: str, owner: str) -> None: ...


def acquire(leases: Leases, name: str, owner: str, ttl_s: float, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for a lease (for short critical sections such as a push)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while not leases.try_acquire(name, owner, ttl_s):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    return True


class LeaseKeeper:
    """Renews a held lease every third of its TTL from its own thread, so a holder busy in a
    long step (a slow bulk write to Label Studio) does not lose it; ``lost`` is set if it does."""

    def __init__(self, leases: Leases, name: str, owner: str, ttl_s: float) -> None:
        self.leases, self.name, self.owner, self.ttl_s = leases, name, owner, ttl_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{name[:24]}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.leases.release(self.name, self.owner)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                held = self.leases.renew(self.name, self.owner, self.ttl_s)
            except Exception:
                continue  # Redis hiccup: try again; the TTL leaves two more chances
            if not held:
                self.lost.set()
                return


class RedisLeases:
    """Leases and heartbeats as Redis keys ``<prefix>:<name>`` holding the owner's name."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def try_acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        return bool(self.redis.set(self.key(name), owner, nx=True, px=_ms(ttl_s)))

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        return bool(self._renew(keys=[self.key(name)], args=[owner, _ms(ttl_s)]))

    def release(self, name: str, owner: str) -> None:
        self._release(keys=[self.key(name)], args=[owner])

    def beat(self, names: Iterable[str], owner: str, ttl_s: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.set(self.key(name), owner, px=_ms(ttl_s))
        pipe.execute()

    def alive(self, name: str) -> bool:
        return bool(self.redis.exists(self.key(name)))

    def forget(self, name: str, owner: str) -> None:
        self.release(name, owner)


class FileLeases:
    """``flock`` leases on files under ``directory``: held until released or the process dies.
    The TTL is not needed (death frees the lock) and is ignored."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._held: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def try_acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        with self._lock:
            self._held[(name, owner)] = fd
        return True

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        with self._lock:
            return (name, owner) in self._held

    def release(self, name: str, owner: str) -> None:
        with self._lock:
            fd = self._held.pop((name, owner), None)
        if fd is not None:
            os.close(fd)


class LocalHeartbeats:
    """Heartbeats of the chunks running in this process (embedded mode)."""

    def __init__(self) -> None:
        self._until: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def beat(self, names: Iterable[str], owner: str, ttl_s: float) -> None:
        until = time.monotonic() + ttl_s
        with self._lock:
            for name in names:
                self._until[name] = (owner, until)

    def alive(self, name: str) -> bool:
        with self._lock:
            entry = self._until.get(name)
            return entry is not None and entry[1] > time.monotonic()

    def forget(self, name: str, owner: str) -> None:
        with self._lock:
            if self._until.get(name, ("", 0.0))[0] == owner:
                del self._until[name]


def chunk_key(job_id: str, index: int) -> str:
    return f"chunk:{job_id}:{index}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
