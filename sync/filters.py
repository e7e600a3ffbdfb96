"""Data Manager filter items, as plain dicts, for task queries and saved views.

A filter is ``{"conjunction": "and"|"or", "items": [item, ...]}``; an item is
``{"filter": "filter:tasks:<column>", "operator": ..., "type": ..., "value": ...}``.
The same shape is used by ``/api/tasks?query=`` and by a view's ``data.filters``.

Measured with label-studio 1.23.2 (see tests/test_sync_views.py and test_sync_tasks.py):
- ``filter:tasks:id`` with ``in_list`` and a list of ints selects exactly those tasks (type
  "Number"; "List" works too). A saved view holds 100,000 ids fine (the list is stored as JSON;
  ~2 s per page on SQLite). In ``/api/tasks?query=`` the ids travel in the URL: keep them to
  about 1,000 per request (httpx refuses a query component over 64 KiB).
- ``in`` is "between": value ``{"min": a, "max": b}``, inclusive.
- ``filter:tasks:total_annotations`` ``equal`` 0 = tasks without a (non-cancelled) annotation;
  a skipped task (cancelled annotation) still counts as unlabeled here.
- ``filter:tasks:predictions_score`` (less/greater/...) and ordering by ``tasks:predictions_score``
  average only predictions whose model_version equals the project's ``model_version``: set it
  first (``projects.set_model_version``); with it unset ("") every score reads as null.
- ``filter:tasks:predictions_model_versions`` ``contains`` needs a *list* value: a string is
  iterated character by character and matches nearly everything.
- ``filter:tasks:predictions_results`` ``contains`` a label value (String) matches tasks whose
  prediction result contains that text (any model version).
- ``filter:tasks:data.<field>`` equal/contains/regex work on task data.
- Ordering honours only the first column; ties come back in id order on SQLite (not guaranteed
  by PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OPERATORS = (
    "equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal", "in", "not_in",
    "in_list", "not_in_list", "empty", "contains", "not_contains", "regex",
)  # fmt: skip


def item(column: str, operator: str, value: Any, type_: str = "Number") -> dict:
    """One filter item on a task column (``id``, ``data.text``, ``predictions_score``, ...)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown Data Manager filter operator {operator!r}; use one of {', '.join(OPERATORS)}")
    column = column.removeprefix("filter:tasks:").removeprefix("tasks:")
    return {"filter": f"filter:tasks:{column}", "operator": operator, "type": type_, "value": value}


def ids_in(ids: Iterable[int]) -> dict:
    """Tasks whose id is in ids."""
    return item("id", "in_list", [int(task_id) for task_id in ids])


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
    if conjunction not in ("and", "or"):
        raise ValueError(f"conjunction must be 'and' or 'or', got {conjunction!r}")
    return {"conjunction": conjunction, "items": list(items)}


def ordering_column(column: str) -> str:
    """``score`` -> ``tasks:score``; ``-score`` -> ``-tasks:score`` (descending)."""
    descending = column.startswith("-")
    name = column.lstrip("-").removeprefix("tasks:")
    return f"{'-' if descending else ''}tasks:{name}"
