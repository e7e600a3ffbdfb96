"""Python client of the service's admin REST API, for notebooks, scripts and the CLI.

It speaks only HTTP to the service, which owns all state, so a notebook and the CLI always see
the same agents and jobs. Results are the service's JSON wrapped in ``ml_backend.report.display``
classes: still dicts, shown as tables in Jupyter.

    from ml_backend.client import Client
    lsa = Client("http://localhost:9090")
    agent = lsa.create_agent(project=1, name="sentiment", model="gpt-4o-mini", activate=True)
    job = lsa.run_job(agent["id"], wait=True)      # a Job; its .summary renders as tables
    lsa.verification(job["id"])                    # VerificationFigures
    lsa.save_report(job["id"], "report.html")
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from ml_backend.report.display import Job, JobSummary, Record, Records, VerificationFigures

DEFAULT_URL = "http://localhost:9090"
FINAL_STATUSES = ("done", "failed", "cancelled")
#: How long ``wait`` rides out a service that does not answer (a restart, a redeploy): jobs
#: go on without the service's HTTP side, so a follower should not give up at the first miss.
RECONNECT_S = 300.0
#: How long the service holds one ``wait`` request when nobody watches the progress: it answers
#: as soon as the job's status changes, so this only bounds how long one request lasts.
HOLD_S = 20.0
#: Answers of a proxy in front of a service that is down or restarting.
_GATEWAY = (502, 503, 504)

log = logging.getLogger(__name__)
AGENT_COLUMNS = ("model_version", "id", "project", "config.model", "created_at")
JOB_COLUMNS = ("id", "status", "model_version", "project", "subset", "counts.done", "total", "cost", "created_at")


class ServiceError(RuntimeError):
    """The service answered with an error, or could not be reached.

    ``status`` is the HTTP status (None: no answer); ``payload`` the service's JSON error
    (``{"error", "message"}``, plus ``"check"`` for a failed agent validation).
    """

    def __init__(self, message: str, status: int | None = None, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload or {}


class Client:
    """One method per CLI operation; ``Client()`` reads LSAGENT_URL and BASIC_AUTH_* like the CLI."""

    def __init__(self, url: str | None = None, auth: tuple[str, str] | None = None, timeout: float = 120.0) -> None:
        self.url = (url or os.environ.get("LSAGENT_URL") or DEFAULT_URL).rstrip("/")
        if auth is None and os.environ.get("BASIC_AUTH_USER") and os.environ.get("BASIC_AUTH_PASS"):
            auth = (os.environ["BASIC_AUTH_USER"], os.environ["BASIC_AUTH_PASS"])
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = auth

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def health(self) -> Record:
        """The service's /health: version, and whether store, queue and LLM endpoint answer."""
        return Record(self._request("GET", "/health"))

    # --- agents ------------------------------------------------------------------------------

    def create_agent(self, project: int, name: str, model: str, **options: Any) -> Record:
        """Register (validate and store) an agent; the same configuration twice is the same agent.
        ``options``: instructions, template, temperature, max_tokens, base_url, api_key_env, ...,
        activate=True to make it the project's active agent."""
        body = {"project": project, "name": name, "model": model}
        body.update({key: value for key, value in options.items() if value is not None})
        return Record(self._request("POST", "/api/agents", json=body))

    def derive_agent(self, agent: str, examples: int, select: str = "similar", name: str | None = None) -> Record:
        """Register a new agent: ``agent`` plus ``examples`` verified tasks of its project in its
        prompt (``select``: "similar", the nearest per task, or "diverse", a fixed representative set)."""
        body: dict[str, Any] = {"examples": examples, "select": select}
        if name is not None:
            body["name"] = name
        return Record(self._request("POST", f"/api/agents/{agent}/derive", json=body))

    def agents(self, project: int | None = None) -> Records:
        params = {"project": project} if project is not None else None
        found = self._request("GET", "/api/agents", params=params)["agents"]
        return Records((Record(agent) for agent in found), AGENT_COLUMNS)

    def agent(self, agent: str) -> Record:
        """An agent by id, unique id prefix, model_version or unique name."""
        return Record(self._request("GET", f"/api/agents/{agent}"))

    def preview(self, agent: str, limit: int = 3, task_ids: list[int] | None = None) -> Record:
        """The exact prompts the agent would send for some of its project's tasks."""
        body: dict[str, Any] = {"limit": limit}
        if task_ids:
            body["task_ids"] = task_ids
        return Record(self._request("POST", f"/api/agents/{agent}/preview", json=body))

    def activate(self, project: int, agent: str) -> Record:
        return Record(self._request("PUT", f"/api/projects/{project}/agent", json={"agent": agent}))

    def active_agent(self, project: int) -> Record:
        return Record(self._request("GET", f"/api/projects/{project}/agent"))

    # --- jobs --------------------------------------------------------------------------------

    def run_job(self, agent: str, subset: str = "all", *, project: int | None = None, wait: bool = False,
                timeout: float | None = None, on_progress: Callable[[Job], None] | None = None) -> Job:
        """Start a job (subset: all | unlabeled | ids:1,2,3 | view:V) on the agent's project or on
        ``project`` (same controls and labels); with ``wait``, return it ended."""
        job = Job(self._request("POST", "/api/jobs", json=_job_request(agent, subset, project)))
        return self.wait(job["id"], timeout=timeout, on_progress=on_progress) if wait else job

    def wait(self, job: str, *, timeout: float | None = None, poll: float = 0.5,
             on_progress: Callable[[Job], None] | None = None, reconnect_s: float = RECONNECT_S,
             on_waiting: Callable[[str], None] | None = None) -> Job:
        """Follow a job until it is done, failed or cancelled; ``on_progress`` sees it every
        ``poll`` seconds. Each request asks the service to hold its answer until the job's status
        changes (``?wait=``), so the job's end is seen at once, not at the next poll; a service
        that answers at once (its waiters are all taken) is asked again after ``poll``.
        Raises TimeoutError (the job goes on) when ``timeout`` seconds pass first.

        While the service does not answer (it restarts; the job carries on), retry with backoff
        for up to ``reconnect_s`` seconds, telling ``on_waiting`` (default: a logged warning)
        that we are waiting for it and when it is back; then raise its ServiceError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        outage = _Outage(reconnect_s, on_waiting or _log_waiting)
        hold = poll if on_progress is not None else HOLD_S
        status = None
        while True:
            if deadline is not None:
                hold = max(0.0, min(hold, deadline - time.monotonic()))
            asked = time.monotonic()
            try:
                current = self.job(job, wait=hold)
            except ServiceError as exc:
                if exc.status is not None and exc.status not in _GATEWAY:
                    raise
                time.sleep(outage.failed(exc, self.url))
                continue
            outage.over(job)
            if on_progress is not None:
                on_progress(current)
            if current["status"] in FINAL_STATUSES:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {current['id']} is still {current['status']} after {timeout:g} s")
            if current["status"] == status and time.monotonic() - asked < min(hold, poll) / 2:
                time.sleep(poll)  # not held: the service's waiters are busy, or it predates ?wait
            status = current["status"]

    def estimate(self, agent: str, subset: str = "all", *, project: int | None = None) -> Record:
        """Tokens and cost of a job from the real prompts; nothing is sent to the model."""
        return Record(self._request("POST", "/api/jobs/estimate", json=_job_request(agent, subset, project)))

    def jobs(self, project: int | None = None) -> Records:
        params = {"project": project} if project is not None else None
        found = self._request("GET", "/api/jobs", params=params)["jobs"]
        return Records((Job(job) for job in found), JOB_COLUMNS)

    def job(self, job: str, wait: float = 0.0) -> Job:
        """The job now; with ``wait`` seconds (up to 30), as soon as its status changes."""
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        return Job(self._request("GET", f"/api/jobs/{job}", params=params))

    def summary(self, job: str) -> JobSummary | None:
        """The job's persisted summary once it has ended (None while it runs)."""
        return self.job(job).summary

    def cancel(self, job: str) -> Job:
        return Job(self._request("POST", f"/api/jobs/{job}/cancel"))

    def report(self, job: str, target: float = 0.95) -> str:
        """The job's self-contained HTML report."""
        return self._request("GET", f"/api/jobs/{job}/report", params={"target": target}, raw=True)

    def save_report(self, job: str, path: str | Path, target: float = 0.95) -> Path:
        """Write the job's HTML report to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.report(job, target), encoding="utf-8")
        return path

    # --- reviews, verification, export ---------------------------------------------------------

    def create_review(self, job: str, kind: str, **options: Any) -> Record:
        """A review view in Label Studio's Data Manager (the same review again updates its view).
        kind: threshold | lowest | label | keyword | errors | disagree | audit | diverse | budget; options:
        threshold, lowest, label, keyword, other_job, audit, seed, title, diverse, budget."""
        body = {"job": job, "kind": kind}
        body.update({key: value for key, value in options.items() if value is not None})
        return Record(self._request("POST", "/api/reviews", json=body))

    def rescore_job(self, job: str, method: str | None = None) -> Record:
        """Rewrite the job's prediction scores in Label Studio with the agent's calibrated
        confidence (method: auto | isotonic | platt); the raw confidence stays in the store."""
        body = {"method": method} if method else {}
        return Record(self._request("POST", f"/api/jobs/{job}/rescore", json=body))

    def repair_reviews(self, project: int) -> Record:
        """Rewrite the service's views of a project that Label Studio's web app cannot load."""
        return Record(self._request("POST", f"/api/projects/{int(project)}/reviews/repair"))

    def sync_verification(self, job: str) -> Record:
        """Pull the annotations of the job's tasks from Label Studio and record the verdicts."""
        return Record(self._request("POST", f"/api/jobs/{job}/verification/sync"))

    def verification(self, job: str, target: float = 0.95, calibrated: bool | None = None) -> VerificationFigures:
        """The job's verification figures, on the scale Label Studio shows for it (calibrated once the
        job was rescored), or on the calibrated (True) or raw (False) confidence; ``scale`` names it."""
        params: dict[str, Any] = {"target": target}
        if calibrated is not None:
            params["calibrated"] = "true" if calibrated else "false"
        return VerificationFigures(self._request("GET", f"/api/jobs/{job}/verification", params=params))

    def export(self, job: str, fmt: str = "jsonl", threshold: float | None = None) -> str:
        """The final labels, one row per task, as the file body (jsonl or csv)."""
        return "".join(self.export_chunks(job, fmt, threshold))

    def export_chunks(self, job: str, fmt: str = "jsonl", threshold: float | None = None) -> Iterator[str]:
        """The export as it streams from the service, so a large job never sits whole in memory.

        The request is made here, so an error is raised before the caller opens any file."""
        params: dict[str, Any] = {"format": fmt}
        if threshold is not None:
            params["threshold"] = threshold
        response = self._response("GET", f"/api/jobs/{job}/export", params=params, stream=True)
        response.encoding = response.encoding or "utf-8"
        return _streamed(response)

    def export_rows(self, job: str, threshold: float | None = None) -> Records:
        """The export as records (one per task), e.g. for ``pandas.DataFrame(rows)``."""
        lines = self.export(job, "jsonl", threshold).splitlines()
        return Records(Record(json.loads(line)) for line in lines if line.strip())

    def _request(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        response = self._response(method, path, **kwargs)
        if raw:
            return response.text
        body = _json_or_none(response)
        if body is None:
            raise ServiceError(f"{self.url}{path} did not answer a JSON object: is LSAGENT_URL the lsagent "
                               "service?", response.status_code)
        return body

    def _response(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The service's answer, or a ServiceError with its message; never a traceback of requests."""
        try:
            response = self._session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceError(f"cannot reach the lsagent service at {self.url} ({type(exc).__name__}); "
                               "is `lsagent serve` running, and is LSAGENT_URL right?") from None
        if response.status_code >= 400:
            payload = _json_or_none(response) or {}
            message = payload.get("message") or response.text[:200] or response.reason
            raise ServiceError(f"{response.status_code}: {message}", response.status_code, payload)
        return response


class _Outage:
    """The service stopped answering a follower: how long to pause, and when to give up."""

    def __init__(self, bound_s: float, tell: Callable[[str], None]) -> None:
        self.bound_s = bound_s
        self.tell = tell
        self.since: float | None = None
        self.delay = 0.0

    def failed(self, error: ServiceError, url: str) -> float:
        """The pause before the next try; raises ``error`` once the outage outlasts the bound."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.tell(f"the lsagent service at {url} does not answer ({error}); the job goes on without it. "
                      f"Waiting for the service, up to {self.bound_s:g} s ...")
        elif now - self.since >= self.bound_s:
            raise ServiceError(f"gave up waiting for the lsagent service after {self.bound_s:g} s: {error}",
                               error.status, error.payload) from None
        self.delay = min(max(self.delay * 2, 0.5), 5.0)
        return min(self.delay, max(self.since + self.bound_s - now, 0.0))

    def over(self, job: str) -> None:
        if self.since is not None:
            self.tell(f"the lsagent service answers again after {time.monotonic() - self.since:.1f} s; "
                      f"following job {job}")
        self.since, self.delay = None, 0.0


def _log_waiting(message: str) -> None:
    log.warning("%s", message)


def _streamed(response: requests.Response) -> Iterator[str]:
    with response:
        try:
            yield from response.iter_content(chunk_size=65536, decode_unicode=True)
        except requests.RequestException as exc:
            raise ServiceError(f"the export was cut off ({type(exc).__name__}); run it again") from None


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _job_request(agent: str, subset: str, project: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"agent": agent, "subset": subset}
    if project is not None:
        body["project"] = project
    return body
