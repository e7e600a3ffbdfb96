"""Few-shot agents derived from verified tasks, end to end through the real Label Studio: a job,
humans verify some tasks (annotations through Label Studio's API, verdicts synced), an agent is
derived with their answers in its prompt, its job runs on the tasks not yet verified, and a
disagreement review compares the two jobs."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from ml_backend.cli import main
from ml_backend.client import ServiceError
from ml_backend.engine.fewshot import HEADING, Example, nearest
from ml_backend.simulator.embeddings import vector
from sync.views import view_task_ids
from tests.element_support import NER_CONFIG
from tests.review_support import Job, annotate, new_project, run_job

THINGS = ("a lamp", "two chairs", "the printer paper", "a bicycle bell", "garden hose", "kitchen scales",
          "a desk", "the blue curtains", "spare batteries", "a road atlas")
DAYS = ("Monday", "Tuesday", "Thursday", "Saturday")
TEXTS = [f"Order {index}: {thing} arrived on {day}" for index, (thing, day)
         in enumerate(itertools.product(THINGS, DAYS))]
VERIFIED = 6  # the first tasks; the first two are corrected, the rest confirmed


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def verified(service: Any, label_studio: Any) -> tuple[Job, dict[int, str]]:
    """A job over the project, its first tasks verified by a human: {task id: the human's label}."""
    project, tasks = new_project(label_studio, TEXTS)
    job = run_job(service, project, tasks, name="base")
    items = job.items(service)
    human = {}
    for position, task_id in enumerate(tasks[:VERIFIED]):
        agent_label = items[task_id].labels["sentiment"][0]
        label = next(x for x in ("Positive", "Negative") if x != agent_label) if position < 2 else agent_label
        annotate(label_studio, job, task_id, label)
        human[task_id] = label
    synced = service.client().sync_verification(job.id)
    assert (synced["confirmed"], synced["corrected"]) == (VERIFIED - 2, 2)
    return job, human


def examples(agent: dict[str, Any]) -> dict[int, str]:
    return {example["task"]: example["answer"]["sentiment"] for example in agent["config"]["few_shot"]["examples"]}


def test_derive_run_on_unverified_and_compare(service: Any, label_studio: Any, browser: Any,
                                              verified: tuple[Job, dict[int, str]]) -> None:
    base, human = verified
    client = service.client()
    diverse = client.derive_agent(base.agent_id, 3, select="diverse")
    assert diverse["derived"] == {"from": base.agent_id, "select": "diverse", "examples": 3, "verified": VERIFIED,
                                  "representation": "embeddings sim-small"}
    chosen = examples(diverse)
    assert len(chosen) == 3 and all(human[task] == label for task, label in chosen.items())
    assert diverse["name"] == "base-diverse3" and diverse["id"] != base.agent_id
    assert client.derive_agent(base.agent_id, 3, select="diverse")["id"] == diverse["id"], "same examples, same id"

    unverified = base.tasks[VERIFIED:]
    [preview] = client.preview(diverse["id"], task_ids=[unverified[0]])["previews"]
    system = preview["messages"][0]["content"]
    shown = [task for task in chosen if f"Text:\n{TEXTS[base.tasks.index(task)]}\nAnswer:" in system]
    assert HEADING in system and shown == sorted(chosen)

    job = client.run_job(diverse["id"], subset="unverified", wait=True, timeout=120)
    counted = (job["status"], job["subset"], job["total"], job["counts"]["labeled"])
    assert counted == ("done", "unlabeled", len(unverified), len(unverified))
    derived = {item.task_id: item.labels for item in service.runtime.store.items(job["id"])}
    assert sorted(derived) == unverified
    theirs = base.items(service)
    differ = sorted(task for task in unverified if theirs[task].labels != derived[task])
    assert differ, "the simulated model errs less with examples, so the two jobs must disagree somewhere"
    review = client.create_review(job["id"], "disagree", other_job=base.id)
    assert sorted(review["task_ids"]) == differ
    assert sorted(view_task_ids(label_studio.client, base.project, review["view_id"])) == differ

    # In the web app: the view lists exactly those tasks, each with both agents' different labels.
    assert browser.open_view(base.project, review["view_id"]) == (len(differ), len(base.tasks))
    assert browser.console_errors() == []
    rows, header = browser.rows(), browser.header()
    assert sorted(int(row[0]) for row in rows) == differ
    result = header.index("Prediction results")
    for row in rows:
        task = int(row[0])
        ours, other = derived[task]["sentiment"][0], theirs[task].labels["sentiment"][0]
        assert f"choices: [{ours}]" in row[result] and f"choices: [{other}]" in row[result]


def test_similar_keeps_every_verified_example_and_a_new_verification_makes_a_new_agent(
        service: Any, label_studio: Any, verified: tuple[Job, dict[int, str]]) -> None:
    base, human = verified
    client = service.client()
    similar = client.derive_agent(base.agent_id, 2, select="similar", name="nearest")
    assert examples(similar) == human and similar["name"] == "nearest"
    task = base.tasks[VERIFIED]
    [preview] = client.preview(similar["id"], task_ids=[task])["previews"]
    roles = [message["role"] for message in preview["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert HEADING not in preview["messages"][0]["content"] and preview["messages"][-1]["content"] == TEXTS[VERIFIED]

    annotate(label_studio, base, task, "Neutral")
    client.sync_verification(base.id)
    again = client.derive_agent(base.agent_id, 2, select="similar", name="nearest")
    assert again["id"] != similar["id"] and examples(again) == human | {task: "Neutral"}


def text_of(job: Job, task: int) -> str:
    return TEXTS[job.tasks.index(task)]


def nearest_by_hand(job: Job, pool: list[int], task: int, k: int) -> list[int]:
    """The k verified tasks whose simulator vectors are nearest the task's (cosine, computed here)."""
    query = np.asarray(vector(text_of(job, task)))
    scores = {example: float(np.dot(vector(text_of(job, example)), query)) for example in pool}
    return sorted(scores, key=lambda example: (-scores[example], example))[:k]


def show(service: Any, *args: Any) -> Result:
    return CliRunner().invoke(main, ["agents", *map(str, args)], env={"LSAGENT_URL": service.url},
                              catch_exceptions=False)


def test_similar_matches_each_task_by_the_endpoint_embeddings(
        service: Any, verified: tuple[Job, dict[int, str]]) -> None:
    base, human = verified
    client = service.client()
    similar = client.derive_agent(base.agent_id, 2, select="similar")
    shots = similar["config"]["few_shot"]
    assert similar["derived"] == {"from": base.agent_id, "select": "similar", "examples": 2, "verified": VERIFIED,
                                  "representation": "embeddings sim-small"}
    assert (shots["representation"], shots["representation_note"]) == ("embeddings sim-small", "")
    pool = sorted(human)
    assert [example["task"] for example in shots["examples"]] == pool
    stored = service.runtime.store.get_agent(similar["id"]).config["few_shot"]["vectors"]
    assert np.allclose(stored, [vector(text_of(base, task)) for task in pool], rtol=0, atol=1e-4)
    assert all(len(str(number).split(".")[-1]) <= 4 for row in stored for number in row), "rounded"
    assert shots["vectors"] == {"count": len(pool), "dimensions": len(stored[0])}, "the API shows their shape"
    assert client.derive_agent(base.agent_id, 2, select="similar")["id"] == similar["id"], "same inputs, same id"
    shown = show(service, "show", similar["id"])
    assert shown.exit_code == 0 and "similar 2 of 6 verified example(s), nearest per task by embeddings sim-small" \
        in " ".join(shown.output.split())

    task = base.tasks[VERIFIED]
    [preview] = client.preview(similar["id"], task_ids=[task])["previews"]
    shown_tasks = [base.tasks[TEXTS.index(message["content"])] for message in preview["messages"][1:-1:2]]
    assert shown_tasks == preview["few_shot"]["examples"] == nearest_by_hand(base, pool, task, 2)

    job = client.run_job(similar["id"], subset="unverified", wait=True, timeout=120)
    assert (job["status"], job["counts"]["labeled"]) == ("done", len(base.tasks) - VERIFIED)
    items = list(service.runtime.store.items(job["id"]))
    assert len(items) == len(base.tasks) - VERIFIED
    for item in items:
        meta = item.meta["few_shot"]
        assert meta["representation"] == "embeddings sim-small"
        previewed = item.task_id == task  # the preview's choice is the job's, asked once
        assert meta["embedding_cached"] == previewed and (meta["embedding_tokens"] > 0) != previewed
        assert meta["examples"] == nearest_by_hand(base, pool, item.task_id, 2), item.task_id
    assert len({tuple(item.meta["few_shot"]["examples"]) for item in items}) > 2, "the choice must vary by task"


def test_similar_without_embeddings_uses_tfidf_and_says_why(
        service: Any, sim: Any, verified: tuple[Job, dict[int, str]]) -> None:
    base, human = verified
    client = service.client()
    embedded = client.derive_agent(base.agent_id, 2, select="similar")
    sim.configure(reject="embeddings")
    shown = show(service, "derive", base.agent_id, "--examples", 2, "--select", "similar", "--name", "local")
    said = " ".join(shown.output.split())
    assert shown.exit_code == 0 and "similar 2 of 6 verified example(s), nearest per task by TF-IDF (no embeddings " \
        "from the agent's endpoint (" in said and "answered /embeddings with 404): local TF-IDF)" in said
    local = client.agent("local")
    shots = local["config"]["few_shot"]
    assert (shots["representation"], shots["vectors"]) == ("TF-IDF", None) and "404" in shots["representation_note"]
    assert local["id"] != embedded["id"] and [example["task"] for example in shots["examples"]] == sorted(human)

    # The agent derived with embeddings, run while the endpoint serves none: TF-IDF per task, no task failed.
    job = client.run_job(embedded["id"], subset="unverified", wait=True, timeout=120)
    assert (job["status"], job["counts"]["labeled"]) == ("done", len(base.tasks) - VERIFIED)
    pool = tuple(Example(**example) for example in embedded["config"]["few_shot"]["examples"])
    items = list(service.runtime.store.items(job["id"]))
    assert len(items) == len(base.tasks) - VERIFIED
    for item in items:
        meta = item.meta["few_shot"]
        assert meta["representation"] == "TF-IDF" and "answered /embeddings with 404" in meta["fallback"]
        assert meta["examples"] == [example.task for example in nearest(pool, text_of(base, item.task_id), 2)]


def test_derivation_is_refused_with_the_reason(service: Any, verified: tuple[Job, dict[int, str]]) -> None:
    base, _ = verified
    client = service.client()
    with pytest.raises(ServiceError, match=f"has {VERIFIED} verified task\\(s\\).*fewer than the 7") as few:
        client.derive_agent(base.agent_id, 7)
    assert few.value.status == 409
    with pytest.raises(ServiceError, match="'select' must be one of similar, diverse") as bad:
        client.derive_agent(base.agent_id, 2, select="random")
    assert bad.value.status == 400


def test_derivation_needs_choices_controls(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(NER_CONFIG, [{"text": "Ada Lovelace lived in London"}])
    agent = service.client().create_agent(project, "ner", "sim-small")
    with pytest.raises(ServiceError, match="supports Choices controls only; this agent's labeling config also has "
                                           "labels") as refused:
        service.client().derive_agent(agent["id"], 1)
    assert refused.value.status == 409


def test_cli_derive(service: Any, verified: tuple[Job, dict[int, str]]) -> None:
    base, human = verified

    def run(*args: Any) -> Result:
        return CliRunner().invoke(main, ["agents", "derive", base.agent_id, *map(str, args)],
                                  env={"LSAGENT_URL": service.url}, catch_exceptions=False)

    shown = run("--examples", 2, "--select", "diverse", "--json")
    assert shown.exit_code == 0, shown.output
    derived = json.loads(shown.output)
    assert derived == service.client().derive_agent(base.agent_id, 2, select="diverse")
    readable = run("--examples", 2, "--select", "diverse")
    assert readable.exit_code == 0 and derived["model_version"] in readable.output
    assert "diverse 2 of 2 verified example(s)" in readable.output
    refused = run("--examples", len(human) + 1)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and said.startswith("error: 409: ") and "fewer than the 7 examples" in said
    assert "Traceback" not in refused.output
