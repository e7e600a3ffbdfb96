"""URLs as they may be shown: without the userinfo (``user:password@``) some endpoints carry.

``OPENAI_BASE_URL``, ``DATABASE_URL`` and ``REDIS_URL`` may hold credentials in their userinfo.
Anything the service prints (an answer of /health, a log line, an error) goes through
``public_url`` first; ``install_log_filter`` does it for every log record, the HTTP libraries'
own included (httpx prints each request's full URL at INFO).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

#: scheme://user[:password]@ in free text (a log line, an exception message).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def public_url(url: str) -> str:
    """``url`` with its userinfo removed (scheme, host, port, path and the rest kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def redact_text(text: str) -> str:
    """Every ``scheme://userinfo@`` in ``text`` reduced to ``scheme://``."""
    return _USERINFO.sub(lambda match: match.group("scheme"), text)


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message rewritten when a URL in it carries userinfo."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's to report, not ours
        return record
    if "@" in message:
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    return record


def install_log_filter() -> None:
    """Redact every log record of the process at its creation (idempotent).

    A filter on a logger misses its children (``httpcore.http11``, ``openai._base_client``)
    and a filter on a handler misses handlers added later (gunicorn's, pytest's), so the record
    factory is wrapped instead: no record leaves without passing through ``redact_text``.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts_userinfo", False):
        return

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        return _redacted(factory(*args, **kwargs))

    make_record.redacts_userinfo = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
