"""The model half of an agent: validated, immutable, and never a place for a key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_backend.engine.modelconfig import Capabilities, ModelConfig


def test_normalised_config_is_sorted_plain_data_without_trailing_slash() -> None:
    config = ModelConfig(model="gpt-4o-mini", base_url="http://localhost:8000/v1/")
    data = config.normalised()
    assert list(data) == sorted(data)
    assert data["base_url"] == "http://localhost:8000/v1" and data["api_key_env"] == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    "base_url, words",
    [
        ("https://user:sk-secret@api.example.com/v1", "must not carry credentials"),
        ("https://api.example.com/v1?api-key=sk-secret", "must not carry credentials"),
        ("ftp://api.example.com/v1", "http(s) URL"),
        ("localhost:8000", "http(s) URL"),
    ],
)
def test_a_base_url_cannot_smuggle_a_key_or_be_something_else(base_url: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ModelConfig(model="m", base_url=base_url)
    assert words in str(refused.value)


@pytest.mark.parametrize(
    "field, value",
    [("temperature", 2.5), ("top_p", 0.0), ("top_logprobs", 21), ("max_tokens", 0), ("api_key_env", "sk-abc def"),
     ("api_key", "sk-abc")],
)
def test_out_of_range_or_unknown_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        ModelConfig(model="m", **{field: value})


def test_a_config_cannot_change_after_it_is_made() -> None:
    config = ModelConfig(model="m")
    with pytest.raises(ValidationError):
        config.temperature = 1.0  # type: ignore[misc]


def test_default_concurrency_is_low_except_on_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert ModelConfig(model="gpt-4o-mini").concurrency() == 8
    assert ModelConfig(model="gpt-4o-mini", base_url="https://api.openai.com/v1").concurrency() == 8
    assert ModelConfig(model="qwen2.5", base_url="http://127.0.0.1:8080/v1").concurrency() == 2
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gpu-box:8000/v1")
    assert ModelConfig(model="qwen2.5").concurrency() == 2
    assert ModelConfig(model="qwen2.5", max_concurrency=6).concurrency() == 6


def test_negotiated_capabilities_are_not_part_of_the_identity() -> None:
    caps = Capabilities(response_format="json_object", logprobs=True, top_logprobs=5, seed=False, choices=False)
    plain = ModelConfig(model="m")
    negotiated = plain.model_copy(update={"capabilities": caps})
    assert negotiated.identity() == plain.identity() and "response_format" not in plain.identity()
    assert negotiated.normalised()["capabilities"] == caps.model_dump()
    assert ModelConfig(model="m", response_format="none").identity()["response_format"] == "none"
    assert ModelConfig.model_validate(negotiated.normalised()) == negotiated
    with pytest.raises(ValidationError):
        ModelConfig(model="m", response_format="xml")
