"""Reading a project's tasks page by page, so a 100k-task project is never held in memory.

Measured with label-studio 1.23.2 (``GET /api/tasks``):
- Page numbers past the end answer 404, and page-number paging skips or repeats tasks when the
  selection changes under it (an annotator labels a task while an "unlabeled" job pages). So a
  whole project is read by *keyset*: ``id > last seen id`` ordered by id, always page 1.
- ``include=id,data,...`` makes the server return only those keys (``fields=all`` is needed on
  top for ``predictions`` and ``annotations``). With an ``include`` list the embedded
  annotations shrink to ``{"id": ..}``; without one (``fields=None`` here) they come in full,
  cancelled ones included, ``completed_by`` as a user id. Predictions come in full either way.
- ``view=<id>`` applies the view's filters and ordering and *ignores* ``query``: a view and an
  extra filter cannot be combined in one request. A view is therefore read as a snapshot of its
  task ids (``view_task_ids``), then those ids are read in chunks with the extra filters.
- No server-side page size cap (``TASK_API_PAGE_SIZE_MAX`` unset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from label_studio_sdk.client import LabelStudio

from sync import filters
from sync.client import guarded
from sync.views import view_task_ids

DEFAULT_FIELDS = ("id", "data", "total_annotations", "cancelled_annotations", "total_predictions")
FULL_FIELDS = ("annotations", "predictions", "drafts")
IDS_PER_QUERY = 1000


def _as_dict(task: object) -> dict:
    """An SDK task model as the plain dict Label Studio sent."""
    return task.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]


def _list(client: LabelStudio, project: int, query: dict, page_size: int, fields: Sequence[str] | None) -> Any:
    """The first page of ``/api/tasks`` for a query (callers page by filter, not page number).

    Returns the SDK pager: ``.items`` and ``.response.total``.
    """
    full = fields is None or bool(set(fields) & set(FULL_FIELDS))
    return client.tasks.list(
        project=project,
        page=1,
        page_size=page_size,
        query=json.dumps(query),
        include=",".join(fields) if fields else None,
        fields="all" if full else "task_only",
    )


def _query(items: Iterable[dict], ordering: Sequence[str] = ("tasks:id",)) -> dict:
    return {"filters": filters.combine(items), "ordering": list(ordering)}


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= 10_000:
        raise ValueError(f"page_size must be between 1 and 10000, got {page_size}")


@guarded
def iter_task_pages(
    client: LabelStudio,
    project: int,
    *,
    page_size: int = 500,
    view: int | None = None,
    ids: Iterable[int] | None = None,
    unlabeled: bool = False,
    fields: Sequence[str] | None = DEFAULT_FIELDS,
    where: Sequence[dict] = (),
) -> Iterator[list[dict]]:
    """Yield lists of task dicts (ascending id) for the selected tasks, never an empty list.

    Selection: the project's tasks, narrowed to ``view`` (its tasks when the iteration starts),
    to ``ids`` (ids not in the project are ignored), to tasks without annotations when
    ``unlabeled`` and by the ``where`` filter items (``sync.filters``); all combine with AND.
    ``fields``: keys to return (None: all that Label Studio sends; naming ``annotations`` or
    ``predictions`` fetches them too).
    """
    _check_page_size(page_size)
    extra = [*where, filters.unlabeled()] if unlabeled else list(where)
    chosen = None if ids is None else {int(task_id) for task_id in ids}
    if view is not None:
        in_view = set(view_task_ids(client, project, view))
        chosen = in_view if chosen is None else chosen & in_view
    if chosen is None:
        yield from _keyset_pages(client, project, page_size, extra, fields)
    else:
        yield from _id_pages(client, project, sorted(chosen), page_size, extra, fields)


def _keyset_pages(
    client: LabelStudio, project: int, page_size: int, extra: list[dict], fields: Sequence[str] | None
) -> Iterator[list[dict]]:
    """All matching tasks, page by page, each page starting after the last id seen."""
    last_id = 0
    wanted = None if fields is None else tuple(dict.fromkeys(("id", *fields)))
    while True:
        pager = _list(client, project, _query([filters.id_after(last_id), *extra]), page_size, wanted)
        tasks = [_as_dict(task) for task in pager.items or []]
        if tasks:
            yield tasks
        if len(tasks) < page_size:
            return
        last_id = tasks[-1]["id"]


def _id_pages(
    client: LabelStudio, project: int, ids: list[int], page_size: int, extra: list[dict], fields: Sequence[str] | None
) -> Iterator[list[dict]]:
    """The tasks among ids, read in chunks of at most page_size (and IDS_PER_QUERY) ids."""
    chunk_size = min(page_size, IDS_PER_QUERY)
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        pager = _list(client, project, _query([filters.ids_in(chunk), *extra]), len(chunk), fields)
        tasks = [_as_dict(task) for task in pager.items or []]
        if tasks:
            yield tasks


@guarded
def count_tasks(
    client: LabelStudio,
    project: int,
    *,
    view: int | None = None,
    ids: Iterable[int] | None = None,
    unlabeled: bool = False,
) -> int:
    """How many tasks iter_task_pages would yield for the same selection."""
    if view is None and ids is None:
        items = [filters.unlabeled()] if unlabeled else []
        return int(_list(client, project, _query(items), 1, ("id",)).response.total or 0)
    if view is not None and ids is None and not unlabeled:
        return int(client.tasks.list(project=project, view=view, page=1, page_size=1, include="id").response.total or 0)
    pages = iter_task_pages(client, project, view=view, ids=ids, unlabeled=unlabeled, fields=("id",))
    return sum(len(page) for page in pages)


@guarded
def get_task(client: LabelStudio, task_id: int) -> dict:
    """One task with data, full annotations and predictions (``GET /api/tasks/<id>``)."""
    return _as_dict(client.tasks.get(str(int(task_id))))


@guarded
def existing_task_ids(client: LabelStudio, project: int, ids: Iterable[int]) -> set[int]:
    """Which of ids are tasks of the project (to find tasks deleted under a running job)."""
    return {task["id"] for page in iter_task_pages(client, project, ids=ids, fields=("id",)) for task in page}


@guarded
def import_tasks(client: LabelStudio, project: int, tasks: list[dict], batch_size: int = 1000) -> list[int]:
    """Import task data dicts (``{"text": ...}`` or ``{"data": {...}}``); returns the new ids in order."""
    ids: list[int] = []
    for start in range(0, len(tasks), batch_size):
        batch = tasks[start : start + batch_size]
        # the SDK types its request as models, but sends the plain dicts it is given as they are
        response = client.projects.import_tasks(project, request=cast(Any, batch), return_task_ids=True)
        ids.extend(getattr(response, "task_ids", None) or [])  # an extra field the SDK's model keeps
    return ids
