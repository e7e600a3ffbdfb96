"""An annotator's ``Outcome`` as the fields of a stored item.

The Label Studio result items go into the item's ``meta`` (with whether the answer came from
the cache), so a push, possibly by another process long after the worker died, rebuilds the
exact prediction the worker saw.
"""

from __future__ import annotations

import re
from typing import Any

from ml_backend.engine.annotate import Outcome
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.jobs.pricing import Price

_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
MAX_LABEL = 500


def item_fields(outcome: Outcome, price: Price) -> dict[str, Any]:
    """Keyword arguments of ``Store.record_item`` for ``outcome``; the cost is priced here."""
    tokens_in, tokens_out = int(outcome.tokens_in or 0), int(outcome.tokens_out or 0)
    error = None if outcome.error_class is None else ErrorClass(outcome.error_class).value
    return {
        "labels": outcome.labels,
        "confidence": outcome.confidence,
        "score": outcome.score,
        "error_class": error,
        "error_detail": outcome.error_detail or "",
        "invalid_label": invalid_label(outcome) if error == ErrorClass.INVALID_LABEL else None,
        "api_error_kind": api_error_kind(outcome.error_detail) if error == ErrorClass.API_ERROR else None,
        "raw_response": outcome.raw_response,
        "meta": {**outcome.meta, "results": outcome.results, "cached": outcome.cached, "queue_s": outcome.queue_s,
                 "sent_at": outcome.sent_at},
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": price.cost(tokens_in, tokens_out),
        "latency_s": outcome.latency_s,
        "attempts": max(int(outcome.attempts or 0), 0),
    }


def invalid_label(outcome: Outcome) -> str | None:
    """The first label the model answered that the config does not offer (for the report)."""
    invalid = outcome.meta.get("invalid") or []
    if isinstance(invalid, str):
        invalid = [invalid]
    return str(invalid[0])[:MAX_LABEL] if invalid else None


def api_error_kind(detail: str | None) -> str:
    """The exception class an API error ended with (``RateLimitError``, ``APITimeoutError``...),
    read from the detail the LLM client writes as ``"<class>: <message>"``."""
    head = (detail or "").split(":", 1)[0].strip()
    return head if _CLASS_NAME.match(head) else "unknown"
