"""Measured cues given to the model as text (`prompts/emotion_compact_measured.yaml`): the prompt states only the cues of the
inputs a sample has, a removed input takes its cues with it (training dropout, robustness, chat toggles), chat and
evaluation measure them when a sample has none, and a sample without them under that template is a clear error."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from emollm.cues import cues_of_inputs, describe
from emollm.data.dataset import prompt_cues, sample_messages
from emollm.data.sample import Sample
from emollm.prompts import load_template, parse_template

LABELS = ("neutral", "happy", "sad", "angry")
MEASURED = {"face": {"expression": "sad", "p": 0.7}, "text": {"phrases": ["sorry"]},
            "voice": {"pitch": 20.0, "loudness": 0.2, "voiced_rate": 1.0, "z": {"pitch": -1.1}},
            "physiology": {"hr": 70.0, "hr_change": -2.0}, "missing": []}  # fmt: skip


def _sample(media: dict[str, str], text: str | None = "I'm so sorry.") -> Sample:
    return Sample(id="s1", labels={"emotion": "sad"}, text=text, media=media, meta={"measured": MEASURED})


def test_the_prompt_states_only_the_cues_of_present_inputs() -> None:
    t = load_template("emotion_compact_measured")
    full = prompt_cues(_sample({"video": "v", "audio": "a", "sensor": "s"}), t, ("video", "audio", "sensor"))
    assert full == describe(MEASURED) and "Face mostly sad (p = 0.70)" in full and "heart rate 70 bpm" in full
    no_face = prompt_cues(_sample({"audio": "a", "sensor": "s"}, text=None), t, ("video", "audio", "sensor"))
    assert (
        "face mostly" not in no_face.lower()
        and "transcript" not in no_face
        and "no face video available" in no_face
    )
    # a modality the model has no encoder for is not named missing
    assert cues_of_inputs(MEASURED, {"audio"}, ("audio",), True)["missing"] == []
    assert (
        prompt_cues(_sample({}), load_template("emotion_compact"), ()) is None
    )  # templates without the line


def test_the_measured_line_sits_in_the_user_turn_and_is_validated() -> None:
    t = load_template("emotion_compact_measured")
    msg = t.user_message(
        LABELS, {"video": "<V>"}, "Hi", modalities=("video",), cues="Face mostly happy (p = 0.90)."
    )
    assert msg.splitlines()[:3] == ["Face: <V>", '"Hi"', "Measured: Face mostly happy (p = 0.90)."]
    data = dict(t.source, measured="Measured: {values}")
    with pytest.raises(ValueError, match="measured needs"):
        parse_template(data, "t.yaml")


def test_a_sample_without_measured_cues_is_a_clear_error(tiny_cfg) -> None:
    from emollm.model.emollm import EmoLLM

    model = EmoLLM.from_config(dataclasses.replace(tiny_cfg))
    sample = dataclasses.replace(_sample({}), meta={})
    with pytest.raises(ValueError, match="sample s1: .*no meta.measured"):
        sample_messages(
            sample, load_template("emotion_compact_measured"), model.tokens, model.labels, with_answer=False
        )


def test_modality_dropout_removes_dropped_cues_from_prompt_and_answer(tiny_cfg, syn_data) -> None:
    from emollm.data.dataset import ModalityDropout, build_dataset
    from emollm.data.sample import load_samples
    from emollm.model.emollm import EmoLLM

    model = EmoLLM.from_config(tiny_cfg)
    template = load_template("emotion_compact_measured")
    samples, _ = load_samples(syn_data / "train.jsonl", model.labels)
    sample = next(s for s in samples if len(s.media) == 3)
    sample.meta["measured"], sample.rationale = MEASURED, describe(MEASURED)
    ds, _ = build_dataset([sample], model.tokenizer, template, model.tokens, model.labels, 1024)
    full = model.tokenizer.decode(ds[0]["input_ids"], skip_special_tokens=True).lower()
    assert full.count("face mostly sad") == 2  # prompt and answer
    torch.manual_seed(0)
    row = ModalityDropout(0.999, model.tokenizer, template, model.tokens, model.labels)(ds[0])
    text = model.tokenizer.decode(row["input_ids"], skip_special_tokens=True).lower()
    assert json.loads(row["media"]) == {} and "face mostly" not in text and "heart rate" not in text
    assert text.count("no face video or voice or physiology available") == 2


def test_chat_and_eval_measure_the_cues_of_raw_inputs(media_ckpt, tmp_path) -> None:
    from emollm.config import load_config
    from emollm.evaluation.evaluate import evaluate
    from emollm.generate import _prompt_ids, input_sample
    from emollm.model.emollm import EmoLLM

    ckpt, data = media_ckpt
    model = EmoLLM.from_config(load_config(ckpt / "config.yaml", ["data.prompt=emotion_compact_measured"]))
    first = json.loads((data / "test.jsonl").read_text().splitlines()[0])
    media = {m: str(data / ref) for m, ref in first["media"].items()}
    sample, info = input_sample(model, None, {"video": media["video"], "sensor": media["sensor"]})
    assert set(info["measured"]) >= {"face", "physiology"} and "voice" not in info["measured"]
    prompt = model.tokenizer.decode(_prompt_ids(model, sample))
    assert "Measured: Face mostly" in prompt and "no voice available" in prompt and "pitch" not in prompt
    unannotated = tmp_path / "test.jsonl"  # records without meta.measured: evaluation measures them
    unannotated.write_text("".join(json.dumps({**json.loads(x), "meta": {}, "media": {m: str(data / r)
                           for m, r in json.loads(x)["media"].items()}}) + "\n"
                           for x in (data / "test.jsonl").read_text().splitlines()[:2]))  # fmt: skip
    metrics = evaluate(
        model, unannotated, tmp_path / "eval", modes=("score",), report=False, media_roots=[data]
    )
    assert metrics["score"]["n"] == 2 and metrics["n_bad_media"] == 0
