"""Review views: Data Manager tabs that show annotators only the tasks of a job worth checking.

Every kind of review comes down to the same view: the job's tasks chosen here from the store
(and, for a keyword, from the task texts), AND "nobody has annotated it yet", ordered by
ascending confidence where confidence means something. Choosing the tasks here rather than with
Label Studio's own filters keeps every kind exact (a label filter in Label Studio matches any
model's predictions, by substring; an audit sample, a disagreement or the tasks an agent failed
on have no filter at all) and lets a task leave the view the moment it is annotated. The title
is derived from the job, kind and parameters, so asking for the same review again updates its
view instead of adding a second tab.

How a view is written so that Label Studio 1.23.2's web app renders it (``sync.review``): runs
of task ids joined by ``or``, each with "no annotation" as its child filter, for every kind; a
kind that also has a natural filter (threshold: score below T; lowest: score at most the K-th
lowest; label: the prediction holds the label) passes it as the description ``sync.review``
falls back to when the ids are too scattered for one view, and only when it selects exactly the
same tasks. Every review first repairs the project's own views the web app cannot load
(``ml_backend.review.repair``), since one of them keeps every tab from rendering.

Per kind (the set, then how the view holds it; ordering):
- threshold: labelled tasks scored below T (or without a score; a task's score is its least
  confident element: span, number, path...): id runs, else ``score < T``
  when exact; by ascending score.
- lowest: the K least confident open tasks, ties at the K-th score broken by id: id runs (a
  score bound would take every tied task), else ``score <= K-th score`` when exact; by score.
- label: tasks the agent labelled L (a choice, a span label, a taxonomy node): id runs
  (``predictions_results contains L`` matches any model's predictions, by substring), else that
  filter when exact; by score.
- keyword: tasks whose input text contains W: id runs; by score.
- errors (failed tasks, and tasks where some of the model's spans were not found in the text and
  dropped), disagree, audit: no Label Studio filter describes them: id runs only; errors and
  audit by id (an audit read in score order and left half way would be a biased sample),
  disagree by this job's agent's score.
- diverse, budget: cluster representatives, and the most expected errors covering the clusters
  (``ml_backend.review.diversity``): id runs; by score.

What an annotator sees: only the task's text, the agent's label, its score and the annotation
count (other columns hidden), least confident first; opening a task shows the agent's
prediction pre-selected, because the job made the agent's model_version the project's (and the
review sets it again), which is also what fills the score column.

Which scores: threshold, lowest and audit select by the scores Label Studio shows for the job,
so a view and the Data Manager's score column, filter and ordering agree: the raw confidence, or
the calibrated one once ``lsagent jobs rescore`` wrote it (mapped from the store's raw scores by
the map the rescore kept with the job; ``ml_backend.review.scale`` has the rule). The answer
names the scale, and an audit keeps it with its threshold.

An audit is the exception to "least confident first": it is a seeded uniform sample of the tasks
accepted at a threshold, ordered by id, because annotators who stop half way through a sample
sorted by confidence would leave a biased one. Its sample and threshold are kept with the job
(the store's ``audits`` table) so that the verification figures can find the audited tasks again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ml_backend.engine.labeling import InputField
from ml_backend.review.audits import remember_audit
from ml_backend.review.controls import ReviewControl, review_controls, review_inputs
from ml_backend.review.lookup import job_and_agent
from ml_backend.review.repair import TITLE_PREFIX, repair_project
from ml_backend.review.rescore import job_scale
from ml_backend.review.scale import Scale
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, JobRecord

KINDS = ("threshold", "lowest", "label", "keyword", "errors", "disagree", "audit", "diverse", "budget")
UNFINISHED = ("queued", "running")
DEFAULT_SEED = 0
CANDIDATE_BATCH = 1000


class ReviewError(ValueError):
    """The review cannot be built as asked; the message says what to change."""


class ReviewConflict(ReviewError):
    """The job is in a state where this review makes no sense yet (an audit of a running job)."""


@dataclass(frozen=True)
class ReviewRequest:
    """What to review. ``threshold`` is the score bound of a "threshold" review and the acceptance
    threshold of an "audit" (default: the recommended one); ``audit`` is the sample size."""

    job_id: str
    kind: str
    threshold: float | None = None
    lowest: int | None = None
    label: str | None = None
    keyword: str | None = None
    other_job: str | None = None
    audit: int | None = None
    seed: int | None = None
    title: str | None = None
    diverse: int | None = None
    budget: int | None = None


@dataclass(frozen=True)
class Selection:
    """The tasks a review holds, whether to order them by score, and what the title says."""

    task_ids: list[int]
    by_score: bool
    describe: str
    facts: dict[str, Any]
    description: tuple[dict, ...] = ()


def create_review(runtime: Runtime, request: ReviewRequest) -> dict[str, Any]:
    """Build (or update) the review's view in Label Studio and describe it."""
    from sync import projects, review, views

    job, agent = job_and_agent(runtime, request.job_id)
    scale = job_scale(runtime, job, agent)
    selection = select(runtime, job, agent, request, scale)
    title = (request.title or "").strip() or f"{TITLE_PREFIX}{job.id[:8]}: {selection.describe}"
    client = runtime.label_studio()
    repair_project(runtime, job.project)
    projects.set_model_version(client, job.project, agent.model_version)
    shown = [f"data.{field.data_key}" for field in review_inputs(agent.label_config)]
    try:
        written = review.upsert_review_view(client, job.project, title, selection.task_ids, selection.by_score,
                                            selection.description, shown)
    except review.ReviewTooLarge as exc:
        raise ReviewError(str(exc)) from None
    view_id, created = written.view_id, written.created
    if request.kind == "audit":
        remember_audit(runtime, job.id, title, view_id, selection.facts, scale)
    url = views.view_url(runtime.settings.label_studio_url or "", job.project, view_id)
    return {
        "view_id": view_id,
        "url": url,
        "title": title,
        "task_ids": views.view_task_ids(client, job.project, view_id),
        "created": created,
        "job": job.id,
        "project": job.project,
        "kind": request.kind,
        "ordering": "predictions_score" if selection.by_score else "id",
        "form": written.form,
        "model_version": agent.model_version,
        **selection.facts,
    }


def select(runtime: Runtime, job: JobRecord, agent: AgentRecord, request: ReviewRequest, scale: Scale) -> Selection:
    """The tasks of the review, by kind; ``scale`` is the one of the scores Label Studio shows."""
    if request.kind not in KINDS:
        raise ReviewError(f"unknown review kind {request.kind!r}; use one of {', '.join(KINDS)}")
    if request.kind == "threshold":
        return _below(runtime, job, _probability(request.threshold, "threshold"), scale)
    if request.kind == "lowest":
        return _lowest(runtime, job, _positive(request.lowest, "lowest"), scale)
    if request.kind == "label":
        return _label(runtime, job, review_controls(agent.label_config), request.label)
    if request.kind == "keyword":
        return _keyword(runtime, job, review_inputs(agent.label_config), request.keyword)
    if request.kind == "errors":
        ids = [item.task_id for item in runtime.store.items(job.id)
               if item.error_class is not None or any((item.meta.get("dropped_spans") or {}).values())]
        return Selection(ids, False, "errors", {})
    if request.kind == "disagree":
        return _disagree(runtime, job, request.other_job)
    if request.kind in ("diverse", "budget"):
        return _diversity(runtime, job, agent, request)
    return _audit(runtime, job, request, scale)


def _diversity(runtime: Runtime, job: JobRecord, agent: AgentRecord, request: ReviewRequest) -> Selection:
    """Cluster representatives, or the most expected errors covering the clusters."""
    from ml_backend.review import diversity

    try:
        if request.kind == "diverse":
            picked = diversity.diverse(runtime, job, agent, _positive(request.diverse, "diverse"))
        else:
            picked = diversity.budget(runtime, job, agent, _positive(request.budget, "budget"))
    except diversity.NothingToReview as exc:
        raise ReviewError(str(exc)) from None
    return Selection(picked.task_ids, True, picked.describe, picked.facts)


def _below(runtime: Runtime, job: JobRecord, threshold: float, scale: Scale) -> Selection:
    """Labelled tasks scored below the threshold, and those without a score (never accepted)."""
    from sync import filters

    scored = ((item.task_id, scale.score(item.score)) for item in runtime.store.items(job.id, outcome="labeled"))
    ids = [task_id for task_id, score in scored if score is None or score < threshold]
    facts = {"threshold": threshold, "scale": scale.describe()}
    return Selection(ids, True, f"score < {threshold:g}", facts, (filters.score_below(threshold),))


def _lowest(runtime: Runtime, job: JobRecord, count: int, scale: Scale) -> Selection:
    """The ``count`` least confident labelled tasks among those nobody has annotated yet (ties at
    the K-th score broken by task id, so the view holds exactly ``count``)."""
    from sync import filters
    from sync.review import unannotated_ids

    ranked = sorted(
        (scale.value(item.score), item.task_id)
        for item in runtime.store.items(job.id, outcome="labeled") if item.score is not None
    )
    chosen: list[int] = []
    client = runtime.label_studio()
    for start in range(0, len(ranked), CANDIDATE_BATCH):
        batch = [task_id for _, task_id in ranked[start : start + CANDIDATE_BATCH]]
        open_ids = unannotated_ids(client, job.project, batch)
        chosen += [task_id for task_id in batch if task_id in open_ids][: count - len(chosen)]
        if len(chosen) == count:
            break
    scores = {task_id: score for score, task_id in ranked}
    highest = max((scores[task_id] for task_id in chosen), default=None)
    bound = (filters.item("predictions_score", "less_or_equal", highest),) if highest is not None else ()
    return Selection(chosen, True, f"lowest {count}", {"lowest": count, "scale": scale.describe()}, bound)


def _label(runtime: Runtime, job: JobRecord, controls: list[ReviewControl], wanted: str | None) -> Selection:
    """Tasks where the agent chose this label (its value or display text) in any control: a
    choice, a span's label or a node on a taxonomy path (``Item.labels`` holds them all)."""
    if not wanted or not wanted.strip():
        raise ReviewError("a label review needs 'label': the label value or its display text")
    wanted = wanted.strip()
    values = {value for control in controls for value, text in control.values.items() if wanted in (value, text)}
    if not values:
        known = sorted({value for control in controls for value in control.values})
        raise ReviewError(f"the agent has no label {wanted!r}; its labels are: {', '.join(known)}")
    ids = [
        item.task_id
        for item in runtime.store.items(job.id, outcome="labeled")
        if any(values.intersection(chosen) for chosen in item.labels.values())
    ]
    from sync import filters

    shown = sorted(values)[0] if len(values) == 1 else wanted
    described = (filters.prediction_label(shown),) if len(values) == 1 else ()
    return Selection(ids, True, f"label {shown}", {"label": shown}, described)


def _keyword(runtime: Runtime, job: JobRecord, inputs: list[InputField], keyword: str | None) -> Selection:
    """Tasks whose input text (what the agent read) contains the keyword, ignoring case."""
    from sync.review import iter_task_data

    if not keyword or not keyword.strip():
        raise ReviewError("a keyword review needs a non-empty 'keyword'")
    keyword = keyword.strip()
    needle = keyword.casefold()
    job_ids = [item.task_id for item in runtime.store.items(job.id)]
    ids: list[int] = []
    for page in iter_task_data(runtime.label_studio(), job.project, job_ids):
        ids += [task["id"] for task in page if needle in _input_text(inputs, task.get("data") or {}).casefold()]
    return Selection(sorted(ids), True, f'keyword "{keyword}"', {"keyword": keyword})


def _input_text(inputs: list[InputField], data: dict[str, Any]) -> str:
    """All the text the agent's controls read from a task, empty fields skipped."""
    texts = []
    for field in inputs:
        try:
            texts.append(field.read(data))
        except ValueError:
            continue
    return "\n".join(texts)


def _disagree(runtime: Runtime, job: JobRecord, other_id: str | None) -> Selection:
    """Tasks both jobs labelled, with different labels in some control."""
    if not other_id:
        raise ReviewError("a disagreement review needs 'other_job': the id of the job to compare with")
    other, _ = job_and_agent(runtime, other_id)
    if other.id == job.id:
        raise ReviewError("a job cannot disagree with itself: give another job of the same project")
    if other.project != job.project:
        raise ReviewError(f"job {other.id} is on project {other.project}, job {job.id} on {job.project}: "
                          "only jobs of the same project can be compared")
    theirs = {item.task_id: _normal(item.labels) for item in runtime.store.items(other.id, outcome="labeled")}
    ids = [
        item.task_id
        for item in runtime.store.items(job.id, outcome="labeled")
        if item.task_id in theirs and theirs[item.task_id] != _normal(item.labels)
    ]
    return Selection(ids, True, f"disagree {other.id[:8]}", {"other_job": other.id})


def _normal(labels: dict[str, list[str]]) -> dict[str, list[str]]:
    """Labels compared as sets per control, a control without labels as absent."""
    return {control: sorted(values) for control, values in labels.items() if values}


def _audit(runtime: Runtime, job: JobRecord, request: ReviewRequest, scale: Scale) -> Selection:
    """A seeded uniform sample of the labelled tasks scored at or above the threshold."""
    size = _positive(request.audit, "audit")
    if job.status in UNFINISHED:
        raise ReviewConflict(f"job {job.id} is {job.status}: an audit samples the accepted tasks, "
                             "so wait until the job has finished")
    threshold = request.threshold
    if threshold is None:
        threshold = _recommended(runtime, job.id)
    threshold = _probability(threshold, "threshold")
    seed = DEFAULT_SEED if request.seed is None else request.seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ReviewError(f"seed must be an integer, got {seed!r}")
    accepted = [
        item.task_id
        for item in runtime.store.items(job.id, outcome="labeled")
        if item.score is not None and scale.value(item.score) >= threshold
    ]
    if not accepted:
        raise ReviewError(f"no task of job {job.id} has a confidence >= {threshold:g}: nothing to audit")
    sample = sorted(random.Random(seed).sample(accepted, min(size, len(accepted))))
    facts = {"threshold": threshold, "seed": seed, "audit": size, "accepted": len(accepted), "sample": sample,
             "scale": scale.describe()}
    return Selection(sample, False, f"audit {size} >= {threshold:g} seed {seed}", facts)


def _recommended(runtime: Runtime, job_id: str) -> float:
    """The threshold the verification figures recommend (Wilson standard at 0.95)."""
    from ml_backend.review.figures import figures

    recommendation = figures(runtime, job_id)["recommendation"]["wilson"]
    if not recommendation.get("available"):
        raise ReviewError(f"give the acceptance threshold (--threshold): there is no recommended one yet, "
                          f"{recommendation['reason']}")
    return float(recommendation["threshold"])


def _probability(value: Any, name: str) -> float:
    if value is None:
        raise ReviewError(f"this review needs '{name}', a confidence between 0 and 1")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ReviewError(f"'{name}' must be a number between 0 and 1, got {value!r}")
    return float(value)


def _positive(value: Any, name: str) -> int:
    if value is None:
        raise ReviewError(f"this review needs '{name}', a positive number of tasks")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ReviewError(f"'{name}' must be a positive integer, got {value!r}")
    return value
