"""Self-verification: a second call asking the model whether the labels it chose are right.

Why a second call: the label probability measures how the model hesitated *while writing* the
label; asking it to judge a finished answer is a different look at the same text, and it catches
some of the answers the model wrote confidently but would not defend (MEGAnno+ lists it among the
ways to pick what humans verify).

The question is locked, never the user's template: the agent's instruction (what the task is
about), each control's options (``## Options for: <control>``) and the proposed labels
(``## Proposed label for: <control>``), then a yes/no choice answered in the same locked format
as labels (``## Choose exactly one label for: verdict`` with ``- yes`` / ``- no`` and a JSON
object ``{"verdict": "yes"}``). The user message is the task input exactly as the agent sent it.

Because the verdict is itself a one-control label set, the engine reads it like any answer
(``answers.score_answer``): P(yes) is the probability of "yes" normalised over {yes, no} at the
verdict's token (``confidence.label_probability``, which bounds unseen alternatives). Without
logprobs the endpoint is asked for ``consistency_samples`` sampled verdicts and P(yes) is the share
of readable verdicts saying yes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from ml_backend.engine.answers import score_answer
from ml_backend.engine.labeling import LabelSpec, parse_label_config
from ml_backend.engine.llm import LLMCallError, LLMClient
from ml_backend.engine.postprocess import parse_response, response_format

VERDICT = "verdict"
YES, NO = "yes", "no"
SAMPLE_TEMPERATURE = 0.7
_VERDICT_CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="verdict" toName="text">'
    '<Choice value="yes"/><Choice value="no"/></Choices></View>'
)


@cache
def verdict_spec() -> LabelSpec:
    """The verdict as a label set of its own: one single-choice control, labels yes and no."""
    return parse_label_config(_VERDICT_CONFIG)


def question(spec: LabelSpec, instructions: str, labels: Mapping[str, Sequence[str]]) -> str:
    """The system message asking whether ``labels`` (result values per control) are right."""
    parts = [instructions.strip(), ""] if instructions.strip() else []
    for control in spec.controls:
        chosen = labels.get(control.name, [])
        parts += [f"## Options for: {control.name}", *(f"- {text}" for text in control.texts), ""]
        parts += [f"## Proposed label for: {control.name}", *(f"- {control.text_of(v)}" for v in chosen), ""]
    parts += [
        "## Question",
        "A labeler chose the proposed labels above for the text in the next message. "
        "Are they right for that text?",
        "",
        f"## Choose exactly one label for: {VERDICT}",
        f"- {YES}",
        f"- {NO}",
        "",
        "## Output format",
        'Answer with ONLY a JSON object and no other text: {"verdict": "yes"} if the proposed labels are right, '
        '{"verdict": "no"} if not.',
    ]
    return "\n".join(parts)


def messages(spec: LabelSpec, instructions: str, task_messages: list[dict[str, str]],
             labels: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """The verification request: the locked question, then the task input the agent was sent."""
    return [{"role": "system", "content": question(spec, instructions, labels)}, *task_messages[1:]]


def p_yes(content: str | None, logprobs: Sequence[Mapping[str, Any]] | None,
          samples: Sequence[str | None] | None) -> float | None:
    """P(yes) normalised over yes/no: from the verdict token's logprobs, else the share of readable
    sampled verdicts saying yes; None when neither can be read."""
    if logprobs:
        answer = score_answer(verdict_spec(), content, logprobs)
        if answer.error is None and answer.score is not None:
            chosen = answer.labels[VERDICT][0]
            return answer.score if chosen == YES else 1.0 - answer.score
    verdicts = [_verdict(sample) for sample in samples or ()]
    read = [verdict for verdict in verdicts if verdict is not None]
    if not read:
        return None
    return sum(verdict == YES for verdict in read) / len(read)


def ask(client: LLMClient, verify_messages: list[dict[str, str]], samples: int, temperature: float) -> dict[str, Any]:
    """Ask the question; the result is the cached form: the verdict's probability, what the asking
    cost, or the error that stopped it (a failed verification never fails the task's label)."""
    form = response_format(verdict_spec())
    cost = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    try:
        first = client.complete(verify_messages, response_format=form)
        _add_cost(cost, first)
        drawn: list[str | None] | None = None
        if first.logprobs is None:
            sampled = client.complete(verify_messages, response_format=form, n=samples,
                                      temperature=max(temperature, SAMPLE_TEMPERATURE))
            _add_cost(cost, sampled)
            drawn = sampled.samples or [sampled.content]
    except LLMCallError as exc:
        return {"p_yes": None, "error": str(exc), "cost": cost}
    probability = p_yes(first.content, first.logprobs, drawn)
    error = None if probability is not None else f"the verdict could not be read: {first.content!r:.80}"
    return {"p_yes": probability, "method": "logprobs" if first.logprobs else "samples", "error": error,
            "cost": cost}


def _add_cost(cost: dict[str, int], completion: Any) -> None:
    cost["calls"] += completion.attempts  # HTTP requests: n samples are n calls where choices are refused
    cost["prompt_tokens"] += completion.prompt_tokens or 0
    cost["completion_tokens"] += completion.completion_tokens or 0


def _verdict(content: str | None) -> str | None:
    parsed = parse_response(content, verdict_spec())
    if parsed.error is not None:
        return None
    chosen = parsed.answers[VERDICT].labels
    return chosen[0] if len(chosen) == 1 else None
