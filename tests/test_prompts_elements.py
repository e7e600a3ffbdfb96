"""Prompts and answer schemas for Labels, TextArea, Rating, Number and Taxonomy: each control has
its locked heading and answer shape, and a custom template must keep them."""

from __future__ import annotations

import pytest

from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.postprocess import response_format
from ml_backend.engine.prompts import PromptTemplateError, build_template, default_source, render_messages

CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="Person" alias="PER"/><Label value="Place"/></Labels>
<TextArea name="summary" toName="text"/>
<Rating name="stars" toName="text" maxRating="4"/>
<Number name="price" toName="text" min="0" step="0.5"/>
<Taxonomy name="where" toName="text" maxUsages="1"><Choice value="Europe"><Choice value="Spain"/></Choice></Taxonomy>
<Choices name="ok" toName="text"><Choice value="Yes"/><Choice value="No"/></Choices>
</View>"""
SPEC = parse_label_config(CONFIG)


def test_each_control_is_asked_for_in_its_own_words() -> None:
    system, user = (m["content"] for m in render_messages(build_template(SPEC), SPEC, {"text": "Ann is in Spain."}))
    assert system.startswith('Annotate the text in the user message. Answer "ner", "summary", "stars", "price", '
                             '"where" and "ok" as described below.')
    assert "## Mark every mention of these entity types for: ner\n- Person\n- Place\n" in system
    assert "## Write a free-text answer for: summary\n" in system
    assert "## Give a whole number from 1 to 4 for: stars\n" in system
    assert "## Give a number of at least 0 in steps of 0.5 for: price\n" in system
    assert "## Choose exactly one label for: where\n- Europe\n- Europe > Spain\n" in system
    assert '"ner": a list of objects {"text": ..., "label": ...}, one per mention' in system
    assert '"stars": a whole number from 1 to 4, as a JSON number.' in system
    assert ('Example: {"ner": [{"text": "<text copied from the input>", "label": "Person"}], "summary": '
            '"<your answer>", "stars": 4, "price": 0, "where": "Europe", "ok": "Yes"}') in system
    assert user == "Ann is in Spain."


def test_the_schema_admits_only_each_controls_shape() -> None:
    schema = response_format(SPEC)["json_schema"]["schema"]
    assert schema["required"] == ["ner", "summary", "stars", "price", "where", "ok"]
    entity = schema["properties"]["ner"]["items"]
    assert entity["properties"]["label"] == {"type": "string", "enum": ["Person", "Place"]}
    assert entity["required"] == ["text", "label"] and entity["additionalProperties"] is False
    assert schema["properties"]["summary"] == {"type": "string"}
    assert schema["properties"]["stars"] == {"type": "integer", "minimum": 1, "maximum": 4}
    assert schema["properties"]["price"] == {"type": "number", "minimum": 0}
    assert schema["properties"]["where"] == {"type": "string", "enum": ["Europe", "Europe > Spain"]}


def test_a_custom_template_must_keep_the_span_heading() -> None:
    source = default_source().replace("## Mark every mention of these entity types", "## Find names", 1)
    with pytest.raises(PromptTemplateError, match="locked part: the label options"):
        build_template(SPEC, source=source)
