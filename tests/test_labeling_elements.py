"""Reading Labels, TextArea, Rating, Number and Taxonomy controls from a labeling config, and
where a HyperText's plain-text characters sit in its HTML."""

from __future__ import annotations

import pytest

from ml_backend.engine.hypertext import region, text_map
from ml_backend.engine.labeling import InputField, LabelConfigError, parse_label_config

TEXT = '<View><Text name="text" value="$text"/>{}</View>'


def test_every_kind_is_read_with_its_attributes_in_config_order() -> None:
    spec = parse_label_config(TEXT.format(
        '<Labels name="ner" toName="text" choice="multiple"><Label value="Person" alias="PER"/><Label value="Org"/>'
        '</Labels><TextArea name="notes" toName="text"/><Rating name="stars" toName="text" maxRating="10"/>'
        '<Number name="n" toName="text" min="0" max="10" step="0.5"/>'
        '<Choices name="ok" toName="text"><Choice value="Yes"/><Choice value="No"/></Choices>'))
    assert [(c.name, c.kind, c.multiple) for c in spec.controls] == [
        ("ner", "labels", True), ("notes", "textarea", False), ("stars", "rating", False),
        ("n", "number", False), ("ok", "choices", False)]
    ner = spec.control("ner")
    assert [(label.value, label.text) for label in ner.labels] == [("PER", "Person"), ("Org", "Org")]
    stars, number = spec.control("stars"), spec.control("n")
    assert stars.texts == [str(i) for i in range(1, 11)] and (stars.minimum, stars.maximum) == (1, 10)
    assert (number.minimum, number.maximum, number.step, number.labels) == (0, 10, 0.5, ())
    assert spec.control("notes").labels == ()


TAXONOMY = ('<Taxonomy name="where" toName="text"{attrs}><Choice value="Europe"><Choice value="France" alias="FR"/>'
            '<Choice value="Spain"/></Choice><Choice value="Asia"/></Taxonomy>')


@pytest.mark.parametrize(("attrs", "multiple", "paths"), [
    ("", True, [["Europe"], ["Europe", "FR"], ["Europe", "Spain"], ["Asia"]]),
    (' maxUsages="1"', False, [["Europe"], ["Europe", "FR"], ["Europe", "Spain"], ["Asia"]]),
    (' leafsOnly="true"', True, [["Europe", "FR"], ["Europe", "Spain"], ["Asia"]]),
])
def test_a_taxonomy_offers_its_paths(attrs: str, multiple: bool, paths: list[list[str]]) -> None:
    [control] = parse_label_config(TEXT.format(TAXONOMY.format(attrs=attrs))).controls
    assert control.kind == "taxonomy" and control.multiple is multiple
    assert [label.value.split("\x1f") for label in control.labels] == paths
    assert "Europe > France" in control.texts


def test_the_default_rating_is_five_stars_and_signatures_tell_kinds_apart() -> None:
    rating = parse_label_config(TEXT.format('<Rating name="r" toName="text"/>'))
    assert rating.control("r").maximum == 5
    number = parse_label_config(TEXT.format('<Number name="r" toName="text" min="1" max="5"/>'))
    assert rating.signature() != number.signature()


@pytest.mark.parametrize(("tag", "message"), [
    ('<Rating name="r" toName="text" maxRating="0"/>', "maxRating must be a whole number of at least 1"),
    ('<Number name="n" toName="text" min="5" max="1"/>', "min 5 is above max 1"),
    ('<Number name="n" toName="text" step="-1"/>', "step must be above 0"),
    ('<Number name="n" toName="text" min="low"/>', "min must be a number, got 'low'"),
])
def test_bad_attributes_are_named(tag: str, message: str) -> None:
    with pytest.raises(LabelConfigError, match=message):
        parse_label_config(TEXT.format(tag))


def test_an_unsupported_control_names_every_supported_one() -> None:
    with pytest.raises(LabelConfigError) as error:
        parse_label_config('<View><Image name="i" value="$img"/><RectangleLabels name="r" toName="i">'
                           '<Label value="A"/></RectangleLabels></View>')
    message = str(error.value)
    for name in ("Choices", "Labels", "TextArea", "Rating", "Number", "Taxonomy"):
        assert name in message
    assert '<RectangleLabels name="r">' in message


def test_hypertext_characters_map_to_their_text_nodes() -> None:
    html = '<div><p>Maria <b>Lopez</b> joined</p>\n<p>Acme &amp; Co in  Madrid.</p><br/>end</div>'
    text, origins = text_map(html)
    assert text == InputField("page", "HyperText", "html").read({"html": html})
    assert text == "Maria Lopez joined Acme & Co in Madrid. end"
    assert region(origins, 0, 11) == {"start": "/div[1]/p[1]/text()[1]", "end": "/div[1]/p[1]/b[1]/text()[1]",
                                      "startOffset": 0, "endOffset": 5}
    at = text.index("Madrid")  # "Acme & Co in  Madrid." keeps its two spaces in the HTML: M is at 14
    assert region(origins, at, at + 6) == {"start": "/div[1]/p[2]/text()[1]", "end": "/div[1]/p[2]/text()[1]",
                                           "startOffset": 14, "endOffset": 20}
    at = text.index("end")  # the second text node of the div ("\n" between the paragraphs is the first)
    assert region(origins, at, at + 3) == {"start": "/div[1]/text()[2]", "end": "/div[1]/text()[2]",
                                           "startOffset": 0, "endOffset": 3}
