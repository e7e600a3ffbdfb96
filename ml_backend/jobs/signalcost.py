"""What the paid uncertainty signals (``engine.signals``) add to a job: calls and tokens, predicted
for the estimate and counted for the summary.

Why apart from the main figures: an agent whose confidence is ``self_verify`` or ``combined`` asks
every task a second question, and ``consistency`` with logprobs asks for sampled answers; that is
a real share of the bill and the user chose it, so both the estimate and the summary name it.
"""

from __future__ import annotations

from typing import Any

from ml_backend.engine import prompts, selfverify, signals, tokens
from ml_backend.engine.agents import Agent
from ml_backend.engine.labeling import EmptyInputError
from ml_backend.store import JobRecord, Store

# {"verdict": "yes"} written as tokens, rounded up.
VERDICT_OUTPUT_TOKENS = 6


def estimated(agent: Agent, billable: int, prompt_tokens: int, answer_tokens: int) -> dict[str, Any]:
    """The extra calls and tokens of the agent's confidence signal over ``billable`` tasks whose
    label prompts total ``prompt_tokens`` (one prompt each) and whose answers are about
    ``answer_tokens`` long; empty when the signal is free."""
    confidence = agent.config.confidence
    extra: dict[str, Any] = {}
    if signals.needs_verification(confidence):
        sampled = not agent.config.logprobs
        calls = 2 if sampled else 1
        answers = 1 + (agent.config.consistency_samples if sampled else 0)
        extra["self_verify"] = {
            "calls": billable * calls,
            "prompt_tokens": calls * (prompt_tokens + billable * _question_overhead(agent)),
            "completion_tokens": billable * answers * VERDICT_OUTPUT_TOKENS,
        }
    if signals.needs_samples(confidence) and agent.config.logprobs:
        extra["consistency"] = {"calls": billable, "prompt_tokens": prompt_tokens,
                                "completion_tokens": billable * agent.config.consistency_samples * answer_tokens}
    return extra


def counted(store: Store, job: JobRecord, confidence: str) -> dict[str, Any] | None:
    """Calls and tokens the job's items spent on signals (from their ``meta["signals"]["cost"]``);
    None when the agent's confidence costs nothing extra (the items are then not read)."""
    if not (signals.needs_verification(confidence) or signals.needs_samples(confidence)):
        return None
    totals: dict[str, dict[str, int]] = {}
    fallbacks = 0
    for item in store.items(job.id, outcome="labeled"):
        found = (item.meta or {}).get("signals") or {}
        fallbacks += "fallback" in found
        for name, cost in (found.get("cost") or {}).items():
            total = totals.setdefault(name, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
            for key in total:
                total[key] += int((cost or {}).get(key) or 0)
    return {"confidence": confidence, "cost": totals, "fallback_items": fallbacks}


def _question_overhead(agent: Agent) -> int:
    """Tokens the verification question adds to a task's prompt (it replaces the system message,
    so it may be fewer), counted on the question with each control's first label proposed."""
    model = agent.config.model
    proposed = {control.name: [control.labels[0].value] for control in agent.spec.controls}
    question = selfverify.question(agent.spec, agent.template.instructions, proposed)
    label_system = _system_of(agent)
    return tokens.count_text(question, model) - tokens.count_text(label_system, model)


def _system_of(agent: Agent) -> str:
    """The agent's system message (the same for every task, see ``engine.prompts``); empty when
    the probe cannot fill an input (then the whole question counts as overhead)."""
    probe = {field.data_key: "x" for field in agent.spec.inputs}
    try:
        return prompts.render_messages(agent.template, agent.spec, probe)[0]["content"]
    except EmptyInputError:
        return ""
