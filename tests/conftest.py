"""Test tiers: a test that needs Label Studio, Redis or PostgreSQL is an ``integration`` test.

It is marked by the fixtures it uses (so a new test is marked without anyone remembering), or by
hand with ``@pytest.mark.integration`` where it reaches a service some other way (a subprocess).
``make test-fast`` runs ``-m "not integration"``; in that run, a test that still connects to Redis
or PostgreSQL fails and says how to mark it, so the fast tier stays runnable on a bare machine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.databases", "tests.fixtures.label_studio",
                  "tests.fixtures.service", "tests.fixtures.browser", "tests.fixtures.processes",
                  "tests.fixtures.llama", "tests.fixtures.annotators"]

INTEGRATION = "integration"
# fixtures that start or reach a service (or a real model, or the service under gunicorn) the fast
# tier does without
SERVICE_FIXTURES = frozenset({"label_studio", "postgres_admin_dsn", "fresh_postgres_url", "redis_url", "llama_server",
                              "lsagent_serve"})
SERVICE_PORTS = {6379: "Redis", 5432: "PostgreSQL"}


def needs_services(item: pytest.Item) -> bool:
    """Whether ``item`` needs a service: by a fixture (directly or through another fixture), or
    by the PostgreSQL case of the ``database_url`` parameter."""
    if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("database_url") == "postgresql"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_services(item):
            item.add_marker(INTEGRATION)


_current: dict[str, Any] = {"fast": None}


def _guard(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: in a test not marked integration, connecting to Redis or PostgreSQL fails."""
    test = _current["fast"]
    if test is None or event != "socket.connect":
        return
    address = args[1]
    if isinstance(address, tuple) and len(address) >= 2 and address[1] in SERVICE_PORTS:
        raise ConnectionRefusedError(
            f"{test} reached {SERVICE_PORTS[address[1]]} at {address[0]}:{address[1]} but is not an "
            f"integration test: use the fixture that provides it, or mark it @pytest.mark.integration")


sys.addaudithook(_guard)


def fast_tier_only(config: pytest.Config) -> bool:
    """Whether this run leaves the integration tests out (then no service thread of an
    integration test can be running when the guard is on)."""
    return " ".join(str(config.option.markexpr).split()) == f"not {INTEGRATION}"


@pytest.fixture(autouse=True)
def _fast_tier_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    fast = fast_tier_only(request.config) and request.node.get_closest_marker(INTEGRATION) is None
    _current["fast"] = request.node.nodeid if fast else None
    try:
        yield
    finally:
        _current["fast"] = None
