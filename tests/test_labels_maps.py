"""Label taxonomy, valence/arousal normalisation and the versioned label maps in eval/label_maps/."""

from __future__ import annotations

import pytest

from emollm.evaluation.label_maps import load_label_map, map_records, parse_label_map
from emollm.labels import LABEL_SETS, canonical_of, circumplex_quadrant, normalise_va, synonyms
from emollm.resources import resource_dir


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


@pytest.mark.parametrize("path", sorted(resource_dir("label_maps").glob("*.yaml")), ids=lambda p: p.stem)
def test_committed_label_maps_are_valid(path) -> None:
    lmap = load_label_map(path.stem)
    assert lmap.name == path.stem and lmap.version >= 1
    assert set(lmap.mapping) == set(LABEL_SETS[lmap.source])


def test_label_map_validation_names_the_problem() -> None:
    good = {"name": "x", "version": 1, "source": "emodb", "target": "meld",
            "map": {"anger": "anger", "boredom": None, "disgust": "disgust", "fear": "fear",
                    "happiness": "joy", "neutral": "neutral", "sadness": "sadness"}}  # fmt: skip
    parse_label_map(good, "good")
    missing = {**good, "map": {k: v for k, v in good["map"].items() if k != "fear"}}
    with pytest.raises(ValueError, match=r"missing \['fear'\]"):
        parse_label_map(missing, "m")
    with pytest.raises(ValueError, match="not meld labels"):
        parse_label_map({**good, "map": {**good["map"], "fear": "scared"}}, "t")
    silent = {**good, "map": {**good["map"], "boredom": "neutral"}}
    with pytest.raises(ValueError, match="declare it under approximations"):
        parse_label_map(silent, "s")
    parse_label_map({**silent, "approximations": {"boredom": "low arousal, no MELD counterpart"}}, "ok")


def test_map_records_drops_with_counts_or_keeps_other() -> None:
    lmap = load_label_map("emorynlp_to_meld")
    records = [
        {"id": str(i), "labels": {"emotion": e}}
        for i, e in enumerate(["joyful", "peaceful", "mad", "powerful", "peaceful"])
    ]
    kept, dropped = map_records(records, lmap)
    assert [r["labels"]["emotion"] for r in kept] == ["joy", "anger"] and dropped == {
        "peaceful": 2,
        "powerful": 1,
    }
    assert kept[0]["meta"] == {"source_label": "joyful", "label_map": "emorynlp_to_meld@v1"}
    lmap.unmapped = "other"
    kept, dropped = map_records(records, lmap)
    assert [r["labels"]["emotion"] for r in kept].count("other") == 3 and not dropped
    with pytest.raises(ValueError, match="not a emorynlp label"):
        map_records([{"id": "z", "labels": {"emotion": "joy"}}], lmap)
