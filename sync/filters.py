"""Data Manager filter items, as plain dicts, for task queries and saved views.

A filter is ``{"conjunction": "and"|"or", "items": [item, ...]}``; an item is
``{"filter": "filter:tasks:<column>", "operator": ..., "type": ..., "value": ...}``, optionally
with a ``child_filter`` (one more item, ANDed with its parent). The same shape is used by
``/api/tasks?query=`` and by a view's ``data.filters``.

Two audiences, two sets of operators. The REST API of label-studio 1.23.2 accepts
``API_OPERATORS``; the web app only ``WEBAPP_OPERATORS``. The web app's Data Manager loads every
tab of a project into one mobx-state-tree store whose ``TabFilter.operator`` is an enumeration of
the operator keys in its bundle (``web/dist/apps/labelstudio/167.js``); a single saved view with
``in_list`` makes that store fail ("No matching type for union") and NO tab of the project renders.
So ``in_list``/``not_in_list`` serve API queries only (``sync.tasks`` pages ids with them), and a
saved view must pass ``check_webapp`` (``sync.views.upsert_view`` calls it).
tests/test_filters.py reads the accepted operators, types and conjunctions out of the installed
bundle at test time and checks every filter the service can save against them.

Measured with label-studio 1.23.2 (tests/test_sync_views.py, test_sync_tasks.py, test_filters.py):
- ``filter:tasks:id`` ``in_list`` with a list of ints selects exactly those tasks (API only).
  In ``/api/tasks?query=`` the ids travel in the URL: keep them to about 1,000 per request.
- ``in`` is "between": value ``{"min": a, "max": b}``, inclusive; ``equal`` on ``id`` is one task.
- A ``child_filter`` is ANDed with its parent item, by the server and by the web app, which
  renders it as a second line under the parent: ``or`` over items that each carry a child gives
  (a AND x) OR (b AND x) ..., the one way to AND a condition onto a disjunction (one level only:
  the server ignores a child's child).
- ``filter:tasks:total_annotations`` ``equal`` 0 = tasks without a (non-cancelled) annotation.
- ``filter:tasks:predictions_score`` (less/greater/...) and ordering by ``tasks:predictions_score``
  average only predictions whose model_version equals the project's ``model_version``: set it
  first (``projects.set_model_version``); with it unset ("") every score reads as null.
- ``filter:tasks:predictions_model_versions`` ``contains`` needs a *list* value.
- ``filter:tasks:predictions_results`` ``contains`` a label value (String) matches tasks whose
  prediction result contains that text (any model version).
- ``filter:tasks:data.<field>`` equal/contains/regex work on task data.
- Ordering honours only the first column; ties come back in id order on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WEBAPP_OPERATORS = frozenset({
    "equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal", "in", "not_in",
    "empty", "contains", "not_contains", "regex",
})  # fmt: skip
API_OPERATORS = WEBAPP_OPERATORS | {"in_list", "not_in_list"}
WEBAPP_TYPES = frozenset({"String", "Number", "Boolean", "Datetime", "List"})
CONJUNCTIONS = ("and", "or")


def item(column: str, operator: str, value: Any, type_: str = "Number") -> dict:
    """One filter item on a task column (``id``, ``data.text``, ``predictions_score``, ...)."""
    if operator not in API_OPERATORS:
        known = ", ".join(sorted(API_OPERATORS))
        raise ValueError(f"unknown Data Manager filter operator {operator!r}; use one of {known}")
    column = column.removeprefix("filter:tasks:").removeprefix("tasks:")
    return {"filter": f"filter:tasks:{column}", "operator": operator, "type": type_, "value": value}


def with_child(parent: dict, child: dict) -> dict:
    """parent AND child, as one item the web app renders (see the module notes)."""
    return {**parent, "child_filter": child}


def ids_in(ids: Iterable[int]) -> dict:
    """Tasks whose id is in ids: for API queries only, the web app cannot load it."""
    return item("id", "in_list", [int(task_id) for task_id in ids])


def id_runs(ids: Iterable[int]) -> list[dict]:
    """Items that together (``or``) select exactly ids: ``equal`` for a lone id, ``in`` for a run of
    consecutive ids, so a contiguous block of 10,000 tasks is one item."""
    ordered = sorted({int(task_id) for task_id in ids})
    runs: list[list[int]] = []
    for task_id in ordered:
        if runs and task_id == runs[-1][1] + 1:
            runs[-1][1] = task_id
        else:
            runs.append([task_id, task_id])
    return [item("id", "equal", low) if low == high else item("id", "in", {"min": low, "max": high})
            for low, high in runs]


def ids_any(ids: Iterable[int]) -> dict:
    """A filters object selecting exactly ids, in a form the web app loads (``or`` of id runs)."""
    return combine(id_runs(ids) or [no_task()], "or")


def no_task() -> dict:
    """An item no task matches (task ids start at 1): an empty ``or`` would match every task."""
    return item("id", "equal", 0)


def id_after(task_id: int) -> dict:
    """Tasks with an id greater than task_id (for keyset paging)."""
    return item("id", "greater", int(task_id))


def unlabeled() -> dict:
    """Tasks without any non-cancelled annotation."""
    return item("total_annotations", "equal", 0)


def score_below(threshold: float) -> dict:
    """Tasks whose prediction score (project's model_version) is below threshold."""
    return item("predictions_score", "less", float(threshold))


def prediction_label(value: str) -> dict:
    """Tasks with a prediction whose result contains this label value."""
    return item("predictions_results", "contains", value, "String")


def model_version_in(model_version: str) -> dict:
    """Tasks with at least one prediction of this model_version (substring match in LS)."""
    return item("predictions_model_versions", "contains", [model_version], "List")


def combine(items: Iterable[dict], conjunction: str = "and") -> dict:
    """A filters object; conjunction is "and" or "or"."""
    if conjunction not in CONJUNCTIONS:
        raise ValueError(f"conjunction must be 'and' or 'or', got {conjunction!r}")
    return {"conjunction": conjunction, "items": list(items)}


def webapp_problems(filters: dict | None) -> list[str]:
    """What in a view's filters the 1.23.2 web app cannot load (empty when it renders)."""
    if not filters:
        return []
    problems = []
    if filters.get("conjunction", "and") not in CONJUNCTIONS:
        problems.append(f"conjunction {filters.get('conjunction')!r}")
    for entry in filters.get("items") or []:
        while isinstance(entry, dict):
            if entry.get("operator") not in WEBAPP_OPERATORS:
                problems.append(f"operator {entry.get('operator')!r} on {entry.get('filter')}")
            if entry.get("type") not in WEBAPP_TYPES:
                problems.append(f"type {entry.get('type')!r} on {entry.get('filter')}")
            entry = entry.get("child_filter")
    return problems


def check_webapp(filters: dict) -> dict:
    """filters, or ValueError naming what the web app cannot load."""
    problems = webapp_problems(filters)
    if problems:
        raise ValueError(f"Label Studio's web app cannot load a view with {'; '.join(problems)} "
                         f"(it accepts the operators {', '.join(sorted(WEBAPP_OPERATORS))})")
    return filters


def ordering_column(column: str) -> str:
    """``score`` -> ``tasks:score``; ``-score`` -> ``-tasks:score`` (descending)."""
    descending = column.startswith("-")
    name = column.lstrip("-").removeprefix("tasks:")
    return f"{'-' if descending else ''}tasks:{name}"
