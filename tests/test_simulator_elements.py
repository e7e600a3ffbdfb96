"""The simulator answers spans, free text, ratings and numbers like a model would: mostly right,
with realistic mistakes (wrong boundaries, wrong labels, hallucinated names, off-range numbers),
and logprobs that make the mistakes less sure. Asked over HTTP with lsagent's own prompt and
schema, read back by the engine."""

from __future__ import annotations

import itertools
from statistics import mean
from typing import Any

import openai

from ml_backend.engine import prompts
from ml_backend.engine.answers import score_answer
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.postprocess import response_format

CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="Person" alias="PER"/><Label value="Organisation" alias="ORG"/>
<Label value="Location" alias="LOC"/></Labels>
<Number name="year" toName="text" min="1990" max="2030"/>
<Rating name="stars" toName="text" maxRating="5"/>
<TextArea name="summary" toName="text"/>
</View>"""
SPEC = parse_label_config(CONFIG)
PEOPLE = ["Maria Lopez", "Kenji Sato", "Anna Weber", "Omar Haddad", "Lena Berg", "Tom Price", "Ines Duarte",
          "Pavel Novak", "Sara Lind", "Jon Ortiz"]
ORGS = ["Acme Bank", "Globex Inc", "Initech Group", "Umbra University"]
CITIES = ["Madrid", "Osaka", "Berlin", "Lyon"]


def ask(client: openai.OpenAI, text: str) -> Any:
    template = prompts.build_template(SPEC)
    return client.chat.completions.create(
        model="sim-small", messages=prompts.render_messages(template, SPEC, {"text": text}),  # type: ignore[arg-type]
        response_format=response_format(SPEC), logprobs=True, top_logprobs=5)  # type: ignore[arg-type]


def test_mostly_right_with_every_kind_of_realistic_mistake(sim: Any) -> None:
    truth: dict[str, str] = {**dict.fromkeys(PEOPLE, "PER"), **dict.fromkeys(ORGS, "ORG"),
                             **dict.fromkeys(CITIES, "LOC")}
    right, wrong_label, wrong_boundary, dropped, off_range, answered = [], [], 0, 0, 0, 0
    client = openai.OpenAI(base_url=sim.base_url, api_key=sim.api_key, max_retries=0)  # one: building one costs ~50 ms
    for person, org, city in itertools.islice(itertools.product(PEOPLE, ORGS, CITIES), 80):
        text = f"{person} joined {org} in {city} and liked it."
        response = ask(client, text)
        choice = response.choices[0]
        tokens = [token.model_dump() for token in choice.logprobs.content]
        assert tokens and all(token["top_logprobs"] for token in tokens)
        answer = score_answer(SPEC, choice.message.content, tokens, inputs={"text": text})
        if answer.error is not None:
            assert answer.error.value == "invalid_label" and "'year' must be from 1990 to 2030" in answer.detail
            off_range += 1
            continue
        answered += 1
        assert 1 <= answer.numbers["stars"] <= 5 and answer.texts["summary"]
        dropped += answer.dropped_spans.get("ner", 0)
        for span in answer.spans["ner"]:
            assert text[span["start"]:span["end"]] == span["text"] and span["confidence"] is not None
            name = next((name for name in truth if name.casefold() == span["text"].casefold()), None)
            if name is None:
                wrong_boundary += 1
            elif truth[name] == span["label"]:
                right.append(span["confidence"])
            else:
                wrong_label.append(span["confidence"])
    assert answered >= 70 and len(right) >= 150
    assert wrong_label and wrong_boundary and dropped and off_range
    assert mean(wrong_label) < mean(right) - 0.15  # mistakes are less sure


def test_without_a_schema_the_controls_are_read_from_lsagents_headings(sim: Any) -> None:
    client = openai.OpenAI(base_url=sim.base_url, api_key=sim.api_key, max_retries=0)
    text = "Maria Lopez joined Acme Bank in Madrid."
    response = client.chat.completions.create(
        model="sim-small", messages=prompts.render_messages(prompts.build_template(SPEC), SPEC,  # type: ignore[arg-type]
                                                            {"text": text}))
    answer = score_answer(SPEC, response.choices[0].message.content, None, inputs={"text": text})
    assert answer.error is None, answer.detail
    assert answer.spans["ner"] and 1990 <= answer.numbers["year"] <= 2030 and 1 <= answer.numbers["stars"] <= 5
    assert answer.texts["summary"] == [text]
