"""Token counts against known cl100k values, and context window lookup."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from ml_backend.engine import tokens
from ml_backend.engine.tokens import UnknownModelError, context_window, count_messages, count_text, fits, tokenizer_for

# The example conversation of OpenAI's cookbook "How to count tokens with tiktoken"; the chat
# API reported 129 prompt tokens for it on gpt-3.5-turbo-0613 and gpt-4-0613.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into "
        "plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


@pytest.fixture
def empty_tiktoken_cache(tmp_path, monkeypatch) -> Iterator[str]:
    """A tiktoken cache directory of our own, so the o200k lookup sees exactly what the test puts there."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokenizer_for.cache_clear()
    yield str(tmp_path)
    tokenizer_for.cache_clear()


@pytest.mark.parametrize(
    ("text", "count"),
    [("hello world", 2), ("tiktoken is great!", 6), ("The quick brown fox jumps over the lazy dog.", 10), ("", 0)],
)
def test_cl100k_counts_match_known_values(text: str, count: int) -> None:
    assert count_text(text, "gpt-4") == count


def test_cl100k_token_ids_match_the_published_encoding() -> None:
    assert tokenizer_for("gpt-3.5-turbo").encoding.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


def test_special_token_text_in_a_task_is_counted_as_plain_text() -> None:
    assert count_text("<|endoftext|>", "gpt-4") == 7


def test_count_messages_matches_the_chat_api_count_for_the_cookbook_example() -> None:
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4-0613") == 129


def test_count_messages_adds_per_message_overhead_and_reply_priming() -> None:
    one = [{"role": "user", "content": "hello world"}]
    assert count_messages(one, "gpt-4") == 3 + 1 + 2 + 3
    assert count_messages(one * 2, "gpt-4") == 3 + 2 * (3 + 1 + 2)
    assert count_messages([], "gpt-4") == 3


def test_count_messages_refuses_non_text_content() -> None:
    with pytest.raises(TypeError, match="message 0 field 'content' must be a string, got list"):
        count_messages([{"role": "user", "content": ["hi"]}], "gpt-4")


def test_cl100k_models_are_exact_and_unknown_models_approximate() -> None:
    assert tokenizer_for("gpt-4-turbo").exact is True
    assert tokenizer_for("gpt-4-turbo").name == tokens.OFFLINE_ENCODING
    assert tokenizer_for("llama3.1:8b").exact is False
    assert count_text("hello world", "sim-small") == 2


def test_gpt4o_without_a_local_o200k_copy_is_counted_with_cl100k(empty_tiktoken_cache: str) -> None:
    tokenizer = tokenizer_for("gpt-4o-mini")
    assert (tokenizer.name, tokenizer.exact) == (tokens.OFFLINE_ENCODING, False)
    assert count_text("hello world", "gpt-4o-mini") == 2


def test_corrupt_o200k_cache_file_is_not_handed_to_tiktoken(empty_tiktoken_cache: str) -> None:
    # tiktoken deletes a cached file whose hash is wrong and downloads it again (no network
    # here): the file still being there shows we fell back without asking tiktoken.
    path = os.path.join(empty_tiktoken_cache, hashlib.sha1(O200K_URL.encode()).hexdigest())
    with open(path, "wb") as handle:
        handle.write(b"not the o200k ranks\n")
    assert tokenizer_for("gpt-4o").exact is False
    assert os.path.exists(path)


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini-2024-07-18", 128_000),
        ("gpt-4.1-nano", 1_047_576),
        ("gpt-4-turbo-2024-04-09", 128_000),
        ("gpt-4-0613", 8_192),
        ("gpt-3.5-turbo", 16_385),
        ("o1-mini", 128_000),
        ("o3", 200_000),
        ("o4-mini-2025-04-16", 200_000),
        ("meta-llama/Meta-Llama-3-8B-Instruct", 8_192),
        ("llama3.1:8b", 131_072),
        ("mistralai/Mistral-7B-Instruct-v0.3", 32_768),
        ("qwen2.5:7b", 32_768),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", 128_000),
        ("sim-small", 8_192),
        ("sim-tiny", 512),
        ("sim-nologprobs", 8_192),
    ],
)
def test_context_window_by_longest_known_prefix(model: str, window: int) -> None:
    assert context_window(model) == window


@pytest.mark.parametrize("model", ["gpt-4.5-preview", "falcon-7b", "my-finetune", "sim"])
def test_unknown_model_error_tells_to_set_context_window(model: str) -> None:
    with pytest.raises(UnknownModelError) as caught:
        context_window(model)
    assert f"model '{model}'" in str(caught.value)
    assert "set context_window" in str(caught.value)


def test_override_wins_and_must_be_a_positive_integer() -> None:
    assert context_window("my-finetune", override=4096) == 4096
    assert context_window("sim-tiny", override=2048) == 2048
    for bad in (0, -5, True, 1.5):
        with pytest.raises(ValueError, match="context_window must be a positive integer"):
            context_window("gpt-4o", override=bad)


def test_fits_counts_prompt_plus_answer_against_the_window() -> None:
    messages = [{"role": "user", "content": "hello world"}]
    assert fits(messages, "sim-tiny", 503) == (True, 9, 512)
    assert fits(messages, "sim-tiny", 504) == (False, 9, 512)
    assert fits(messages, "my-finetune", 10, override=19) == (True, 9, 19)
    with pytest.raises(UnknownModelError):
        fits(messages, "my-finetune", 10)


@pytest.mark.parametrize("model, window", [
    ("meta-llama/Llama-3.1-8B-Instruct", 131_072),
    ("llama3.2:3b", 131_072),
    ("Qwen/Qwen2.5-0.5B-Instruct", 32_768),
    ("qwen3:8b", 32_768),
    ("mistralai/Mistral-7B-Instruct-v0.3", 32_768),
    ("google/gemma-2-9b-it", 8_192),
    ("gemma3:1b", 32_768),
    ("gemma-3-12b-it", 131_072),
    ("microsoft/Phi-3-mini-4k-instruct", 4_096),
    ("microsoft/Phi-3-mini-128k-instruct", 131_072),
    ("phi-4", 16_384),
    ("smollm2-135m-instruct", 8_192),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", 8_192),
])
def test_common_open_instruct_models_are_known(model: str, window: int) -> None:
    assert tokens.context_window(model) == window
