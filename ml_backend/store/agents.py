"""Agents (immutable, content-addressed) and which one is active on each project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import clock, validate
from .base import StoreBase
from .errors import AmbiguousReferenceError, NotFoundError, StoreError, StoreInputError
from .records import AgentRecord, to_record
from .schema import Activation, Agent


class AgentOps(StoreBase):
    def save_agent(
        self,
        *,
        id: str,
        name: str,
        project: int,
        label_signature: str,
        label_config: str,
        config: dict[str, Any],
        template_source: str,
        instructions: str,
        model_version: str | None = None,
    ) -> AgentRecord:
        """Insert the agent, or return the row already saved under the same id.

        The id is the caller's hash of config, template, instruction and label set
        (``ml_backend.engine.agents.agent_id``), so saving an equal agent twice (even from two
        processes at once) yields one row; the first save's name and project stay.
        `model_version` is always `<name>@<id[:8]>`; a caller passing its own must agree.
        """
        validate.hex64(id, "agent id")
        validate.no_secrets(config)
        if not name.strip() or "@" in name:
            raise StoreInputError(f"agent name must be non-empty and without '@', got {name!r}")
        expected_version = f"{name}@{id[:8]}"
        if model_version is not None and model_version != expected_version:
            raise StoreInputError(
                f"model_version {model_version!r} does not match the agent: {expected_version!r}"
            )
        values = {
            "id": id,
            "name": name,
            "project": project,
            "label_signature": label_signature,
            "label_config": label_config,
            "config": config,
            "template_source": template_source,
            "instructions": instructions,
            "model_version": expected_version,
            "created_at": clock.utcnow(),
        }
        with self._write() as session:
            statement = (
                self._insert(Agent).values(values).on_conflict_do_nothing(index_elements=["id"])
            )
            session.execute(statement)
            row = session.get(Agent, id)
            if row is None:
                raise StoreError(f"agent {id} vanished right after it was saved")
            return to_record(AgentRecord, row)

    def get_agent(self, ref: str) -> AgentRecord | None:
        """Find an agent by full id, by model_version (`name@abcdef12`), by a unique id prefix
        of at least 8 hex characters, or by its name when one agent has it. None when nothing
        matches; an ambiguous prefix or name raises, listing the matches."""
        with self._read() as session:
            row = session.get(Agent, ref)
            if row is None:
                row = session.scalar(select(Agent).where(Agent.model_version == ref))
            if row is None and validate.is_hex_prefix(ref):
                rows = session.scalars(
                    select(Agent).where(Agent.id.startswith(ref)).order_by(Agent.id).limit(2)
                ).all()
                if len(rows) > 1:
                    raise AmbiguousReferenceError(
                        f"agent prefix {ref!r} matches several agents "
                        f"({rows[0].id[:12]}..., {rows[1].id[:12]}...); give more characters"
                    )
                row = rows[0] if rows else None
            if row is None:
                row = _by_name(session, ref)
            return to_record(AgentRecord, row) if row is not None else None

    def list_agents(self, project: int | None = None) -> list[AgentRecord]:
        """Agents, oldest first; only those registered for `project` when given."""
        query = select(Agent).order_by(Agent.created_at, Agent.id)
        if project is not None:
            query = query.where(Agent.project == project)
        with self._read() as session:
            return [to_record(AgentRecord, row) for row in session.scalars(query)]

    def activate(self, project: int, agent_id: str) -> AgentRecord:
        """Make `agent_id` the project's active agent, replacing any previous one."""
        values = {"project": project, "agent_id": agent_id, "activated_at": clock.utcnow()}
        with self._write() as session:
            agent = session.get(Agent, agent_id)
            if agent is None:
                raise NotFoundError(f"no agent with id {agent_id!r}")
            statement = self._insert(Activation).values(values)
            statement = statement.on_conflict_do_update(
                index_elements=["project"],
                set_={"agent_id": agent_id, "activated_at": values["activated_at"]},
            )
            session.execute(statement)
            return to_record(AgentRecord, agent)

    def active_agent(self, project: int) -> AgentRecord | None:
        """The agent activated last on `project`, or None."""
        query = select(Agent).join(Activation, Activation.agent_id == Agent.id)
        with self._read() as session:
            row = session.scalar(query.where(Activation.project == project))
            return to_record(AgentRecord, row) if row is not None else None


NAME_MATCHES_SHOWN = 10


def _by_name(session: Any, name: str) -> Agent | None:
    """The one agent called ``name``; several are an error that lists their model_versions."""
    rows = session.scalars(
        select(Agent).where(Agent.name == name).order_by(Agent.created_at, Agent.id).limit(NAME_MATCHES_SHOWN + 1)
    ).all()
    if len(rows) > 1:
        shown = ", ".join(row.model_version for row in rows[:NAME_MATCHES_SHOWN])
        more = " and more" if len(rows) > NAME_MATCHES_SHOWN else ""
        raise AmbiguousReferenceError(
            f"agent name {name!r} matches several agents ({shown}{more}); give a model_version or an id"
        )
    return rows[0] if rows else None
