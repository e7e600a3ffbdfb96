"""When another attempt at a model call can help, and how long to wait before it.

Why apart from the client: the rules (retry 408, 429, 5xx, timeouts and dropped connections;
never 400/401/403/404/422 or an exhausted quota; exponential backoff with jitter, never shorter
than the server's Retry-After, bounded in attempts and total sleep) are policy, tested on their
own, while ``engine.llm`` applies them to calls.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import openai

RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per call, the most time one call may sleep between attempts, and the backoff:
    `backoff_initial_s * 2**(retry - 1)` plus up to `backoff_initial_s` of jitter, capped at
    `backoff_max_s`, and never shorter than the server's Retry-After."""

    max_attempts: int = 6
    max_wait_s: float = 120.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if min(self.max_wait_s, self.backoff_initial_s, self.backoff_max_s) < 0:
            raise ValueError("retry waits must be non-negative")

    def backoff(self, retry: int) -> float:
        """The sleep before retry number `retry` (1 = the first retry), ignoring Retry-After."""
        exponential = self.backoff_initial_s * 2 ** min(retry - 1, 30)
        return min(self.backoff_max_s, exponential + random.uniform(0, self.backoff_initial_s))


def retry_after_seconds(error: BaseException) -> float | None:
    """The server's requested delay from `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value:
            return max(0.0, float(value))
    except ValueError:
        return _http_date_delay(headers.get("retry-after"))
    return None


def _http_date_delay(value: str | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.replace(tzinfo=when.tzinfo or UTC) - datetime.now(UTC)).total_seconds())


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt can succeed: rate limits, server errors, timeouts, lost connections."""
    if isinstance(error, openai.APIConnectionError):
        return True
    if not isinstance(error, openai.APIStatusError):
        return False
    if error.code == "insufficient_quota":
        return False
    return error.status_code in RETRYABLE_STATUSES or error.status_code >= 500
