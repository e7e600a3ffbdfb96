"""What an OpenAI-compatible endpoint accepts, found once at registration and stored with the agent.

Why negotiate once: servers differ (llama.cpp's server refuses a ``json_schema`` response format
with a 500, older Ollama ignores ``logprobs``, some refuse ``seed``). Discovering that call by
call makes every concurrent first call of every job fail once; so registration asks, keeps the
answer in the agent's model config (``capabilities``, shown by ``agents show``), and every later
call sends only what the endpoint took.

The rule: the test request starts with everything the agent wants (the response format it asks
for, ``logprobs`` with ``top_logprobs``, its ``seed``). An error answer, 4xx *or* 5xx, whose body
names one of those parameters marks that parameter unsupported: the response format steps down
``json_schema`` -> ``json_object`` -> none (unless the agent forced one), ``top_logprobs`` and
then ``logprobs`` are dropped, ``seed`` is dropped; and the request is sent again. An error that
names none of them is a real failure. Logprobs that were accepted but not returned count as
unsupported. A second short call with ``n=2`` tells whether the endpoint returns several choices
in one call (llama.cpp returns one); where it does not, self-consistency samples are separate calls.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ml_backend.engine.llm import LLMCallError, LLMClient
from ml_backend.engine.modelconfig import Capabilities, Format

FORMAT_LADDER: tuple[Format, ...] = ("json_schema", "json_object", "none")
MAX_PROBES = 6

_NAMES = {
    "response_format": re.compile(r"response_format|json_schema|json_object", re.I),
    "top_logprobs": re.compile(r"top_logprobs", re.I),
    "logprobs": re.compile(r"(?<!top_)logprobs", re.I),
    "seed": re.compile(r"\bseed\b", re.I),
}


class NegotiationError(Exception):
    """The endpoint refused the test request for a reason no parameter change can fix."""

    def __init__(self, detail: str, status: int | str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def rejected_parameter(detail: str, offered: set[str]) -> str | None:
    """The offered parameter an error body names, in the order it is worth giving up."""
    for name in ("response_format", "top_logprobs", "logprobs", "seed"):
        if name in offered and _NAMES[name].search(detail):
            return name
    return None


def _refuses(error: BaseException, offered: set[str]) -> bool:
    """Whether ``error`` is the endpoint refusing one of the ``offered`` parameters."""
    return rejected_parameter(str(error), offered) is not None


def negotiate(client: LLMClient, messages: list[dict[str, Any]], schema_format: dict[str, Any]) -> Capabilities:
    """Find what the client's endpoint accepts with a few short test calls (see the module doc)."""
    config = client.config
    formats = list(FORMAT_LADDER) if config.response_format == "auto" else [config.response_format]
    wanted: dict[str, Any] = {"format": formats.pop(0), "logprobs": config.logprobs,
                              "top": config.top_logprobs if config.logprobs else 0, "seed": config.seed is not None}
    for _ in range(MAX_PROBES):
        refusal = functools.partial(_refuses, offered=_offered(wanted))
        try:
            completion = client.probe(messages, response_format=_format_body(wanted["format"], schema_format),
                                      logprobs=wanted["logprobs"], top_logprobs=wanted["top"], seed=wanted["seed"],
                                      refusal=refusal)
        except LLMCallError as exc:
            if not _step_down(wanted, formats, exc):
                raise NegotiationError(exc.detail, exc.status) from None
            continue
        answered_logprobs = completion.logprobs is not None
        return Capabilities(response_format=wanted["format"], logprobs=wanted["logprobs"] and answered_logprobs,
                            top_logprobs=wanted["top"] if completion.logprobs is not None else 0,
                            seed=wanted["seed"], choices=_returns_choices(client, messages))
    raise NegotiationError("the endpoint kept refusing the test request", None)


def _step_down(wanted: dict[str, Any], formats: list[Format], error: LLMCallError) -> bool:
    """Give up the parameter the error names; False when it names none that can be given up."""
    status = error.status
    if not isinstance(status, int) or status < 400 or status in (401, 403, 404, 429):
        return False
    name = rejected_parameter(error.detail, _offered(wanted))
    if name == "response_format":
        if not formats:
            return False
        wanted["format"] = formats.pop(0)
    elif name == "top_logprobs":
        wanted["top"] = 0
    elif name == "logprobs":
        wanted["logprobs"], wanted["top"] = False, 0
    elif name == "seed":
        wanted["seed"] = False
    return name is not None


def _offered(wanted: dict[str, Any]) -> set[str]:
    """The optional parameters the next test request sends."""
    sent = {"response_format": wanted["format"] != "none", "top_logprobs": wanted["top"] > 0,
            "logprobs": wanted["logprobs"], "seed": wanted["seed"]}
    return {name for name, on in sent.items() if on}


def _returns_choices(client: LLMClient, messages: list[dict[str, Any]]) -> bool:
    try:
        completion = client.probe(messages, response_format=None, logprobs=False, top_logprobs=0, seed=False, n=2)
    except LLMCallError:
        return False
    return len(completion.samples or []) >= 2


def _format_body(kind: Format, schema_format: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "json_schema":
        return schema_format
    return {"type": "json_object"} if kind == "json_object" else None


def format_body(capabilities: Capabilities, schema_format: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` a call sends under these capabilities."""
    return _format_body(capabilities.response_format, schema_format)
