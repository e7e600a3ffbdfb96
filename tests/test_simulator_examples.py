"""The simulator's few-shot gain: a prompt that shows answered examples halves the simulated
model's error probability, with the same seeded draw, so its errors are a subset of the errors
it makes without examples (what lets a derived agent's job disagree with its base agent's)."""

from __future__ import annotations

from ml_backend.simulator.behaviour import Context, _guess, decide
from ml_backend.simulator.models import MODELS
from ml_backend.simulator.prompt import Directives, SimControl
from ml_backend.simulator.validation import ChatRequest

CONTROL = SimControl("sentiment", ("Positive", "Negative", "Neutral"), multiple=False)
TEXTS = [f"parcel {index} reached the depot on day {index % 7}" for index in range(600)]


def wrong(shown_examples: bool) -> set[str]:
    found = set()
    for text in TEXTS:
        ctx = Context(text=text, seed=0, model=MODELS["sim-small"], temperature=0.0, sample=0,
                      directives=Directives(), shown_examples=shown_examples)
        [pick] = decide([CONTROL], ctx)
        if pick.labels[0] != CONTROL.labels[_guess(CONTROL.labels, text, CONTROL.name).index]:
            found.add(text)
    return found


def test_examples_halve_the_error_rate_on_the_same_draw() -> None:
    without, shown = wrong(False), wrong(True)
    assert shown < without, "with examples the model errs on a strict subset of the tasks"
    assert 0.3 < len(shown) / len(without) < 0.7, (len(shown), len(without))


def test_examples_are_counted_from_turns_and_the_fixed_block() -> None:
    def request(messages: list[dict[str, str]]) -> ChatRequest:
        return ChatRequest(model=MODELS["sim-small"], messages=tuple(messages), n=1, temperature=0.0, seed=None,
                           max_tokens=None, logprobs=False, top_logprobs=0, response_type="text", schema=None)

    system = {"role": "system", "content": 'rules\n## Verified examples\nText:\nx\nAnswer: {"a": "b"}\nText:\ny\n'
                                           'Answer: {"a": "c"}'}
    turns = [{"role": "user", "content": "z"}, {"role": "assistant", "content": '{"a": "b"}'}]
    assert request([system, {"role": "user", "content": "t"}]).examples == 2
    assert request([{"role": "system", "content": "rules"}, *turns, {"role": "user", "content": "t"}]).examples == 1
    assert request([{"role": "system", "content": "rules"}, {"role": "user", "content": "t"}]).examples == 0
