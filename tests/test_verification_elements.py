"""Verification element by element, through the real Label Studio: an agent's spans, free text,
rating, number and taxonomy are pushed as predictions, annotators' final answers are created there
through its API, and every figure ``verification show`` gives is checked against values worked
out by hand below (span outcomes, precision/recall/F1 per label with Wilson intervals, AUROC,
unedited share and edit distance, exact and within-one rates)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli import main
from ml_backend.review.elements import levenshtein, match_spans, number_figures, span_figures, text_figures
from ml_backend.review.regions import as_labels, human_values
from tests.element_support import AGENT, HUMAN, ElementJob, span, verified_job

Z = 1.959964


def wilson(correct: int, n: int) -> dict[str, Any]:
    """The Wilson score interval, written out independently of ml_backend.review.calibration."""
    p = correct / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return {"low": pytest.approx(0.0 if correct == 0 else centre - half, abs=1e-9),
            "high": pytest.approx(1.0 if correct == n else centre + half, abs=1e-9)}


def f1_interval(precision: tuple[int, int], recall: tuple[int, int]) -> dict[str, Any]:
    ends = []
    for end in ("low", "high"):
        p, r = wilson(*precision)[end].expected, wilson(*recall)[end].expected
        ends.append(pytest.approx(0.0 if p + r == 0 else 2 * p * r / (p + r), abs=1e-9))
    return {"low": ends[0], "high": ends[1]}


@pytest.fixture
def service(make_service: Any, label_studio: Any) -> Any:
    return make_service(label_studio=label_studio)


@pytest.fixture
def verified(service: Any, label_studio: Any) -> ElementJob:
    return verified_job(service, label_studio)


def test_span_matching_by_hand() -> None:
    match = match_spans(AGENT[2].spans, HUMAN[2].spans)
    assert [(p["text"], h["text"]) for p, h in match.confirmed] == [("Omar Haddad", "Omar Haddad")]
    assert [(p["text"], h["text"]) for p, h in match.corrected] == [("Vantor", "Vantor Robotics")]
    assert [p["text"] for p in match.rejected] == ["chief executive"] and match.missed == []
    # one human span overlapped by two predicted ones: the larger overlap takes it, the other is rejected
    text = "New York City"
    twice = match_spans([span(text, "New", "LOC"), span(text, "York City", "ORG")],
                        [span(text, "New York City", "LOC")])
    assert [p["text"] for p, _ in twice.corrected] == ["York City"] and [p["text"] for p in twice.rejected] == ["New"]
    assert levenshtein("Omar heads Vantor.", "Omar Haddad heads Vantor.") == 7
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_an_annotation_is_read_per_control_kind() -> None:
    kinds = {"ner": "labels", "note": "textarea", "stars": "rating", "topic": "taxonomy", "mood": "choices"}
    result = [
        {"from_name": "ner", "type": "labels", "value": {"start": 8, "end": 11, "text": "Bob", "labels": ["PER"]}},
        {"from_name": "ner", "type": "hypertextlabels",  # a HyperText region: character offsets in globalOffsets
         "value": {"start": "/p[1]/text()[1]", "end": "/p[1]/text()[1]", "globalOffsets": {"start": 0, "end": 3},
                   "text": "Ann", "hypertextlabels": ["PER", "ORG"]}},
        {"from_name": "note", "type": "textarea", "value": {"text": ["one", "two"]}},
        {"from_name": "stars", "type": "rating", "value": {"rating": True}},  # not a number: no rating
        {"from_name": "topic", "type": "taxonomy", "value": {"taxonomy": [["A", "B"], "junk"]}},
        {"from_name": "mood", "type": "labels", "value": {"choices": ["x"]}},  # wrong type for the control
        {"from_name": "other", "type": "choices", "value": {"choices": ["y"]}},
    ]
    read = human_values(result, kinds)
    assert read == {"ner": [{"start": 0, "end": 3, "text": "Ann", "label": "ORG"},
                            {"start": 0, "end": 3, "text": "Ann", "label": "PER"},
                            {"start": 8, "end": 11, "text": "Bob", "label": "PER"}],
                    "note": ["one", "two"], "stars": None, "topic": [["A", "B"]], "mood": []}
    assert as_labels("labels", read["ner"]) == ["ORG", "PER"] and as_labels("taxonomy", read["topic"]) == ["A", "B"]


def test_element_figures_without_data_or_scores() -> None:
    nothing = span_figures([])
    assert (nothing["labels"], nothing["auroc"], nothing["scored_spans"]) == ({}, None, 0)
    assert nothing["overall"]["precision"] is None and nothing["overall"]["f1_interval"] is None
    # spans without a confidence count in precision and recall, not in AUROC
    text = "Ann met Bob"
    mixed = span_figures([([span(text, "Ann", "PER"), span(text, "Bob", "PER", 0.4)], [span(text, "Ann", "PER")]),
                          ([span(text, "Bob", "PER", 0.9)], [span(text, "Bob", "PER")])])
    assert (mixed["overall"]["predicted"], mixed["overall"]["confirmed"], mixed["scored_spans"]) == (3, 2, 2)
    assert mixed["auroc"] == 1.0 and mixed["spans"]["rejected"] == 1
    cleared = number_figures([(3, None), (None, 2), (2, 3)])  # cleared by the annotator; no agent value
    assert (cleared["verified"], cleared["exact"], cleared["within_one"]) == (2, 0, 1)
    assert text_figures([])["mean_edit_distance"] is None and text_figures([])["unedited_rate"] is None


def test_figures_per_element_match_the_hand_worked_values(service: Any, verified: ElementJob) -> None:
    client = service.client()
    synced = client.sync_verification(verified.id)
    assert (synced["synced"], synced["confirmed"], synced["corrected"]) == (4, 1, 3)  # only A kept everything
    figures = client.verification(verified.id)
    assert (figures["verified"], figures["confirmed"], figures["labelled"]) == (4, 1, 5)
    ner = figures["controls"]["ner"]
    assert ner["kind"] == "labels"
    # A: 2 confirmed. B: Priya, Osaka confirmed; Lisbon ORG->LOC corrected (label). C: Omar confirmed;
    # Vantor -> Vantor Robotics corrected (boundary); "chief executive" rejected. D: Grace confirmed, Bergen missed.
    assert ner["spans"] == {"confirmed": 6, "corrected": 2, "corrected_label": 1, "corrected_boundary": 1,
                            "rejected": 1, "missed": 1}
    # agent spans: PER 4, ORG 3 (Northwind, Lisbon, Vantor), LOC 2 (Osaka, chief executive);
    # annotator spans: PER 4, ORG 2 (Northwind, Vantor Robotics), LOC 3 (Lisbon, Osaka, Bergen)
    expected = {"LOC": (2, 3, 1), "ORG": (3, 2, 1), "PER": (4, 4, 4)}
    assert list(ner["labels"]) == ["LOC", "ORG", "PER"]
    for label, (predicted, human, confirmed) in expected.items():
        scores = ner["labels"][label]
        assert (scores["predicted"], scores["human"], scores["confirmed"]) == (predicted, human, confirmed), label
        assert scores["precision"] == pytest.approx(confirmed / predicted)
        assert scores["recall"] == pytest.approx(confirmed / human)
        assert scores["f1"] == pytest.approx(2 * confirmed / (predicted + human))
        assert scores["precision_interval"] == wilson(confirmed, predicted)
        assert scores["recall_interval"] == wilson(confirmed, human)
        assert scores["f1_interval"] == f1_interval((confirmed, predicted), (confirmed, human))
    assert ner["labels"]["ORG"]["precision"] == pytest.approx(1 / 3) and ner["labels"]["LOC"]["f1"] == 0.4
    overall = ner["overall"]
    assert (overall["predicted"], overall["human"], overall["confirmed"]) == (9, 9, 6)
    assert overall["precision"] == overall["recall"] == overall["f1"] == pytest.approx(6 / 9)
    # AUROC: confirmed spans .9 .8 .95 .7 .5 .9 against the others .4 .6 .3; only .5 < .6 is out of
    # order: (6 * 3 - 1) / 18
    assert ner["auroc"] == pytest.approx(17 / 18) and ner["scored_spans"] == 9
    # the job's spans per label, verified or not (E adds two PER)
    assert ner["job_spans"] == {"LOC": 2, "ORG": 3, "PER": 6}

    # text: A and B unedited; C +"Haddad " (7), D +"an end by " (10): mean (0 + 0 + 7 + 10) / 4
    summary = figures["controls"]["summary"]
    assert (summary["kind"], summary["verified"], summary["unedited"]) == ("textarea", 4, 2)
    assert summary["unedited_rate"] == 0.5 and summary["unedited_interval"] == wilson(2, 4)
    assert summary["mean_edit_distance"] == pytest.approx(4.25)
    # rating 4/4, 3->4, 5->cleared (counts as not kept), 2/2: exact 2, within one 3.
    # number 1/1, 2/2, 0->2, 3/3: exact 3, within one 3
    quality, count = figures["controls"]["quality"], figures["controls"]["count"]
    assert (quality["kind"], quality["exact"], quality["within_one"], quality["verified"]) == ("rating", 2, 3, 4)
    assert quality["exact_interval"] == wilson(2, 4) and quality["within_one_interval"] == wilson(3, 4)
    assert (count["kind"], count["exact"], count["within_one"]) == ("number", 3, 3)
    assert count["exact_rate"] == count["within_one_rate"] == 0.75
    topic = figures["controls"]["topic"]  # D: Business -> Business > Planning
    assert (topic["kind"], topic["exact"], topic["verified"]) == ("taxonomy", 3, 4)
    assert "sentiment" not in figures["controls"]


def test_verdict_rows_keep_the_annotators_answer(service: Any, verified: ElementJob) -> None:
    service.client().sync_verification(verified.id)
    rows = {(row.task_id, row.control): row for row in service.runtime.store.verifications(verified.id)}
    b, d = verified.tasks[1], verified.tasks[3]
    ner = rows[(b, "ner")]
    assert (ner.verdict, ner.agent_labels, ner.human_labels) == ("corrected", ["LOC", "ORG", "PER"], ["LOC", "PER"])
    assert [(s["start"], s["end"], s["text"], s["label"]) for s in ner.human_value] == [
        (0, 11, "Priya Raman", "PER"), (22, 28, "Lisbon", "LOC"), (32, 37, "Osaka", "LOC")]
    assert (rows[(b, "summary")].verdict, rows[(b, "summary")].human_value) == ("confirmed", ["Priya flew to Osaka."])
    assert (rows[(b, "quality")].verdict, rows[(b, "quality")].human_labels) == ("corrected", ["4"])
    assert (rows[(b, "count")].verdict, rows[(b, "count")].human_value) == ("confirmed", 2)
    assert (rows[(d, "topic")].human_labels, rows[(d, "topic")].human_value) == (["Business", "Planning"],
                                                                                 [["Business", "Planning"]])
    c = verified.tasks[2]
    assert (rows[(c, "quality")].verdict, rows[(c, "quality")].human_labels) == ("corrected", [])
    assert (rows[(b, "sentiment")].verdict, rows[(b, "sentiment")].human_value) == ("confirmed", None)


def test_verification_show_prints_the_span_table(service: Any, verified: ElementJob) -> None:
    service.client().sync_verification(verified.id)
    env = {"LSAGENT_URL": service.url, "COLUMNS": "200"}
    shown = CliRunner().invoke(main, ["verification", "show", "--job", verified.id], env=env)
    assert shown.exit_code == 0, shown.output
    assert "spans of ner: verified tasks" in shown.output
    org = next(line for line in shown.output.splitlines() if line.strip().startswith("ORG"))
    assert org.split()[1:4] == ["3", "2", "1"] and "0.3333" in org
    assert "6 confirmed, 2 corrected, 1 rejected, 1 missed; span confidence AUROC 0.9444" in shown.output
    assert "summary (textarea): unedited 2/4 0.5000" in shown.output and "mean edit distance 4.2500" in shown.output
    assert "quality (rating): exact 2/4 0.5000" in shown.output and "within one 3/4 0.7500" in shown.output
    as_json = CliRunner().invoke(main, ["verification", "show", "--job", verified.id, "--json"], env=env)
    assert json.loads(as_json.output)["controls"]["ner"]["spans"]["missed"] == 1
