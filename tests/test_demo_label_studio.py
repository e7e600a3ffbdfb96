"""The demo's own Label Studio steps against the real Label Studio: its project is found again by
title on a rerun, and looking for it leaves no error traceback in Label Studio's log."""

from __future__ import annotations

import uuid
from typing import Any

from ml_backend.cli.demo.label_studio import ensure_project
from tests.fixtures.label_studio import SENTIMENT_CONFIG


def tracebacks(label_studio: Any) -> int:
    return label_studio.log_path.read_text(errors="replace").count("Traceback")


def test_the_project_is_created_once_then_found_without_a_traceback(label_studio: Any) -> None:
    title = f"demo {uuid.uuid4().hex[:8]}"
    before = tracebacks(label_studio)
    project, created = ensure_project(label_studio.client, title, SENTIMENT_CONFIG)
    again, created_again = ensure_project(label_studio.client, title, SENTIMENT_CONFIG)
    assert (created, created_again, again) == (True, False, project)
    assert tracebacks(label_studio) == before
