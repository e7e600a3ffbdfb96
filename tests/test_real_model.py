"""The real-model tier: a real small model (SmolLM2-135M-Instruct) behind llama-cpp-python's
OpenAI-compatible server, through the real ``openai`` client and the real Label Studio.

What only a real server shows: it refuses a ``json_schema`` response format with a 500, returns
one choice whatever ``n`` asks, and a small model's answers and log-probabilities are as messy as
real ones get. Kept short (135M parameters, short prompts, few tokens) so it runs in every test
run; these tests assert behaviour, never a model's accuracy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from ml_backend.engine.answers import score_answer
from ml_backend.engine.labeling import parse_label_config
from sync.predictions import predictions_by_version
from tests.fixtures.label_studio import SENTIMENT_CONFIG
from tests.fixtures.llama import LlamaServer

POSITIVE = ["A wonderful film, I loved every minute.", "Great acting and a moving story.",
            "Delightful, funny and warm.", "The best movie I have seen this year.", "Brilliant and beautiful.",
            "I enjoyed it a lot.", "A charming, clever comedy.", "Superb performances all round.",
            "Heartfelt and uplifting.", "A joy to watch."]
NEGATIVE = ["A boring, terrible film.", "I hated every minute of it.", "Awful acting and a dull plot.",
            "A complete waste of time.", "The worst movie of the year.", "Painfully slow and stupid.",
            "Ugly, loud and pointless.", "I walked out, it was so bad.", "Lazy writing and bad jokes.",
            "A depressing mess."]
NEUTRAL = ["The film runs for two hours.", "It was released in March.", "The director also wrote the script.",
           "It is set in Paris.", "The cast includes five actors.", "It is a remake of an older film.",
           "The sequel comes out next year.", "It was shot in black and white.", "The music is by a local band.",
           "It is rated PG."]
TEXTS = POSITIVE + NEGATIVE + NEUTRAL
INSTRUCTIONS = "Classify the sentiment of the movie review."
AGENT = {"model": "smollm2-135m-instruct", "max_tokens": 24, "temperature": 0.0, "instructions": INSTRUCTIONS}


@pytest.fixture
def service(make_service: Any, llama_server: LlamaServer, label_studio: Any) -> Any:
    return make_service(simulator=llama_server, label_studio=label_studio)


def register(service: Any, project: int, name: str, **options: Any) -> dict[str, Any]:
    response = requests.post(f"{service.url}/api/agents", json={"project": project, "name": name, **AGENT, **options},
                             timeout=120)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_registration_negotiates_capabilities_with_the_real_server(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in TEXTS[:3]])
    agent = register(service, project, "real-caps")
    # llama-cpp-python refuses json_schema with a 500 naming it, takes json_object, gives logprobs
    # with 5 alternatives, and answers one choice per call whatever n asks.
    assert agent["config"]["capabilities"] == {"response_format": "json_object", "logprobs": True,
                                               "top_logprobs": 5, "seed": False, "choices": False}


def test_real_answers_parse(llama_server: LlamaServer, tmp_path: Path) -> None:
    """A raw chat-completion response of the real server, as pasted into ``lsagent parse``."""
    config = tmp_path / "config.xml"
    config.write_text(SENTIMENT_CONFIG)
    system = ("Classify the sentiment of the movie review. Answer with ONLY a JSON object: "
              '{"sentiment": "Positive"} or {"sentiment": "Negative"} or {"sentiment": "Neutral"}.')
    lines = []
    for text in (POSITIVE[0], NEGATIVE[0], NEUTRAL[0]):
        body = {"model": llama_server.model, "max_tokens": 24, "temperature": 0, "logprobs": True, "top_logprobs": 5,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]}
        response = requests.post(f"{llama_server.base_url}/chat/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text
        lines.append(json.dumps(response.json()))
    parsed = subprocess.run([str(Path(sys.executable).parent / "lsagent"), "parse", "--config", str(config)],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
    outputs = [json.loads(line) for line in parsed.stdout.splitlines()]
    assert len(outputs) == 3
    spec = parse_label_config(SENTIMENT_CONFIG)
    for line, output in zip(lines, outputs, strict=True):
        choice = json.loads(line)["choices"][0]
        direct = score_answer(spec, choice["message"]["content"], choice["logprobs"]["content"])
        assert output == direct.to_parse_line()
        if output["error"] is None:
            assert 0.0 < output["confidence"]["sentiment"] < 1.0
        else:
            assert output["error"] in ("format_error", "invalid_label") and output["detail"]


def test_a_job_of_30_tasks_gives_each_one_outcome_with_a_confidence(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in TEXTS])
    agent = register(service, project, "real-job")
    job = service.client().run_job(agent["id"], "all", wait=True, timeout=1800)
    assert job["status"] == "done" and job["total"] == 30 and job["counts"]["done"] == 30
    items = list(service.runtime.store.items(job["id"]))
    assert sorted(item.task_id for item in items) == sorted(label_studio.task_ids(project))
    labelled = [item for item in items if item.error_class is None]
    assert labelled, [item.raw_response for item in items]
    assert all(item.score is not None and 0.0 < item.score < 1.0 for item in labelled)
    assert all(item.meta["method"] == "logprobs" for item in labelled)
    for item in items:
        assert item.latency_s is not None and item.latency_s > 0 and item.meta["queue_s"] >= 0
    summary = job["summary"]
    assert summary["mean_latency_s"] > 0 and summary["mean_queue_s"] is not None
    predictions = predictions_by_version(label_studio.client, project, agent["model_version"])
    assert sorted(predictions) == sorted(item.task_id for item in labelled)
    assert all(len(found) == 1 for found in predictions.values())


def test_self_consistency_with_logprobs_off(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in TEXTS[::10]])
    agent = register(service, project, "real-sc", logprobs=False, consistency_samples=3)
    assert agent["config"]["capabilities"]["logprobs"] is False
    job = service.client().run_job(agent["id"], "all", wait=True, timeout=600)
    assert job["counts"]["done"] == 3
    labelled = [item for item in service.runtime.store.items(job["id"]) if item.error_class is None]
    assert labelled
    for item in labelled:
        assert item.meta["method"] == "self_consistency"
        assert item.score is not None and round(item.score * 3, 6) in (0.0, 1.0, 2.0, 3.0)
