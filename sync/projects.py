"""Project-level settings: labeling config, model_version, ML backend, Data Manager actions.

Measured with label-studio 1.23.2:
- The prediction score column, filter and ordering count only predictions whose model_version
  equals the project's ``model_version`` (a fresh project has ``""``, which matches nothing):
  ``set_model_version`` before building score views.
- The project's model_version can only be set to the title of one of its ML backends or to a
  model_version some of its predictions have; anything else is refused with 400 "Model version
  doesn't exist either as live model or as static predictions." So import predictions first.
- Adding an ML backend calls its ``GET /health`` and ``POST /setup`` (with basic auth when set)
  a few times, stores the ``model_version`` that ``/setup`` returns on the backend, and creates a
  project webhook to ``<backend>/webhook`` for all actions with *no* auth headers. On a project
  whose model_version is unset it sets it to the backend's *title* (not the model_version that
  /setup returned); one already set stays. Predictions from ``/predict`` keep the model_version
  of each result. So: title the backend with the agent's model_version.
- ``POST /api/dm/actions?id=retrieve_tasks_predictions&project=<id>`` with body
  ``{"selectedItems": {"all": false, "included": [ids]}}`` sends the selected tasks to the
  backend's ``/predict`` in one call, synchronously (the HTTP request lasts as long as the
  backend, up to ``ML_TIMEOUT_PREDICT``, 100 s by default), and answers
  ``{"processed_items": n, "detail": "Retrieved n predictions"}``; tasks that already have a
  prediction of the backend's model_version are skipped. The SDK call is
  ``client.actions.create(id="retrieve_tasks_predictions", project=p, selected_items={...})``,
  which drops the body; ``client.actions.with_raw_response.create`` keeps it.
- ``GET /api/projects/<id>`` for a project that does not exist logs a traceback in Label Studio's
  log, and so does a page past the last one: the SDK's pager asks for the next page after any
  non-empty one. ``GET /api/projects/?ids=<id>`` answers an empty page cleanly, so existence is
  asked that way, reading the first page only.
"""

from __future__ import annotations

from typing import Any

from label_studio_sdk.client import LabelStudio

from sync.client import LabelStudioError, check_url, guarded

RETRIEVE_TIMEOUT = 150.0


@guarded
def create_project(client: LabelStudio, title: str, label_config: str) -> int:
    """A new project; returns its id."""
    project_id = client.projects.create(title=title, label_config=label_config).id
    if project_id is None:
        raise LabelStudioError("Label Studio created the project but returned no id")
    return project_id


@guarded
def project_exists(client: LabelStudio, project: int) -> bool:
    """Whether Label Studio holds the project (and the key may see it), without a 404."""
    page: list[Any] | None = client.projects.list(ids=str(project), page_size=1).items
    return any(found.id == project for found in page or ())


@guarded
def label_config(client: LabelStudio, project: int) -> str:
    """The project's labeling config XML."""
    return client.projects.get(project).label_config or ""


@guarded
def model_version(client: LabelStudio, project: int) -> str:
    """The project's model_version ("" when unset)."""
    return client.projects.get(project).model_version or ""


@guarded
def set_model_version(client: LabelStudio, project: int, model_version: str) -> None:
    """Make score filters, ordering and the score column use this model_version's predictions.

    Label Studio accepts only a version that some prediction of the project (or a backend
    title) has: call it after importing predictions.
    """
    if not model_version:
        raise ValueError("model_version must be a non-empty string")
    client.projects.update(project, model_version=model_version)


@guarded
def connect_ml_backend(
    client: LabelStudio,
    project: int,
    url: str,
    title: str,
    basic_auth_user: str | None = None,
    basic_auth_pass: str | None = None,
) -> int:
    """Connect the backend at url to the project and return its id.

    Connecting the same URL again updates that backend instead of adding a second one.
    Label Studio calls the backend's /health and /setup before answering, so the backend must
    be running and reachable *from Label Studio* (loopback/private addresses need
    ``ML_BLOCK_LOCAL_IP=false`` and ``USE_DEFAULT_BANNED_SUBNETS=false`` there).
    """
    url = check_url(url)
    if (basic_auth_user is None) != (basic_auth_pass is None):
        raise ValueError("give both basic_auth_user and basic_auth_pass, or neither")
    auth: dict = {"auth_method": "NONE"}
    if basic_auth_user is not None:
        auth = {"auth_method": "BASIC_AUTH", "basic_auth_user": basic_auth_user, "basic_auth_pass": basic_auth_pass}
    existing = [backend for backend in client.ml.list(project=project) if (backend.url or "").rstrip("/") == url]
    if existing:
        return int(client.ml.update(existing[0].id, project=project, url=url, title=title, **auth).id)
    return int(client.ml.create(project=project, url=url, title=title, is_interactive=False, **auth).id)


@guarded
def ml_backends(client: LabelStudio, project: int) -> list[dict]:
    """The project's ML backends: id, url, title, state, model_version, auth_method."""
    keys = ("id", "url", "title", "state", "readable_state", "model_version", "auth_method", "error_message")
    return [{key: getattr(backend, key, None) for key in keys} for backend in client.ml.list(project=project)]


@guarded
def retrieve_predictions(
    client: LabelStudio, project: int, task_ids: list[int], timeout: float = RETRIEVE_TIMEOUT
) -> int:
    """Ask the project's ML backend to predict these tasks now (Data Manager action).

    Blocks while the backend works; returns the number of tasks Label Studio processed. Not
    retried by the SDK: a retry would send the whole batch again.
    """
    if not task_ids:
        return 0
    response = client.actions.with_raw_response.create(
        id="retrieve_tasks_predictions",
        project=project,
        selected_items={"all": False, "included": [int(task_id) for task_id in task_ids]},
        request_options={"timeout": timeout, "max_retries": 0},
    )
    return int(response.response.json().get("processed_items", 0))


def project_url(base: str, project: int) -> str:
    """Link to the project's Data Manager."""
    return f"{check_url(base)}/projects/{int(project)}/data"
