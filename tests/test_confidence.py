"""Label confidence from token log-probabilities, computed by hand for each rule of the module."""

from __future__ import annotations

import math

import pytest

from ml_backend.engine.confidence import (
    control_confidence,
    label_probability,
    seen_label_mass,
    self_consistency,
    sequence_means,
)
from ml_backend.engine.labeling import Label

NEG, NEU, POS = Label("Negative", "Negative"), Label("Neutral", "Neutral"), Label("pos", "Positive")
SENTIMENT = [NEG, NEU, POS]
SPORTS, POLITICS, SCIENCE = Label("Sports", "Sports"), Label("Politics", "Politics"), Label("Science", "Science")
TOPICS = [SPORTS, POLITICS, SCIENCE]


def tok(token: str, p: float, *alternatives: tuple[str, float]) -> dict:
    """One entry of ``choices[0].logprobs.content`` with probability ``p`` and its top_logprobs."""
    return {
        "token": token,
        "logprob": math.log(p),
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": math.log(q), "bytes": list(t.encode())} for t, q in alternatives],
    }


def spell(*tokens: str) -> list[dict]:
    """Formatting tokens the model was sure of (p = 0.99, no alternatives listed)."""
    return [tok(t, 0.99) for t in tokens]


def test_simple_single_token_label() -> None:
    logprobs = [tok("Positive", 0.7, ("Positive", 0.7), ("Negative", 0.2), ("Neutral", 0.05), ("The", 0.05))]
    # label mass: Positive 0.7 + Negative 0.2 + Neutral 0.05 = 0.95 ("The" is non-label)
    # P(Positive) = 0.7 / 0.95 = 0.736842...
    assert label_probability(logprobs, "Positive", 0, POS, SENTIMENT) == pytest.approx(0.7 / 0.95)


def json_positive(second_token_p: float) -> list[dict]:
    return [
        *spell('{"', "sentiment", '":', ' "'),
        tok("Pos", 0.6, ("Pos", 0.6), ("Neg", 0.3), ('"', 0.05), ("Neut", 0.05)),
        tok("itive", second_token_p, ("itive", second_token_p)),
        *spell('"}'),
    ]


def test_label_split_over_two_tokens_is_read_at_its_first_token() -> None:
    content = '{"sentiment": "Positive"}'
    # At "Pos": Pos 0.6 (Positive), Neg 0.3 (Negative), Neut 0.05 (Neutral), '"' 0.05 (non-label).
    # P(Positive) = 0.6 / (0.6 + 0.3 + 0.05) = 0.6 / 0.95 = 0.631579...
    assert label_probability(json_positive(0.9), content, 15, POS, SENTIMENT) == pytest.approx(0.6 / 0.95)
    # "itive" follows only Positive: its probability does not change the answer.
    assert label_probability(json_positive(0.2), content, 15, POS, SENTIMENT) == pytest.approx(0.6 / 0.95)


def test_non_label_tokens_are_left_out_of_the_normalisation() -> None:
    content = "The answer is Negative"
    logprobs = [
        *spell("The", " answer", " is"),
        tok(" Negative", 0.5, (" Negative", 0.5), (" Positive", 0.2), (" neutral", 0.1), (" not", 0.15), (":", 0.05)),
    ]
    # Leading spaces are stripped and case ignored: " neutral" counts for Neutral.
    # Non-label: " not" 0.15, ":" 0.05.  P(Negative) = 0.5 / (0.5 + 0.2 + 0.1) = 0.625
    assert label_probability(logprobs, content, 14, NEG, SENTIMENT) == pytest.approx(0.625)


def test_quoted_alternatives_are_credited_after_stripping_the_quote() -> None:
    content = 'sentiment: "Neutral"'
    logprobs = [
        *spell("sent", "iment", ":"),
        tok(' "', 0.99, (' "', 0.99)),
        tok("Neutral", 0.4, ("Neutral", 0.4), ('"Positive', 0.3), ("'Neg", 0.2), ("**", 0.1)),
        *spell('"'),
    ]
    # '"Positive' -> Positive 0.3, "'Neg" -> Negative 0.2, "**" strips to nothing: non-label.
    # P(Neutral) = 0.4 / (0.4 + 0.3 + 0.2) = 0.444444...
    assert label_probability(logprobs, content, 12, NEU, SENTIMENT) == pytest.approx(0.4 / 0.9)


SHARED_FIRST = ("Ne", 0.5, ("Ne", 0.5), ("Neg", 0.1), ("Pos", 0.3), ("The", 0.1))
SHARED_SECOND = (("gative", 0.7), ("utral", 0.2), ("ither", 0.1))


def test_shared_first_token_resolves_where_the_paths_diverge() -> None:
    logprobs = [tok(*SHARED_FIRST), tok("gative", 0.7, *SHARED_SECOND)]
    # Position 0 ("Ne" shared by Negative and Neutral):
    #   E (Negative only) = "Neg" 0.1, S (shared) = "Ne" 0.5, O (others) = "Pos" 0.3; "The" non-label.
    # Position 1, read after "ne": "gative" -> negative 0.7 = E, "utral" -> neutral 0.2 = O,
    #   "ither" -> "neither" starts no label. Negative is now the only possible label:
    #   f1 = 0.7 / (0.7 + 0.2) = 0.777778
    # f0 = (E + S * f1) / (E + S + O) = (0.1 + 0.5 * 0.777778) / 0.9 = 0.488889 / 0.9 = 0.543210
    expected = (0.1 + 0.5 * (0.7 / 0.9)) / 0.9
    assert label_probability(logprobs, "Negative", 0, NEG, SENTIMENT) == pytest.approx(expected)
    assert expected == pytest.approx(0.543210, abs=1e-6)


def test_shared_first_token_probabilities_sum_to_one_over_the_label_set() -> None:
    negative = label_probability(
        [tok(*SHARED_FIRST), tok("gative", 0.7, *SHARED_SECOND)], "Negative", 0, NEG, SENTIMENT
    )
    neutral = label_probability([tok(*SHARED_FIRST), tok("utral", 0.2, *SHARED_SECOND)], "Neutral", 0, NEU, SENTIMENT)
    positive = label_probability([tok("Pos", 0.3, *SHARED_FIRST[2:]), tok("itive", 0.9)], "Positive", 0, POS, SENTIMENT)
    # Neutral: f1 = 0.2 / 0.9 = 0.222222; f0 = (0 + 0.5 * 0.222222) / 0.9 = 0.123457
    # Positive: "Pos" is exclusive at position 0: 0.3 / (0.1 + 0.5 + 0.3) = 0.333333
    assert neutral == pytest.approx(0.5 * (0.2 / 0.9) / 0.9)
    assert positive == pytest.approx(0.3 / 0.9)
    assert negative + neutral + positive == pytest.approx(1.0)


def test_shared_alternative_at_the_deciding_position_is_split_in_proportion() -> None:
    logprobs = [tok("Negative", 0.5, ("Negative", 0.5), ("Ne", 0.2), ("Neutral", 0.2), ("The", 0.1))]
    # "Negative" decides at once: E = 0.5, S = "Ne" 0.2 (Negative or Neutral), O = "Neutral" 0.2.
    # Positive is unseen: at most the smallest listed alternative, "The" 0.1, so O = 0.2 + 0.1.
    # Shared mass goes to Negative in the proportion E / (E + O): (0.5 + 0.2 * 0.5 / 0.8) / 1.0
    # = E / (E + O) = 0.5 / 0.8 = 0.625 (not 0.5 / 1.0 = 0.5)
    assert label_probability(logprobs, "Negative", 0, NEG, SENTIMENT) == pytest.approx(0.5 / 0.8)


def test_label_that_prefixes_another_resolves_on_the_next_token() -> None:
    labels = [Label("Neutral", "Neutral"), Label("Neutral-ish", "Neutral-ish"), POS]
    logprobs = [
        tok("Neutral", 0.6, ("Neutral", 0.6), ("Pos", 0.3), ("The", 0.1)),
        tok('"', 0.8, ('"', 0.8), ("-ish", 0.2)),
    ]
    # Position 0: "Neutral" is a prefix of both Neutral and Neutral-ish: S = 0.6, O = "Pos" 0.3.
    # Position 1 after "neutral": '"' ends Neutral (E = 0.8); "-ish" spells Neutral-ish (O = 0.2).
    # f1 = 0.8 / 1.0 = 0.8; f0 = (0 + 0.6 * 0.8) / 0.9 = 0.533333
    content = 'Neutral"'
    assert label_probability(logprobs, content, 0, labels[0], labels) == pytest.approx(0.6 * 0.8 / 0.9)
    # If the response ends after "Neutral", the model chose to stop there: (E + S) / (E + S + O) = 0.6 / 0.9.
    assert label_probability(logprobs[:1], "Neutral", 0, labels[0], labels) == pytest.approx(0.6 / 0.9)


def test_multiple_choice_one_probability_per_label_and_the_minimum_for_the_control() -> None:
    content = '["Sports", "Politics"]'
    logprobs = [
        *spell('["'),
        tok("Sports", 0.8, ("Sports", 0.8), ("Politics", 0.1), ("Science", 0.05), ("]", 0.05)),
        *spell('",', ' "'),
        tok("Politics", 0.6, ("Politics", 0.6), ("Science", 0.3), ("Sports", 0.0001), ("]", 0.1)),
        *spell('"]'),
    ]
    # Sports at offset 2: 0.8 / (0.8 + 0.1 + 0.05) = 0.842105
    # Politics at offset 12: 0.6 / (0.6 + 0.3 + 0.0001) = 0.666593
    sports = label_probability(logprobs, content, 2, SPORTS, TOPICS)
    politics = label_probability(logprobs, content, 12, POLITICS, TOPICS)
    assert sports == pytest.approx(0.8 / 0.95)
    assert politics == pytest.approx(0.6 / 0.9001)
    assert control_confidence({"Sports": sports, "Politics": politics}) == politics


def test_chosen_token_missing_from_top_logprobs_uses_its_own_logprob() -> None:
    logprobs = [tok("Positive", 0.05, ("Negative", 0.6), ("Neutral", 0.3), ("I", 0.05))]
    # Positive is not listed: its own probability 0.05 is added.
    # P(Positive) = 0.05 / (0.05 + 0.6 + 0.3) = 0.052632
    assert label_probability(logprobs, "Positive", 0, POS, SENTIMENT) == pytest.approx(0.05 / 0.95)


def test_position_without_top_logprobs_gives_the_tokens_own_probability() -> None:
    logprobs = [tok("Positive", 0.4)]
    # Nothing to normalise against: the generated token's probability, 0.4.
    assert label_probability(logprobs, "Positive", 0, POS, SENTIMENT) == pytest.approx(0.4)


def test_typo_token_counts_for_the_label_the_parser_read() -> None:
    logprobs = [tok("Post", 0.3, ("Pos", 0.5), ("Post", 0.3), ("Neg", 0.1), ("Hmm", 0.1)), tok("ive", 0.9)]
    # "Post" spells no label but was generated and read as Positive: E = 0.5 + 0.3, O = "Neg" 0.1
    # plus the unseen Neutral's bound, the smallest listed 0.1. P(Positive) = 0.8 / 1.0 = 0.8
    assert label_probability(logprobs, "Postive", 0, POS, SENTIMENT) == pytest.approx(0.8)


def test_alias_tokens_are_credited_to_their_label() -> None:
    logprobs = [tok("pos", 0.6, ("pos", 0.6), ("Negative", 0.3), ("Neutral", 0.1))]
    # "pos" is the value (alias) of Positive. P = 0.6 / (0.6 + 0.3 + 0.1) = 0.6
    assert label_probability(logprobs, "pos", 0, POS, SENTIMENT) == pytest.approx(0.6)


def test_multibyte_characters_are_located_by_bytes() -> None:
    arrow = "→".encode()  # 3 bytes, split by the tokenizer into two tokens
    logprobs = [
        {"token": "bytes:\\xe2\\x86", "logprob": -0.1, "bytes": list(arrow[:2]), "top_logprobs": []},
        {"token": "\\x92", "logprob": -0.1, "bytes": list(arrow[2:]), "top_logprobs": []},
        tok(" Negative", 0.75, (" Negative", 0.75), (" Positive", 0.25)),
    ]
    # "→ Negative": the label starts at character 2 (byte 4), inside the " Negative" token.
    # Neutral unseen, bounded by 0.25: P(Negative) = 0.75 / (0.75 + 0.25 + 0.25) = 0.6
    assert label_probability(logprobs, "→ Negative", 2, NEG, SENTIMENT) == pytest.approx(0.6)


def test_unknown_position_gives_none() -> None:
    logprobs = [tok("Negative", 0.7, ("Negative", 0.7))]
    assert label_probability(logprobs, "Positive", 0, POS, SENTIMENT) is None  # tokens spell other text
    assert label_probability(logprobs, "Negative", None, NEG, SENTIMENT) is None  # parser could not place it
    assert label_probability(logprobs, "Negative xx", 9, NEG, SENTIMENT) is None  # tokens end before it


def test_sequence_means() -> None:
    logprobs = [tok("a", 0.5), tok("b", 0.25), tok("c", 1.0)]
    # arithmetic: (0.5 + 0.25 + 1.0) / 3 = 0.583333
    # geometric: (0.5 * 0.25 * 1.0) ** (1 / 3) = 0.125 ** (1 / 3) = 0.5
    arithmetic, geometric = sequence_means(logprobs)
    assert arithmetic == pytest.approx(1.75 / 3)
    assert geometric == pytest.approx(0.5)
    assert sequence_means([]) == (None, None)


def test_self_consistency_single_choice() -> None:
    samples = [{"sentiment": ["pos"]}] * 3 + [{"sentiment": ["Negative"]}, None]
    # 3 of 5 samples chose pos; the unreadable sample agrees with nothing: 3 / 5 = 0.6
    assert self_consistency(samples, {"sentiment": ["pos"]}) == {"sentiment": {"pos": 0.6}}


def test_self_consistency_multiple_choice_counts_each_label() -> None:
    samples = [
        {"topics": ["Sports", "Politics"]},
        {"topics": ["Sports"]},
        {"topics": ["Politics"]},
        {"topics": ["Sports"]},
    ]
    # Sports in 3 of 4 = 0.75; Politics in 2 of 4 = 0.5
    assert self_consistency(samples, {"topics": ["Sports", "Politics"]}) == {
        "topics": {"Sports": 0.75, "Politics": 0.5}
    }


def test_self_consistency_needs_samples() -> None:
    with pytest.raises(ValueError, match="at least one sampled answer"):
        self_consistency([], {"sentiment": ["pos"]})


def test_control_confidence_is_unknown_when_any_label_is() -> None:
    assert control_confidence({"a": 0.9, "b": 0.4}) == 0.4
    assert control_confidence({"a": 0.9, "b": None}) is None
    assert control_confidence({}) is None


def test_unseen_labels_are_bounded_by_the_smallest_listed_alternative() -> None:
    """The issue's case: a small model answering in prose put " positive" at p = 0.22 and no other
    label among its top 5. Before, the normalisation saw only Positive: confidence 1.0."""
    content = "The sentiment of the movie review is positive."
    logprobs = [
        *spell("The", " sentiment", " of", " the", " movie", " review", " is"),
        tok(" positive", 0.22, (" a", 0.30), (" positive", 0.22), (" very", 0.10), (" quite", 0.06), (" not", 0.04)),
        *spell("."),
    ]
    # Seen: Positive 0.22. Unseen: Negative and Neutral, each at most the smallest listed, 0.04.
    # P(Positive) >= 0.22 / (0.22 + 0.04 + 0.04) = 0.22 / 0.30 = 0.733333...
    offset = content.index("positive")
    assert label_probability(logprobs, content, offset, POS, SENTIMENT) == pytest.approx(0.22 / 0.30)
    # The label mass seen at that position: only Positive's 0.22 (the rest is prose).
    assert seen_label_mass(logprobs, content, offset, POS, SENTIMENT) == pytest.approx(0.22)


def test_one_unseen_label_among_seen_rivals() -> None:
    logprobs = [tok("Negative", 0.6, ("Negative", 0.6), ("Positive", 0.25), ("The", 0.1))]
    # Neutral unseen, bounded by the smallest listed 0.1 ("The", a non-label token still bounds it).
    # P(Negative) = 0.6 / (0.6 + 0.25 + 0.1) = 0.631578...
    assert label_probability(logprobs, "Negative", 0, NEG, SENTIMENT) == pytest.approx(0.6 / 0.95)
    assert seen_label_mass(logprobs, "Negative", 0, NEG, SENTIMENT) == pytest.approx(0.85)


def test_a_short_list_never_gives_certainty() -> None:
    # Only the generated label is listed: both rivals bounded by its own 0.9. 0.9 / (0.9 * 3) = 1/3.
    logprobs = [tok("Sports", 0.9, ("Sports", 0.9))]
    assert label_probability(logprobs, "Sports", 0, SPORTS, TOPICS) == pytest.approx(1 / 3)


def test_unseen_labels_at_a_shared_prefix_are_bounded_too() -> None:
    content = "Neutral"
    logprobs = [
        tok("Ne", 0.8, ("Ne", 0.8), ("Pos", 0.1)),
        tok("utral", 0.7, ("utral", 0.7), ("ither", 0.2)),
    ]
    # First position: Ne shared by Negative and Neutral (S = 0.8), Pos other (O = 0.1), nothing unseen.
    # Second: Negative ("gative") unseen there, bounded by the smallest listed 0.2; "ither" credits nothing.
    #   f = 0.7 / (0.7 + 0.2) = 0.777...;  P = (0 + 0.8 * f) / (0.8 + 0.1) = 0.691358...
    f = 0.7 / 0.9
    assert label_probability(logprobs, content, 0, NEU, SENTIMENT) == pytest.approx(0.8 * f / 0.9)
