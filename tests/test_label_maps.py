"""Versioned label maps: validation and application."""

from __future__ import annotations

import pytest

from emollm.evaluation.label_maps import load_label_map, map_records, parse_label_map
from emollm.labels import LABEL_SETS
from emollm.resources import resource_dir


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
