"""Repairing a project's review views that Label Studio's web app cannot load.

Views made by earlier versions of lsagent filter on ``id in_list``, which keeps every tab of the
project from rendering in Label Studio 1.23.2 (``sync.filters``). The service rewrites the views
it owns, and only those: a view is the service's when its data carries ``sync.review.MARKER``
(every view written now) or its title starts with ``TITLE_PREFIX`` (the titles every version has
derived, the demo's included). A view the user made or renamed is reported, never changed.
Repair runs when a review is created, when the demo runs, and on ``lsagent review repair``.
"""

from __future__ import annotations

from typing import Any

from ml_backend.runtime import Runtime

TITLE_PREFIX = "lsagent "


def owned(view: dict[str, Any]) -> bool:
    """Whether the service made this view (its marker, or its title convention)."""
    from sync.review import MARKER

    return bool((view.get("data") or {}).get(MARKER)) or str(view.get("title") or "").startswith(TITLE_PREFIX)


def repair_project(runtime: Runtime, project: int) -> list[dict[str, Any]]:
    """Rewrite (or delete) the service's views of the project that the web app cannot load;
    returns one record per such view, those left alone included (action ``not owned``)."""
    from sync.repair import repair_views

    return repair_views(runtime.label_studio(), project, owned)
