"""A job's verification figures: accuracy by confidence band, the recommended threshold and the
audit estimate, from the verdicts recorded so far."""

from __future__ import annotations

from typing import Any

from ml_backend.review import accuracy
from ml_backend.review.audits import audits as job_audits
from ml_backend.review.effort import effort
from ml_backend.review.lookup import job_and_agent
from ml_backend.review.rescore import agent_calibration
from ml_backend.review.task_verdicts import task_verdicts
from ml_backend.runtime import Runtime


def figures(runtime: Runtime, job_id: str, target: float = 0.95) -> dict[str, Any]:
    """The verification report of a job (see ``accuracy.summarize``), from the recorded verdicts.

    The audit is the union of the samples of the job's audits at the latest audit's threshold.
    """
    job, agent = job_and_agent(runtime, job_id)
    verdicts = task_verdicts(runtime.store.verifications(job.id))
    audits = job_audits(runtime, job)
    threshold = audits[-1].threshold if audits else None
    sampled = {task_id for audit in audits if audit.threshold == threshold for task_id in audit.task_ids}
    records: list[accuracy.Verified] = []
    audited: list[accuracy.Verified] = []
    scores: list[float | None] = []
    signals: list[dict[str, Any]] = []
    verified_signals: list[tuple[dict[str, Any], bool]] = []
    failed_verified = 0
    for item in runtime.store.items(job.id):
        scores.append(item.score if item.error_class is None else None)
        if item.error_class is None:
            signals.append({"label": item.score, **((item.meta or {}).get("signals") or {})})
        verdict = verdicts.get(item.task_id)
        if verdict is None:
            continue
        if item.error_class is not None:
            failed_verified += 1
            continue
        verified_signals.append((signals[-1], verdict.correct))
        record = accuracy.Verified(item.task_id, item.score, verdict.correct)
        records.append(record)
        if item.task_id in sampled:
            audited.append(record)
    summary = accuracy.summarize(records, scores, audited, threshold, target)
    wilson = summary["recommendation"]["wilson"]
    return {
        "job": job.id,
        "project": job.project,
        "model_version": agent.model_version,
        "target": target,
        **summary,
        "failed_verified": failed_verified,
        "recommended_threshold": wilson.get("threshold") if wilson.get("available") else None,
        "calibration": agent_calibration(runtime, agent, job.project).to_dict(),
        "effort": effort(signals, verified_signals, len(scores) - len(signals), target),
        "audits": [
            {"title": audit.title, "view_id": audit.view_id, "threshold": audit.threshold, "seed": audit.seed,
             "size": audit.size, "verified": sum(1 for task_id in audit.task_ids if task_id in verdicts)}
            for audit in audits
        ],
    }
