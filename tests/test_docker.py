"""The Docker files as deployed: compose refuses to start without the secrets (no known fallback
passwords), and the image's base is pinned by digest. No Docker engine runs here, so compose's
variable interpolation (``${VAR:-default}``, ``${VAR:?error}``) is applied the way compose does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SECRETS = ("LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN", "BASIC_AUTH_PASS", "POSTGRES_PASSWORD")
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class Refused(Exception):
    """compose would refuse to start: a required variable is missing."""


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        value = env.get(name)
        missing = value is None or (value == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("?") and missing:
            raise Refused(f"{name}: {argument}")
        if operator and operator.endswith("-") and missing:
            return argument
        return value or ""

    return _VARIABLE.sub(one, text)


def compose(env: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(interpolate((REPO / "docker-compose.yml").read_text(), env))


@pytest.mark.parametrize("missing", SECRETS)
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    env = {name: f"s3cret-{name.lower()}" for name in SECRETS if name != missing}
    with pytest.raises(Refused, match=missing):
        compose(env)
    with pytest.raises(Refused, match=missing):
        compose({**env, missing: ""})


def test_compose_uses_the_secrets_given_and_no_known_password() -> None:
    env = {name: f"s3cret-{name.lower()}" for name in SECRETS}
    services = compose(env)["services"]
    service, label_studio, postgres = (services[name]["environment"]
                                       for name in ("lsagent", "label-studio", "postgres"))
    assert service["BASIC_AUTH_PASS"] == env["BASIC_AUTH_PASS"]
    assert service["LABEL_STUDIO_API_KEY"] == label_studio["LABEL_STUDIO_USER_TOKEN"] == env["LABEL_STUDIO_USER_TOKEN"]
    assert label_studio["LABEL_STUDIO_PASSWORD"] == env["LABEL_STUDIO_PASSWORD"]
    assert postgres["POSTGRES_PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert f":{env['POSTGRES_PASSWORD']}@postgres:" in service["DATABASE_URL"]
    text = (REPO / "docker-compose.yml").read_text()
    assert "change-me" not in text and "lsagent:lsagent@" not in text


def test_the_image_base_is_pinned_by_digest() -> None:
    [base] = re.findall(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base


def test_requirements_are_exact_pins_and_the_readme_says_why_there_are_no_hashes() -> None:
    lines = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert all(re.fullmatch(r"[\w.\[\]-]+==[\w.]+", line) for line in lines), lines
    assert "--require-hashes" in (REPO / "README.md").read_text()
