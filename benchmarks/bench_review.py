"""Which way of choosing what humans verify finds the most errors per task they read.

Data and model, two runs:

* ``--data demo`` (default): the bundled demo reviews (``ml_backend/cli/demo/data/reviews.csv``,
  343 short reviews with gold sentiment labels) labelled by the project's LLM **simulator**
  (``sim-small``, in process, over HTTP through the real ``openai`` client). These are simulator
  figures: they show the selection code working and comparing strategies on a model whose errors
  behave as designed (``ml_backend/simulator/behaviour.py``), not how a real model behaves.
* ``--data snippets``: a **real model**, SmolLM2-135M-Instruct under llama-cpp-python's server (the
  real-model test tier, ``scripts/setup_llama.sh``), on movie-review snippets with human ratings
  (``snippets.py``, real text from a package), with negotiated capabilities as a job has them. The
  server offers no embeddings, so ``diverse`` and ``budget`` cluster local TF-IDF vectors, as the
  ``--diverse`` review does then.

Either way the agent's confidence is ``self_verify``, so each answer carries every signal: label
probability, margin and P(yes) of the self-verification call. An agent's label is an error when it
differs from the gold label; answers with no valid label are left out (their error class, not a
score, sends them to a human) and counted.

For a review budget of K tasks, each strategy picks K tasks; printed is how many of them hold an
error, per 100 tasks reviewed:

* random: a uniform sample (mean over ``--rounds`` seeds);
* lowest label confidence, margin, self-verification: the K lowest of that signal;
* combined: the logistic model over the three signals (``review.combined``), cross-fitted: each
  task is scored by a model fitted on the other folds' tasks with their gold outcome, as if those
  had been verified (5 folds);
* diverse: one representative per cluster, K clusters (``review.diversity``, the endpoint's
  ``/v1/embeddings`` or TF-IDF);
* budget: the K most uncertain (1 - label confidence) covering ceil(sqrt(N)) clusters.

Then calibration: the label confidence's ECE before and after the calibration map
(``review.calibration_map``, cross-validated), over all the tasks as if all were verified; and
effort: the tasks humans must verify for a final accuracy of ``--target`` per strategy, as
``review.effort`` estimates it from a random sample of ``--verified`` tasks, against the true
figure the gold labels give.

    .venv/bin/python benchmarks/bench_review.py --budgets 50 100
    .venv/bin/python benchmarks/bench_review.py --data snippets --limit 200 --budgets 25 50
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snippets import CONFIG as SNIPPET_CONFIG  # noqa: E402
from snippets import INSTRUCTIONS as SNIPPET_INSTRUCTIONS  # noqa: E402
from snippets import snippets  # noqa: E402

from ml_backend.engine import agents, capabilities, prompts  # noqa: E402
from ml_backend.engine.annotate import Annotator, MemoryCache  # noqa: E402
from ml_backend.engine.llm import LLMClient  # noqa: E402
from ml_backend.engine.modelconfig import Capabilities, ModelConfig  # noqa: E402
from ml_backend.engine.postprocess import response_format  # noqa: E402
from ml_backend.review.calibration import Verified  # noqa: E402
from ml_backend.review.calibration_map import fit_calibration  # noqa: E402
from ml_backend.review.combined import fit  # noqa: E402
from ml_backend.review.diversity import allocate, clusters, represent_at, representatives  # noqa: E402
from ml_backend.review.effort import effort  # noqa: E402
from ml_backend.simulator.server import serve  # noqa: E402
from tests.fixtures.llama import start_llama_server, stop_llama_server  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "ml_backend" / "cli" / "demo" / "data"
KEY_ENV = "LSAGENT_BENCH_SIM_KEY"
FOLDS = 5


@dataclass(frozen=True)
class Task:
    """One labelled review: its text, whether the agent erred, and its signals."""

    text: str
    wrong: bool
    signals: dict[str, Any]


def demo_reviews() -> list[tuple[str, str]]:
    with (DATA / "reviews.csv").open(encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def simulator_annotator(base_url: str) -> tuple[Annotator, ModelConfig]:
    config = ModelConfig(model="sim-small", base_url=base_url, api_key_env=KEY_ENV, confidence="self_verify",
                         capabilities=Capabilities(response_format="json_schema", logprobs=True, top_logprobs=5,
                                                   seed=False, choices=True))
    agent = agents.draft(name="bench", project=1, label_config=(DATA / "sentiment.xml").read_text(), config=config)
    return Annotator(agent, LLMClient(config), MemoryCache()), config


def real_annotator(base_url: str, model: str, workers: int, first_text: str) -> tuple[Annotator, ModelConfig]:
    """The real model as ``bench_confidence`` calls it (negotiated capabilities), with
    self-verification as its confidence so every answer carries every signal."""
    config = ModelConfig(model=model, base_url=base_url, api_key_env=KEY_ENV, max_tokens=24, temperature=0.0,
                         max_concurrency=workers, timeout=120.0, confidence="self_verify")
    agent = agents.draft(name="bench", project=1, label_config=SNIPPET_CONFIG, config=config,
                         instructions=SNIPPET_INSTRUCTIONS)
    client = LLMClient(config)
    first = prompts.render_messages(agent.template, agent.spec, {"text": first_text})
    client.adopt(capabilities.negotiate(client, first, response_format(agent.spec)))
    print(f"negotiated: {client.capabilities}", flush=True)
    return Annotator(agent, client, MemoryCache()), config


def label_all(annotator: Annotator, data: list[tuple[str, str]], workers: int) -> tuple[list[Task], int]:
    """Every text through the agent: the tasks with a label, and how many got none (an answer
    with no valid label is caught by its error class, not by a review of its score)."""
    control = annotator.agent.spec.controls[0].name

    def one(index: int) -> Task | None:
        text, gold = data[index]
        outcome = annotator.annotate({"id": index, "data": {"text": text}})
        if not outcome.ok:
            return None
        return Task(text, outcome.labels[control] != [gold], outcome.meta["signals"])

    with ThreadPoolExecutor(workers) as pool:
        found = list(pool.map(one, range(len(data))))
    return [task for task in found if task is not None], sum(task is None for task in found)


def value(task: Task, signal: str) -> float:
    """The task's signal; where the endpoint gave none (a failed self-verification call), the
    label confidence, as the engine then scores the item (``meta.signals.fallback``)."""
    found = task.signals.get(signal)
    return task.signals["label"] if found is None else found


def lowest(tasks: Sequence[Task], key: Callable[[Task], float], k: int) -> list[int]:
    return sorted(range(len(tasks)), key=lambda index: (key(tasks[index]), index))[:k]


def combined_scores(tasks: Sequence[Task], seed: int) -> list[float]:
    """Each task's combined confidence from a model fitted on the other folds (cross-fitting)."""
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    scores = [0.0] * len(tasks)
    for fold in range(FOLDS):
        held = set(order[fold::FOLDS])
        model = fit([(tasks[i].signals, not tasks[i].wrong) for i in range(len(tasks)) if i not in held])
        for index in held:
            value = model.predict(tasks[index].signals)
            scores[index] = tasks[index].signals["label"] if value is None else value
    return scores


def per_100(tasks: Sequence[Task], chosen: Sequence[int]) -> float:
    return 100 * sum(tasks[index].wrong for index in chosen) / len(chosen)


def strategies(tasks: list[Task], vectors: Any, k: int, rounds: int, seed: int) -> dict[str, float]:
    combined = combined_scores(tasks, seed)
    random_mean = sum(per_100(tasks, random.Random(seed + r).sample(range(len(tasks)), k))
                      for r in range(rounds)) / rounds
    labels, centres = clusters(vectors, k)
    budget_labels, _ = clusters(vectors, min(k, math.ceil(math.sqrt(len(tasks)))))
    uncertainty = [1.0 - task.signals["label"] for task in tasks]
    return {
        "random": random_mean,
        "lowest label confidence": per_100(tasks, lowest(tasks, lambda t: value(t, "label"), k)),
        "lowest margin": per_100(tasks, lowest(tasks, lambda t: value(t, "margin"), k)),
        "lowest self-verification P(yes)": per_100(tasks, lowest(tasks, lambda t: value(t, "self_verify"), k)),
        "lowest combined": per_100(tasks, sorted(range(len(tasks)), key=lambda i: (combined[i], i))[:k]),
        "diverse (cluster representatives)": per_100(tasks, representatives(vectors, labels, centres)),
        "budget (uncertainty covering clusters)": per_100(tasks, allocate(budget_labels, uncertainty, k)),
    }


def calibration(tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """ECE before and after (cross-validated) for the label confidence and for P(yes)."""
    found = {}
    for name in ("label", "self_verify"):
        fitted = fit_calibration([Verified(i, value(task, name), not task.wrong) for i, task in enumerate(tasks)])
        found[name] = {"before": fitted.ece_before, "after": fitted.ece_after,
                       "method": fitted.map.method if fitted.map else None}
    return found


def true_effort(tasks: Sequence[Task], strategy: str, target: float, rounds: int, seed: int) -> float:
    """Tasks to verify, by the gold labels, verifying in the strategy's order (random: mean)."""
    def needed(order: list[int]) -> int:
        wrong_left = sum(task.wrong for task in tasks)
        for verified, index in enumerate([*order, None]):
            if 1 - wrong_left / len(tasks) >= target or index is None:
                return verified
            wrong_left -= tasks[index].wrong
        return len(tasks)

    if strategy == "random":
        orders = [random.Random(seed + r).sample(range(len(tasks)), len(tasks)) for r in range(rounds)]
        return sum(needed(order) for order in orders) / rounds
    return needed(lowest(tasks, lambda t: value(t, strategy), len(tasks)))


def effort_table(tasks: list[Task], target: float, sample: int, rounds: int, seed: int) -> str:
    chosen = random.Random(seed).sample(range(len(tasks)), sample)
    figures = effort([task.signals for task in tasks], [(tasks[i].signals, not tasks[i].wrong) for i in chosen],
                     0, target)
    lines = [f"| verify by | estimated from {sample} verified (95% interval) | true (gold) |", "|---|---:|---:|"]
    for strategy, figure in figures.items():
        if figure["available"]:
            interval = figure["interval"]
            lines.append(f"| {strategy} | {figure['tasks']} [{interval['low']}, {interval['high']}] | "
                         f"{true_effort(tasks, strategy, target, rounds, seed):.0f} |")
    return "\n".join(lines)


def label_data(args: argparse.Namespace) -> tuple[list[Task], int, Any, str]:
    """(tasks with a label, answers without one, their vectors, what the vectors are)."""
    if args.data == "demo":
        server = serve()
        os.environ[KEY_ENV] = "bench"
        try:
            annotator, config = simulator_annotator(server.url)
            tasks, unlabelled = label_all(annotator, demo_reviews(), args.workers)
            matrix, source, note = represent_at(config, server.url, [task.text for task in tasks])
        finally:
            server.stop()
        return tasks, unlabelled, matrix, note or source
    data = snippets()
    chosen = random.Random(args.seed).sample(data, min(args.limit, len(data)))
    os.environ[KEY_ENV] = "no-key-needed"
    process, llama = start_llama_server()
    try:
        annotator, config = real_annotator(llama.base_url, llama.model, args.workers, chosen[0][0])
        tasks, unlabelled = label_all(annotator, chosen, args.workers)
        matrix, source, note = represent_at(config, llama.base_url, [task.text for task in tasks])
    finally:
        stop_llama_server(process)
    return tasks, unlabelled, matrix, note or source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["demo", "snippets"], default="demo",
                        help="demo: the simulator on the demo reviews; snippets: the real model on review snippets")
    parser.add_argument("--limit", type=int, default=200, help="snippets, sampled at random (seeded; --data snippets)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100], help="Tasks reviewed per strategy.")
    parser.add_argument("--rounds", type=int, default=50, help="Random samples averaged.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--target", type=float, default=0.95, help="Final accuracy for the effort figures.")
    parser.add_argument("--verified", type=int, default=100, help="Random tasks verified for the effort estimate.")
    args = parser.parse_args()
    started = time.monotonic()
    tasks, unlabelled, matrix, representation = label_data(args)
    errors = sum(task.wrong for task in tasks)
    unverified = sum(task.signals.get("self_verify") is None for task in tasks)
    source = ("SIMULATOR figures (sim-small on the demo reviews with gold labels)" if args.data == "demo" else
              "REAL-MODEL figures (SmolLM2-135M-Instruct under llama.cpp on movie-review snippets)")
    print(f"{source}: {len(tasks)} labelled, {unlabelled} without a label (left out); {errors} errors, "
          f"{100 * errors / len(tasks):.1f} per 100 tasks; {unverified} without a self-verification "
          f"(scored by the label confidence); vectors: {representation}; "
          f"{time.monotonic() - started:.0f} s\n")
    budgets = [k for k in args.budgets if k <= len(tasks)]
    results = {k: strategies(tasks, matrix, k, args.rounds, args.seed) for k in budgets}
    print("| strategy | " + " | ".join(f"errors per 100 reviewed (K={k})" for k in budgets) + " |")
    print("|---|" + "---:|" * len(budgets))
    for name in results[budgets[0]]:
        print(f"| {name} | " + " | ".join(f"{results[k][name]:.1f}" for k in budgets) + " |")
    print("\n| confidence | ECE before | ECE after (cross-validated) | map |\n|---|---:|---:|---|")
    for name, figures in calibration(tasks).items():
        print(f"| {name} | {figures['before']:.3f} | {figures['after']:.3f} | {figures['method']} |")
    print(f"\ntasks to verify for a final accuracy of {args.target:g} (of {len(tasks)}):\n")
    print(effort_table(tasks, args.target, min(args.verified, len(tasks)), args.rounds, args.seed))


if __name__ == "__main__":
    main()
