"""Job ids as ``lsagent jobs list`` shows them: a unique prefix (8+ hex characters) works wherever
a job id does (store, every route with a job id, the review body, the CLI); an ambiguous prefix
is a clear 400 listing the jobs it matches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from ml_backend.cli import main
from ml_backend.cli.jobs import short_ids
from ml_backend.client import ServiceError
from ml_backend.store import AmbiguousReferenceError
from ml_backend.store.schema import Job as JobRow
from tests.review_support import new_project, run_job, task_text


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


def lsagent(service: Any, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"LSAGENT_URL": service.url}, catch_exceptions=False)


def twins(service: Any, agent_id: str, project: int) -> list[str]:
    """Two queued jobs whose ids share their first 10 characters (ids rewritten in the store)."""
    store = service.runtime.store
    made = [store.create_job(agent_id=agent_id, project=project, subset="all") for _ in range(2)]
    wanted = ["abcdef0123" + "0" * 22, "abcdef0123" + "1" * 22]
    with store._engine.begin() as connection:
        for job, new_id in zip(made, wanted, strict=True):
            connection.execute(update(JobRow).where(JobRow.id == job.id).values(id=new_id))
    return wanted


def test_a_unique_prefix_works_everywhere_a_job_id_does(service: Any, label_studio: Any) -> None:
    project, tasks = new_project(label_studio, [task_text(f"t{n}", "Positive", 0.3 + n / 10) for n in range(4)])
    job = run_job(service, project, tasks)
    prefix = job.id[:8]
    client = service.client()
    assert service.runtime.store.find_job(prefix).id == job.id
    assert client.job(prefix)["id"] == job.id
    assert client.create_review(prefix, "threshold", threshold=0.5)["job"] == job.id
    assert client.sync_verification(prefix)["job"] == job.id
    assert client.verification(prefix)["job"] == job.id
    assert "<html" in client.report(prefix).lower()
    assert len(client.export(prefix).splitlines()) == 4

    listed = lsagent(service, "jobs", "list", "--project", str(project))
    assert prefix in listed.output and job.id[:9] not in listed.output
    shown = lsagent(service, "jobs", "show", prefix, "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["id"] == job.id
    review = lsagent(service, "review", "create", "--job", prefix, "--lowest", "2", "--json")
    assert review.exit_code == 0 and json.loads(review.output)["job"] == job.id


def test_an_ambiguous_prefix_names_the_jobs_it_matches(service: Any, label_studio: Any) -> None:
    project, tasks = new_project(label_studio, [task_text("one", "Positive", 0.5)])
    job = run_job(service, project, tasks)
    first, second = twins(service, job.agent_id, project)
    with pytest.raises(AmbiguousReferenceError, match=f"{first}, {second}"):
        service.runtime.store.find_job("abcdef01")
    assert service.runtime.store.find_job(first[:11]).id == first
    for call in (lambda: service.client().job("abcdef01"), lambda: service.client().cancel("abcdef0123"),
                 lambda: service.client().create_review("abcdef01", "errors")):
        with pytest.raises(ServiceError, match="matches several jobs") as refused:
            call()
        assert refused.value.status == 400 and first in str(refused.value) and second in str(refused.value)
    with pytest.raises(ServiceError, match="no job 'abcdef0124'") as unknown:
        service.client().job("abcdef0124")
    assert unknown.value.status == 404


def test_short_ids_grow_until_unique():
    ids = ["abcdef0123" + "0" * 22, "abcdef0123" + "1" * 22, "12345678" + "f" * 24]
    assert short_ids(ids) == {ids[0]: "abcdef01230", ids[1]: "abcdef01231", ids[2]: "12345678"}
