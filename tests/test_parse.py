"""The answer parser: examples and hypothesis properties; never a default label."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emollm.labels import LABEL_SETS, synonyms
from emollm.parse import parse_answer
from emollm.prompts import load_template

LABELS = ("neutral", "happy", "sad", "angry")

SETS = sorted(LABEL_SETS)

TEMPLATE = load_template("emotion_default")


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Emotion: happy\nReason: smiling face.", "happy"),
        ("emotion - ANGRY. Reason: loud voice", "angry"),
        ("Emotion: **sadness**", "sad"),  # synonym in the label set's table
        ("The person looks happy.", "happy"),  # one unambiguous label word
        ("Emotion: confused", None),  # strict pattern with a non-label: unparsed, not neutral
        ("Emotion: unclear\nEmotion: sad", "sad"),  # the first pattern that names a label
        ("Not happy at all.", None),  # a negated label word claims nothing
        ("She isn't sad, she is angry.", "angry"),
        ("I would not say he is happy.", None),
        ("They seem happy or maybe sad.", None),  # ambiguous
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_answer(answer: str, label: str | None) -> None:
    assert parse_answer(answer, LABELS, "synthetic4").label == label


def test_parse_says_how_the_label_was_read() -> None:
    assert parse_answer("Emotion: sad", LABELS, "synthetic4").via == "pattern"
    assert parse_answer("The person looks happy.", LABELS, "synthetic4").via == "word"
    assert parse_answer("Emotion: confused. They look happy.", LABELS, "synthetic4").via == "none"


def test_parse_keeps_rationale() -> None:
    parsed = parse_answer("Emotion: sad\nReason: low pitch and frowning.", LABELS, "synthetic4")
    assert parsed.rationale == "low pitch and frowning."


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SETS), st.data())
def test_round_trip_of_the_answer_format(label_set: str, data: st.DataObject) -> None:
    labels = LABEL_SETS[label_set]
    label = data.draw(st.sampled_from(labels))
    rationale = data.draw(
        st.text(alphabet=st.characters(codec="ascii", exclude_characters=":\n"), max_size=60)
    )
    parsed = parse_answer(TEMPLATE.format_answer(label, rationale or None), labels, label_set)
    assert parsed.label == label


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SETS), st.text(max_size=120))
def test_any_text_parses_to_a_label_of_the_set_or_none(label_set: str, text: str) -> None:
    labels = LABEL_SETS[label_set]
    assert parse_answer(text, labels, label_set).label in (*labels, None)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SETS), st.text(alphabet="0123456789 .,;!?-\n", max_size=80))
def test_text_without_words_is_unparsed_never_neutral(label_set: str, text: str) -> None:
    assert parse_answer(text, LABEL_SETS[label_set], label_set).label is None


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SETS), st.data())
def test_two_different_label_words_without_the_pattern_are_ambiguous(
    label_set: str, data: st.DataObject
) -> None:
    labels = LABEL_SETS[label_set]
    a, b = data.draw(st.lists(st.sampled_from(labels), min_size=2, max_size=2, unique=True))
    assert parse_answer(f"maybe {a} or {b}", labels, label_set).label is None


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([s for s in SETS if synonyms(s)]), st.data())
def test_synonyms_map_to_their_label(label_set: str, data: st.DataObject) -> None:
    word, label = data.draw(st.sampled_from(sorted(synonyms(label_set).items())))
    assert parse_answer(f"Emotion: {word.upper()}", LABEL_SETS[label_set], label_set).label == label
