"""Basic auth on every route but the two Label Studio calls without credentials.

Label Studio sends the backend's basic auth on /setup and /predict, but calls /health from
container health checks and posts /webhook with no auth header at all, so those two stay open.
An open route still refuses *wrong* basic credentials: Label Studio then reports "authentication
parameters are incorrect" when a backend is added, instead of a vaguer failure at /setup.
"""

from __future__ import annotations

import hmac

from flask import Flask, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

OPEN_ENDPOINTS = frozenset({"protocol.health", "protocol.webhook"})
CHALLENGE = WWWAuthenticate("basic", {"realm": "lsagent", "charset": "UTF-8"})


def install(app: Flask, credentials: tuple[str, str] | None) -> None:
    """Guard ``app`` when credentials are configured; without them the service is open."""
    if credentials is None:
        return
    user, password = credentials

    @app.before_request
    def _require_basic_auth() -> None:
        given = request.authorization
        if request.endpoint in OPEN_ENDPOINTS and (given is None or given.type != "basic"):
            return
        if given is None or given.type != "basic" or not matches(given.username, given.password, user, password):
            raise Unauthorized(www_authenticate=[CHALLENGE])


def matches(given_user: str | None, given_password: str | None, user: str, password: str) -> bool:
    """Compare both parts in constant time, always both, so timing tells nothing about either."""
    user_ok = hmac.compare_digest((given_user or "").encode(), user.encode())
    password_ok = hmac.compare_digest((given_password or "").encode(), password.encode())
    return user_ok and password_ok
