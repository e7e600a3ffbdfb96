"""A job whose agent answered spans, free text, a rating, a number, a taxonomy and a choice, built
directly in the store (the items carry the answers in the shape ``Answer.meta()`` gives them) with
its predictions in the real Label Studio, and annotations made there as an annotator would.

The engine that produces such answers is tested elsewhere; these tests cover what happens after
the answer: review views, verification element by element, export and the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sync.annotations import create_annotation
from sync.predictions import import_predictions, predictions_by_version
from sync.projects import set_model_version

MIXED_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="PER" background="#ffa39e"/><Label value="ORG" background="#91d5ff"/>
    <Label value="LOC" background="#b7eb8f"/>
  </Labels>
  <TextArea name="summary" toName="text"/>
  <Rating name="quality" toName="text" maxRating="5"/>
  <Number name="count" toName="text" min="0" max="10"/>
  <Taxonomy name="topic" toName="text">
    <Choice value="Business"><Choice value="Hiring"/><Choice value="Leadership"/><Choice value="Planning"/></Choice>
    <Choice value="Travel"/>
  </Taxonomy>
  <Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>
  </Choices>
</View>"""
NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="PER" background="#ffa39e"/><Label value="ORG" background="#91d5ff"/>
    <Label value="LOC" background="#b7eb8f"/>
  </Labels>
</View>"""


def span(text: str, entity: str, label: str, confidence: float | None = None, occurrence: int = 0) -> dict[str, Any]:
    """The span of ``entity`` (its n-th occurrence) in ``text``, offsets found here, not typed by hand."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(entity, start + 1)
    return {"start": start, "end": start + len(entity), "text": entity, "label": label, "confidence": confidence}


@dataclass
class Answer:
    """What the agent (or an annotator) answered for one task, per control of MIXED_CONFIG."""

    spans: list[dict[str, Any]]
    summary: list[str] | None = None
    quality: int | None = None
    count: float | int | None = None
    topic: list[list[str]] | None = None
    sentiment: list[str] | None = None
    dropped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def results(answer: Answer, agent: bool) -> list[dict[str, Any]]:
    """Label Studio result items of an answer (the agent's carry a score per span)."""
    items: list[dict[str, Any]] = []
    for index, entry in enumerate(answer.spans):
        item: dict[str, Any] = {"id": f"s{index}", "from_name": "ner", "to_name": "text", "type": "labels",
                                "value": {"start": entry["start"], "end": entry["end"], "text": entry["text"],
                                          "labels": [entry["label"]]}}
        if agent:
            item["score"] = entry["confidence"]
        items.append(item)
    values = {"summary": ("textarea", {"text": answer.summary}), "quality": ("rating", {"rating": answer.quality}),
              "count": ("number", {"number": answer.count}), "topic": ("taxonomy", {"taxonomy": answer.topic}),
              "sentiment": ("choices", {"choices": answer.sentiment})}
    for name, (kind, value) in values.items():
        if next(iter(value.values())) is not None:
            items.append({"from_name": name, "to_name": "text", "type": kind, "value": value})
    return items


@dataclass
class ElementJob:
    """A job built in the store, with its predictions in Label Studio."""

    id: str
    project: int
    model_version: str
    tasks: list[int]
    texts: list[str]


def item_fields(answer: Answer, confidence: dict[str, float]) -> dict[str, Any]:
    """The item a job would record for this answer (the contract of ``Answer.meta()``)."""
    spans = sorted((dict(entry) for entry in answer.spans), key=lambda entry: entry["start"])
    labels: dict[str, list[str]] = {"ner": sorted({entry["label"] for entry in spans})}
    meta: dict[str, Any] = {"method": "logprobs", "spans": {"ner": spans}, "texts": {}, "numbers": {}, "paths": {}}
    if answer.dropped:
        meta["dropped_spans"] = {"ner": answer.dropped}
    if answer.summary is not None:
        labels["summary"] = []
        meta["texts"]["summary"] = answer.summary
    for name in ("quality", "count"):
        if getattr(answer, name) is not None:
            labels[name] = [str(getattr(answer, name))]
            meta["numbers"][name] = getattr(answer, name)
    if answer.topic is not None:
        labels["topic"] = sorted({node for path in answer.topic for node in path})
        meta["paths"]["topic"] = answer.topic
    if answer.sentiment is not None:
        labels["sentiment"] = answer.sentiment
    scores = {"ner": min((entry["confidence"] for entry in spans), default=None), **confidence}
    known = [value for value in scores.values() if value is not None]
    return {"labels": labels, "confidence": scores, "score": min(known) if known else None, "meta": meta}


def build_job(service: Any, label_studio: Any, config: str, texts: list[str], answers: list[Answer | None],
              confidences: list[dict[str, float]] | None = None, name: str = "elements") -> ElementJob:
    """A project with these texts, an agent and a finished job whose items are ``answers`` (None: the
    agent failed with a format error), and the agent's predictions imported into Label Studio."""
    store = service.runtime.store
    project = label_studio.new_project(config, [{"text": text} for text in texts])
    tasks = label_studio.task_ids(project)
    identity = hashlib.sha256(f"{config}|{name}|{project}".encode()).hexdigest()
    agent = store.save_agent(id=identity, name=name, project=project, label_signature="elements",
                             label_config=config, config={"model": "sim-small"}, template_source="{{ text }}",
                             instructions="")
    job = store.create_job(agent_id=agent.id, project=project, subset="all", total=len(tasks))
    store.set_status(job.id, "running")
    predictions = []
    for index, (task_id, answer) in enumerate(zip(tasks, answers, strict=True)):
        if answer is None:
            store.record_item(job.id, task_id, error_class="format_error", error_detail="not JSON")
            continue
        fields_ = item_fields(answer, (confidences or [{}] * len(tasks))[index])
        store.record_item(job.id, task_id, **fields_)
        predictions.append({"task": task_id, "result": results(answer, agent=True), "score": fields_["score"],
                            "model_version": agent.model_version})
    import_predictions(label_studio.client, project, predictions)
    set_model_version(label_studio.client, project, agent.model_version)
    store.set_status(job.id, "done")
    return ElementJob(job.id, project, agent.model_version, tasks, texts)


def annotate(label_studio: Any, job: ElementJob, index: int, answer: Answer) -> dict[str, Any]:
    """An annotator's final answer for task ``index``, submitted from the agent's prediction."""
    task_id = job.tasks[index]
    [prediction] = predictions_by_version(label_studio.client, job.project, job.model_version,
                                          task_ids=[task_id])[task_id]
    return create_annotation(label_studio.client, task_id, results(answer, agent=False),
                             parent_prediction=int(prediction["id"]))


A = "Maria Okafor joined Northwind Logistics last spring."
B = "Priya Raman flew from Lisbon to Osaka on Monday."
C = "The board of Vantor Robotics named Omar Haddad chief executive."
D = "Grace Liu said the project in Bergen would finish by June."
E = "Jonas Lindqvist thanked Aiko Tanaka for the help."
#: What the agent answered (A-D are verified by HUMAN, E never is; D had a span dropped).
AGENT = [
    Answer([span(A, "Maria Okafor", "PER", 0.9), span(A, "Northwind Logistics", "ORG", 0.8)],
           ["Maria joined Northwind."], 4, 1, [["Business", "Hiring"]], ["Positive"]),
    Answer([span(B, "Priya Raman", "PER", 0.95), span(B, "Lisbon", "ORG", 0.4), span(B, "Osaka", "LOC", 0.7)],
           ["Priya flew to Osaka."], 3, 2, [["Travel"]], ["Neutral"]),
    Answer([span(C, "Vantor", "ORG", 0.6), span(C, "Omar Haddad", "PER", 0.5),
            span(C, "chief executive", "LOC", 0.3)], ["Omar heads Vantor."], 5, 0, [["Business", "Leadership"]],
           ["Neutral"]),
    Answer([span(D, "Grace Liu", "PER", 0.9)], ["Grace expects June."], 2, 3, [["Business"]], ["Neutral"], dropped=1),
    Answer([span(E, "Jonas Lindqvist", "PER", 0.9), span(E, "Aiko Tanaka", "PER", 0.85)], ["Thanks."], 5, 2,
           [["Business"]], ["Positive"]),
]
#: The annotators' final answers for A-D.
HUMAN = [
    Answer([span(A, "Maria Okafor", "PER"), span(A, "Northwind Logistics", "ORG")],   # all kept
           ["Maria joined Northwind."], 4, 1, [["Business", "Hiring"]], ["Positive"]),
    Answer([span(B, "Priya Raman", "PER"), span(B, "Lisbon", "LOC"), span(B, "Osaka", "LOC")],  # Lisbon relabelled
           ["Priya flew to Osaka."], 4, 2, [["Travel"]], ["Neutral"]),
    Answer([span(C, "Vantor Robotics", "ORG"), span(C, "Omar Haddad", "PER")],  # boundary fixed, LOC removed
           ["Omar Haddad heads Vantor."], None, 2, [["Business", "Leadership"]], ["Neutral"]),  # rating cleared
    Answer([span(D, "Grace Liu", "PER"), span(D, "Bergen", "LOC")],  # Bergen was missed
           ["Grace expects an end by June."], 2, 3, [["Business", "Planning"]], ["Neutral"]),
]


def verified_job(service: Any, label_studio: Any) -> ElementJob:
    """The job of AGENT's answers on A-E, with HUMAN's annotations in Label Studio (not yet synced)."""
    job = build_job(service, label_studio, MIXED_CONFIG, [A, B, C, D, E], list(AGENT))
    for index, answer in enumerate(HUMAN):
        annotate(label_studio, job, index, answer)
    return job
