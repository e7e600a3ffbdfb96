"""The demo's second dataset, for spans (``lsagent demo --task ner``): the bundled sentences' gold
offsets cut out exactly their entities, and the project the demo makes from them is a Labels-over-
Text project the real Label Studio takes, with the gold spans importable as its annotations."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli.demo.command import demo_command
from ml_backend.cli.demo.dataset import DEMO_TASKS, ENTITY_LABELS, DatasetError, load_sentences
from ml_backend.cli.demo.label_studio import ensure_project, ensure_tasks, read_back
from ml_backend.cli.demo.runner import DemoOptions
from ml_backend.review.controls import review_controls
from sync.annotations import create_annotation
from sync.predictions import import_predictions
from sync.projects import label_config
from sync.tasks import iter_task_pages

NER = DEMO_TASKS["ner"]


def test_every_gold_span_cuts_out_its_entity() -> None:
    sentences = load_sentences()
    assert len(sentences) == 300 and len({s.uid for s in sentences}) == 300 and len({s.text for s in sentences}) == 300
    raw = resources.files("ml_backend.cli.demo").joinpath("data/ner.jsonl").read_text(encoding="utf-8").splitlines()
    labels: Counter[str] = Counter()
    for sentence, line in zip(sentences, raw, strict=True):
        for entity in json.loads(line)["entities"]:  # the file itself, not the loader's reading of it
            assert sentence.text[entity["start"]:entity["end"]] == entity["text"], sentence.uid
            assert entity["text"] == entity["text"].strip() and entity["label"] in ENTITY_LABELS
            labels[entity["label"]] += 1
    assert min(labels.values()) >= 150  # every label well represented
    assert sentences[0].text == "Heavy rain closed several roads around Melbourne."
    assert sentences[0].entities == ({"start": 39, "end": 48, "text": "Melbourne", "label": "LOC"},)
    task = sentences[1].task()
    assert set(task["data"]) == {"text"} and task["meta"]["kind"] == "2 entities"  # the gold stays out of data


def test_a_gold_span_that_misses_its_entity_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_backend.cli.demo import dataset

    bad = json.dumps({"id": "x1", "text": "Ann met Bob.", "entities": [{"start": 0, "end": 4, "text": "Ann",
                                                                       "label": "PER"}]})
    monkeypatch.setattr(dataset, "_read", lambda name: bad + "\n")
    with pytest.raises(DatasetError, match="ner.jsonl line 1: bad sentence"):
        load_sentences()


def test_the_demo_project_is_labels_over_text_in_label_studio(label_studio: Any) -> None:
    assert len(NER.title) <= 50  # Label Studio's limit on a project title
    title = f"{NER.title[:40]} {uuid.uuid4().hex[:8]}"
    project, created = ensure_project(label_studio.client, title, NER.label_config(), NER)
    assert created
    stored = label_config(label_studio.client, project)
    [control] = review_controls(stored)
    assert (control.name, control.kind, list(control.values)) == ("entities", "labels", ["PER", "ORG", "LOC"])
    sentences = load_sentences()[:20]
    assert ensure_tasks(label_studio.client, project, sentences) == (20, 0)
    assert ensure_tasks(label_studio.client, project, sentences) == (0, 20)  # found again by uid
    tasks = [task for page in iter_task_pages(label_studio.client, project, fields=("id", "meta")) for task in page]
    gold = {task["id"]: task["meta"]["gold"] for task in tasks}
    task_id, spans = next((task_id, spans) for task_id, spans in gold.items() if len(spans) >= 2)
    result = [{"from_name": "entities", "to_name": "text", "type": "labels",
               "value": {**{key: span[key] for key in ("start", "end", "text")}, "labels": [span["label"]]}}
              for span in spans]
    annotation = create_annotation(label_studio.client, task_id, result)
    assert [item["value"] for item in annotation["result"]] == [item["value"] for item in result]
    # the readback compares span predictions with the gold: one exact, one with a wrong label
    other = next(t for t in gold if t != task_id and gold[t])
    wrong = [{**item, "value": {**item["value"], "labels": ["ORG" if item["value"]["labels"] != ["ORG"] else "PER"]}}
             for item in _results(gold[other])]
    import_predictions(label_studio.client, project, [
        {"task": task_id, "result": result, "score": 0.9, "model_version": "demo-ner@test"},
        {"task": other, "result": wrong, "score": 0.4, "model_version": "demo-ner@test"}])
    seen = read_back(label_studio.client, project, "demo-ner@test", "entities", 0.7)
    assert (seen.tasks, seen.predicted, seen.agree, seen.confident, seen.agree_confident) == (20, 2, 1, 1, 1)


def _results(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"from_name": "entities", "to_name": "text", "type": "labels",
             "value": {"start": span["start"], "end": span["end"], "text": span["text"], "labels": [span["label"]]}}
            for span in spans]


def test_demo_task_option(tmp_path: Path) -> None:
    assert DemoOptions(data_dir=tmp_path).demo.name == "sentiment"  # the default stays sentiment
    assert DemoOptions(data_dir=tmp_path, task="ner").demo.load == load_sentences
    refused = CliRunner().invoke(demo_command, ["--task", "pos", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "'pos' is not one of 'sentiment', 'ner'" in refused.output
    assert list(tmp_path.iterdir()) == []  # refused before anything started
