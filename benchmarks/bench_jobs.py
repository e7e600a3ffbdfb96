"""Benchmark of annotation jobs (not a test): how close a job gets to its throughput bound.

A real Label Studio, the LLM simulator at a fixed latency with a requests-per-minute limit, the
service under gunicorn (``lsagent serve``) and, in the distributed runs, ``lsagent worker``
processes on Redis with a PostgreSQL store. For each run it prints the achieved throughput as a
ratio of the bound ``min(concurrency / latency, requests-per-minute / 60)`` (concurrency = the
agent's max_concurrency x the processes that run chunks) and the peak memory (VmHWM) of the
service and of every worker.

    .venv/bin/python benchmarks/bench_jobs.py                      # 5,000 tasks, 300 ms, 6,000 rpm
    .venv/bin/python benchmarks/bench_jobs.py --tasks 500 --runs embedded,rq1
    .venv/bin/python benchmarks/bench_jobs.py --runs rq2,rq2kill                 # what a SIGKILLed worker costs

"Annotation" throughput counts items recorded per second between the first and the last one
(the LLM-bound part); "end to end" divides all tasks by the job's whole wall time, reading the
subset and writing the last predictions to Label Studio included. The agent's rate limiter lets
one second's worth of requests through at once at the start, so a ratio can read a little above 1,
and keeps 2% of the limit as a margin, so a rate-bound run reads about 0.96.

``rq2kill`` SIGKILLs one of two workers when 40% of the tasks are recorded: its chunks are taken
over once their lease (``LSAGENT_LEASE_S``, 15 s) runs out; the report gives that takeover time
and the wall time lost against ``rq2``.
Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (LSAGENT_BENCH_REDIS and
LSAGENT_BENCH_POSTGRES override them) and Label Studio's virtualenv (LSAGENT_LS_VENV).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml_backend.client import Client  # noqa: E402
from ml_backend.store import Store  # noqa: E402
from sync import server  # noqa: E402
from sync.client import connect  # noqa: E402
from sync.projects import create_project  # noqa: E402
from sync.tasks import import_tasks  # noqa: E402

BIN = ROOT / ".venv" / "bin"
REDIS_URL = os.environ.get("LSAGENT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("LSAGENT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LS_TOKEN = "lsagent-bench-token-0123456789abcdef"
SIM_KEY = "sim-bench-key"
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>
  </Choices>
</View>"""
WORDS = ("great service and a lovely view", "terrible support, my order was lost", "the parcel came on monday",
         "I love the new design", "awful battery, it crashed twice", "a phone with a screen")
RUNS = {"embedded": (0, "embedded, in the service"), "rq1": (1, "1 RQ worker"), "rq4": (4, "4 RQ workers"),
        "rq2": (2, "2 RQ workers"), "rq2kill": (2, "2 RQ workers, 1 SIGKILLed")}
KILL_AT = 0.4


@dataclass
class Result:
    name: str
    processes: int
    tasks: int
    annotation_rate: float
    end_to_end_rate: float
    bound: float
    status_429: int
    service_rss_mb: list[float]
    worker_rss_mb: list[float]
    wall_s: float
    takeover_s: float | None = None


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="lsagent-bench-") as tmp, ExitStack() as stack:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        ls_url = stack.enter_context(label_studio(root))
        sim_url = stack.enter_context(simulator(args))
        print(f"Label Studio {ls_url}, simulator {sim_url} ({args.latency_ms:.0f} ms, {args.rpm} rpm)", flush=True)
        results = [run(name, args, root, ls_url, sim_url, number) for number, name in enumerate(args.runs, start=1)]
    report(results, args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--rpm", type=int, default=6000, help="simulator limit and agent requests_per_minute")
    parser.add_argument("--concurrency", type=int, default=32, help="the agent's max_concurrency (per process)")
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--runs", default="embedded,rq1,rq4", help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--keep", type=Path, help="keep the logs and the SQLite databases in this directory")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of the service and the workers")
    args = parser.parse_args()
    args.runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; known: {', '.join(RUNS)}")
    return args


@contextmanager
def label_studio(root: Path) -> Iterator[str]:
    venv = server.default_venv()
    data = root / "label-studio"
    server.seed_database(venv, data, Path(os.environ.get("LSAGENT_LS_CACHE") or venv.parent / "ls-db-templates"))
    port = server.free_port()
    process = server.start_label_studio(venv, port, data, "bench@example.com", "bench-password-123", LS_TOKEN,
                                        root / "label-studio.log")
    try:
        server.wait_healthy(f"http://127.0.0.1:{port}", 180, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop_label_studio(process)


@contextmanager
def simulator(args: argparse.Namespace) -> Iterator[str]:
    command = [str(BIN / "python"), "-m", "ml_backend.simulator", "--port", "0", "--seed", "1",
               "--latency-ms", str(args.latency_ms), "--rpm", str(args.rpm)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "LSAGENT_SIM_API_KEY": SIM_KEY},
                               stdout=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline() if process.stdout else ""
        found = re.search(r"listening on (http://\S+/v1)", banner)
        if not found:
            raise RuntimeError(f"the simulator did not start: {banner!r}")
        yield found.group(1)
    finally:
        stop(process)


def run(name: str, args: argparse.Namespace, root: Path, ls_url: str, sim_url: str, number: int) -> Result:
    workers, title = RUNS[name]
    tag = f"lsagent-bench-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        database = stack.enter_context(postgres(tag)) if workers else f"sqlite:///{root / tag}.sqlite3"
        env = {**os.environ, "DATABASE_URL": database, "LABEL_STUDIO_URL": ls_url, "LABEL_STUDIO_API_KEY": LS_TOKEN,
               "OPENAI_BASE_URL": sim_url, "OPENAI_API_KEY": SIM_KEY, "LSAGENT_DATA_DIR": str(root / tag),
               "LSAGENT_QUEUE": tag, "LSAGENT_KEY_PREFIX": tag, "LSAGENT_CHUNK_SIZE": str(args.chunk_size),
               "LOG_LEVEL": args.log_level, "PORT": str(server.free_port())}
        env.pop("REDIS_URL", None)
        if workers:
            env["REDIS_URL"] = REDIS_URL
            stack.callback(clean_redis, tag)
        service = stack.enter_context(process_group([str(BIN / "lsagent"), "serve", "--workers", "1"], env,
                                                    root / f"{tag}-service.log"))
        url = f"http://127.0.0.1:{env['PORT']}"
        wait_up(url)
        worker_processes = [stack.enter_context(process_group([str(BIN / "lsagent"), "worker"], env,
                                                              root / f"{tag}-worker-{n}.log")) for n in range(workers)]
        client = Client(url, timeout=300)
        project = new_project(ls_url, args.tasks, number)
        agent = client.create_agent(project, "bench", "sim-small", max_concurrency=args.concurrency,
                                    requests_per_minute=args.rpm, timeout=60.0, seed=number)
        requests.post(sim_url.removesuffix("/v1") + "/_sim/reset", json={}, timeout=10,
                      headers={"Authorization": f"Bearer {SIM_KEY}"})
        print(f"\n{title}: {args.tasks} tasks, project {project}, agent {agent['model_version']}", flush=True)
        victim = worker_processes[0] if name == "rq2kill" else None
        job, killed_at = follow(client, client.run_job(agent["id"])["id"], victim, args.tasks)
        stats = requests.get(sim_url.removesuffix("/v1") + "/_sim/stats", timeout=10,
                             headers={"Authorization": f"Bearer {SIM_KEY}"}).json()
        first, last = item_times(database, job["id"])
        processes = max(workers, 1)
        return Result(
            name=title, processes=processes, tasks=job["counts"]["done"],
            annotation_rate=(job["counts"]["done"] - 1) / max(last - first, 1e-9),
            end_to_end_rate=job["summary"]["throughput_per_s"] or 0.0,
            bound=min(processes * args.concurrency / (args.latency_ms / 1000), args.rpm / 60),
            status_429=stats["by_status"].get("429", 0),
            service_rss_mb=[peak_rss_mb(pid) for pid in family(service.pid)],
            worker_rss_mb=[peak_rss_mb(worker.pid) for worker in worker_processes],
            wall_s=job["summary"]["wall_time_s"],
            takeover_s=takeover_s(database, job["id"], killed_at) if killed_at else None,
        )


def follow(client: Client, job_id: str, victim: subprocess.Popen[bytes] | None, tasks: int
           ) -> tuple[dict[str, Any], float | None]:
    """Follow the job to its end; SIGKILL ``victim`` once KILL_AT of the tasks are recorded.
    Returns the job and when the victim was killed."""
    shown = 0.0
    killed_at = None
    while True:
        job = client.job(job_id)
        if job["status"] in ("done", "failed", "cancelled"):
            if job["status"] != "done":
                raise RuntimeError(f"job ended {job['status']}: {job['error']}")
            return job, killed_at
        if victim is not None and killed_at is None and job["counts"]["done"] >= KILL_AT * tasks:
            victim.send_signal(signal.SIGKILL)
            killed_at = time.time()
            print(f"  SIGKILLed worker {victim.pid} at {job['counts']['done']}/{job['total']}", flush=True)
        if time.monotonic() - shown > 5:
            print(f"  {job['counts']['done']}/{job['total']} {job['status']}", flush=True)
            shown = time.monotonic()
        time.sleep(0.5)


def new_project(ls_url: str, count: int, number: int) -> int:
    client = connect(ls_url, LS_TOKEN)
    project = create_project(client, f"bench {number}", CONFIG)
    import_tasks(client, project, [{"text": f"{WORDS[i % len(WORDS)]} (review {i})"} for i in range(count)])
    return project


def item_times(database: str, job_id: str) -> tuple[float, float]:
    """When the first and the last item of the job were recorded."""
    store = Store(database)
    try:
        times = [item.created_at.timestamp() for item in store.items(job_id, page_size=2000)]
    finally:
        store.dispose()
    return min(times), max(times)


def takeover_s(database: str, job_id: str, killed_at: float) -> float:
    """From the kill to the first claim of a chunk the killed worker held (claimed again)."""
    store = Store(database)
    try:
        again = [chunk.claimed_at.timestamp() for chunk in store.chunks(job_id)
                 if chunk.attempts >= 2 and chunk.claimed_at is not None]
    finally:
        store.dispose()
    return min(again) - killed_at if again else float("nan")


@contextmanager
def postgres(name: str) -> Iterator[str]:
    database = name.replace("-", "_")
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + database
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


@contextmanager
def process_group(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the service at {url} did not come up")


def clean_redis(tag: str) -> None:
    connection = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"{tag}:*", f"rq:*{tag}*"):
        keys = list(connection.scan_iter(match=pattern, count=1000))
        if keys:
            connection.delete(*keys)
    connection.close()


def family(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's master and its worker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the peak resident set size of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\n{args.tasks} tasks, simulator latency {args.latency_ms:.0f} ms, {args.rpm} requests/min, "
          f"max_concurrency {args.concurrency} per process, chunks of {args.chunk_size}")
    print(f"{'run':<26}{'bound/s':>9}{'annot./s':>10}{'ratio':>7}{'e2e/s':>8}{'ratio':>7}{'429s':>6}"
          f"{'wall s':>8}  peak RSS MiB (service; workers)")
    for r in results:
        service = "/".join(f"{mb:.0f}" for mb in r.service_rss_mb)
        workers = ", ".join(f"{mb:.0f}" for mb in r.worker_rss_mb) or "-"
        print(f"{r.name:<26}{r.bound:>9.1f}{r.annotation_rate:>10.1f}{r.annotation_rate / r.bound:>7.2f}"
              f"{r.end_to_end_rate:>8.1f}{r.end_to_end_rate / r.bound:>7.2f}{r.status_429:>6}{r.wall_s:>8.1f}"
              f"  {service}; {workers}")
    print("service RSS: gunicorn master/worker; bound = min(processes x concurrency / latency, rpm / 60)")
    walls = {r.name: r for r in results}
    for r in results:
        if r.takeover_s is not None:
            print(f"{r.name}: the killed worker's chunks were taken over {r.takeover_s:.1f} s after the kill")
            baseline = walls.get(RUNS["rq2"][1])
            if baseline is not None:
                print(f"{r.name}: wall time lost to the kill {r.wall_s - baseline.wall_s:+.1f} s "
                      f"against {baseline.name}")


if __name__ == "__main__":
    main()
