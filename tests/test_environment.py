"""The one environment reader: numbers of the default's type with a floor, URLs, names."""

from __future__ import annotations

import pytest

from ml_backend.environment import name, number, url


def test_a_number_keeps_the_default_s_type_and_the_default_when_unset() -> None:
    assert number({"N": " 7 "}, "N", 1, 1) == 7 and isinstance(number({"N": "7"}, "N", 1, 1), int)
    assert number({"N": "2.5"}, "N", 1.0, 0.5) == 2.5
    assert number({}, "N", 3, 1) == 3 and number({"N": "  "}, "N", 3, 1) == 3


@pytest.mark.parametrize("raw, default, minimum, words", [
    ("2.5", 1, 1, "N must be an integer >= 1, got '2.5'"),  # never truncated to 2
    ("0", 1, 1, "N must be an integer >= 1, got '0'"),
    ("soon", 1.0, 0.05, "N must be a number >= 0.05, got 'soon'"),
    ("nan", 1.0, 0.05, "N must be a number >= 0.05, got 'nan'"),
    ("inf", 1.0, 0.05, "N must be a number >= 0.05, got 'inf'"),
    ("0.01", 1.0, 0.05, "N must be a number >= 0.05, got '0.01'"),
])
def test_a_bad_number_names_the_variable_and_what_it_must_be(raw: str, default: float, minimum: float,
                                                            words: str) -> None:
    with pytest.raises(ValueError) as caught:
        number({"N": raw}, "N", default, minimum)
    assert str(caught.value) == f"environment variable {words}"


def test_urls_and_names() -> None:
    assert url({"U": "http://ls:8080/"}, "U") == "http://ls:8080" and url({}, "U") is None
    with pytest.raises(ValueError, match="U must be an http"):
        url({"U": "ls:8080"}, "U")
    assert name({"Q": "q-1.a:b"}, "Q", "d") == "q-1.a:b" and name({}, "Q", "d") == "d"
    with pytest.raises(ValueError, match="Q must be 1-100 letters"):
        name({"Q": "a queue"}, "Q", "d")
