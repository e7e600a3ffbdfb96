"""Migrations: a store written by release 7afc181 (the last without migrations) opens under this
release and is upgraded in place, its data carried over (summaries' running facts to columns,
``reviews.audits`` to the ``audits`` table); a new store is built by the migrations and matches
``schema.py`` exactly; a store from a newer release is refused, not touched.

The old stores are real: ``tests/fixtures/old_store/`` holds a SQLite file and a PostgreSQL dump
that 7afc181's own code wrote (``make_old_store.py`` says how). What the upgrade must keep is
read from the old store itself before the upgrade, never written down here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from ml_backend.engine.agents import Agent
from ml_backend.review.figures import figures
from ml_backend.store import Store, StoreError, migrate
from ml_backend.store.schema import Base

OLD = Path(__file__).parent / "fixtures" / "old_store"
TABLES = ("agents", "activations", "jobs", "items", "chunks", "cache", "verifications")
MOVED = ("planned", "project_model_version_set", "final", "reviews")


# the PostgreSQL case asks for its database on the fly, which the tiers' marking cannot see
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def old_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of the store 7afc181 wrote, on each database."""
    if request.param == "sqlite":
        copy = tmp_path / "old.sqlite3"
        shutil.copyfile(OLD / "store_7afc181.sqlite3", copy)
        return f"sqlite:///{copy}"
    url = request.getfixturevalue("fresh_postgres_url")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute((OLD / "store_7afc181.sql").read_text())
    return url


@pytest.fixture
def opened(old_store_url: str) -> Iterator[tuple[Store, dict[str, Any]]]:
    """The old store's contents as 7afc181 left them, then the store opened by this release."""
    before = _raw(old_store_url)
    store = Store(old_store_url)
    store.create_all()
    yield store, before
    store.dispose()


def _raw(url: str) -> dict[str, Any]:
    """Rows of every table, and each job's summary, read with plain SQL."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = {table: connection.execute(text(f"SELECT * FROM {table}")).mappings().all() for table in TABLES}
        summaries = {row["id"]: _json(row["summary"]) for row in rows["jobs"]}
        revision = migrate.current(connection)
    engine.dispose()
    return {"rows": {table: sorted((dict(row) for row in found), key=repr) for table, found in rows.items()},
            "summaries": summaries, "revision": revision}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_the_old_store_is_upgraded_in_place_with_its_data(opened: tuple[Store, dict[str, Any]],
                                                          old_store_url: str) -> None:
    store, before = opened
    assert before["revision"] is None
    after = _raw(old_store_url)
    assert after["revision"] == migrate.head()
    for table in ("agents", "activations", "items", "chunks", "cache"):
        assert after["rows"][table] == before["rows"][table], table
    # 0004 adds the annotator's whole answer to verdicts: NULL on the old rows, which keep the rest
    assert [{key: value for key, value in row.items() if key != "human_value"}
            for row in after["rows"]["verifications"]] == before["rows"]["verifications"]
    assert {row["human_value"] for row in after["rows"]["verifications"]} == {None}
    new_columns = ("summary", "planned", "project_model_version_set", "span_not_found", "calibration")
    assert [{key: value for key, value in row.items() if key not in new_columns} for row in after["rows"]["jobs"]] == [
        {key: value for key, value in row.items() if key != "summary"} for row in before["rows"]["jobs"]]
    # 0005: no old job was rescored, no old audit drawn on a calibrated scale
    assert {row["calibration"] for row in after["rows"]["jobs"]} == {None}
    assert len(before["summaries"]) == 2
    for job_id, summary in before["summaries"].items():
        job = store.get_job(job_id)
        assert job is not None
        assert job.planned is bool(summary.get("planned"))
        assert job.project_model_version_set is bool(summary.get("project_model_version_set"))
        assert job.span_not_found == 0  # revision 0003: the counter starts at 0
        report = {key: value for key, value in summary.items() if key not in MOVED}
        assert job.summary == (report if summary.get("final") else None)
        old_audits = summary["reviews"]["audits"]
        audits = store.audits(job_id)
        assert {a.scale for a in audits} <= {None}
        assert [(a.title, a.view_id, a.threshold, a.seed, a.size, a.task_ids, a.created_at.isoformat())
                for a in audits] == [(a["title"], a["view_id"], a["threshold"], a["seed"], a["size"], a["task_ids"],
                                      a["created_at"]) for a in old_audits]
    finished = next(job_id for job_id, summary in before["summaries"].items() if summary.get("final"))
    assert store.get_job(finished).summary["counts"]["labeled"] == store.get_job(finished).labeled > 0
    for record in store.list_agents():  # agents keep their old ids and still load
        assert Agent.from_record(record).label_signature == record.label_signature


def test_the_upgraded_store_serves_the_job_and_its_audits(opened: tuple[Store, dict[str, Any]], make_service: Any,
                                                          old_store_url: str) -> None:
    store, before = opened
    finished = next(job_id for job_id, summary in before["summaries"].items() if summary.get("final"))
    old = before["summaries"][finished]
    for job_id in before["summaries"]:  # the service would resume the running one: not this test's subject
        if job_id != finished:
            store.set_status(job_id, "cancelled")
    service = make_service(database_url=old_store_url)
    shown = service.client().job(finished)
    assert shown["status"] == "done" and shown["project_model_version_set"] is True
    assert shown["summary"]["counts"] == old["counts"] and "reviews" not in shown["summary"]
    report = figures(service.runtime, finished)
    verified = {row["task_id"] for row in before["rows"]["verifications"] if row["job_id"] == finished}
    assert [(a["title"], a["verified"]) for a in report["audits"]] == [
        (a["title"], len(verified & set(a["task_ids"]))) for a in old["reviews"]["audits"]]
    assert any(a["verified"] for a in report["audits"])


def test_opening_again_changes_nothing(opened: tuple[Store, dict[str, Any]], old_store_url: str) -> None:
    store, _ = opened
    upgraded = _raw(old_store_url)
    again = Store(old_store_url)
    again.create_all()
    again.dispose()
    assert _raw(old_store_url) == upgraded
    assert sum(len(store.audits(job_id)) for job_id in upgraded["summaries"]) == 3


def test_a_failed_upgrade_leaves_the_old_store_as_it_was(old_store_url: str) -> None:
    engine = create_engine(old_store_url)
    with engine.begin() as connection:
        job_id, summary = next((row[0], _json(row[1])) for row in connection.execute(text(
            "SELECT id, summary FROM jobs")) if _json(row[1])["reviews"]["audits"])
        summary["reviews"]["audits"][-1]["created_at"] = "yesterday"
        cast = "CAST(:summary AS jsonb)" if connection.dialect.name == "postgresql" else ":summary"
        connection.execute(text(f"UPDATE jobs SET summary = {cast} WHERE id = :id"),
                           {"summary": json.dumps(summary), "id": job_id})
    engine.dispose()
    before = _raw(old_store_url)
    store = Store(old_store_url)
    with pytest.raises(StoreError, match="left as it was") as refused:
        store.create_all()
    assert "yesterday" in str(refused.value)
    store.dispose()
    assert _raw(old_store_url) == before
    engine = create_engine(old_store_url)
    with engine.connect() as connection:
        assert not inspect(connection).has_table("audits") and not inspect(connection).has_table("alembic_version")
    engine.dispose()


def test_a_new_store_is_built_from_the_schema_and_stamped_at_the_head(store: Store) -> None:
    with store._engine.connect() as connection:
        assert migrate.current(connection) == migrate.head()
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_migrations_build_exactly_what_a_new_store_gets(store: Store) -> None:
    """New stores skip the migrations: run from nothing, they must build the very same tables, down
    to defaults, keys, indexes and constraint names, or an upgraded store would differ from a new one."""
    with store._engine.connect() as connection:
        built = _shape(connection)
    with store._engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE alembic_version"))
    with store._engine.begin() as connection:
        assert inspect(connection).get_table_names() == []
        migrate.run_migrations(connection)
    with store._engine.connect() as connection:
        assert migrate.current(connection) == migrate.head()
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert _shape(connection) == built


def test_a_new_store_never_takes_a_foreign_table_for_its_own(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE jobs (name TEXT)"))
    engine.dispose()
    store = Store(database_url)
    with pytest.raises(StoreError, match="could not be given the schema .* and was left as it was"):
        store.create_all()
    with store._engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["jobs"]
    store.dispose()


def _shape(connection: Connection) -> dict[str, Any]:
    """Every table as the database describes it: columns (in name order, since a migration appends
    the columns it adds), keys, indexes and checks."""
    seen = inspect(connection)
    return {table: {
        "columns": sorted((col["name"], str(col["type"]), col["nullable"], col.get("default"))
                          for col in seen.get_columns(table)),
        "primary": seen.get_pk_constraint(table),
        "foreign": sorted(map(repr, seen.get_foreign_keys(table))),
        "unique": sorted(map(repr, seen.get_unique_constraints(table))),
        "indexes": sorted(map(repr, seen.get_indexes(table))),
        "checks": sorted(map(repr, seen.get_check_constraints(table))),
    } for table in seen.get_table_names()}


def test_a_store_of_a_newer_release_is_refused_untouched(store: Store, database_url: str) -> None:
    with store._engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    later = Store(database_url)
    with pytest.raises(StoreError, match="newer lsagent release") as refused:
        later.create_all()
    assert "'9999'" in str(refused.value) and f"up to '{migrate.head()}'" in str(refused.value)
    with later._engine.connect() as connection:
        assert migrate.current(connection) == "9999"
    later.dispose()
