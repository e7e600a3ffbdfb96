"""Repair of saved views that Label Studio's web app cannot load.

Earlier versions of lsagent saved review views as ``id in_list [...] AND total_annotations
equal 0``. The REST API accepts that, but the 1.23.2 web app does not know ``in_list``, and one
such view keeps EVERY tab of the project from rendering (``sync.filters``). ``repair_views`` finds
views with filters the web app cannot load and, for the views the caller owns, rewrites them in
the form ``sync.review`` writes today (same tasks, same "not annotated yet"), or deletes them
when no such form holds exactly their tasks (a new review can be created; the broken tab cannot
be opened anyway). Views the caller does not own are never changed, only reported.
"""

from __future__ import annotations

from collections.abc import Callable

from label_studio_sdk.client import LabelStudio

from sync import filters
from sync.client import guarded
from sync.review import ReviewTooLarge, review_filters
from sync.views import delete_view, list_views


def rewritten(old: dict) -> dict | None:
    """The web-app form of an old review filter (ids in_list, optionally AND not annotated), or None."""
    items = old.get("items") or []
    if old.get("conjunction", "and") != "and":
        return None
    ids = [entry for entry in items if entry.get("filter") == "filter:tasks:id" and entry.get("operator") == "in_list"]
    rest = [entry for entry in items if entry not in ids]
    unlabeled = _key(filters.unlabeled())
    if len(ids) != 1 or not isinstance(ids[0].get("value"), list) or any(_key(e) != unlabeled for e in rest):
        return None
    try:
        chosen = [int(task_id) for task_id in ids[0]["value"]]
        return review_filters(chosen) if rest else filters.combine(filters.id_runs(chosen) or [filters.no_task()], "or")
    except (TypeError, ValueError, ReviewTooLarge):
        return None


def _key(entry: dict) -> tuple:
    return entry.get("filter"), entry.get("operator"), entry.get("value")


@guarded
def repair_views(client: LabelStudio, project: int, owned: Callable[[dict], bool]) -> list[dict]:
    """Fix the project's views the web app cannot load; returns one record per such view:
    ``{view_id, title, problems, action}`` with action ``rewritten``, ``deleted`` or ``not owned``."""
    report = []
    for view in list_views(client, project):
        problems = filters.webapp_problems(view["filters"])
        if not problems:
            continue
        record = {"view_id": int(view["id"]), "title": view["title"], "problems": problems}
        if not owned(view):
            report.append({**record, "action": "not owned"})
            continue
        fixed = rewritten(view["filters"] or {})
        if fixed is None:
            delete_view(client, view["id"])
            report.append({**record, "action": "deleted"})
            continue
        client.views.update(str(view["id"]), project=project, data={**view["data"], "filters": fixed})
        report.append({**record, "action": "rewritten"})
    return report
