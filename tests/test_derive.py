"""Few-shot agents derived from verified tasks, end to end through the real Label Studio: a job,
humans verify some tasks (annotations through Label Studio's API, verdicts synced), an agent is
derived with their answers in its prompt, its job runs on the tasks not yet verified, and a
disagreement review compares the two jobs."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml_backend.cli import main
from ml_backend.client import ServiceError
from ml_backend.engine.fewshot import HEADING
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
