"""Label sets, the canonical taxonomy and valence/arousal normalisation."""

from __future__ import annotations

import pytest

from emollm.labels import LABEL_SETS, canonical_of, circumplex_quadrant, normalise_va, synonyms


def test_every_label_has_a_canonical_concept_and_synonyms_are_unambiguous() -> None:
    for name, labels in LABEL_SETS.items():
        concepts = [canonical_of(name, lab) for lab in labels]
        assert len(set(concepts)) == len(labels), f"{name}: two labels share a concept"
        for word, label in synonyms(name).items():
            assert label in labels and word not in labels
    assert canonical_of("meld", "joy") == canonical_of("emodb", "happiness") == "happiness"
    assert synonyms("emorynlp")["calm"] == "peaceful" and "calm" not in synonyms("synthetic4")


def test_valence_arousal_normalisation_and_quadrants() -> None:
    assert (
        normalise_va("deap", 1) == -1.0 and normalise_va("deap", 9) == 1.0 and normalise_va("deap", 5) == 0.0
    )
    assert normalise_va("iemocap", 2.5) == -0.25 and normalise_va("mosi", -3) == -1.0
    assert normalise_va("dreamer", 7) == 1.0  # out-of-range ratings are clipped
    with pytest.raises(KeyError, match="no valence/arousal range"):
        normalise_va("meld", 1)
    with pytest.raises(ValueError, match="NaN"):
        normalise_va("deap", float("nan"))
    assert [circumplex_quadrant(v, a, 5) for v, a in [(7, 7), (7, 3), (3, 7), (5, 5)]] == [
        "excited", "relaxed", "tense", "depressed"
    ]  # fmt: skip
