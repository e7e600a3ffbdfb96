"""Reading labeling configs through label-studio-sdk's label_interface."""

from __future__ import annotations

import pytest

from ml_backend.engine.labeling import EmptyInputError, LabelConfigError, parse_label_config

MIXED = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive" alias="pos"/>
    <Choice value="Negative" alias="neg"/>
  </Choices>
  <HyperText name="page" value="$html"/>
  <Choices name="topics" toName="page" choice="multiple">
    <Choice value="Sports"/>
    <Choice value="Politics"/>
  </Choices>
  <Paragraphs name="chat" value="$dialogue" nameKey="speaker" textKey="line"/>
  <Choices name="intent" toName="chat">
    <Choice value="Question"/>
    <Choice value="Complaint"/>
  </Choices>
  <Labels name="notes" toName="chat"><Label value="Greeting"/></Labels>
</View>
"""


def test_every_choices_block_is_read_in_config_order_with_its_input() -> None:
    spec = parse_label_config(MIXED)
    assert [(c.name, c.to_name, c.input.tag, c.multiple) for c in spec.controls] == [
        ("sentiment", "text", "Text", False),
        ("topics", "page", "HyperText", True),
        ("intent", "chat", "Paragraphs", False),
    ]
    assert spec.ignored == ('<Labels name="notes">',)


def test_a_config_is_parsed_once_and_a_bad_one_fails_every_time() -> None:
    parse_label_config.cache_clear()
    first = parse_label_config(MIXED)
    assert parse_label_config(MIXED) is first and parse_label_config.cache_info().hits == 1
    for _ in range(2):  # an error is not cached as a result
        with pytest.raises(LabelConfigError, match="not valid XML"):
            parse_label_config("<View><Text")


def test_alias_is_the_stored_value_and_the_value_is_what_the_model_sees() -> None:
    sentiment = parse_label_config(MIXED).control("sentiment")
    assert sentiment.texts == ["Positive", "Negative"]
    assert [label.value for label in sentiment.labels] == ["pos", "neg"]
    assert sentiment.value_of("Negative") == "neg"
    assert sentiment.text_of("pos") == "Positive"


def test_inputs_are_read_as_plain_text() -> None:
    spec = parse_label_config(MIXED)
    data = {
        "text": "Great phone.",
        "html": "<p>Match <b>report</b></p>",
        "dialogue": [{"speaker": "Ann", "line": "Where is my parcel?"}, {"speaker": "Bot", "line": "Checking."}],
    }
    assert spec.read_inputs(data) == {
        "text": "Great phone.",
        "page": "Match report",
        "chat": "Ann: Where is my parcel?\nBot: Checking.",
    }


@pytest.mark.parametrize("data", [{"text": "  "}, {}, {"text": None}])
def test_blank_or_missing_input_is_an_empty_input_error(data: dict) -> None:
    spec = parse_label_config(
        '<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="A"/></Choices></View>'
    )
    with pytest.raises(EmptyInputError, match="'text'"):
        spec.read_inputs(data)


def test_same_controls_and_labels_have_the_same_signature_across_layouts() -> None:
    one = parse_label_config(
        '<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
        '<Choice value="A"/><Choice value="B"/></Choices></View>'
    )
    other = parse_label_config(
        '<View><Header value="Pick"/><Text name="text" value="$body"/><Choices name="c" toName="text">'
        '<Choice value="A"/><Choice value="B"/></Choices></View>'
    )
    renamed = parse_label_config(
        '<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
        '<Choice value="A"/><Choice value="C"/></Choices></View>'
    )
    assert one.signature() == other.signature() != renamed.signature()


@pytest.mark.parametrize(
    "config, found",
    [
        ('<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="A"/></Choices></View>',
         '<Choices name="c">'),
        ('<View><Paragraphs name="p" value="$d"/><Labels name="l" toName="p"><Label value="A"/></Labels></View>',
         '<Labels name="l">'),
        ('<View><Text name="t" value="$text"/></View>', "no control tags"),
    ],
)
def test_a_config_without_a_supported_control_names_what_is_supported(config: str, found: str) -> None:
    with pytest.raises(LabelConfigError) as error:
        parse_label_config(config)
    message = str(error.value)
    assert "supported are Choices" in message and "Text, HyperText, Paragraphs" in message
    assert found in message


def test_malformed_xml_is_a_clear_error() -> None:
    with pytest.raises(LabelConfigError, match="not valid XML"):
        parse_label_config("<View><Text name=")
