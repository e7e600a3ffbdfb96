"""Every error leaves the service as JSON ``{"error", "message"}``, never as a traceback.

Label Studio, the CLI and scripts all read the same shape, and an unexpected exception is logged
here with its traceback while the client only learns that something failed on our side.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ml_backend.engine.agents import AgentValidationError
from ml_backend.engine.endpoints import EndpointPolicyError
from ml_backend.runtime import NotConfigured
from ml_backend.store.errors import (
    AmbiguousReferenceError,
    NotFoundError,
    SecretInConfigError,
    StoreInputError,
)
from sync.client import LabelStudioAuthError, LabelStudioError, LabelStudioNotFound, LabelStudioUnavailable

log = logging.getLogger(__name__)

_MESSAGES = {
    401: "authentication required: send the service's basic auth credentials",
    404: "no such route: see /api/openapi.json for the routes of this service",
    413: "request body too large",
}


class ApiError(Exception):
    """A refusal with an HTTP status, a short code and a sentence for the user."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def error_response(status: int, error: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def install(app: Flask) -> None:
    """Register the handlers on ``app``; the most specific class wins, as Flask resolves them."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(AgentValidationError, _agent_invalid)
    app.register_error_handler(ValidationError, _config_invalid)
    app.register_error_handler(EndpointPolicyError,
                               lambda exc: error_response(422, "validation_failed", exc.message, check=exc.check))
    app.register_error_handler(NotFoundError, lambda exc: error_response(404, "not_found", str(exc)))
    app.register_error_handler(AmbiguousReferenceError, lambda exc: error_response(400, "ambiguous", str(exc)))
    app.register_error_handler(SecretInConfigError, lambda exc: error_response(422, "secret_in_config", str(exc)))
    app.register_error_handler(StoreInputError, lambda exc: error_response(400, "invalid_request", str(exc)))
    app.register_error_handler(NotConfigured, lambda exc: error_response(503, "not_configured", str(exc)))
    app.register_error_handler(LabelStudioError, _label_studio_error)
    app.register_error_handler(OperationalError, _store_down)
    app.register_error_handler(Exception, _unexpected)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.error, exc.message, **exc.extra)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    elif status == 404:
        message = _MESSAGES[404]
    else:
        message = _MESSAGES.get(status) or exc.description or exc.name
    response = error_response(status, _code(exc.name), message)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _agent_invalid(exc: AgentValidationError) -> Response:
    return error_response(422, "validation_failed", exc.message, check=exc.check)


def _config_invalid(exc: ValidationError) -> Response:
    """A model parameter out of range: name the field and the rule, not pydantic's internals."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "config"
    return error_response(422, "validation_failed", f"{field}: {first['msg']}", check="config")


def _label_studio_error(exc: LabelStudioError) -> Response:
    """Label Studio's answer to the service, mapped to what it means for the service's caller."""
    if isinstance(exc, LabelStudioNotFound):
        return error_response(404, "not_found", f"{exc} (is the project or task id right?)")
    if isinstance(exc, LabelStudioAuthError):
        return error_response(503, "label_studio_auth", f"{exc}: check the service's LABEL_STUDIO_API_KEY")
    if isinstance(exc, LabelStudioUnavailable):
        return error_response(503, "label_studio_unavailable", str(exc))
    return error_response(502, "label_studio_error", str(exc))


def _store_down(exc: OperationalError) -> Response:
    log.error("database unreachable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
    return error_response(503, "store_unavailable", "the service's database is unreachable; retry later")


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "the service failed on its side; the details are in its log")


def _code(name: str) -> str:
    return name.lower().replace(" ", "_").replace("-", "_")
