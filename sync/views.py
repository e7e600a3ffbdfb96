"""Review views: saved Data Manager tabs that show annotators only what needs checking.

Every view written here passes ``filters.check_webapp``: a saved view is loaded by Label
Studio's web app together with all the project's other tabs, and one filter it cannot parse
breaks them all. Review views are built in ``sync.review``; see sync/filters.py for which
filters work.

Measured with label-studio 1.23.2:
- ``POST /api/dm/views`` with ``{"project", "data": {"title", "filters", "ordering",
  "hiddenColumns"}}``; the title lives in ``data.title`` and titles need not be unique, so
  ``upsert_view`` looks a title up before creating.
- ``PATCH /api/dm/views/<id>`` replaces filters (an empty ``items`` list clears them) and
  ``data``, but an *empty* ordering is ignored (the old ordering stays): ordering by
  ``tasks:id`` is sent instead of ``[]``.
- ``GET /api/tasks?view=<id>`` (SDK: ``client.tasks.list(project=p, view=v)``) lists a view's
  tasks with its filters and ordering; any ``query`` sent alongside is ignored.
- The UI opens a view with ``<base>/projects/<project>/data?tab=<view id>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from label_studio_sdk.client import LabelStudio

from sync.client import check_url, guarded
from sync.filters import check_webapp, combine, ordering_column

ID_PAGE_SIZE = 5000


def _check_filters(filters: dict) -> dict:
    """A filters object with a valid conjunction and a list of items."""
    if not isinstance(filters, dict) or not isinstance(filters.get("items"), list):
        raise ValueError('filters must be {"conjunction": "and"|"or", "items": [...]} (see sync.filters)')
    return combine(filters["items"], filters.get("conjunction", "and"))


def _column(name: str) -> str:
    return name if name.startswith("tasks:") else f"tasks:{name}"


def view_data(
    title: str,
    filters: dict,
    ordering: Sequence[str],
    hidden_columns: Sequence[str] | None,
    extra: dict | None = None,
) -> dict:
    """The ``data`` payload of a view; ValueError for filters the web app cannot load."""
    if not title or not title.strip():
        raise ValueError("a view needs a non-empty title")
    data = {
        **(extra or {}),
        "type": "list",
        "target": "tasks",
        "title": title.strip(),
        "filters": check_webapp(_check_filters(filters)),
        "ordering": [ordering_column(column) for column in ordering] or ["tasks:id"],
    }
    if hidden_columns is not None:
        hidden = [_column(column) for column in hidden_columns]
        data["hiddenColumns"] = {"explore": hidden, "labeling": hidden}
    return data


@guarded
def list_views(client: LabelStudio, project: int) -> list[dict]:
    """The project's views: id, title, filters, ordering, and the whole ``data``."""
    views = []
    for view in client.views.list(project=project):
        data = view.data or {}
        views.append(
            {
                "id": view.id,
                "title": data.get("title"),
                "filters": data.get("filters"),
                "ordering": data.get("ordering"),
                "data": data,
            }
        )
    return views


@guarded
def upsert_view(
    client: LabelStudio,
    project: int,
    title: str,
    filters: dict,
    ordering: Sequence[str],
    hidden_columns: Sequence[str] | None = None,
    extra: dict | None = None,
) -> int:
    """Create the view, or update the project's view with this title; returns the view id.
    ``extra``: more keys for the view's data (a marker of who made it)."""
    data = view_data(title, filters, ordering, hidden_columns, extra)
    same = sorted(view["id"] for view in list_views(client, project) if view["title"] == data["title"])
    if same:
        return int(client.views.update(str(same[0]), project=project, data=data).id)
    return int(client.views.create(project=project, data=data).id)


@guarded
def view_task_ids(client: LabelStudio, project: int, view_id: int) -> list[int]:
    """The ids of a view's tasks, in the view's order (page by page, ids only).

    Paging is by page number, so tasks that enter or leave the view meanwhile may be missed;
    and with ties in the ordering column PostgreSQL may order them differently per page.
    """
    ids: list[int] = []
    page = 1
    while True:
        pager: Any = client.tasks.list(project=project, view=view_id, page=page, page_size=ID_PAGE_SIZE, include="id")
        batch = [task.id for task in pager.items or []]
        ids.extend(batch)
        if len(batch) < ID_PAGE_SIZE or len(ids) >= (pager.response.total or 0):
            return list(dict.fromkeys(ids))
        page += 1


@guarded
def delete_view(client: LabelStudio, view_id: int) -> None:
    """Delete a view (its tasks are untouched)."""
    client.views.delete(str(int(view_id)))


def view_url(base_url: str, project: int, view_id: int) -> str:
    """Link that opens the view in Label Studio's Data Manager."""
    return f"{check_url(base_url)}/projects/{int(project)}/data?tab={int(view_id)}"
