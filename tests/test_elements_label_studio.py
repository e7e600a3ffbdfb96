"""Each non-choice control end to end: a project with that config in the real Label Studio, the
service predicts (a job; the whole mix also through Label Studio's own /predict call), the
prediction is stored in Label Studio in its exact result shape, and the web app (headless
Chromium) shows it: spans highlighted with their labels, the rating's stars, the number, the
taxonomy path, the free text."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By

from sync import projects
from sync.predictions import predictions_by_version
from tests.review_support import run_job
from tests.test_elements_annotate import CONFIG as MIXED_CONFIG

TEXTS = [
    "Maria Lopez joined Acme Bank in Madrid and loved it.",
    "Kenji Sato met the Tokyo Council in Osaka; a dreadful meeting.",
]
TEXT = '<View><Text name="text" value="$text"/>{}</View>'
CONFIGS = {
    "labels": TEXT.format('<Labels name="ner" toName="text"><Label value="Person" alias="PER"/>'
                          '<Label value="Organisation" alias="ORG"/><Label value="Location" alias="LOC"/></Labels>'),
    "textarea": TEXT.format('<TextArea name="summary" toName="text"/>'),
    "rating": TEXT.format('<Rating name="stars" toName="text" maxRating="5"/>'),
    "number": TEXT.format('<Number name="year" toName="text" min="1990" max="2030"/>'),
    "taxonomy": TEXT.format('<Taxonomy name="where" toName="text" showFullPath="true">'
                            '<Choice value="Europe"><Choice value="Spain" alias="ES"/><Choice value="France"/></Choice>'
                            '<Choice value="Asia"><Choice value="Japan"/></Choice></Taxonomy>'),
}
SHOWN = {"PER": "Person", "ORG": "Organisation", "LOC": "Location", "ES": "Spain"}


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


def stored_results(label_studio: Any, project: int, model_version: str, task: int) -> list[dict[str, Any]]:
    [prediction] = predictions_by_version(label_studio.client, project, model_version, task_ids=[task])[task]
    return [{key: result[key] for key in ("from_name", "to_name", "type", "value", "score")}
            for result in prediction["result"]]


def shown(browser: Any, project: int, task: int, kind: str) -> Any:
    """What the labeling panel shows for a control of this kind, once the prediction pre-filled it."""
    browser.driver.get(f"{browser.base_url}/projects/{project}/data?task={task}")
    reader = {
        "labels": """return Array.from(document.querySelectorAll('span.htx-highlight')).map(s =>
                         [+s.dataset.start, +s.dataset.end, s.innerText, s.dataset.label.split(':')[1]]);""",
        "textarea": """return Array.from(document.querySelectorAll('[data-testid=htx-textbox-content]'))
                           .map(e => e.innerText.trim());""",
        "rating": "return document.querySelectorAll('li.ant-rate-star-full').length;",
        "number": "const i = document.querySelector('.lsf-number input'); return i && i.value ? +i.value : null;",
        "taxonomy": """return Array.from(document.querySelectorAll('.lsf-taxonomy .ant-select-selection-item'))
                           .map(e => e.title);""",
    }[kind]
    return browser.wait(lambda driver: driver.execute_script(reader) or None, f"the {kind} prediction to show", 30)


def expected_display(kind: str, value: dict[str, Any], results: list[dict[str, Any]]) -> Any:
    if kind == "labels":
        return sorted([r["value"]["start"], r["value"]["end"], r["value"]["text"], SHOWN[r["value"]["labels"][0]]]
                      for r in results)
    if kind == "textarea":
        return value["text"]
    if kind in ("rating", "number"):
        return value[kind]
    return [" / ".join(SHOWN.get(node, node) for node in path) for path in value["taxonomy"]]


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_a_prediction_of_each_control_is_stored_and_shown(kind: str, browser: Any, service: Any,
                                                          label_studio: Any) -> None:
    project = label_studio.new_project(CONFIGS[kind], [{"text": text} for text in TEXTS])
    tasks = label_studio.task_ids(project)
    job = run_job(service, project, tasks, name=kind)
    items = {item.task_id: item for item in service.runtime.store.items(job.id)}
    for task, text in zip(tasks, TEXTS, strict=True):
        item = items[task]
        assert item.error_class is None, item.error_detail
        results = stored_results(label_studio, project, job.model_version, task)
        assert results == [{key: r[key] for key in ("from_name", "to_name", "type", "value", "score")}
                           for r in item.meta["results"]]
        assert {r["type"] for r in results} == {kind} and all(0 < r["score"] <= 1 for r in results)
        assert item.score == pytest.approx(min(r["score"] for r in results))
        if kind == "labels":
            assert results, "the simulator finds the names of these texts"
            assert all(text[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in results)
            assert item.labels["ner"] == sorted({r["value"]["labels"][0] for r in results})
        displayed = shown(browser, project, task, kind)
        assert displayed == expected_display(kind, results[0]["value"], results), kind
        assert browser.console_errors() == []


def test_label_studio_asks_the_service_for_every_control_at_once(browser: Any, service: Any,
                                                                 label_studio: Any) -> None:
    project = label_studio.new_project(MIXED_CONFIG, [{"text": TEXTS[0]}])
    [task] = label_studio.task_ids(project)
    agent = service.client().create_agent(project, "mixed", "sim-small", activate=True)
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent")
    assert projects.retrieve_predictions(label_studio.client, project, [task]) == 1
    results = stored_results(label_studio, project, agent["model_version"], task)
    kinds = [r["type"] for r in results]
    assert kinds[-5:] == ["textarea", "rating", "number", "taxonomy", "choices"] and set(kinds[:-5]) == {"labels"}
    regions = sorted([r["value"]["start"], r["value"]["end"], r["value"]["text"],
                      {"PER": "Person", "ORG": "Organisation", "LOC": "Location"}[r["value"]["labels"][0]]]
                     for r in results if r["type"] == "labels")
    assert shown(browser, project, task, "labels") == regions
    assert shown(browser, project, task, "rating") == next(r["value"]["rating"] for r in results
                                                          if r["type"] == "rating")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "label.lsf-choice__checkbox input:checked")
    assert browser.console_errors() == []


HTML = ["<div><p>Maria <b>Lopez</b> joined Acme Bank</p>\n<p>in Madrid &amp; loved it.</p></div>",
        "<p>Kenji Sato met the <i>Tokyo Council</i> in Osaka.</p>"]
HYPERTEXT = ('<View><HyperText name="page" value="$html"/><Labels name="ner" toName="page">'
             '<Label value="Person" alias="PER"/><Label value="Organisation" alias="ORG"/>'
             '<Label value="Location" alias="LOC"/></Labels></View>')


def test_spans_over_hypertext_are_regions_in_its_html(browser: Any, service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(HYPERTEXT, [{"html": html} for html in HTML])
    tasks = label_studio.task_ids(project)
    job = run_job(service, project, tasks, name="hypertext")
    items = {item.task_id: item for item in service.runtime.store.items(job.id)}
    for task in tasks:
        item = items[task]
        assert item.error_class is None, item.error_detail
        results = stored_results(label_studio, project, job.model_version, task)
        assert results and {r["type"] for r in results} == {"labels"}
        assert all(r["value"]["start"].startswith("/") and "text()" in r["value"]["end"] for r in results)
        spans = item.meta["spans"]["ner"]
        assert [r["value"]["text"] for r in results] == [span["text"] for span in spans]
        browser.driver.get(f"{browser.base_url}/projects/{project}/data?task={task}")
        reader = """const doc = (document.querySelector('.lsf-richtext iframe') || {}).contentDocument || document;
                    return Array.from(doc.querySelectorAll('span.htx-highlight')).map(s => s.innerText);"""
        highlighted = browser.wait(lambda driver, reader=reader: driver.execute_script(reader) or None,
                                   "the HyperText spans to show", 30)
        assert "".join(highlighted) == "".join(r["value"]["text"] for r in results)
        assert browser.console_errors() == []
