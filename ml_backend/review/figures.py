"""A job's verification figures: accuracy by confidence band, the recommended threshold and the
audit estimate, from the verdicts recorded so far.

They are on one confidence scale, named in the answer (``scale``): by default the one Label
Studio shows for the job (calibrated once the job was rescored, else raw), or the one asked for
(``ml_backend.review.scale`` has the rule). Every score is mapped before anything is summarised,
so the bands, the threshold and the split of tasks at it are all in that scale's units. An audit
counts only on the scale it was drawn on: its threshold selected its sample."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ml_backend.review import accuracy, elements
from ml_backend.review.audits import audits as job_audits
from ml_backend.review.effort import effort
from ml_backend.review.lookup import job_and_agent
from ml_backend.review.regions import agent_value, empty
from ml_backend.review.rescore import agent_calibration, job_scale
from ml_backend.review.scale import Scale
from ml_backend.review.task_verdicts import TaskVerdict, task_verdicts
from ml_backend.review.verdicts import control_kinds
from ml_backend.runtime import Runtime
from ml_backend.store import AuditRecord, ItemRecord

#: How each kind verified element by element is measured (``ml_backend.review.elements``).
MEASURES: dict[str, Callable[[list[tuple[Any, Any]]], dict[str, Any]]] = {
    "labels": elements.span_figures, "textarea": elements.text_figures, "rating": elements.number_figures,
    "number": elements.number_figures, "taxonomy": elements.path_figures}


def figures(runtime: Runtime, job_id: str, target: float = 0.95, calibrated: bool | None = None) -> dict[str, Any]:
    """The verification report of a job (see ``accuracy.summarize``), from the recorded verdicts,
    on the scale ``calibrated`` asks for (``rescore.job_scale``; None: the one Label Studio shows).

    The audit is the union of the samples of the job's audits at the latest audit's threshold,
    when the latest audit was drawn on this scale (otherwise no threshold is in use here).
    ``controls`` holds, per control that is not Choices, its figures element by element over the
    verified tasks the agent labelled (span precision/recall per label, text edits, number rates);
    a span control also counts the agent's spans per label over every task of the job
    (``job_spans``), verified or not.
    """
    job, agent = job_and_agent(runtime, job_id)
    verdicts = task_verdicts(runtime.store.verifications(job.id))
    scale = job_scale(runtime, job, agent, calibrated)
    audits = job_audits(runtime, job)
    latest = audits[-1] if audits else None
    on_scale = [audit for audit in audits if Scale.from_dict(audit.scale) == scale]
    threshold = latest.threshold if latest is not None and latest in on_scale else None
    sampled = {task_id for audit in on_scale if audit.threshold == threshold for task_id in audit.task_ids}
    records: list[accuracy.Verified] = []
    audited: list[accuracy.Verified] = []
    scores: list[float | None] = []
    signals: list[dict[str, Any]] = []
    verified_signals: list[tuple[dict[str, Any], bool]] = []
    failed_verified = 0
    kinds = {name: kind for name, kind in control_kinds(agent).items() if kind in MEASURES}
    pairs: dict[str, list[tuple[Any, Any]]] = {name: [] for name in kinds}
    job_spans: dict[str, Counter[str]] = {name: Counter() for name, kind in kinds.items() if kind == "labels"}
    for item in runtime.store.items(job.id):
        score = scale.score(item.score)
        scores.append(score if item.error_class is None else None)
        if item.error_class is None:
            signals.append({"label": item.score, **((item.meta or {}).get("signals") or {})})
        for name, counter in job_spans.items():
            counter.update(str(span["label"]) for span in agent_value(item, name, "labels"))
        verdict = verdicts.get(item.task_id)
        if verdict is None:
            continue
        if item.error_class is not None:
            failed_verified += 1
            continue
        verified_signals.append((signals[-1], verdict.correct))
        _add_pairs(pairs, kinds, item, verdict)
        record = accuracy.Verified(item.task_id, score, verdict.correct)
        records.append(record)
        if item.task_id in sampled:
            audited.append(record)
    summary = accuracy.summarize(records, scores, audited, threshold, target)
    if latest is not None and threshold is None:
        summary["audit"] = _other_scale(latest, scale).to_dict()
    wilson = summary["recommendation"]["wilson"]
    return {
        "job": job.id,
        "project": job.project,
        "model_version": agent.model_version,
        "target": target,
        "scale": scale.describe(),
        "rescored": job.calibration is not None,
        **summary,
        "failed_verified": failed_verified,
        "controls": {name: _control(kind, pairs[name], job_spans.get(name)) for name, kind in kinds.items()},
        "recommended_threshold": wilson.get("threshold") if wilson.get("available") else None,
        "calibration": agent_calibration(runtime, agent, job.project).to_dict(),
        "effort": effort(signals, verified_signals, len(scores) - len(signals), target),
        "audits": [
            {"title": audit.title, "view_id": audit.view_id, "threshold": audit.threshold, "seed": audit.seed,
             "size": audit.size, "verified": sum(1 for task_id in audit.task_ids if task_id in verdicts),
             "scale": Scale.from_dict(audit.scale).describe()}
            for audit in audits
        ],
    }


def _other_scale(audit: AuditRecord, scale: Scale) -> accuracy.Unavailable:
    drawn = Scale.from_dict(audit.scale).describe()
    return accuracy.Unavailable(
        f"the latest audit took the tasks at or above {audit.threshold:g} on the {drawn} scale, not on this one "
        f"({scale.describe()}): draw a new audit, or show the figures on its scale")


def _control(kind: str, pairs: list[tuple[Any, Any]], job_spans: Counter[str] | None) -> dict[str, Any]:
    figures = {"kind": kind, **MEASURES[kind](pairs)}
    if job_spans is not None:
        figures["job_spans"] = dict(sorted(job_spans.items()))
    return figures


def _add_pairs(pairs: dict[str, list[tuple[Any, Any]]], kinds: dict[str, str], item: ItemRecord,
               verdict: TaskVerdict) -> None:
    """(agent's answer, annotator's answer) of each element-verified control of a verified task (a
    rating or number the annotator cleared is stored as no value: it counts as not kept)."""
    for name, kind in kinds.items():
        if name in verdict.human_labels:
            pairs[name].append((agent_value(item, name, kind), verdict.human_values.get(name, empty(kind))))
