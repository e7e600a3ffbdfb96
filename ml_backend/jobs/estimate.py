"""What a job would cost before it runs: the real prompts of the subset, counted with the
model's tokenizer, plus the answers the model is expected to write.

The prompt side is exact up to the tokenizer (see ``ml_backend.engine.tokens``); the output side is
an estimate, from the length of the answer format with an average label. Tasks whose answer is
already cached cost nothing and are counted apart, as are tasks with empty input (never sent).
The subset is read a page at a time, so the estimate of a large project stays small in memory.
"""

from __future__ import annotations

import json
from statistics import mean
from typing import Any

from ml_backend.engine import prompts, tokens
from ml_backend.engine.agents import Agent
from ml_backend.engine.annotate import cache_key
from ml_backend.engine.labeling import EmptyInputError
from ml_backend.engine.signals import needs_samples
from ml_backend.jobs import signalcost
from ml_backend.jobs.pricing import price_for
from ml_backend.jobs.subset import Subset
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord

PAGE_SIZE = 500
NOTE = ("estimate: prompt tokens are counted on the real prompts; output tokens assume an answer of "
        "average label length; cached tasks cost nothing; provider prices change")


def estimate(runtime: Runtime, record: AgentRecord, subset: Subset, project: int | None = None) -> dict[str, Any]:
    """The estimate of running agent ``record`` on ``subset`` of ``project`` (default: the agent's)."""
    from sync.tasks import iter_task_pages

    agent = Agent.from_record(record)
    model = agent.config.model
    calls, samples = _calls_per_task(agent)
    counts = {"tasks": 0, "cached_tasks": 0, "empty_input_tasks": 0, "prompt_tokens": 0}
    pages = iter_task_pages(runtime.label_studio(), project or record.project, page_size=PAGE_SIZE,
                            fields=("id", "data"),
                            **subset.selection())
    for page in pages:
        for task in page:
            _count(runtime, agent, task, counts, calls)
    billable = counts["tasks"] - counts["cached_tasks"] - counts["empty_input_tasks"]
    output = billable * samples * expected_output_tokens(agent)
    extra = signalcost.estimated(agent, billable, counts["prompt_tokens"] // calls, expected_output_tokens(agent))
    counts["prompt_tokens"] += extra.get("self_verify", {}).get("prompt_tokens", 0)
    output += extra.get("self_verify", {}).get("completion_tokens", 0)
    price = price_for(model)
    return {
        "estimate": True,
        "agent": record.id,
        "model_version": record.model_version,
        "model": model,
        "subset": subset.text,
        **counts,
        "billable_tasks": billable,
        "expected_output_tokens": output,
        "cost": round(price.cost(counts["prompt_tokens"], output), 6),
        "currency": "USD",
        "price_source": price.source,
        "signals": {"confidence": agent.config.confidence, "extra": extra},
        "note": NOTE,
    }


def _count(runtime: Runtime, agent: Agent, task: dict[str, Any], counts: dict[str, int], calls: int) -> None:
    counts["tasks"] += 1
    try:
        messages = prompts.render_messages(agent.template, agent.spec, task.get("data") or {}, agent.config.few_shot)
    except EmptyInputError:
        counts["empty_input_tasks"] += 1
        return
    if runtime.store.cache_get(cache_key(agent.id, messages)) is not None:
        counts["cached_tasks"] += 1
        return
    counts["prompt_tokens"] += calls * tokens.count_messages(messages, agent.config.model)


def _calls_per_task(agent: Agent) -> tuple[int, int]:
    """(prompts sent, answers written) per task: without logprobs (or with the ``consistency``
    confidence) the annotator asks again for ``consistency_samples`` answers to measure agreement."""
    if agent.config.logprobs and not needs_samples(agent.config.confidence):
        return 1, 1
    return 2, 1 + agent.config.consistency_samples


def expected_output_tokens(agent: Agent) -> int:
    """Tokens of one answer ``{"control": "label", ...}`` with labels of average length, at most
    ``max_tokens``."""
    model = agent.config.model
    skeleton = tokens.count_text(json.dumps({control.name: "" for control in agent.spec.controls}), model)
    labels = sum(mean(tokens.count_text(label.text, model) for label in control.labels)
                 for control in agent.spec.controls)
    return min(round(skeleton + labels), agent.config.max_tokens)
