"""Every non-choice control through one agent against the simulator (real openai client over
HTTP): the answer is read, spans are placed in the task's text, each element has a confidence
and the Label Studio results have the shape of their control."""

from __future__ import annotations

from typing import Any

from ml_backend.engine.annotate import Annotator
from ml_backend.engine.modelconfig import Capabilities

CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="Person" alias="PER"/><Label value="Organisation" alias="ORG"/>
<Label value="Location" alias="LOC"/></Labels>
<TextArea name="summary" toName="text"/>
<Rating name="stars" toName="text" maxRating="5"/>
<Number name="year" toName="text" min="1990" max="2030"/>
<Taxonomy name="where" toName="text"><Choice value="Europe"><Choice value="France"/><Choice value="Spain"/></Choice>
<Choice value="Asia"><Choice value="Japan"/></Choice></Taxonomy>
<Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/></Choices>
</View>"""
TEXTS = [
    "Maria Lopez joined Acme Bank in Madrid last spring and loves it.",
    "Kenji Sato met the Tokyo Council in Osaka; a dreadful, rude meeting.",
    "Yesterday Anna Weber flew from Berlin to Paris for Globex Inc.",
]


def annotator(sim_annotator: Any, model: str = "sim-small") -> Annotator:
    logprobs = model != "sim-nologprobs"
    return sim_annotator(CONFIG, model, capabilities=Capabilities(
        response_format="json_schema", logprobs=logprobs, top_logprobs=5 if logprobs else 0, seed=False, choices=True))


def test_every_control_is_answered_placed_and_scored(sim: Any, sim_annotator: Any) -> None:
    worker = annotator(sim_annotator)
    for number, text in enumerate(TEXTS):
        outcome = worker.annotate({"id": number, "data": {"text": text}})
        assert outcome.ok, outcome.error_detail
        meta = outcome.meta
        for span in meta["spans"]["ner"]:
            assert text[span["start"]:span["end"]] == span["text"]
            assert span["label"] in ("PER", "ORG", "LOC") and 0 < span["confidence"] <= 1
        assert outcome.labels["ner"] == sorted({span["label"] for span in meta["spans"]["ner"]})
        assert meta["texts"]["summary"] and text.startswith(meta["texts"]["summary"][0].split()[0])
        assert 1 <= meta["numbers"]["stars"] <= 5 and outcome.labels["stars"] == [str(meta["numbers"]["stars"])]
        assert 1990 <= meta["numbers"]["year"] <= 2030
        assert meta["paths"]["where"] and all(path[0] in ("Europe", "Asia") for path in meta["paths"]["where"])
        assert meta["methods"]["summary"] == "mean_token_prob"
        assert all(0 < value <= 1 for value in outcome.confidence.values())
        assert outcome.score == min(outcome.confidence.values())
        types = [result["type"] for result in outcome.results]
        assert types == ["labels"] * len(meta["spans"]["ner"]) + ["textarea", "rating", "number", "taxonomy",
                                                                  "choices"]


def test_without_logprobs_every_element_is_scored_by_sampled_answers(sim: Any, sim_annotator: Any) -> None:
    outcome = annotator(sim_annotator, "sim-nologprobs").annotate({"id": 1, "data": {"text": TEXTS[0]}})
    assert outcome.ok, outcome.error_detail
    assert outcome.meta["method"] == "self_consistency"
    assert set(outcome.meta["methods"].values()) == {"self_consistency"}
    samples = 5  # the agent's default consistency_samples: every share is a multiple of 1/5
    for value in [*outcome.confidence.values(), *(s["confidence"] for s in outcome.meta["spans"]["ner"])]:
        assert value is not None and 0 <= value <= 1 and round(value * samples, 6).is_integer()
