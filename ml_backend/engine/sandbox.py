"""Rendering prompt templates: the Jinja2 sandbox, and a child process that bounds a custom one.

Jinja2's sandbox keeps a template away from Python internals, but not from the CPU or memory:
two nested ``range(100000)`` loops run for hours, and ``"%300000000s" % "a"``, ``center(...)``,
``replace(...)`` or the ``format`` filter build strings of gigabytes before any size check can
look at them. Those holes have no end (every filter and string method is one), so a custom
template is rendered in a child process with an address-space and CPU limit and a wall-clock
deadline, and whatever it does there costs the service nothing but the wait. The packaged
default template is trusted and rendered in process.

The child is ``python -m ml_backend.engine.sandbox``: it reads ``{"source", "renders": [[block,
variables], ...], "deadline_s"}`` as JSON on stdin and writes ``{"blocks": [...]}`` or ``{"error": ...}``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED_CHARS = 1_000_000
RENDER_TIMEOUT_S = 5.0
RENDER_MEMORY_BYTES = 512 * 1024 * 1024


class RenderError(ValueError):
    """A template failed or was refused while rendering; the message says why."""


class _Sandbox(SandboxedEnvironment):
    """The Jinja2 sandbox, also refusing arithmetic that would exhaust memory or CPU at once
    (the child process bounds the rest)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if _result_size(operator, left, right) > MAX_RENDERED_CHARS:
            raise SecurityError(f"the result of '{operator}' would be too large")
        return super().call_binop(context, operator, left, right)


def _result_size(operator: str, left: Any, right: Any) -> int:
    """Roughly how big ``left <operator> right`` gets: bits of a power, length of a repetition."""
    if operator == "**":
        return abs(left).bit_length() * right if isinstance(left, int) and isinstance(right, int) else 0
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
            return len(sequence) * times
    return 0


# optimized=False: Jinja's optimizer folds constant expressions while compiling, which would run
# "'%300000000s' % 'a'" or a filter call in the service itself, before any limit applies.
ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, optimized=False)


def render_block(template: Any, block: str, variables: dict[str, Any]) -> str:
    """Render one block of a compiled template in this process, with the output size capped."""
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.blocks[block](template.new_context(variables)):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise RenderError(f"template renders more than {MAX_RENDERED_CHARS} characters")
            parts.append(chunk)
    except RenderError:
        raise
    except SecurityError as exc:
        raise RenderError(f"template refused by the sandbox in block '{block}': {exc}") from None
    except TemplateError as exc:
        hint = " (the task input is only available in {% block user %})" if "inputs" in str(exc) else ""
        raise RenderError(f"template failed to render block '{block}': {exc}{hint}") from None
    except MemoryError:
        raise RenderError(f"template needs more than {RENDER_MEMORY_BYTES // 2**20} MiB to render block "
                          f"'{block}': refused") from None
    except Exception as exc:  # any Python error a template expression raises (1/0, bad types, ...)
        raise RenderError(f"template failed to render block '{block}': {type(exc).__name__}: {exc}") from None
    return "".join(parts).strip()


def render_isolated(source: str, renders: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Render blocks of an untrusted template in a bounded child process; RenderError on any failure.

    The deadline, ``RENDER_TIMEOUT_S``, is read at each call and handed to the child for its CPU
    limit, so a test can lower it and see a runaway template stopped without waiting 5 s."""
    deadline = RENDER_TIMEOUT_S
    request = json.dumps({"source": source, "renders": renders, "deadline_s": deadline})
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=request.encode(), capture_output=True,
                              timeout=deadline, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"template did not render within {deadline:g} s (a loop too long?): refused") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise RenderError(f"template exhausted the renderer's limits ({RENDER_MEMORY_BYTES // 2**20} MiB, "
                          f"{deadline:g} s): refused") from None
    if "error" in answer:
        raise RenderError(answer["error"])
    return answer["blocks"]


def _child() -> None:
    """The child: limit itself, render what stdin asks, answer on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY_BYTES, RENDER_MEMORY_BYTES))
    request = json.loads(sys.stdin.buffer.read())
    cpu = math.ceil(request.get("deadline_s", RENDER_TIMEOUT_S)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        template = ENV.from_string(request["source"])
        blocks = [render_block(template, block, variables) for block, variables in request["renders"]]
        answer: dict[str, Any] = {"blocks": blocks}
    except RenderError as exc:
        answer = {"error": str(exc)}
    except MemoryError:
        answer = {"error": f"template needs more than {RENDER_MEMORY_BYTES // 2**20} MiB to render: refused"}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _child()
