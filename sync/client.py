"""Connecting to Label Studio, and the errors the rest of ``sync`` raises instead of SDK/httpx ones.

Callers (the job runner, the CLI) must tell "Label Studio is down or overloaded: wait and retry"
apart from "this request is wrong" without importing httpx or label_studio_sdk, so every public
``sync`` function is wrapped in :func:`guarded`.

Measured with label-studio 1.23.2 and label-studio-sdk 2.1.2:
- The SDK sends a legacy token as ``Authorization: Token`` and a personal access token (a JWT
  refresh token) as ``Bearer <access>`` after refreshing it at ``/api/token/refresh/``; it tells
  them apart by trying to decode the key as a JWT, so one ``api_key`` argument serves both. An
  expired PAT raises in the constructor already (turned into LabelStudioAuthError here).
- The SDK itself retries connection errors, 5xx, 408, 409 and 429 (``max_retries``, 1 s then 2 s
  backoff): with LS down, a call fails after about 3 s with the default of 2.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

F = TypeVar("F", bound=Callable[..., Any])


class LabelStudioError(RuntimeError):
    """Label Studio refused a request; ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio cannot be reached or answered 5xx: wait and retry later."""


class LabelStudioAuthError(LabelStudioError):
    """The API key was rejected (401) or lacks permission (403)."""


class LabelStudioNotFound(LabelStudioError):
    """The project, task, view or prediction does not exist (404)."""


def _detail(body: Any) -> str:
    """The useful part of an error body, short."""
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("detail", "message", "validation_errors") if body.get(key)]
        if parts:
            return ": ".join(parts)[:500]
    return str(body)[:500]


def translate(error: Exception) -> LabelStudioError | None:
    """The sync error for an SDK/httpx exception, or None when it is not one of those."""
    if isinstance(error, httpx.TransportError):
        return LabelStudioUnavailable(f"Label Studio unreachable: {type(error).__name__}: {error}")
    if not isinstance(error, ApiError):
        return None
    status, detail = error.status_code, _detail(error.body)
    if status is None or status >= 500 or status in (408, 429):
        return LabelStudioUnavailable(f"Label Studio unavailable (HTTP {status}): {detail}", status)
    if status in (401, 403):
        return LabelStudioAuthError(f"Label Studio rejected the API key (HTTP {status}): {detail}", status)
    if status == 404:
        return LabelStudioNotFound(f"not found in Label Studio: {detail}", status)
    return LabelStudioError(f"Label Studio refused the request (HTTP {status}): {detail}", status)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise SDK/httpx errors as LabelStudioError subclasses."""
    try:
        yield
    except (httpx.TransportError, ApiError) as error:
        raise translate(error) or error from error


def guarded(func: F) -> F:
    """Decorate a function or generator so that it raises only LabelStudioError subclasses."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with translated_errors():
                yield from func(*args, **kwargs)

        return generator  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_url(url: str) -> str:
    """The base URL without trailing slash; ValueError when it is not http(s)://host[:port]."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"Label Studio URL must look like http://host:port, got {url!r}")
    return url.rstrip("/")


@guarded
def connect(url: str, api_key: str, *, timeout: float = 60.0, max_retries: int = 2) -> LabelStudio:
    """An SDK client for url, checked with one request (``whoami``) so bad keys fail here.

    api_key: a legacy token or a personal access token. Raises LabelStudioUnavailable when
    Label Studio is down, LabelStudioAuthError when the key is refused.
    """
    base = check_url(url)
    if not api_key or not api_key.strip():
        raise ValueError("a Label Studio API key is required (legacy token or personal access token)")
    client = LabelStudio(base_url=base, api_key=api_key.strip(), timeout=timeout, max_retries=max_retries)
    client.users.whoami()
    return client
