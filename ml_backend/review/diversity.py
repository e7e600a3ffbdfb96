"""Reviews that cover the data's variety: ``diverse N`` and ``budget N``.

Why: the least confident tasks tend to be alike (the same kind of sarcasm, the same missing
word), so a reviewer reading only them learns a lot about one corner and nothing of the rest.

* ``diverse N``: the job's open labelled tasks in N clusters (k-means over their
  representations); each cluster's representative is the task nearest its centre.
* ``budget N``: the N tasks expected to hold the most errors while covering the clusters.
  A task's expected error is its uncertainty, 1 - confidence (1 without a confidence). The tasks
  are grouped in ``ceil(sqrt(tasks))`` clusters (at most N); each cluster gives its most
  uncertain task, and the rest of the budget goes to the most uncertain of the others, which
  maximises the expected errors found among all selections that cover every cluster.

Representations: embeddings from the agent's endpoint (``engine.embeddings``, the agent's model)
when it serves them, else a local TF-IDF of the texts (scikit-learn); the view's title says which.
Both are L2-normalised, so k-means groups by direction (cosine similarity). k-means is seeded, so
the same job, kind and N give the same view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from ml_backend.engine.embeddings import EmbeddingsUnavailable, embed
from ml_backend.engine.fewshot import TFIDF
from ml_backend.engine.labeling import LabelSpec, parse_label_config
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, JobRecord

SEED = 0


class NothingToReview(ValueError):
    """The job has no open labelled task to choose from."""


@dataclass(frozen=True)
class Picked:
    """The tasks chosen, the title's description of the review, and its facts for the answer."""

    task_ids: list[int]
    describe: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class Candidates:
    """The open labelled tasks of a job: ids, input texts and confidences, in id order."""

    ids: list[int]
    texts: list[str]
    scores: list[float | None]


def diverse(runtime: Runtime, job: JobRecord, agent: AgentRecord, count: int) -> Picked:
    """One representative per cluster, ``count`` clusters."""
    found = candidates(runtime, job, parse_label_config(agent.label_config))
    matrix, source, note = represent(runtime, agent, found.texts)
    labels, centres = clusters(matrix, min(count, len(found.ids)))
    chosen = sorted(found.ids[index] for index in representatives(matrix, labels, centres))
    facts = {"diverse": count, "clusters": len(centres), "representation": source, "representation_note": note}
    return Picked(chosen, f"diverse {count} · {source}", facts)


def budget(runtime: Runtime, job: JobRecord, agent: AgentRecord, count: int) -> Picked:
    """The ``count`` tasks with the most expected errors, every cluster covered (module docstring)."""
    found = candidates(runtime, job, parse_label_config(agent.label_config))
    matrix, source, note = represent(runtime, agent, found.texts)
    k = min(count, math.ceil(math.sqrt(len(found.ids))))
    labels, _ = clusters(matrix, k)
    uncertainty = [1.0 if score is None else 1.0 - score for score in found.scores]
    chosen = sorted(found.ids[index] for index in allocate(labels, uncertainty, count))
    expected = sum(uncertainty[found.ids.index(task_id)] for task_id in chosen)
    facts = {"budget": count, "clusters": k, "expected_errors": round(expected, 3), "representation": source,
             "representation_note": note}
    return Picked(chosen, f"budget {count} · {k} clusters · {source}", facts)


def candidates(runtime: Runtime, job: JobRecord, spec: LabelSpec) -> Candidates:
    """The job's labelled tasks nobody has annotated yet, with what the agent read of them."""
    from sync.review import iter_task_data

    scores = {item.task_id: item.score for item in runtime.store.items(job.id, outcome="labeled")}
    texts: dict[int, str] = {}
    for page in iter_task_data(runtime.label_studio(), job.project, list(scores)):
        for task in page:
            texts[int(task["id"])] = _input_text(spec, task.get("data") or {})
    ids = sorted(texts)
    if not ids:
        raise NothingToReview(f"job {job.id} has no labelled task left that nobody has annotated")
    return Candidates(ids, [texts[task_id] for task_id in ids], [scores[task_id] for task_id in ids])


def represent(runtime: Runtime, agent: AgentRecord, texts: list[str]) -> tuple[Any, str, str]:
    """(L2-normalised vectors, what they are, why not embeddings when they are not)."""
    config = ModelConfig(**agent.config)
    runtime.check_endpoint(config)
    return represent_at(config, config.base_url or runtime.settings.openai_base_url, texts)


def represent_at(config: ModelConfig, base_url: str | None, texts: list[str]) -> tuple[Any, str, str]:
    """``represent`` for a config whose endpoint is already allowed and known."""
    try:
        vectors = embed(config, base_url, texts)
        return normalize(np.asarray(vectors, dtype=float)), f"embeddings {config.model}", ""
    except EmbeddingsUnavailable as exc:
        return tfidf(texts), TFIDF, f"no embeddings from the agent's endpoint ({exc}): local TF-IDF"


def tfidf(texts: Sequence[str]) -> Any:
    """Word TF-IDF rows (L2-normalised; words only, no stop-word list, so any language works;
    bigrams made short texts look unlike each other); a text of no word is an empty row."""
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    try:
        return vectorizer.fit_transform(texts)
    except ValueError:  # no text has a single word: every task is alike
        return np.zeros((len(texts), 1))


def clusters(matrix: Any, k: int) -> tuple[list[int], Any]:
    """k-means labels and centres (seeded); fewer clusters when fewer distinct rows exist."""
    distinct = len({row.tobytes() for row in _dense(matrix)})
    k = max(1, min(k, distinct))
    model = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(matrix)
    return [int(label) for label in model.labels_], model.cluster_centers_


def representatives(matrix: Any, labels: list[int], centres: Any) -> list[int]:
    """Per cluster, the row nearest its centre (the first such row on a tie)."""
    rows = _dense(matrix)
    chosen = []
    for cluster, centre in enumerate(centres):
        members = [index for index, label in enumerate(labels) if label == cluster]
        if members:
            chosen.append(min(members, key=lambda index: float(np.sum((rows[index] - centre) ** 2))))
    return chosen


def allocate(labels: list[int], uncertainty: list[float], count: int) -> list[int]:
    """Row indices maximising the expected errors (summed uncertainty) among selections of
    ``count`` rows that hold every cluster: each cluster's most uncertain row, then the most
    uncertain of the rest (this greedy is exact: the coverage picks are the best a cluster can
    give, and the rest is unconstrained). Ties go to the lower index."""
    order = sorted(range(len(labels)), key=lambda index: (-uncertainty[index], index))
    covering: dict[int, int] = {}
    for index in order:
        covering.setdefault(labels[index], index)
    chosen = sorted(covering.values(), key=lambda index: (-uncertainty[index], index))[:count]
    taken = set(chosen)
    return chosen + [index for index in order if index not in taken][: count - len(chosen)]


def _dense(matrix: Any) -> Any:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _input_text(spec: LabelSpec, data: dict[str, Any]) -> str:
    """All the text the agent's controls read from a task, empty fields skipped."""
    texts = []
    for field in spec.inputs:
        try:
            texts.append(field.read(data))
        except ValueError:
            continue
    return "\n".join(texts)
