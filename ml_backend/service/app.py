"""The Flask application factory: one app = one settings, one runtime, one metrics registry.

Following Flask's factory pattern, nothing is built at import time, so tests create as many
isolated apps as they like. A new app starts no thread and keeps no open connection, so gunicorn
can build it once in its master and fork the workers from it.
"""

from __future__ import annotations

import io
import logging

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from ml_backend.jobs.watch import WATCH
from ml_backend.redact import install_log_filter
from ml_backend.review.webhook import HintFollower
from ml_backend.runtime import Runtime
from ml_backend.service import auth
from ml_backend.service.api import (
    JobIdConverter,
    ServiceState,
    agents,
    errors,
    jobs,
    openapi,
    protocol,
    report,
    reviews,
)
from ml_backend.service.health import EndpointProbe
from ml_backend.service.metrics import Metrics
from ml_backend.service.metrics import bp as metrics_bp
from ml_backend.service.predict import Predictor
from ml_backend.settings import Settings

API_MAX_BYTES = 1024 * 1024
PREDICT_MAX_BYTES = 64 * 1024 * 1024
BUFFER_BLOCK = 64 * 1024
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the service; ``runtime`` lets a caller share its store (tests, an embedding process)."""
    if settings is None:
        settings = runtime.settings if runtime is not None else Settings.from_env()
    runtime = runtime or Runtime(settings)
    install_log_filter()  # before anything logs a URL: httpx prints each request's, userinfo included
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["job_id"] = JobIdConverter
    metrics = Metrics()
    predictor = Predictor(settings.predict_budget_s, on_outcome=metrics.observe_outcome,
                          pool_idle_s=settings.pool_idle_s)
    app.extensions["lsagent"] = ServiceState(settings, runtime, metrics, predictor, EndpointProbe(),
                                             HintFollower(runtime))
    logging.getLogger("ml_backend").setLevel(settings.log_level)
    metrics.install(app)  # first, so that refused requests are counted and timed too
    WATCH.configure(max(1, settings.threads // 2))  # long-polling clients never hold every thread
    auth.install(app, settings.basic_auth)
    app.before_request(_body_limit(settings))
    errors.install(app)
    for blueprint in (protocol.bp, metrics_bp, openapi.bp, agents.bp, jobs.bp, reviews.bp, report.bp):
        app.register_blueprint(blueprint)
    return app


def configure_logging(settings: Settings) -> None:
    """Process-wide logging for the servers (gunicorn, ``lsagent serve``); tests keep their own."""
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)


def _body_limit(settings: Settings):  # type: ignore[no-untyped-def]
    """Per-route body limits: Label Studio's batches are large, its webhooks and admin calls small."""
    limits = {"protocol.predict": PREDICT_MAX_BYTES, "protocol.webhook": settings.webhook_max_bytes}

    def limit() -> None:
        """Refuse an oversized body up front, even on a route that would not read it."""
        request.max_content_length = limits.get(request.endpoint or "", API_MAX_BYTES)
        if (request.content_length or 0) > request.max_content_length:
            raise RequestEntityTooLarge()
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            _buffer_unsized_body(request.environ, request.max_content_length)

    return limit


def _buffer_unsized_body(environ: dict, limit: int) -> None:
    """A chunked body has no Content-Length to check up front, and werkzeug silently cuts such a
    body at the limit (a cut that can still parse is then processed). So it is read here, up to
    one byte past the limit: refused whole when longer, else handed on with its real length."""
    stream = environ["wsgi.input"]
    data = bytearray()
    while len(data) <= limit:
        block = stream.read(min(BUFFER_BLOCK, limit + 1 - len(data)))
        if not block:
            break
        data += block
    if len(data) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(bytes(data))
    environ["CONTENT_LENGTH"] = str(len(data))
