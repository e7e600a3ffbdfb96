"""Prometheus metrics of one app: HTTP traffic, LLM calls, tokens, errors and cache hits.

Each app owns its ``CollectorRegistry`` rather than the global one, so several apps in one
process (tests, or an embedding notebook) never count into each other. With several gunicorn
workers each worker reports its own counters; scrape them through one port per worker or run
one worker with more threads when exact totals matter.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

bp = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 90, 120)


class Metrics:
    """The counters the service keeps; ``observe_outcome`` is called once per finished task."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lsagent_http_requests", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("lsagent_http_request_duration_seconds", "HTTP request latency by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.llm_calls = Counter("lsagent_llm_calls", "LLM requests made (retries included)",
                                 ["model_version"], registry=self.registry)
        self.tokens = Counter("lsagent_llm_tokens", "LLM tokens by direction (prompt or completion)",
                              ["model_version", "direction"], registry=self.registry)
        self.task_errors = Counter("lsagent_task_errors", "Tasks that ended in an error, by error class",
                                   ["error_class"], registry=self.registry)
        self.cache_hits = Counter("lsagent_cache_hits", "Tasks answered from the response cache, no LLM call",
                                  ["model_version"], registry=self.registry)

    def observe_outcome(self, model_version: str, outcome: Any) -> None:
        """Count one task's outcome (an ``annotate.Outcome``): cached, or the calls it cost."""
        if outcome.cached:
            self.cache_hits.labels(model_version).inc()
        elif outcome.attempts:
            self.llm_calls.labels(model_version).inc(outcome.attempts)
            self.tokens.labels(model_version, "prompt").inc(outcome.tokens_in)
            self.tokens.labels(model_version, "completion").inc(outcome.tokens_out)
        if outcome.error_class:
            self.task_errors.labels(str(outcome.error_class)).inc()

    def install(self, app: Flask) -> None:
        """Time every request; the endpoint label is the route pattern, never the raw path."""
        app.before_request(_start_timer)
        app.after_request(self._record)

    def _record(self, response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("lsagent_started", time.perf_counter())
        self.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        self.latency.labels(endpoint).observe(elapsed)
        return response


def _start_timer() -> None:
    g.lsagent_started = time.perf_counter()


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions["lsagent"].metrics.registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
