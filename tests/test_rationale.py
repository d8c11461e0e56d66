"""Cue-grounded rationales: built only from measured cues, and the grounding check catches every kind of false claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emollm.config import load_config
from emollm.cues import describe, text_cues
from emollm.rationale import annotate_file, verify_rationale
from tests.conftest import ROOT, SHARED_DATA

CUES = {
    "face": {"expression": "happy", "p": 0.82},
    "voice": {
        "pitch": 30.1,
        "loudness": 0.5,
        "voiced_rate": 3.0,
        "z": {"pitch": 1.2, "loudness": -0.7, "voiced_rate": 0.1},
    },
    "physiology": {"hr": 84.2, "hr_change": 3.4, "scr": 6.0},
    "text": {"phrases": ["thrilled"]},
    "missing": [],
}


def test_describe_states_each_measured_cue_and_verifies() -> None:
    text = describe(CUES)
    assert text == ('Face mostly happy (p = 0.82); pitch high (+1.2 SD); loudness low (-0.7 SD); speaking rate typical '
                    '(+0.1 SD); heart rate 84 bpm (+3 bpm over the recording); 6 skin-conductance responses per minute; '
                    'the transcript says "thrilled".')  # fmt: skip
    assert verify_rationale(text, CUES, "I am thrilled!") == []
    only_text = {"text": {"phrases": []}, "missing": ["video", "audio"]}
    assert describe(only_text) == "No face video or voice available."
    assert verify_rationale(describe(only_text), only_text, "hello") == []


@pytest.mark.parametrize(
    "claim, problem",
    [
        ("Face mostly sad (p = 0.82).", "face claim"),
        ("Face mostly happy (p = 0.50).", "face claim"),
        ("Pitch low (+1.2 SD).", "voice claim"),
        ("Loudness low (-1.7 SD).", "voice claim"),
        ("Heart rate 95 bpm (+3 bpm over the recording).", "heart-rate claim"),
        ("12 skin-conductance responses per minute.", "SCR claim"),
        ('The transcript says "furious".', "not in the transcript"),
        ("No voice available.", "but it was present"),
        ("The voice sounds tense and the face is tight.", "cue words outside"),
    ],
)
def test_every_kind_of_false_claim_is_caught(claim: str, problem: str) -> None:
    problems = verify_rationale(claim, CUES, "I am thrilled!")
    assert problems and problem in " ".join(problems)


def test_claims_about_unmeasured_modalities_are_caught() -> None:
    no_face = {**CUES, "face": None, "missing": ["video"]}
    assert verify_rationale("Face mostly happy (p = 0.82).", no_face, "") != []
    assert verify_rationale("No face video available.", no_face, "") == []


def test_text_cues_match_whole_words_only() -> None:
    assert text_cues("I'm so thrilled, honestly. Oh no!")["phrases"] == ["thrilled", "Oh no"]
    assert text_cues("The madness of it") == {"phrases": []}
    assert text_cues(None) is None


def test_generated_corpus_rationales_are_all_grounded(tmp_path: Path) -> None:
    from emollm.data.synthetic import SyntheticSpec, generate

    generate(
        tmp_path / "d", SyntheticSpec(n_train=16, n_dev=2, n_test=2, media=True, seed=3, missing_rate=0.5)
    )
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", [])
    summary = annotate_file(
        cfg, tmp_path / "d" / "train.jsonl", tmp_path / "a" / "train.jsonl", tmp_path / "cache"
    )
    assert summary["annotated"] == 16 and summary["ungrounded"] == 0 and not summary["bad"]
    rows = [json.loads(x) for x in (tmp_path / "a" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        cues = row["meta"]["measured"]
        assert verify_rationale(row["rationale"], cues, row["text"]) == []
        present = set(row["media"])
        assert ("face" in cues) == ("video" in present) and ("voice" in cues) == ("audio" in present)
        assert (tmp_path / "a" / row["media"]["audio"]).is_file() if "audio" in present else True
    lacking = [r for r in rows if len(r["media"]) < 3]
    assert lacking and all(r["rationale"].rstrip(".").endswith("available") for r in lacking)


@pytest.mark.integration
@pytest.mark.skipif(not (SHARED_DATA / "emodb").is_dir(), reason="shared EmoDB not present (EMOLLM_DATA_DIR)")
def test_emodb_prosody_rationales_are_grounded(tmp_path: Path) -> None:
    from data_recipes.emodb import convert

    convert(str(SHARED_DATA), str(tmp_path / "emodb"))
    cfg = load_config(None, ["data.labels=emodb", "modalities.audio={encoder: egemaps}"])
    summary = annotate_file(cfg, tmp_path / "emodb" / "test.jsonl", tmp_path / "a.jsonl", tmp_path / "cache")
    assert summary["annotated"] == 127 and summary["ungrounded"] == 0
    rows = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    high = [r for r in rows if "pitch high" in r["rationale"].lower()]
    assert high and all(r["meta"]["measured"]["voice"]["z"]["pitch"] > 0.5 for r in high)


def test_an_unfinished_last_clause_is_not_checked() -> None:
    from emollm.evaluation.evaluate import complete_clauses

    cut = "Face mostly happy (p = 0.82); pitch high (+1.2 SD); heart rate 8"
    assert complete_clauses(cut) == "Face mostly happy (p = 0.82); pitch high (+1.2 SD)"
    assert verify_rationale(complete_clauses(cut), CUES, "") == []
    assert (
        complete_clauses("Pitch high (+1.") == ""
        and complete_clauses("Pitch low (-1.0 SD).") == "Pitch low (-1.0 SD)."
    )


def test_level_tolerance_accepts_right_levels_with_wrong_numbers_only() -> None:
    from emollm.rationale import grounding

    claims, problems = grounding(
        "Pitch high (+0.9 SD); face mostly happy (p = 0.50); heart rate 87 bpm (+5 bpm over the recording).",
        CUES,
    )
    assert claims == 3 and len(problems) == 3
    assert grounding(
        "Pitch high (+0.9 SD); face mostly happy (p = 0.50); heart rate 87 bpm (+5 bpm over the recording).",
        CUES,
        tolerance="levels",
    ) == (3, [])
    claims, problems = grounding(
        "Pitch low (-0.9 SD); face mostly sad (p = 0.82); the voice sounds odd.", CUES, tolerance="levels"
    )
    assert claims == 3 and len(problems) == 3


def test_rationales_of_the_remaining_inputs_and_claims_about_absent_ones() -> None:
    from emollm.cues import cues_without, rationale_without
    from emollm.rationale import absent_citations

    measured = {"face": {"expression": "happy", "p": 0.61}, "voice": {"pitch": 30.0, "loudness": 0.5, "voiced_rate": 2.0,
                "z": {"pitch": 1.2}}, "physiology": {"hr": 82.0, "hr_change": 3.0}, "missing": []}  # fmt: skip
    assert cues_without(measured, ["video", "sensor"]) == {
        "voice": measured["voice"],
        "missing": ["video", "sensor"],
    }
    text = rationale_without(measured, ["video", "sensor"])
    assert text == "Pitch high (+1.2 SD); no face video or physiology available."
    assert verify_rationale(text, cues_without(measured, ["video", "sensor"])) == []
    full = describe(measured)
    assert absent_citations(full, {"video", "audio", "sensor"}) == []
    cited = absent_citations(full, {"audio", "text"})
    assert len(cited) == 2 and any("face" in c for c in cited) and any("heart" in c for c in cited)


def test_modality_dropout_keeps_a_rationale_of_what_remains(tiny_cfg, syn_data) -> None:
    import json as _json

    from emollm.data.dataset import ModalityDropout, build_dataset
    from emollm.data.sample import load_samples
    from emollm.model.emollm import EmoLLM

    model = EmoLLM.from_config(tiny_cfg)
    samples, _ = load_samples(syn_data / "train.jsonl", model.labels)
    sample = next(s for s in samples if len(s.media) == 3)
    sample.meta["measured"] = {"face": {"expression": "sad", "p": 0.7}, "voice": {"pitch": 20.0, "loudness": 0.2,
                               "voiced_rate": 1.0, "z": {"pitch": -1.1}}, "physiology": {"hr": 70.0, "hr_change": -2.0},
                               "missing": []}  # fmt: skip
    ds, _ = build_dataset([sample], model.tokenizer, model.template, model.tokens, model.labels, 512)
    torch.manual_seed(0)
    row = ModalityDropout(0.999, model.tokenizer, model.template, model.tokens, model.labels)(ds[0])
    answer = model.tokenizer.decode(row["input_ids"][row["prompt_len"] :], skip_special_tokens=True)
    kept = _json.loads(row["media"])
    assert len(kept) == 0 and sample.text  # everything dropped but the transcript
    assert "face mostly" not in answer and "heart rate" not in answer and "pitch" not in answer
    assert "no face video or voice or physiology available" in answer.lower()
