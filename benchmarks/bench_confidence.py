"""How well each confidence signal separates right labels from wrong ones, on real labelled text.

Data: the movie-review snippets with averaged human ratings (Hutto & Gilbert, ICWSM 2014) that
ship inside the ``vadersentiment==3.3.2`` sdist (``additional_resources/hutto_ICWSM_2014.tar.gz``,
``movieReviewSnippets_GroundTruth.txt``). The sdist is fetched with ``pip download`` (the package
registry only), its sha256 checked, and only that text file is read: none of its code runs.
Gold = the sign of the mean rating (snippets rated exactly 0 are left out).

Model: SmolLM2-135M-Instruct under llama-cpp-python's server (``scripts/setup_llama.sh``), called
through the engine exactly as a job does (negotiated capabilities, the locked prompt, the
post-processing). Signals compared, for the same answers:

* label probability (the project's confidence, with the unseen-label bound),
* the whole answer's arithmetic mean token probability (MEGAnno+ style),
* its geometric mean (Autolabel style),
* self-consistency: the share of k extra samples (temperature 0.7) that agree with the answer.

An answer with no valid label counts as wrong in the accuracy; the signals are compared on the
answers that have a label (an unlabelled answer is caught by its error class, not by a score).
Printed: accuracy, and per signal, over the labelled answers, the AUROC (right vs wrong) with a
95% bootstrap interval and the selective accuracy of the most confident 50% and 80%.

    .venv/bin/python benchmarks/bench_confidence.py --limit 300 --samples 5
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snippets import CONFIG, INSTRUCTIONS, snippets  # noqa: E402

from ml_backend.engine import agents, capabilities, prompts  # noqa: E402
from ml_backend.engine.annotate import SELF_CONSISTENCY_TEMPERATURE, Annotator, MemoryCache  # noqa: E402
from ml_backend.engine.llm import LLMClient  # noqa: E402
from ml_backend.engine.modelconfig import ModelConfig  # noqa: E402
from ml_backend.engine.postprocess import parse_response, response_format  # noqa: E402
from ml_backend.review.calibration import Verified, auroc  # noqa: E402
from tests.fixtures.llama import start_llama_server, stop_llama_server  # noqa: E402

KEY_ENV = "LSAGENT_BENCH_LLM_KEY"
SIGNALS = ("label probability (bounded)", "arithmetic mean", "geometric mean", "self-consistency")


@dataclass(frozen=True)
class Row:
    correct: bool
    signals: tuple[float, float, float, float]
    labelled: bool = True


def label_all(base_url: str, model: str, data: list[tuple[str, str]], samples: int, workers: int) -> list[Row]:
    config = ModelConfig(model=model, base_url=base_url, api_key_env=KEY_ENV, max_tokens=24, temperature=0.0,
                         max_concurrency=workers, timeout=120.0)
    agent = agents.draft(name="bench", project=1, label_config=CONFIG, config=config, instructions=INSTRUCTIONS)
    spec, template = agent.spec, agent.template
    client = LLMClient(config)
    schema = response_format(spec)
    first = prompts.render_messages(template, spec, {"text": data[0][0]})
    client.adopt(capabilities.negotiate(client, first, schema))
    print(f"negotiated: {client.capabilities}", flush=True)
    annotator = Annotator(agent, client, MemoryCache())

    def one(index: int) -> Row:
        text, gold = data[index]
        outcome = annotator.annotate({"id": index, "data": {"text": text}})
        if not outcome.ok:
            return Row(False, (0.0, 0.0, 0.0, 0.0), labelled=False)
        chosen = outcome.labels["sentiment"][0]
        messages = prompts.render_messages(template, spec, {"text": text})
        drawn = client.complete(messages, response_format=schema, n=samples,
                                temperature=SELF_CONSISTENCY_TEMPERATURE)
        agree = sum(1 for sample in drawn.samples or [] if _label_of(sample, spec) == chosen) / samples
        meta = outcome.meta
        return Row(chosen == gold,
                   (outcome.score or 0.0, meta["mean_prob"] or 0.0, meta["geo_mean_prob"] or 0.0, agree))

    with ThreadPoolExecutor(workers) as pool:
        rows = []
        for done, row in enumerate(pool.map(one, range(len(data))), start=1):
            rows.append(row)
            if done % 25 == 0:
                print(f"  {done}/{len(data)} labelled", flush=True)
    client.close()
    return rows


def _label_of(content: str | None, spec: Any) -> str | None:
    parsed = parse_response(content, spec)
    return None if parsed.error else parsed.answers["sentiment"].labels[0]


def auroc_of(rows: list[Row], signal: int) -> float | None:
    return auroc([Verified(i, row.signals[signal], row.correct) for i, row in enumerate(rows)])


def bootstrap(rows: list[Row], signal: int, rounds: int, seed: int) -> tuple[float, float] | None:
    rng = random.Random(seed)
    values = sorted(value for value in (auroc_of(rng.choices(rows, k=len(rows)), signal) for _ in range(rounds))
                    if value is not None)
    if not values:
        return None
    return values[int(0.025 * len(values))], values[min(len(values) - 1, int(0.975 * len(values)))]


def selective_accuracy(rows: list[Row], signal: int, coverage: float) -> float:
    """Accuracy of the most confident ``coverage`` share (ties broken by order, stable)."""
    ranked = sorted(rows, key=lambda row: -row.signals[signal])
    kept = ranked[: max(1, math.ceil(coverage * len(rows)))]
    return sum(row.correct for row in kept) / len(kept)


def table(rows: list[Row], rounds: int, seed: int) -> str:
    lines = ["| signal | AUROC [95% bootstrap] | accuracy at 50% coverage | at 80% coverage |", "|---|---|---|---|"]
    for index, name in enumerate(SIGNALS):
        value, interval = auroc_of(rows, index), bootstrap(rows, index, rounds, seed)
        shown = "-" if value is None else f"{value:.3f}"
        if interval:
            shown += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        lines.append(f"| {name} | {shown} | {selective_accuracy(rows, index, 0.5):.1%} | "
                     f"{selective_accuracy(rows, index, 0.8):.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=300, help="snippets, sampled at random (seeded)")
    parser.add_argument("--samples", type=int, default=5, help="self-consistency samples per snippet")
    parser.add_argument("--workers", type=int, default=2, help="concurrent calls")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = snippets()
    chosen = random.Random(args.seed).sample(data, min(args.limit, len(data)))
    print(f"{len(chosen)} of {len(data)} snippets; {args.samples} self-consistency samples each", flush=True)
    os.environ[KEY_ENV] = "no-key-needed"
    process, server = start_llama_server()
    started = time.monotonic()
    try:
        rows = label_all(server.base_url, server.model, chosen, args.samples, args.workers)
    finally:
        stop_llama_server(process)
    correct = sum(row.correct for row in rows)
    labelled = [row for row in rows if row.labelled]
    print(f"\naccuracy {correct}/{len(rows)} = {correct / len(rows):.1%}; {len(labelled)} answers with a label, "
          f"{correct / max(1, len(labelled)):.1%} of them right; {time.monotonic() - started:.0f} s\n")
    print(table(labelled, args.bootstrap, args.seed))


if __name__ == "__main__":
    main()
