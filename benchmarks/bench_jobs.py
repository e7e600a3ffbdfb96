"""Benchmark of annotation jobs (not a test): how close a job gets to its throughput bound.

A real Label Studio, the LLM simulator at a fixed latency with a requests-per-minute limit above
the bound, the service under gunicorn (``lsagent serve``) and, in the distributed runs, ``lsagent
worker`` processes on Redis with a PostgreSQL store. It runs a grid: every concurrency x every
latency x every run mode, a fresh service (and workers) per cell. Per cell it reports, against the
bound ``processes x concurrency / latency``:

- annotation rate: the simulator's answers per second from the first request to the last answer;
- end to end: tasks / the time from starting the job to ``Client.wait`` returning it done (what
  ``lsagent jobs run --wait`` sees; reading the subset and writing predictions included);
- tail: from the simulator's last answer to ``wait`` returning;
- in flight: the simulator's peak and time-averaged mean of requests held at once;
- service CPU ms per task: user + system CPU of the service (and workers) during the job / tasks;
- peak RSS (VmHWM) of the service and of the workers.

    .venv/bin/python benchmarks/bench_jobs.py                     # the grid, up to 2,000 tasks a cell
    .venv/bin/python benchmarks/bench_jobs.py --concurrency 8 --latency-ms 200 --runs embedded --tasks 2000
    .venv/bin/python benchmarks/bench_jobs.py --concurrency 32 --latency-ms 300 --runs rq2,rq2kill

A cell runs ``min(--tasks, max(--min-tasks, bound x --cell-s))`` tasks, so that slow cells (4
calls at 1 s: 4 tasks/s) do not take the grid's whole time. ``rq2kill`` SIGKILLs one of two
workers when 40% of the tasks are recorded (its chunks are taken over once their lease,
``LSAGENT_LEASE_S``, 15 s, runs out). Before each cell, Label Studio's own rate of importing
predictions is measured (500 in one request, as a job writes them): where the bound is above it,
Label Studio, not the LLM, bounds the end-to-end rate and the tail ("LS" in the last column).
Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (LSAGENT_BENCH_REDIS and
LSAGENT_BENCH_POSTGRES override them) and Label Studio's virtualenv (LSAGENT_LS_VENV).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from bench_support import (
    BIN,
    LS_TOKEN,
    REDIS_URL,
    SIM_KEY,
    clean_redis,
    cpu_s,
    family,
    label_studio,
    load_average,
    peak_rss_mb,
    postgres,
    process_group,
    sim_call,
    simulator,
    wait_up,
)

from ml_backend.client import Client
from ml_backend.store import Store
from sync import server
from sync.client import connect
from sync.predictions import import_predictions
from sync.projects import create_project
from sync.tasks import import_tasks, iter_task_pages

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>
  </Choices>
</View>"""
WORDS = ("great service and a lovely view", "terrible support, my order was lost", "the parcel came on monday",
         "I love the new design", "awful battery, it crashed twice", "a phone with a screen")
RUNS = {"embedded": (0, "embedded"), "rq1": (1, "1 RQ worker"), "rq4": (4, "4 RQ workers"),
        "rq2": (2, "2 RQ workers"), "rq2kill": (2, "2 RQ workers, 1 SIGKILLed")}
KILL_AT = 0.4


@dataclass
class Cell:
    run: str
    concurrency: int
    latency_ms: float
    tasks: int
    bound: float
    annotation_rate: float
    end_to_end_rate: float
    tail_s: float
    peak_in_flight: int
    mean_in_flight: float
    cpu_ms_per_task: float
    status_429: int
    service_rss_mb: float
    worker_rss_mb: list[float]
    load: float
    import_rate: float
    takeover_s: float | None = None


class Bench:
    """Label Studio, the simulator and the projects shared by every cell."""

    def __init__(self, args: argparse.Namespace, root: Path, ls_url: str, sim_url: str) -> None:
        self.args, self.root, self.ls_url, self.sim_url = args, root, ls_url, sim_url
        self.projects: dict[int, int] = {}
        self.scratch: tuple[int, list[int]] | None = None

    def project(self, tasks: int) -> int:
        """One project per task count, shared by the cells (each writes its own model_version)."""
        if tasks not in self.projects:
            client = connect(self.ls_url, LS_TOKEN)
            project = create_project(client, f"bench {tasks}", CONFIG)
            import_tasks(client, project, [{"text": f"{WORDS[i % len(WORDS)]} (review {i})"} for i in range(tasks)])
            self.projects[tasks] = project
        return self.projects[tasks]

    def prediction_import_rate(self, count: int = 500) -> float:
        """Predictions per second Label Studio imports now (one bulk request, as a job writes them),
        into a scratch project under a new model_version each time."""
        client = connect(self.ls_url, LS_TOKEN)
        if self.scratch is None:
            project = create_project(client, "bench import rate", CONFIG)
            import_tasks(client, project, [{"text": f"rate {i}"} for i in range(count)])
            self.scratch = (project, [task["id"] for page in iter_task_pages(client, project, fields=("id",))
                                      for task in page])
        project, ids = self.scratch
        result = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}]
        version = uuid.uuid4().hex[:8]
        started = time.monotonic()
        import_predictions(client, project, [{"task": task, "result": result, "score": 0.9, "model_version": version}
                                             for task in ids])
        return len(ids) / (time.monotonic() - started)

    def cell(self, run: str, concurrency: int, latency_ms: float, number: int) -> Cell:
        workers, _ = RUNS[run]
        processes = max(workers, 1)
        bound = processes * concurrency / (latency_ms / 1000)
        tasks = min(self.args.tasks, max(self.args.min_tasks, math.ceil(bound * self.args.cell_s)))
        rpm = math.ceil(bound * 60 * 1.5)
        sim_call(self.sim_url, "POST", "/_sim/config", {"latency_ms": latency_ms, "rpm": rpm})
        sim_call(self.sim_url, "POST", "/_sim/reset", {})  # the last cell's calls leave the rpm window
        tag = f"lsagent-bench-{uuid.uuid4().hex[:8]}"
        with ExitStack() as stack:
            database = stack.enter_context(postgres(tag)) if workers else f"sqlite:///{self.root / tag}.sqlite3"
            chunk = min(self.args.chunk_size, max(10, tasks // (processes * 4)))  # a few chunks per process
            env = self._env(database, tag, workers, chunk)
            if workers:
                stack.callback(clean_redis, tag)
            service = stack.enter_context(process_group([str(BIN / "lsagent"), "serve", "--workers", "1"], env,
                                                        self.root / f"{tag}-service.log"))
            url = f"http://127.0.0.1:{env['PORT']}"
            wait_up(url)
            pool = [stack.enter_context(process_group([str(BIN / "lsagent"), "worker"], env,
                                                      self.root / f"{tag}-worker-{n}.log")) for n in range(workers)]
            client = Client(url, timeout=300)
            project = self.project(tasks)
            agent = client.create_agent(project, "bench", "sim-small", max_concurrency=concurrency,
                                        requests_per_minute=rpm, timeout=60.0, seed=number)
            wait_for_workers(tag, workers)
            import_rate = self.prediction_import_rate()
            sim_call(self.sim_url, "POST", "/_sim/reset", {})
            pids = [pid for process in [service, *pool] for pid in family(process.pid)]
            cpu_before, load = cpu_s(pids), load_average()
            started = time.time()
            job, killed_at = follow(client, client.run_job(agent["id"], project=project)["id"],
                                    pool[0] if run == "rq2kill" else None, tasks)
            ended = time.time()
            cpu = cpu_s(pids) - cpu_before
            stats = sim_call(self.sim_url, "GET", "/_sim/stats")
            flight = stats["in_flight"]
            done = job["counts"]["done"]
            return Cell(
                run=RUNS[run][1], concurrency=concurrency, latency_ms=latency_ms, tasks=done, bound=bound,
                annotation_rate=stats["completions"] / max(flight["busy_s"], 1e-9),
                end_to_end_rate=done / (ended - started), tail_s=ended - (flight["last_at"] or ended),
                peak_in_flight=flight["max"], mean_in_flight=flight["mean"], cpu_ms_per_task=1000 * cpu / done,
                status_429=stats["by_status"].get("429", 0),
                service_rss_mb=max(peak_rss_mb(pid) for pid in family(service.pid)),
                worker_rss_mb=[peak_rss_mb(worker.pid) for worker in pool], load=load,
                import_rate=import_rate, takeover_s=takeover_s(database, job["id"], killed_at) if killed_at else None)

    def _env(self, database: str, tag: str, workers: int, chunk: int) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": database, "LABEL_STUDIO_URL": self.ls_url,
               "LABEL_STUDIO_API_KEY": LS_TOKEN, "OPENAI_BASE_URL": self.sim_url, "OPENAI_API_KEY": SIM_KEY,
               "LSAGENT_DATA_DIR": str(self.root / tag), "LSAGENT_QUEUE": tag, "LSAGENT_KEY_PREFIX": tag,
               "LSAGENT_CHUNK_SIZE": str(chunk), "LOG_LEVEL": self.args.log_level,
               "PORT": str(server.free_port())}
        env.pop("REDIS_URL", None)
        if workers:
            env["REDIS_URL"] = REDIS_URL
        return env


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="lsagent-bench-") as tmp, ExitStack() as stack:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        ls_url = stack.enter_context(label_studio(root))
        sim_url = stack.enter_context(simulator(args.latency_ms[0], 0))
        bench = Bench(args, root, ls_url, sim_url)
        print(f"Label Studio {ls_url}; simulator {sim_url}\n{HEADER}", flush=True)
        cells = []
        number = 0
        for concurrency in args.concurrency:
            for latency in args.latency_ms:
                for run in args.runs:
                    number += 1
                    cell = bench.cell(run, concurrency, latency, number)
                    print(line(cell), flush=True)
                    cells.append(cell)
    report(cells, args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per cell, at most")
    parser.add_argument("--min-tasks", type=int, default=100, help="tasks per cell, at least")
    parser.add_argument("--cell-s", type=float, default=20.0,
                        help="a cell runs about this many seconds at its bound (within the two task counts)")
    parser.add_argument("--latency-ms", default="50,200,1000", help="comma-separated simulator latencies")
    parser.add_argument("--concurrency", default="4,8,32,128", help="comma-separated max_concurrency (per process)")
    parser.add_argument("--chunk-size", type=int, default=100,
                        help="tasks per chunk, at most (a small cell gets at least 4 chunks per process)")
    parser.add_argument("--runs", default="embedded,rq4", help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--keep", type=Path, help="keep the logs and the SQLite databases in this directory")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of the service and the workers")
    args = parser.parse_args()
    args.runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; known: {', '.join(RUNS)}")
    try:
        args.latency_ms = [float(value) for value in args.latency_ms.split(",")]
        args.concurrency = [int(value) for value in args.concurrency.split(",")]
    except ValueError as exc:
        parser.error(f"--latency-ms and --concurrency take comma-separated numbers: {exc}")
    return args


def follow(client: Client, job_id: str, victim: subprocess.Popen[bytes] | None, tasks: int
           ) -> tuple[dict[str, Any], float | None]:
    """``Client.wait`` to the job's end (as ``lsagent jobs run --wait``); with a victim, SIGKILL
    it once KILL_AT of the tasks are recorded. Returns the job and when the victim was killed."""
    killed: list[float] = []

    def progress(job: dict[str, Any]) -> None:
        if victim is not None and not killed and job["counts"]["done"] >= KILL_AT * tasks:
            victim.send_signal(signal.SIGKILL)
            killed.append(time.time())

    job = client.wait(job_id, on_progress=progress if victim is not None else None)
    if job["status"] != "done":
        raise RuntimeError(f"job ended {job['status']}: {job['error']}")
    return job, killed[0] if killed else None


def wait_for_workers(queue: str, count: int, timeout: float = 180.0) -> None:
    """Until ``count`` workers listen on the queue (a loaded machine starts them slowly)."""
    from rq import Queue, Worker

    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while count and Worker.count(connection=connection, queue=Queue(queue, connection=connection)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not start on queue {queue} in {timeout:g} s")
        time.sleep(0.2)
    connection.close()


def takeover_s(database: str, job_id: str, killed_at: float) -> float:
    """From the kill to the first claim of a chunk the killed worker held (claimed again)."""
    store = Store(database)
    try:
        again = [chunk.claimed_at.timestamp() for chunk in store.chunks(job_id)
                 if chunk.attempts >= 2 and chunk.claimed_at is not None]
    finally:
        store.dispose()
    return min(again) - killed_at if again else float("nan")


HEADER = (f"{'run':<14}{'conc':>5}{'ms':>6}{'tasks':>6}{'bound/s':>9}{'annot./s':>9}{'ratio':>6}{'e2e/s':>8}"
          f"{'ratio':>6}{'tail s':>7}{'peak':>5}{'mean':>7}{'CPU ms':>7}{'429':>4}{'load':>5}"
          f"{'LS/s':>6}  RSS MiB (service; workers)")


def line(cell: Cell) -> str:
    workers = ", ".join(f"{mb:.0f}" for mb in cell.worker_rss_mb) or "-"
    limit = "  LS" if cell.bound > cell.import_rate else ""
    return (f"{cell.run:<14}{cell.concurrency:>5}{cell.latency_ms:>6.0f}{cell.tasks:>6}{cell.bound:>9.1f}"
            f"{cell.annotation_rate:>9.1f}{cell.annotation_rate / cell.bound:>6.2f}{cell.end_to_end_rate:>8.1f}"
            f"{cell.end_to_end_rate / cell.bound:>6.2f}{cell.tail_s:>7.2f}{cell.peak_in_flight:>5}"
            f"{cell.mean_in_flight:>7.1f}{cell.cpu_ms_per_task:>7.1f}{cell.status_429:>4}{cell.load:>5.1f}"
            f"{cell.import_rate:>6.0f}"
            f"  {cell.service_rss_mb:.0f}; {workers}{limit}")


def report(cells: list[Cell], args: argparse.Namespace) -> None:
    print(f"\nchunks of up to {args.chunk_size} (4 or more per process); rpm limit 1.5 x the bound; LS/s: "
          "Label Studio's prediction imports per second before the cell (LS: the bound is above it); load: the "
          "1-minute load average at the start")
    print(HEADER)
    for cell in cells:
        print(line(cell))
        if cell.takeover_s is not None:
            print(f"  the killed worker's chunks were taken over {cell.takeover_s:.1f} s after the kill")


if __name__ == "__main__":
    main()
