"""The test tiers of tests/conftest.py, run on small test files in a pytest of their own: a test
is marked ``integration`` by the fixtures it uses, and in a fast-tier run a test that still
reaches Redis or PostgreSQL fails and says how to mark it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration  # runs whole pytest sessions: too slow for the fast tier

CONFTEST = Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")

FILES = '''
import socket
import pytest

@pytest.fixture
def redis_url():
    return "redis://127.0.0.1:6379/0"

@pytest.fixture
def label_studio():
    return object()

@pytest.fixture
def through_another(label_studio):
    return label_studio

@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    return request.param

def test_plain():
    pass

def test_redis(redis_url):
    pass

def test_indirect(through_another):
    pass

def test_database(database_url):
    pass

def test_sneaks_to_redis():
    with socket.socket() as sock:
        sock.settimeout(2)
        sock.connect(("127.0.0.1", 6379))
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    # the real conftest, without the project's fixture plugins (the file above stands in for them)
    pytester.makeconftest(re.sub(r"pytest_plugins = \[[^\]]*\]", "", CONFTEST))
    pytester.makepyfile(test_suite=FILES)
    pytester.makeini("[pytest]\nmarkers =\n    integration: x\n")
    return pytester


def test_fixtures_mark_the_integration_tests(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-m", "integration", "--collect-only", "-q")
    collected = {line for line in result.outlines if "::" in line}
    assert collected == {"test_suite.py::test_redis", "test_suite.py::test_indirect",
                         "test_suite.py::test_database[postgresql]"}


def test_a_fast_test_that_reaches_redis_fails_and_says_how_to_mark_it(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-m", "not integration")
    result.assert_outcomes(passed=2, failed=1, deselected=3)
    result.stdout.fnmatch_lines(["*test_sneaks_to_redis reached Redis at 127.0.0.1:6379*@pytest.mark.integration*"])
