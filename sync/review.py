"""Review views and what annotators did in them: the Label Studio half of verification.

A review view is a saved Data Manager tab holding exactly the tasks the caller chose (lowest
confidence, one label, an audit sample...) that nobody has annotated yet, so a task leaves the
tab as soon as someone annotates it. It must also be a view Label Studio's web app can load
(``sync.filters``: one view with an operator the web app does not know breaks every tab of the
project), so it is written in one of two forms, both checked by ``filters.check_webapp``:

- **ids** (the default): ``or`` over runs of consecutive task ids (``id equal n`` or ``id in
  {min, max}``), each carrying ``total_annotations equal 0`` as its ``child_filter``. Exact for
  any set: an audit sample, the tasks an agent failed on, a disagreement, the K lowest with ties
  broken by id. A contiguous block is one run, so "every task of a job" stays small; a scattered
  set needs one run per task, and the form is refused beyond ``MAX_RUNS`` (measured on SQLite:
  500 runs list in ~2.5 s, 1,000 fail with "Expression tree is too large (maximum depth 1000)";
  two tabs of 100 and 250 runs render in ~5 s, 500 runs took over 15 s).
- **filters**: for a set too scattered for ids, the caller may offer a description with
  supported filters (``prediction score < 0.7``); it is ANDed with "no annotation" and the id
  range of the chosen tasks, read back through the API and used only when it selects exactly the
  chosen tasks that are still open. Otherwise ``ReviewTooLarge`` says how to narrow the review.

Ordering by ``tasks:predictions_score`` puts the least confident first (tasks without a score
last); it only sees predictions of the project's model_version (``sync.projects``).

A view carries ``MARKER`` in its data, and the service's views also start their title with
``lsagent``: that is how the service knows which views it may rewrite (``sync.repair``). The web
app drops keys it does not know when it saves a tab (a column resized), so the marker alone is
not enough. The columns an annotator needs (the task's text, the agent's label, its score and
the annotation count) are the only ones shown (``hiddenColumns``), wide enough to read
(``columnsWidth``, keyed ``tasks:<column>``).

Measured with label-studio 1.23.2:
- The paged task list (``/api/tasks`` with ``fields=all`` and no ``include``) embeds each task's
  annotations in full (result, ``completed_by`` as a user id, ``was_cancelled``, times), cancelled
  ones included; with an ``include`` list they shrink to ``{"id": ..}``. So annotated tasks are
  read in pages of ids, one request per page, not one per task.
- ``filter:tasks:total_annotations`` ``greater`` 0 selects tasks with a non-cancelled annotation.
- ``filter:tasks:data.<field>`` ``contains`` is case-insensitive.
- ``GET /api/dm/columns?project=P`` lists the Data Manager's columns; a view's
  ``hiddenColumns.explore`` (table) and ``.labeling`` (the list beside the labeling panel) name
  the hidden ones as ``tasks:<id>`` / ``tasks:data.<field>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from sync import filters
from sync.client import guarded
from sync.tasks import iter_task_pages
from sync.views import list_views, upsert_view

SCORE_ORDER = ("tasks:predictions_score",)
ID_ORDER = ("tasks:id",)
ANNOTATED_PAGE = 1000
MAX_RUNS = 250
MARKER = "lsagent_review"
RESULT_WIDTH = 300  # px: the prediction's JSON up to its label ("... choices: [Negative]")
TEXT_WIDTH = 420
SHOWN_COLUMNS = ("id", "predictions_results", "predictions_score", "total_annotations")


class ReviewTooLarge(ValueError):
    """The chosen tasks are too scattered for an id view and no exact filter describes them."""


@dataclass(frozen=True)
class ReviewView:
    """What was written: the view id, whether it is new, and the form (``ids`` or ``filters``)."""

    view_id: int
    created: bool
    form: str


def review_filters(task_ids: Iterable[int]) -> dict:
    """The chosen tasks that nobody has annotated yet, as runs of ids (the web app loads it)."""
    runs = filters.id_runs(task_ids) or [filters.no_task()]
    if len(runs) > MAX_RUNS:
        raise ReviewTooLarge(f"the tasks form {len(runs)} separate runs of ids; a view holds at most {MAX_RUNS}")
    return filters.combine([filters.with_child(run, filters.unlabeled()) for run in runs], "or")


def bounded_filters(description: Sequence[dict], task_ids: Iterable[int]) -> dict:
    """description AND no annotation AND the id range of task_ids."""
    ids = sorted(int(task_id) for task_id in task_ids)
    span = [filters.item("id", "in", {"min": ids[0], "max": ids[-1]})] if ids else [filters.no_task()]
    return filters.combine([*description, filters.unlabeled(), *span])


@guarded
def upsert_review_view(
    client: LabelStudio,
    project: int,
    title: str,
    task_ids: Sequence[int],
    by_score: bool,
    description: Sequence[dict] | None = None,
    shown: Sequence[str] = ("data.text",),
) -> ReviewView:
    """Create the review view, or update the project's view of the same title.

    ``by_score`` orders by ascending prediction score, else by id. ``description``: filters that
    may describe the tasks when they are too scattered for ids (used only if exact). ``shown``:
    the data columns to show besides the agent's label and score.
    """
    existed = any(view["title"] == title.strip() for view in list_views(client, project))
    chosen, form = _filters(client, project, task_ids, description)
    ordering = SCORE_ORDER if by_score else ID_ORDER
    hidden = review_hidden_columns(client, project, shown)
    widths = {"tasks:predictions_results": RESULT_WIDTH, **{f"tasks:{name}": TEXT_WIDTH for name in shown}}
    view_id = upsert_view(client, project, title, chosen, ordering, hidden,
                          extra={MARKER: True, "columnsWidth": widths})
    return ReviewView(view_id, not existed, form)


def _filters(
    client: LabelStudio, project: int, task_ids: Sequence[int], description: Sequence[dict] | None
) -> tuple[dict, str]:
    try:
        return review_filters(task_ids), "ids"
    except ReviewTooLarge as too_many:
        if not description:
            raise ReviewTooLarge(f"{too_many}: narrow the review (a lower threshold, fewer tasks)") from None
        bounded = bounded_filters(description, task_ids)
        where = bounded["items"]
        found = {task["id"] for page in iter_task_pages(client, project, fields=("id",), where=where) for task in page}
        if found != unannotated_ids(client, project, task_ids):
            raise ReviewTooLarge(f"{too_many}, and no filter Label Studio's web app knows selects exactly these "
                                 "tasks: narrow the review (a lower threshold, fewer tasks)") from None
        return bounded, "filters"


@guarded
def review_hidden_columns(client: LabelStudio, project: int, shown: Sequence[str]) -> list[str]:
    """Every Data Manager column of the project except the id, the agent's label and score, the
    annotation count and the ``shown`` data fields (``data.text``); the ``data`` column (the
    whole task data as JSON) is hidden too."""
    # The SDK has no call for this endpoint; its own HTTP client keeps the auth and base URL.
    response = client._client_wrapper.httpx_client.request("api/dm/columns", method="GET", params={"project": project})
    if response.status_code >= 400:
        raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=response.text)
    visible = {*SHOWN_COLUMNS, *(name.removeprefix("data.") for name in shown)}
    hidden = []
    for column in response.json().get("columns") or []:
        name = column.get("id")
        parent = column.get("parent")
        if not name or name in visible:
            continue
        hidden.append(f"data.{name}" if parent == "data" else name)
    return hidden


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
