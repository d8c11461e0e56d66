"""Prompt templates as data: paraphrases, dialogue context, valence/arousal answers, explain-then-answer; the
parser reads every answer format a template writes."""

from __future__ import annotations

import json

import pytest

from emollm.parse import parse_answer, parse_va
from emollm.prompts import load_template, parse_template
from emollm.resources import resource_dir

LABELS = ("neutral", "happy", "sad", "angry")


@pytest.mark.parametrize("name", sorted(p.stem for p in resource_dir("prompts").glob("emotion_*.yaml")))
def test_every_template_loads_and_its_answers_parse(name: str) -> None:
    t = load_template(name)
    assert t.instructions and all("{labels}" in i for i in t.instructions)
    assert len(t.instructions) >= 3 or "compact" in name  # paraphrases, except in the short prompts
    answer = t.format_answer("sad", "Pitch low (-1.2 SD); face mostly sad (p = 0.61).", (-0.5, -0.25))
    parsed = parse_answer(answer, LABELS, "synthetic4")
    assert parsed.label == "sad" and parsed.rationale == "Pitch low (-1.2 SD); face mostly sad (p = 0.61)."
    assert (parse_va(answer) == (-0.5, -0.25)) == bool(t.answer_va)
    assert t.to_yaml() and load_template(resource_dir("prompts") / f"{name}.yaml").name == name


def test_dialogue_context_and_missing_modalities_in_the_user_turn() -> None:
    t = load_template("emotion_dialogue")
    msg = t.user_message(LABELS, {"audio": "<A>"}, "Oh my God!", 1, context=["Ross: Hi.", "Rachel: Hey."])
    assert msg.startswith("Earlier in the conversation:\nRoss: Hi.\nRachel: Hey.\nVoice: <A>")
    assert "Not available: video, sensor." in msg and "neutral, happy, sad, angry" in msg
    assert "Earlier" not in load_template("emotion_default").user_message(LABELS, {}, "x", 0, context=["a"])


def test_compact_prompt_names_only_the_models_missing_inputs() -> None:
    t = load_template("emotion_compact")
    text_only = t.user_message(LABELS, {}, "Oh my God!", modalities=())
    assert text_only == '"Oh my God!"\nEmotion (neutral, happy, sad, angry)?'
    assert "No video." in t.user_message(LABELS, {"audio": "<A>"}, None, modalities=("video", "audio"))
    assert "No video, sensor." in t.user_message(
        LABELS, {"audio": "<A>"}, None
    )  # unknown model: all modalities


def test_template_validation_names_the_problem() -> None:
    data = json.loads(json.dumps(load_template("emotion_va").source))
    data["answer_va"] = "Valence: {valence}"
    with pytest.raises(ValueError, match="answer_va needs"):
        parse_template(data, "t.yaml")
    del data["answer"]
    with pytest.raises(ValueError, match="missing keys answer"):
        parse_template(data, "t.yaml")


def test_va_parser_rejects_out_of_range_and_absent_values() -> None:
    assert parse_va("Emotion: sad\nValence: -0.40, arousal: +0.10") == (-0.4, 0.1)
    assert parse_va("Valence: 3, arousal: 0") is None and parse_va("Emotion: sad") is None


def test_training_with_va_template_stores_it_and_eval_scores_va(tiny_lm, syn_data, tmp_path) -> None:
    from emollm.checkpoint import load_checkpoint
    from emollm.config import load_config
    from emollm.data.dataset import sample_messages
    from emollm.data.sample import load_samples
    from emollm.evaluation.evaluate import evaluate
    from emollm.train import train
    from tests.conftest import tiny_overrides

    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__prompt="emotion_va"))
    model = load_checkpoint(train(cfg))
    sample = load_samples(syn_data / "train.jsonl", LABELS)[0][0]
    target = sample_messages(sample, model.template, model.tokens, LABELS, with_answer=True)[-1]["content"]
    assert parse_va(target) == pytest.approx((sample.labels["valence"], sample.labels["arousal"]), abs=0.006)
    assert model.template.name == "emotion_va" and model.template.answer_va
    metrics = evaluate(model, syn_data / "test.jsonl", tmp_path / "ev", modes=("generate",), report=False)
    va = metrics["generate"]["valence_arousal"]
    rows = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    unreadable = sum(
        parse_va(r["answer"]) is None for r in rows
    )  # a 6-step tiny model rarely writes valid VA yet
    assert va["n"] == 12 and va["unparsed_rate"] == pytest.approx(unreadable / 12)
