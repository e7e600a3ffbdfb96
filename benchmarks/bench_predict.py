"""Benchmark of /predict (not a test): latency p50/p99 for one cached task and for a batch of
uncached tasks against the LLM simulator at a fixed latency, and the time to answer one huge
batch of cached tasks (Label Studio waits at most 100 s for the first byte).

    .venv/bin/python benchmarks/bench_predict.py [--tasks 100] [--runs 5] [--latency-ms 200]
                                                 [--concurrency 16] [--cached-repeats 200]
                                                 [--huge 200000]

Everything is real: the simulator runs as its own process (``python -m ml_backend.simulator``),
the service runs under gunicorn (``lsagent serve``, 1 worker) on a SQLite store, and requests go
over loopback HTTP. Agents are registered in the same store by this script, so no Label Studio is
needed. Each uncached run uses a fresh agent (another seed: another agent id, so nothing is cached).

The bound an uncached batch is compared with is the ideal of perfect scheduling:
ceil(tasks / max_concurrency) * latency, i.e. waves of calls that each take exactly the latency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_backend.engine import agents  # noqa: E402
from ml_backend.engine.modelconfig import ModelConfig  # noqa: E402
from ml_backend.runtime import Runtime  # noqa: E402
from ml_backend.settings import Settings  # noqa: E402
from sync.server import free_port  # noqa: E402

SENTIMENT = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/>
<Choice value="Neutral"/></Choices></View>"""
KEY = "bench-key"
PROJECT = 1


def start(command: list[str], env: dict[str, str], ready: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a process logging to ``log`` (a pipe nobody reads would fill up and block it) and wait
    for the first log line matching ``ready`` (a regex with one group)."""
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        match = re.search(ready, log.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{' '.join(command[2:4])} did not start; see {log}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def register(runtime: Runtime, seed: int, concurrency: int, tasks: list[dict]) -> str:
    config = ModelConfig(model="sim-small", seed=seed, max_concurrency=concurrency, api_key_env="BENCH_LLM_API_KEY")
    record, _ = agents.register(runtime.store, runtime.checking_client, project=PROJECT, name=f"bench{seed}",
                                config=config, label_config=SENTIMENT, sample_tasks=tasks[:1])
    runtime.store.activate(PROJECT, record.id)
    return record.model_version


def predict(url: str, tasks: list[dict]) -> tuple[float, dict]:
    started = time.perf_counter()
    response = requests.post(f"{url}/predict", json={"tasks": tasks, "project": f"{PROJECT}.1700000000"}, timeout=200)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=16, help="the agents' max_concurrency")
    parser.add_argument("--cached-repeats", type=int, default=200)
    parser.add_argument("--huge", type=int, default=200_000, help="tasks in the one huge cached batch")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="lsagent-bench-"))
    env = {**os.environ, "LSAGENT_SIM_API_KEY": KEY, "BENCH_LLM_API_KEY": KEY, "LSAGENT_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    simulator, sim_url = start([sys.executable, "-m", "ml_backend.simulator", "--port", "0",
                                "--latency-ms", str(args.latency_ms)], env, r"listening on (http://\S+/v1)",
                                data_dir / "simulator.log")
    env["OPENAI_BASE_URL"] = sim_url
    os.environ.update(BENCH_LLM_API_KEY=KEY)
    runtime = Runtime(Settings.from_env(env))  # tables first: SQLite refuses two processes creating them at once
    processes = [simulator]
    try:
        port = free_port()
        service, _ = start([sys.executable, "-c", "from ml_backend.cli import main; main()", "serve", "--port",
                            str(port), "--workers", "1", "--threads", "8"], env, r"(lsagent service on)",
                           data_dir / "service.log")
        processes.append(service)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        report(args, url, runtime)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def report(args: argparse.Namespace, url: str, runtime: Runtime) -> None:
    batch = [{"id": i, "project": PROJECT, "data": {"text": f"Review {i}: it was {'good' if i % 2 else 'bad'}."}}
             for i in range(1, args.tasks + 1)]
    register(runtime, 0, args.concurrency, batch)
    predict(url, batch[:1])
    cached = [predict(url, batch[:1])[0] for _ in range(args.cached_repeats)]
    first_byte, total, answered = huge(url, batch[0], args.huge)
    uncached = []
    for run in range(1, args.runs + 1):
        register(runtime, run, args.concurrency, batch)
        elapsed, answer = predict(url, batch)
        assert all("result" in entry for entry in answer["results"]), "a task came back without result"
        uncached.append(elapsed)
    print(f"cached, one batch of {args.huge} tasks (one text): first byte after {first_byte:.1f} s, whole answer "
          f"after {total:.1f} s, {answered} answered from the cache, the rest over_budget "
          f"(budget {runtime.settings.predict_budget_s:.0f} s; Label Studio waits 100 s)")
    ideal = math.ceil(args.tasks / args.concurrency) * args.latency_ms / 1000
    print(f"/predict, service under gunicorn (1 worker x 8 threads), simulator latency {args.latency_ms:.0f} ms")
    print(f"cached, 1 task, {len(cached)} requests: p50 {percentile(cached, .5) * 1000:.1f} ms, "
          f"p99 {percentile(cached, .99) * 1000:.1f} ms")
    print(f"uncached, {args.tasks} tasks, max_concurrency {args.concurrency}, {len(uncached)} runs: "
          f"p50 {percentile(uncached, .5):.2f} s, p99 {percentile(uncached, .99):.2f} s "
          f"(runs: {', '.join(f'{v:.2f}' for v in uncached)})")
    print(f"ideal bound ceil({args.tasks}/{args.concurrency}) x {args.latency_ms / 1000:.1f} s = {ideal:.2f} s; "
          f"p50/ideal = {statistics.median(uncached) / ideal:.2f}")


def huge(url: str, task: dict, count: int) -> tuple[float, float, int]:
    """(seconds to the answer's first byte, to its end, tasks answered with a result) for ``count``
    copies of one cached task."""
    body = json.dumps({"tasks": [{**task, "id": task["id"] + i} for i in range(count)],
                       "project": f"{PROJECT}.1700000000"}).encode()
    started = time.perf_counter()
    response = requests.post(f"{url}/predict", data=body, headers={"Content-Type": "application/json"},
                             timeout=200, stream=True)
    first_byte = time.perf_counter() - started
    results = response.json()["results"]
    total = time.perf_counter() - started
    return first_byte, total, sum(1 for entry in results if "result" in entry)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("the service did not become healthy")


if __name__ == "__main__":
    main()
