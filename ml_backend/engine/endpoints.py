"""Which key variables and endpoints an agent may use: the operator's rule, not the API user's.

An agent names the environment variable that holds its key (``api_key_env``) and may name an
endpoint (``base_url``); the LLM client sends that variable's value as a bearer token to that
endpoint. An API user who could pick any variable and any URL could read every secret of the
service (its Label Studio token, its basic-auth password, its database URL) with a listener of
their own. So:

* the service's own settings (``SERVICE_SETTINGS`` and every ``LSAGENT_*`` name) are never a
  key, whatever the operator's patterns say;
* a key variable must match one of the operator's patterns (``LSAGENT_API_KEY_VARS``, shell
  globs, default ``*_API_KEY``);
* when the operator lists endpoints (``LSAGENT_ALLOWED_BASE_URLS``), an agent's own base_url
  must lie under one of them; the service's ``OPENAI_BASE_URL`` is always allowed.

Nothing here reads a key: the rule is checked on names and URLs, before any call is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import SplitResult, urlsplit

from ml_backend.redact import public_url

DEFAULT_KEY_PATTERNS = ("*_API_KEY",)
KEY_PATTERNS_VAR = "LSAGENT_API_KEY_VARS"
BASE_URLS_VAR = "LSAGENT_ALLOWED_BASE_URLS"
#: The service's own configuration: never sent anywhere as an agent's key.
SERVICE_SETTINGS = frozenset({
    "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "BASIC_AUTH_USER", "BASIC_AUTH_PASS", "DATABASE_URL",
    "REDIS_URL", "OPENAI_BASE_URL", "LOG_LEVEL", "PORT", "WORKERS", "THREADS",
})  # fmt: skip
_SERVICE_PREFIX = "LSAGENT_"


class EndpointPolicyError(ValueError):
    """An agent's key variable or endpoint breaks the operator's rule; ``check`` names the field."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


@dataclass(frozen=True)
class EndpointPolicy:
    """The operator's rule: key-variable patterns and (optionally) allowed endpoint prefixes."""

    key_patterns: tuple[str, ...] = DEFAULT_KEY_PATTERNS
    allowed_base_urls: tuple[str, ...] = ()

    def check(self, api_key_env: str, base_url: str | None, service_base_url: str | None = None) -> None:
        """Refuse, naming the rule, a key variable or an endpoint the operator has not allowed."""
        self.check_key(api_key_env)
        self.check_base_url(base_url, service_base_url)

    def check_key(self, name: str) -> None:
        if name in SERVICE_SETTINGS or name.startswith(_SERVICE_PREFIX):
            raise EndpointPolicyError(
                "api_key_env", f"{name} is one of the service's own settings and is never sent to an LLM endpoint; "
                "name the variable that holds the provider's key (e.g. OPENAI_API_KEY)")
        if not any(fnmatchcase(name, pattern) for pattern in self.key_patterns):
            allowed = ", ".join(self.key_patterns)
            raise EndpointPolicyError(
                "api_key_env", f"{name} does not match the key variables the operator allows ({allowed}); "
                f"the operator sets them with {KEY_PATTERNS_VAR}")

    def check_base_url(self, base_url: str | None, service_base_url: str | None = None) -> None:
        if not base_url or not self.allowed_base_urls or _same(base_url, service_base_url):
            return
        if not any(_under(base_url, allowed) for allowed in self.allowed_base_urls):
            raise EndpointPolicyError(
                "base_url", f"{public_url(base_url)} is not among the endpoints the operator allows "
                f"({', '.join(self.allowed_base_urls)}); the operator sets them with {BASE_URLS_VAR}")


def key_patterns(raw: str | None) -> tuple[str, ...]:
    """``LSAGENT_API_KEY_VARS``: comma-separated variable names or globs; empty means the default."""
    patterns = tuple(part.strip() for part in (raw or "").split(",") if part.strip())
    for pattern in patterns:
        if not all(char.isalnum() or char in "_*?[]!" for char in pattern):
            raise ValueError(f"environment variable {KEY_PATTERNS_VAR}: {pattern!r} is not a variable name "
                             "or a glob such as *_API_KEY")
    return patterns or DEFAULT_KEY_PATTERNS


def allowed_base_urls(raw: str | None) -> tuple[str, ...]:
    """``LSAGENT_ALLOWED_BASE_URLS``: comma-separated http(s) URL prefixes; empty allows any endpoint."""
    urls = tuple(part.strip().rstrip("/") for part in (raw or "").split(",") if part.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError(f"environment variable {BASE_URLS_VAR}: {public_url(url)!r} must be an http(s) URL "
                             "without credentials, such as https://api.openai.com/v1")
    return urls


def _under(url: str, allowed: str) -> bool:
    """Same scheme, host and port, and a path at or below the allowed one (segment by segment)."""
    given, prefix = urlsplit(url), urlsplit(allowed)
    if (given.scheme, given.hostname, _port(given)) != (prefix.scheme, prefix.hostname, _port(prefix)):
        return False
    path, base = given.path.rstrip("/"), prefix.path.rstrip("/")
    return path == base or path.startswith(base + "/")


def _same(url: str, other: str | None) -> bool:
    return other is not None and url.rstrip("/") == other.rstrip("/")


def _port(parts: SplitResult) -> int:
    """The explicit port or the scheme's; -1 for a port that is no number (matches nothing)."""
    try:
        given = parts.port
    except ValueError:
        return -1
    return given or (443 if parts.scheme == "https" else 80)
