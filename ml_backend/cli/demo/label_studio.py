"""The demo's own Label Studio steps: its project (found again by title), its tasks (found again
by the review id in ``meta``), and reading back what the agent wrote there.

Everything generic goes through ``sync``; the SDK is called here only for the two things ``sync``
has no use for elsewhere (find a project by title, describe it), inside ``translated_errors`` so
that failures are the same ``LabelStudioError`` classes as everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from label_studio_sdk.client import LabelStudio

from ml_backend.cli.demo.dataset import DEMO_TASKS, DemoItem, DemoTask
from sync.client import translated_errors
from sync.projects import create_project
from sync.tasks import import_tasks, iter_task_pages


def ensure_project(client: LabelStudio, title: str, label_config: str,
                   demo: DemoTask = DEMO_TASKS["sentiment"]) -> tuple[int, bool]:
    """The project with this exact title (the oldest if several), else a new one with the demo
    task's description and annotator instructions: (id, created)."""
    # the first page only: the SDK's pager asks for a page past the last, a traceback in Label Studio's log
    with translated_errors():
        page: list[Any] | None = client.projects.list(title=title, page_size=100).items
    same = sorted(int(project.id) for project in page or () if project.id is not None and project.title == title)
    if same:
        return same[0], False
    project = create_project(client, title, label_config)
    with translated_errors():
        client.projects.update(project, description=demo.description,
                               expert_instruction=demo.annotator_instructions, show_instruction=True)
    return project, True


def ensure_tasks(client: LabelStudio, project: int, reviews: Sequence[DemoItem]) -> tuple[int, int]:
    """Import the items the project does not hold yet (matched by ``meta.uid``): (imported, present)."""
    present = {(task.get("meta") or {}).get("uid")
               for page in iter_task_pages(client, project, fields=("id", "meta")) for task in page}
    missing = [review.task() for review in reviews if review.uid not in present]
    if missing:
        import_tasks(client, project, missing)
    return len(missing), len(reviews) - len(missing)


@dataclass
class Readback:
    """What Label Studio holds for the demo's tasks and one agent, read back after the job."""

    tasks: int = 0
    predicted: int = 0
    duplicates: int = 0
    agree: int = 0
    agree_confident: int = 0
    confident: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    @property
    def agreement(self) -> float | None:
        return self.agree / self.predicted if self.predicted else None


def read_back(client: LabelStudio, project: int, model_version: str, control: str, threshold: float) -> Readback:
    """Count the agent's predictions per task, and how often its answer is the gold one (overall,
    at or above ``threshold``, and per kind: of review, plain, mixed, sarcastic; of sentence, by its
    number of entities). A span answer is the gold one when it has exactly the gold spans."""
    seen = Readback()
    for page in iter_task_pages(client, project, fields=("id", "meta", "predictions")):
        for task in page:
            seen.tasks += 1
            mine = [p for p in task.get("predictions") or [] if p.get("model_version") == model_version]
            if not mine:
                continue
            seen.predicted += 1
            seen.duplicates += len(mine) - 1
            _score(seen, task.get("meta") or {}, mine[0], control, threshold)
    return seen


def _score(seen: Readback, meta: dict[str, Any], prediction: dict[str, Any], control: str, threshold: float) -> None:
    gold = meta.get("gold")
    items = [item for item in prediction.get("result") or [] if item.get("from_name") == control]
    if isinstance(gold, list):  # spans: the gold ones exactly
        right = _spans(items) == {(span.get("start"), span.get("end"), span.get("label")) for span in gold}
    else:
        right = [value for item in items for value in (item.get("value") or {}).get("choices") or []] == [gold]
    seen.agree += right
    tally = seen.by_kind.setdefault(str(meta.get("kind", "plain")), [0, 0])
    tally[0] += right
    tally[1] += 1
    score = prediction.get("score")
    if score is not None and score >= threshold:
        seen.confident += 1
        seen.agree_confident += right



def _spans(items: list[dict[str, Any]]) -> set[tuple[Any, Any, Any]]:
    return {(value.get("start"), value.get("end"), label) for item in items
            for value in [item.get("value") or {}] for label in value.get("labels") or []}
