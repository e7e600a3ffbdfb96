"""An agent's calibration from all its verified items, and ``lsagent jobs rescore``: the job's
prediction scores in Label Studio rewritten with the calibrated confidence.

Why per agent and not per job: the map describes how the agent's confidence relates to being
right, which every job of the agent shares, and more verified items make a steadier map. A task
verified in several of the agent's jobs counts once (its latest job's verdict).

What is rewritten: each prediction of the job's model_version gets the calibrated score, on the
prediction and on each of its results. The store keeps the raw confidence (``item.score`` and
``meta["signals"]``), so a later fit, the figures and a second rescore start from the raw values,
and it keeps the map on the job (``jobs.calibration``): from then on the job's figures and its
score-based review views are on that calibrated scale, the one Label Studio shows
(``ml_backend.review.scale`` states the rule; ``job_scale`` applies it). The map is kept before
the scores are rewritten, and a queued or running job is refused (its later predictions would
arrive raw), so Label Studio never holds a calibrated score the store does not know of; a rescore
cut short by Label Studio is completed by running it again.
"""

from __future__ import annotations

from typing import Any

from ml_backend.review.calibration import Verified
from ml_backend.review.calibration_map import CalibrationFit, fit_calibration
from ml_backend.review.lookup import job_and_agent
from ml_backend.review.scale import Scale
from ml_backend.review.task_verdicts import task_verdicts
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, JobRecord

UNFINISHED = ("queued", "running")


class CalibrationUnavailable(ValueError):
    """Too few verified items to calibrate the agent; the message says how many there are."""


class RescoreConflict(ValueError):
    """The job still writes predictions: they would reach Label Studio with the raw score."""


def agent_records(runtime: Runtime, agent: AgentRecord, project: int) -> list[Verified]:
    """(raw confidence, right) of every verified labelled item of the agent's jobs in ``project``."""
    found: dict[int, Verified] = {}
    jobs = sorted((job for job in runtime.store.list_jobs(project) if job.agent_id == agent.id),
                  key=lambda job: job.created_at)
    for job in jobs:
        verdicts = task_verdicts(runtime.store.verifications(job.id))
        if not verdicts:
            continue
        for item in runtime.store.items(job.id, outcome="labeled"):
            if item.task_id in verdicts:
                found[item.task_id] = Verified(item.task_id, item.score, verdicts[item.task_id].correct)
    return list(found.values())


def agent_calibration(runtime: Runtime, agent: AgentRecord, project: int, method: str = "auto") -> CalibrationFit:
    return fit_calibration(agent_records(runtime, agent, project), method)


def job_scale(runtime: Runtime, job: JobRecord, agent: AgentRecord, calibrated: bool | None = None) -> Scale:
    """The scale of the job's figures: by default the one Label Studio shows (calibrated by the map
    of the job's last rescore, else raw); ``calibrated=False`` the raw one; ``calibrated=True`` the
    rescore's map, else the agent's current one (CalibrationUnavailable when there is none yet)."""
    stored = Scale.from_dict(job.calibration)
    if calibrated is None or (calibrated and stored.calibrated):
        return stored
    if not calibrated:
        return Scale()
    fit = agent_calibration(runtime, agent, job.project)
    if fit.map is None:
        raise CalibrationUnavailable(_unavailable(agent, fit))
    return Scale(fit.map, fit.n)


def _unavailable(agent: AgentRecord, fit: CalibrationFit) -> str:
    return f"no calibration for {agent.model_version} yet: {fit.unavailable}"


def rescore(runtime: Runtime, job_id: str, method: str = "auto") -> dict[str, Any]:
    """Rewrite the job's prediction scores in Label Studio with the agent's calibrated confidence."""
    from sync.predictions import predictions_by_version, update_prediction_score

    job, agent = job_and_agent(runtime, job_id)
    if job.status in UNFINISHED:
        raise RescoreConflict(f"job {job.id} is {job.status}: rescore it once it has finished, so that "
                              "every prediction it writes gets the calibrated score")
    fit = agent_calibration(runtime, agent, job.project, method)
    if fit.map is None:
        raise CalibrationUnavailable(_unavailable(agent, fit))
    scale = Scale(fit.map, fit.n)
    runtime.store.set_calibration(job.id, scale.to_dict())
    raw = {item.task_id: item.score for item in runtime.store.items(job.id, outcome="labeled")
           if item.score is not None}
    client = runtime.label_studio()
    rescored = 0
    for task_id, predictions in predictions_by_version(client, job.project, agent.model_version,
                                                       task_ids=list(raw)).items():
        score = scale.value(raw[task_id])
        for prediction in predictions:
            update_prediction_score(client, prediction, score)
            rescored += 1
    return {"job": job.id, "model_version": agent.model_version, "rescored": rescored, **fit.to_dict()}
