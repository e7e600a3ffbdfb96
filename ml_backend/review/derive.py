"""The verified examples a derived agent learns from (``lsagent agents derive``).

Why from verdicts: a confirmed or corrected task carries the human's answer, the only labels in
the project known to be right. Every job of the project counts (a task verified through any
agent's predictions is verified), each task once, with its latest annotation's labels.

``diverse`` picks K representatives of the verified tasks (k-means over the same representation
as the ``diverse`` review: the agent's embeddings, else TF-IDF); ``similar`` keeps them all and
the prompt picks the K nearest per task (``engine.fewshot``), by the endpoint's embeddings when it
serves them: the pool's vectors are asked here, once, and kept in the config (rounded, bounded:
a pool beyond ``MAX_VECTOR_NUMBERS`` is refused, not silently matched another way). Examples are
in task id order, so the same verified set always gives the same examples, and so the same agent id.
"""

from __future__ import annotations

from typing import Any

from ml_backend.engine.fewshot import DECIMALS, MAX_VECTOR_NUMBERS, TFIDF, Example, FewShot, Selection, Vectors
from ml_backend.engine.labeling import EmptyInputError, LabelSpec, parse_label_config
from ml_backend.review import diversity
from ml_backend.review.task_verdicts import TaskVerdict, task_verdicts
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord


class DeriveError(ValueError):
    """The agent cannot be derived; the message says why and what would make it possible."""


def few_shot(runtime: Runtime, agent: AgentRecord, k: int, select: Selection) -> tuple[FewShot, dict[str, Any]]:
    """The examples of an agent derived from ``agent``, and facts about the choice (for the answer)."""
    spec = parse_label_config(agent.label_config)
    others = sorted({control.kind for control in spec.controls if control.kind != "choices"})
    if others:
        raise DeriveError(f"few-shot derivation supports Choices controls only; this agent's labeling config "
                          f"also has {', '.join(others)}")
    pool = verified_examples(runtime, agent, spec)
    if len(pool) < k:
        raise DeriveError(f"project {agent.project} has {len(pool)} verified task(s) with a complete answer, "
                          f"fewer than the {k} examples asked: verify more tasks (and sync verdicts) or ask fewer")
    matrix, source, note = diversity.represent(runtime, agent, ["\n".join(example.inputs) for example in pool])
    facts: dict[str, Any] = {"verified": len(pool), "representation": source}
    if note:
        facts["representation_note"] = note
    vectors = None
    if select == "diverse":
        pool = representative_examples(pool, matrix, k)
    elif source != TFIDF:
        vectors = pool_vectors(matrix)
    shots = FewShot(select=select, k=k, base=agent.id, examples=tuple(pool), representation=source,
                    representation_note=note, vectors=vectors)
    return shots, facts


def pool_vectors(matrix: Any) -> Vectors:
    """The pool's unit vectors, rounded to ``DECIMALS`` places; refused beyond the size bound."""
    rows, dimensions = matrix.shape
    if rows * dimensions > MAX_VECTOR_NUMBERS:
        raise DeriveError(f"the verified pool's embeddings are {rows} examples x {dimensions} dimensions = "
                          f"{rows * dimensions} numbers, more than the {MAX_VECTOR_NUMBERS} a derived agent may "
                          f"hold: use --select diverse (a fixed set), or an endpoint with smaller embeddings")
    return tuple(tuple(round(float(value), DECIMALS) for value in row) for row in matrix)


def verified_examples(runtime: Runtime, agent: AgentRecord, spec: LabelSpec) -> list[Example]:
    """Every verified task of the project with an answer for each control, in task id order."""
    rows = [row for job in runtime.store.list_jobs(agent.project) for row in runtime.store.verifications(job.id)]
    answers = {task: answer for task, verdict in task_verdicts(rows).items()
               if (answer := _answer(verdict, spec)) is not None}
    examples = []
    for task in _task_data(runtime, agent.project, sorted(answers)):
        try:
            inputs = tuple(spec.read_inputs(task.get("data") or {}).values())
        except EmptyInputError:
            continue
        examples.append(Example(task=int(task["id"]), inputs=inputs, answer=answers[int(task["id"])]))
    return sorted(examples, key=lambda example: example.task)


def _answer(verdict: TaskVerdict, spec: LabelSpec) -> dict[str, Any] | None:
    """The human's answer in the prompt's output format (label texts, one string for single
    choice); None when a control is unanswered or holds a label the config no longer has."""
    answer: dict[str, Any] = {}
    for control in spec.controls:
        texts = {label.value: label.text for label in control.labels}
        chosen = verdict.human_labels.get(control.name) or []
        if not chosen or any(value not in texts for value in chosen) or (len(chosen) > 1 and not control.multiple):
            return None
        shown = [texts[value] for value in chosen]
        answer[control.name] = shown if control.multiple else shown[0]
    return answer


def _task_data(runtime: Runtime, project: int, ids: list[int]) -> list[dict[str, Any]]:
    from sync.tasks import iter_task_pages

    if not ids:
        return []
    pages = iter_task_pages(runtime.label_studio(), project, ids=ids, fields=("id", "data"))
    return [task for page in pages for task in page]


def representative_examples(pool: list[Example], matrix: Any, k: int) -> list[Example]:
    """One example per k-means cluster of ``matrix`` (rows: ``pool``), the one nearest its centre,
    in task id order; fewer when fewer distinct rows exist."""
    labels, centres = diversity.clusters(matrix, k)
    return [pool[index] for index in sorted(diversity.representatives(matrix, labels, centres))]
