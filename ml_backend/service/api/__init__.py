"""The service's HTTP layer: blueprints, and the checks every route applies to its input.

Routes never trust a body: each field is read through ``Body`` so that a wrong type or a missing
field becomes a 400 naming the field, instead of a ``KeyError`` deep in the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from werkzeug.routing import BaseConverter

from ml_backend.service.api.errors import ApiError

if TYPE_CHECKING:
    from ml_backend.review.webhook import HintFollower
    from ml_backend.runtime import Runtime
    from ml_backend.service.health import EndpointProbe
    from ml_backend.service.metrics import Metrics
    from ml_backend.service.predict import Predictor
    from ml_backend.settings import Settings

_MISSING = object()
#: Integers the service takes: 64-bit signed, what Label Studio's ids and every database column
#: hold. A larger one is refused as input, instead of failing in the database driver.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


@dataclass
class ServiceState:
    """What the routes share, kept on ``app.extensions`` so two apps in one process never mix."""

    settings: Settings
    runtime: Runtime
    metrics: Metrics
    predictor: Predictor
    probe: EndpointProbe
    hints: HintFollower


def state() -> ServiceState:
    return current_app.extensions["lsagent"]


def resolve_job_id() -> None:
    """A blueprint's ``before_request``: a ``<job_id>`` given as a unique prefix (as ``lsagent
    jobs list`` shows ids) becomes the full id, so every route and everything below it sees full
    ids. An unknown id is left for the route's 404; an ambiguous prefix is a 400 listing the jobs
    it matches (``AmbiguousReferenceError``). A blueprint's ``before_request`` runs after the
    app's, so only an authenticated caller ever learns which jobs a prefix matches."""
    values = request.view_args
    if values and isinstance(values.get("job_id"), str):
        job = state().runtime.store.find_job(values["job_id"])
        if job is not None:
            values["job_id"] = job.id


def json_body(*, optional: bool = False) -> Body:
    """The request body as a JSON object; 400 for anything else (an empty body may be allowed)."""
    raw = request.get_data(cache=True)
    if not raw.strip() and optional:
        return Body({})
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", f"request body must be a JSON object, got {_kind(data)}")
    return Body(data)


class Body:
    """Typed access to a JSON object's fields; every accessor raises a 400 naming the field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = _as_int(self._field(name, default, "an integer", is_integral))
        if minimum is not None and _is_int(value) and value < minimum:
            raise ApiError(400, "invalid_request", f"field '{name}' must be >= {minimum}, got {value}")
        return value

    def text(self, name: str, default: Any = _MISSING) -> Any:
        return self._field(name, default, "a string", lambda v: isinstance(v, str))

    def flag(self, name: str, default: Any = _MISSING) -> Any:
        return self._field(name, default, "true or false", lambda v: isinstance(v, bool))

    def number(self, name: str, default: Any = _MISSING) -> Any:
        return self._field(name, default, "a number", lambda v: _is_int(v) or isinstance(v, float))

    def integers(self, name: str, default: Any = _MISSING) -> Any:
        value = self._field(name, default, "a list of integers",
                            lambda v: isinstance(v, list) and all(map(is_integral, v)))
        return [_as_int(item) for item in value] if isinstance(value, list) else value

    def _field(self, name: str, default: Any, expected: str, check: Callable[[Any], bool]) -> Any:
        """A JSON null counts as absent, so clients may send every optional field."""
        value = self.data.get(name)
        if value is None:
            if default is _MISSING:
                raise ApiError(400, "invalid_request", f"field '{name}' is required")
            return default
        if not check(value):
            raise ApiError(400, "invalid_request", f"field '{name}' must be {expected}, got {_kind(value)}")
        return value


class JobIdConverter(BaseConverter):
    """``<job_id:job_id>``: any path segment but "estimate", which is ``POST /api/jobs/estimate``
    (so ``GET /api/jobs/estimate`` is a 405, as the OpenAPI document says, not "no job 'estimate'")."""

    regex = r"(?!estimate(?:/|$))[^/]+"


def path_project(project: int) -> int:
    """Flask's ``int`` converter already refuses non-digits; refuse 0 too (Label Studio ids start at 1)."""
    if project < 1:
        raise ApiError(400, "invalid_request", f"project id must be >= 1, got {project}")
    if project > INT_MAX:
        raise ApiError(400, "invalid_request", f"project id must be below 2**63, got {str(project)[:40]}")
    return project


def ensure_project_exists(project: int) -> None:
    """A 404 naming a project Label Studio does not hold: an empty list for a mistyped id would
    look like a project with nothing in it. Only where Label Studio is configured and answers."""
    from sync.client import LabelStudioUnavailable
    from sync.projects import project_exists

    settings = state().settings
    if not (settings.label_studio_url and settings.label_studio_api_key):
        return
    try:
        exists = project_exists(state().runtime.label_studio(), project)
    except LabelStudioUnavailable:
        return
    if not exists:
        raise ApiError(404, "not_found", f"project {project} does not exist in Label Studio "
                       f"({settings.label_studio_url})")


def query_int(name: str, *, required: bool = False) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(400, "invalid_request", f"query parameter '{name}' is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not _is_int(value):
        message = f"query parameter '{name}' must be a 64-bit integer, got {raw[:40]!r}"
        raise ApiError(400, "invalid_request", message)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX


def is_integral(value: Any) -> bool:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema's "integer" accepts it too)."""
    return _is_int(value) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**63)


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) is int and not INT_MIN <= value <= INT_MAX:
        return "an integer beyond 64 bits"
    return names.get(type(value), "a number")
