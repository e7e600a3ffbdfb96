"""Request checks that answer like the OpenAI API: same status codes, same error JSON shape.

A client's error handling can only be tested against errors that look real, so each rejection
names the parameter and uses OpenAI's ``type``/``code`` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_backend.simulator.models import MODELS, ModelSpec

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class ApiError(Exception):
    """An error response: HTTP status plus OpenAI's ``{"error": {...}}`` body."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        self.headers = headers or {}


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat completion request, messages flattened to plain text."""

    model: ModelSpec
    messages: tuple[dict[str, str], ...]
    n: int
    temperature: float
    seed: int | None
    max_tokens: int | None
    logprobs: bool
    top_logprobs: int
    response_type: str
    schema: dict[str, Any] | None

    @property
    def task_text(self) -> str:
        """The last message: where the prompt puts the task input."""
        return self.messages[-1]["content"]

    @property
    def examples(self) -> int:
        """How many answered examples the prompt shows: assistant turns before the task, and
        ``Answer: {...}`` lines (lsagent's fixed few-shot block, ``engine.fewshot``)."""
        turns = sum(message["role"] == "assistant" for message in self.messages[:-1])
        lines = sum(line.startswith("Answer: {") for message in self.messages[:-1] if message["role"] == "system"
                    for line in message["content"].splitlines())
        return turns + lines

    @property
    def instructions(self) -> str:
        """Every message before the last one (the system prompt and any few-shot turns)."""
        return "\n".join(message["content"] for message in self.messages[:-1])


def bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    """A 400 invalid_request_error."""
    return ApiError(400, message, param=param, code=code)


def refuse_parameters(body: dict[str, Any], rejected: list[str], status: int) -> None:
    """Refuse a parameter this simulated server does not support, naming it in the error body
    (llama.cpp's server answers a ``json_schema`` response format with a 500 like this)."""
    for name in rejected:
        if _sends(body, name):
            param = "response_format" if name in ("json_schema", "json_object") else name
            raise ApiError(status, f"Unsupported value for '{param}': {name} is not supported by this server.",
                           param=param, code="unsupported_parameter")


def _sends(body: dict[str, Any], name: str) -> bool:
    if name in ("json_schema", "json_object"):
        response_format = body.get("response_format")
        return isinstance(response_format, dict) and response_format.get("type") == name
    if name == "n":
        return body.get("n") not in (None, 1)
    return body.get(name) not in (None, False)


def validate(body: Any) -> ChatRequest:
    """Check a parsed JSON body; raises ApiError (400, or 404 for an unknown model)."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", code=None)
    model = _model(body.get("model"))
    if body.get("stream"):
        raise bad("The simulator does not stream; send stream=false.", "stream", "unsupported_value")
    logprobs = _optional(body, "logprobs", bool) or False
    top_logprobs = _integer(body, "top_logprobs", 0, 20)
    if top_logprobs is not None and not logprobs:
        raise bad("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
                  "top_logprobs")
    _number(body, "top_p", 0.0, 1.0, open_low=True)
    max_tokens = _integer(body, "max_completion_tokens", 1, None)
    max_tokens = _integer(body, "max_tokens", 1, None) if max_tokens is None else max_tokens
    response_type, schema = _response_format(body.get("response_format"))
    temperature = _number(body, "temperature", 0.0, 2.0)
    return ChatRequest(model=model, messages=_messages(body.get("messages")), n=_integer(body, "n", 1, 128) or 1,
                       temperature=1.0 if temperature is None else temperature,
                       seed=_integer(body, "seed", None, None), max_tokens=max_tokens, logprobs=logprobs,
                       top_logprobs=top_logprobs or 0, response_type=response_type, schema=schema)


def _model(name: Any) -> ModelSpec:
    if name is None:
        raise bad("You must provide a model parameter.", "model", "missing_required_parameter")
    if not isinstance(name, str) or name not in MODELS:
        raise ApiError(404, f"The model `{name}` does not exist or you do not have access to it.",
                       code="model_not_found")
    return MODELS[name]


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        raise bad("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(value, list):
        raise bad(f"Invalid type for 'messages': expected an array, but got {type(value).__name__} instead.",
                  "messages", "invalid_type")
    if not value:
        raise bad("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                  "empty_array")
    return tuple(_message(index, message) for index, message in enumerate(value))


def _message(index: int, message: Any) -> dict[str, str]:
    param = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise bad(f"Invalid '{param}': expected an object with a 'role' among {sorted(_ROLES)}.", param)
    content = message.get("content")
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        if len(parts) != len(content) or not all(isinstance(part, str) for part in parts):
            raise bad(f"Invalid '{param}.content': only text parts are supported.", f"{param}.content")
        content = "".join(part for part in parts if isinstance(part, str))  # all are, as checked
    if content is None and message["role"] == "assistant":
        content = ""
    if not isinstance(content, str):
        raise bad(f"Invalid type for '{param}.content': expected a string or an array of text parts.",
                  f"{param}.content", "invalid_type")
    return {"role": message["role"], "content": content}


def _response_format(value: Any) -> tuple[str, dict[str, Any] | None]:
    if value is None:
        return "text", None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return kind, None
    if kind != "json_schema":
        raise bad("Invalid 'response_format.type': expected one of 'text', 'json_object', 'json_schema'.",
                  "response_format.type")
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise bad("Invalid 'response_format.json_schema': expected an object with a 'schema' object.",
                  "response_format.json_schema")
    return kind, spec["schema"]


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, kind):
        raise bad(f"Invalid type for '{name}': expected {kind.__name__}, but got {type(value).__name__} instead.",
                  name, "invalid_type")
    return value


def _integer(body: dict[str, Any], name: str, low: int | None, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"Invalid type for '{name}': expected an integer, but got {type(value).__name__} instead.",
                  name, "invalid_type")
    if low is not None and value < low:
        raise bad(f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, but got {value} "
                  "instead.", name, "integer_below_min_value")
    if high is not None and value > high:
        raise bad(f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, but got {value} "
                  "instead.", name, "integer_above_max_value")
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float, open_low: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"Invalid type for '{name}': expected a number, but got {type(value).__name__} instead.",
                  name, "invalid_type")
    if value < low or (open_low and value == low):
        relation = ">" if open_low else ">="
        raise bad(f"Invalid '{name}': decimal below minimum value. Expected a value {relation} {low}, but got "
                  f"{value} instead.", name, "decimal_below_min_value")
    if value > high:
        raise bad(f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, but got {value} "
                  "instead.", name, "decimal_above_max_value")
    return float(value)
