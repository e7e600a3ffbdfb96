"""Review views and what annotators did in them: the Label Studio half of verification.

A review view is a saved Data Manager tab holding an explicit list of task ids (the caller picks
them: lowest confidence, one label, an audit sample...) AND "no annotation yet", so a task leaves
the tab as soon as someone annotates it. Ordering by ``tasks:predictions_score`` puts the least
confident first; it only sees predictions of the project's model_version (``sync.projects``).

Measured with label-studio 1.23.2:
- ``filter:tasks:id`` ``in_list`` with an empty list matches no task (not every task).
- Ordering by ``tasks:predictions_score`` puts tasks without a score last, ascending or not.
- The paged task list (``/api/tasks`` with ``fields=all`` and no ``include``) embeds each task's
  annotations in full (result, ``completed_by`` as a user id, ``was_cancelled``, times), cancelled
  ones included; with an ``include`` list they shrink to ``{"id": ..}``. So annotated tasks are
  read in pages of ids, one request per page, not one per task.
- ``filter:tasks:total_annotations`` ``greater`` 0 selects tasks with a non-cancelled annotation.
- ``filter:tasks:data.<field>`` ``contains`` is case-insensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from label_studio_sdk.client import LabelStudio

from sync import filters
from sync.client import guarded
from sync.tasks import iter_task_pages
from sync.views import list_views, upsert_view

SCORE_ORDER = ("tasks:predictions_score",)
ID_ORDER = ("tasks:id",)
ANNOTATED_PAGE = 1000


def review_filters(task_ids: Iterable[int]) -> dict:
    """The chosen tasks that nobody has annotated yet (cancelled annotations do not count)."""
    return filters.combine([filters.ids_in(task_ids), filters.unlabeled()])


@guarded
def upsert_review_view(
    client: LabelStudio, project: int, title: str, task_ids: Sequence[int], by_score: bool
) -> tuple[int, bool]:
    """Create the review view, or update the project's view of the same title.

    Returns (view id, created). ``by_score`` orders by ascending prediction score, else by id.
    """
    existed = any(view["title"] == title.strip() for view in list_views(client, project))
    ordering = SCORE_ORDER if by_score else ID_ORDER
    view_id = upsert_view(client, project, title, review_filters(task_ids), ordering)
    return view_id, not existed


@guarded
def unannotated_ids(client: LabelStudio, project: int, task_ids: Iterable[int]) -> set[int]:
    """Which of task_ids have no (non-cancelled) annotation now."""
    pages = iter_task_pages(client, project, ids=task_ids, unlabeled=True, fields=("id",))
    return {task["id"] for page in pages for task in page}


@guarded
def iter_task_data(client: LabelStudio, project: int, task_ids: Iterable[int]) -> Iterator[list[dict]]:
    """Pages of ``{"id", "data"}`` for the tasks among task_ids that nobody has annotated yet."""
    yield from iter_task_pages(client, project, ids=task_ids, unlabeled=True, fields=("id", "data"))


@guarded
def iter_annotated_tasks(client: LabelStudio, project: int, task_ids: Iterable[int]) -> Iterator[list[dict]]:
    """Pages of full task dicts (with full annotations) for the tasks among task_ids that have at
    least one non-cancelled annotation."""
    annotated = filters.item("total_annotations", "greater", 0)
    yield from iter_task_pages(client, project, ids=task_ids, page_size=ANNOTATED_PAGE, fields=None, where=[annotated])


@guarded
def user_emails(client: LabelStudio) -> dict[int, str]:
    """{user id: email} of the organisation's users, to name annotators."""
    return {int(user.id): user.email or str(user.id) for user in client.users.list() if user.id is not None}
