"""The HTML job report: made by the real service from a real job with real verifications, opened
in headless Chromium (Debian's package), and checked in the rendered DOM: the key numbers as
text, the charts as SVG elements, nothing fetched from outside, user text escaped."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli.report import report_command
from ml_backend.client import ServiceError
from ml_backend.report import charts
from ml_backend.report.html import render_report
from ml_backend.review import accuracy
from sync.annotations import create_annotation
from sync.predictions import predictions_by_version
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")
SVG = "{http://www.w3.org/2000/svg}"
# (label the simulated model gives, its confidence, the human's label or None: not reviewed)
PLAN = [
    ("Positive", 0.97, "Positive"), ("Positive", 0.95, "Positive"), ("Negative", 0.93, "Negative"),
    ("Positive", 0.91, None), ("Neutral", 0.86, "Neutral"), ("Negative", 0.82, None),
    ("Positive", 0.74, "Negative"), ("Neutral", 0.66, "Neutral"), ("Negative", 0.58, "Neutral"),
    ("Positive", 0.55, "Positive"),
]


def chromium(page: Path, tmp_path: Path, *args: str) -> str:
    """Run headless Chromium on a local file; returns its standard output."""
    assert Path(CHROMIUM).exists(), "the report test needs Chromium: apt-get install -y chromium"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Dom(HTMLParser):
    """The rendered DOM's elements (tag, attributes) and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {key: value or "" for key, value in attrs}))

    def handle_data(self, data: str) -> None:
        inside = self.elements[-1][0] if self.elements else ""
        if data.strip() and inside not in ("style", "title"):
            self.text.append(" ".join(data.split()))

    def charts(self) -> list[str]:
        return [attrs["class"] for tag, attrs in self.elements if tag == "svg"]

    def count(self, tag: str, css: str) -> int:
        return sum(1 for name, attrs in self.elements if name == tag and css in attrs.get("class", "").split())


def rendered(page: Path, tmp_path: Path) -> _Dom:
    dom = _Dom()
    dom.feed(chromium(page, tmp_path, "--dump-dom"))
    return dom


@pytest.fixture
def verified_job(make_service: Any, sim: Any, label_studio: Any) -> dict[str, Any]:
    """A real job over PLAN's tasks, with the planned human reviews made in Label Studio and synced."""
    texts = [f"review number {index} [[sim:label={label}]] [[sim:confidence={conf}]]"
             for index, (label, conf, _) in enumerate(PLAN)]
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in texts])
    tasks = label_studio.task_ids(project)
    service = make_service(simulator=sim, label_studio=label_studio)
    client = service.client()
    agent = client.create_agent(project, "reporter", "sim-small")
    job = client.run_job(agent["id"], wait=True, timeout=90)
    assert job["status"] == "done" and job["counts"]["labeled"] == len(PLAN), job
    held = predictions_by_version(label_studio.client, project, agent["model_version"])
    for task_id, (_, _, human) in zip(tasks, PLAN, strict=True):
        if human:
            create_annotation(label_studio.client, task_id, sentiment(human), parent_prediction=held[task_id][0]["id"])
    client.sync_verification(job["id"])
    return {"service": service, "client": client, "job": client.job(job["id"])}


def test_report_of_a_verified_job_renders_in_chromium(verified_job: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    job, service = verified_job["job"], verified_job["service"]
    monkeypatch.setenv("LSAGENT_URL", service.url)
    page = tmp_path / "report.html"
    result = CliRunner().invoke(report_command, [job["id"], "-o", str(page)])
    assert result.exit_code == 0, result.output
    source = page.read_text(encoding="utf-8")
    assert "<script" not in source and not re.search(r"(src|href)=['\"]?https?:", source)

    dom = rendered(page, tmp_path)
    assert dom.charts() == ["chart histogram", "chart bars", "chart reliability"]
    assert dom.count("rect", "bar") == 10 + 3  # ten confidence bins, three labels
    text = " | ".join(dom.text)
    verified = [entry for entry in PLAN if entry[2]]
    confirmed = sum(label == human for label, _, human in verified)
    assert (len(verified), confirmed) == (8, 6)
    for expected in (f"| tasks | {len(PLAN)} | {len(PLAN)} done |", "| verified accuracy | 75.0% | 8 verified |",
                     "| 6 / 2 |",
                     "| Positive | 5 | 50.0% |", "| Negative | 3 | 30.0% |", "| Neutral | 2 | 20.0% |",
                     f"| job | {job['id']} |", f"| agent | {job['model_version']} (sim-small) |",
                     "| confidence scale | raw |"):
        assert expected in f"| {text} |", expected
    flight = job["summary"]["in_flight"]
    assert flight["limit"] == 2 and 1 <= flight["peak"] <= 2  # the simulator's endpoint: 2 at once by default
    assert f"| LLM calls in flight | {flight['mean']:.4g} | mean; peak {flight['peak']} of 2 allowed |" in f"| {text} |"
    assert dom.count("circle", "point") == len({band_of(conf) for _, conf, human in PLAN if human})

    picture = tmp_path / "report.png"
    chromium(page, tmp_path, f"--screenshot={picture}", "--window-size=1100,2400")
    assert picture.stat().st_size > 50_000


def band_of(confidence: float) -> int:
    return sum(confidence >= edge for edge in accuracy.DEFAULT_EDGES[1:-1])


def test_report_route_refuses_an_unknown_job_and_a_bad_target(verified_job: dict[str, Any]) -> None:
    client = verified_job["client"]
    with pytest.raises(ServiceError) as missing:
        client.report("no-such-job")
    assert missing.value.status == 404 and "no-such-job" in str(missing.value)
    with pytest.raises(ServiceError) as bad:
        client.report(verified_job["job"]["id"], target=1.5)
    assert bad.value.status == 400 and "target" in str(bad.value)


@pytest.mark.integration  # starts Chromium (several processes, 1-2 s each): too slow for the fast tier
def test_report_before_any_verification_says_how_to_get_one(tmp_path: Path) -> None:
    job = finished_job({"Positive": 2, "Negative": 1}, [0, 0, 0, 0, 0, 1, 0, 1, 1, 0])
    figures = accuracy.summarize([], [0.55, 0.75, 0.85], [], None)
    page = tmp_path / "report.html"
    page.write_text(render_report(job, {**figures, "target": 0.95, "recommended_threshold": None}))
    dom = rendered(page, tmp_path)
    assert dom.charts() == ["chart histogram", "chart bars"]
    assert any("No task of this job has been verified yet" in text for text in dom.text)


@pytest.mark.integration  # starts Chromium (several processes, 1-2 s each): too slow for the fast tier
def test_labels_from_the_user_are_text_not_markup(tmp_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>"
    page = tmp_path / "report.html"
    page.write_text(render_report(finished_job({evil: 4}, [0] * 9 + [4])))
    dom = rendered(page, tmp_path)
    assert not any(tag == "img" for tag, _ in dom.elements)
    assert evil in dom.text


@pytest.mark.integration  # starts Chromium (several processes, 1-2 s each): too slow for the fast tier
def test_running_job_has_no_summary_yet(tmp_path: Path) -> None:
    job = {**finished_job({"Positive": 1}, [0] * 9 + [1]), "status": "running", "summary": None}
    page = tmp_path / "report.html"
    page.write_text(render_report(job))
    dom = rendered(page, tmp_path)
    assert dom.charts() == [] and "Summary not ready" in dom.text


def test_charts_are_well_formed_svg_with_marks_where_the_numbers_say() -> None:
    bins = [{"from": i / 10, "to": (i + 1) / 10, "count": n} for i, n in enumerate([0, 0, 0, 0, 0, 2, 4, 8, 5, 1])]
    histogram = ElementTree.fromstring(charts.histogram(bins, threshold=0.7))
    bars = histogram.findall(f"{SVG}rect")
    heights = [float(bar.get("height")) for bar in bars]
    assert len(bars) == 10 and heights[7] == max(heights) and heights[0] == 0
    assert heights[7] / heights[6] == pytest.approx(2.0, abs=0.02)
    assert [bar.get("fill") for bar in bars[:7]] == [charts.ORANGE] * 7 and bars[7].get("fill") == charts.BLUE

    records = [accuracy.Verified(i, 0.95, i < 9) for i in range(10)] + [accuracy.Verified(20, 0.55, False)]
    bands = [band.to_dict() for band in accuracy.accuracy_by_band(records)]
    reliability = ElementTree.fromstring(charts.reliability(bands))
    points = [point for point in reliability.findall(f"{SVG}circle") if point.get("class") == "point"]
    assert len(points) == 2
    frame = charts.RELIABILITY
    assert sorted(float(point.get("cy")) for point in points) == pytest.approx([frame.y(0.9), frame.y(0.0)])


def finished_job(labels: dict[str, int], histogram: list[int]) -> dict[str, Any]:
    """A done job as ``GET /api/jobs/<id>`` gives it, for the renderer alone."""
    total = sum(labels.values())
    counts = {"done": total, "labeled": total, "format_error": 0, "invalid_label": 0, "api_error": 0,
              "context_overflow": 0, "empty_input": 0, "span_not_found": 0, "skipped": 0}
    summary = {"final": True, "model_version": "unit@12345678", "model": "sim-small", "total": total,
               "counts": {k: v for k, v in counts.items() if k != "done"}, "labels": {"sentiment": labels},
               "confidence_histogram": [{"from": i / 10, "to": (i + 1) / 10, "count": n}
                                        for i, n in enumerate(histogram)],
               "scored": total, "mean_confidence": 0.8, "invalid_labels": [], "api_errors": {}, "tokens_in": 10,
               "tokens_out": 2, "cost": 0.0, "currency": "USD", "price_source": "test", "predictions_written": total,
               "mean_latency_s": 0.01, "wall_time_s": 1.0, "throughput_per_s": float(total)}
    return {"id": "j" * 12, "agent_id": "a" * 64, "model_version": "unit@12345678", "project": 1, "subset": "all",
            "status": "done", "total": total, "counts": counts, "tokens_in": 10, "tokens_out": 2, "cost": 0.0,
            "created_at": "2025-01-01T00:00:00+00:00", "started_at": None, "finished_at": "2025-01-01T00:00:01+00:00",
            "error": None, "summary": summary, "project_model_version_set": True}
