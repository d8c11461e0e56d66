"""`emollm eval`: label maps, reports and resume after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import emollm
from emollm.cli import main
from tests.conftest import emodb_labelled, is_png

ROOT = Path(__file__).resolve().parent.parent


def test_eval_with_label_map_writes_report_and_counts_drops(trained_ckpt, syn_data, tmp_path, capsys) -> None:
    data = emodb_labelled(syn_data, tmp_path / "emodb_like")
    out = tmp_path / "ev"
    args = ["eval", "--ckpt", str(trained_ckpt), "--data", str(data / "test.jsonl"), "--out", str(out)]
    assert main([*args, "--label-map", "emodb_to_synthetic4"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["label_map"]["dropped"] == {"boredom": 1} and metrics["label_map"]["kept"] == 12
    assert metrics["score"]["n"] == metrics["generate"]["n"] == 12
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    conf = [max(r["scores"].values()) for r in rows]  # ECE by hand: 10 equal-width bins of the top score
    bins = [
        [i for i, c in enumerate(conf) if b / 10 < c <= (b + 1) / 10 or (b == 0 and c == 0)]
        for b in range(10)
    ]
    ece = sum(len(ix) / 12 * abs(sum(rows[i]["scored_label"] == rows[i]["gold"] for i in ix) / len(ix)
                                  - sum(conf[i] for i in ix) / len(ix)) for ix in bins if ix)  # fmt: skip
    assert metrics["score"]["ece"] == pytest.approx(ece, abs=1e-6)
    assert sum(b["n"] for b in metrics["score"]["calibration"]["bins"]) == 12
    assert {r["gold"] for r in rows} <= {"neutral", "happy", "sad", "angry"} and all(
        "scores" in r for r in rows
    )
    report = (out / "report.md").read_text()
    assert "GENERATED DATA" in report and "emodb_to_synthetic4 v1" in report and "dropped 1" in report
    assert "--label-map emodb_to_synthetic4" in report  # the exact command is recorded
    for png in ("per_class_f1.png", "confusion_score.png", "confusion_generate.png", "reliability.png"):
        assert is_png(out / png), png
    assert (out / "report.html").read_text().count("<img") == 4
    assert "UAR 95% CI" in capsys.readouterr().out
    # without the map, EmoDB names other than "neutral" are unknown labels: reported bad, never guessed
    unmapped = _evaluate_unmapped(trained_ckpt, data, tmp_path)
    assert unmapped["n_bad_records"] == 10 and unmapped["score"]["n"] == 3
    assert main([*args, "--label-map", "meld_to_emorynlp"]) == 2  # maps into the wrong label space


def _evaluate_unmapped(ckpt: Path, data: Path, tmp_path: Path) -> dict:
    from emollm.checkpoint import load_checkpoint
    from emollm.evaluation.evaluate import evaluate

    return evaluate(load_checkpoint(ckpt), data / "test.jsonl", tmp_path / "ev2", report=False)


def test_eval_resumes_only_its_own_partial_predictions(trained_ckpt, syn_data, tmp_path, monkeypatch) -> None:
    import emollm.evaluation.evaluate as ev

    # fp32: the resumed batches differ in size, and bf16 sums change with the padding (fp32 here did not)
    model = emollm.load(trained_ckpt, precision="no")
    out, data = tmp_path / "ev", syn_data / "test.jsonl"
    first = ev.evaluate(model, data, out, batch_size=4, modes=("score",))
    rows = (out / "predictions.jsonl").read_text().splitlines()
    key = json.dumps({"key": ev.run_key(model, data, ("score",), 64, None)})
    calls = []
    original = ev.score_labels
    monkeypatch.setattr(
        ev, "score_labels", lambda m, batch, *a, **k: calls.append(len(batch)) or original(m, batch, *a, **k)
    )
    # killed after 7 predictions, in the middle of writing the 8th line
    (out / "predictions.partial.jsonl").write_text("\n".join([key, *rows[:7], rows[7][:25]]) + "\n")
    again = ev.evaluate(model, data, out, batch_size=4, modes=("score",))
    assert sum(calls) == 5 and again["score"] == first["score"] | {
        "seconds_per_sample": again["score"]["seconds_per_sample"]
    }
    # a partial file left by another checkpoint (or data file) is set aside, never mixed in
    calls.clear()
    (out / "predictions.partial.jsonl").write_text(
        "\n".join([json.dumps({"key": "another"}), *rows[:7]]) + "\n"
    )
    ev.evaluate(model, data, out, batch_size=4, modes=("score",))
    assert sum(calls) == 12 and (out / "predictions.partial.stale.jsonl").is_file()


@pytest.mark.slow
def test_bad_input_corpus_trains_evaluates_and_chats_around_the_bad_samples(
    tiny_lm, tmp_path, capsys
) -> None:
    from emollm.config import load_config
    from emollm.testing import make_tiny_wav2vec2
    from emollm.train import train
    from tests import bad_inputs

    data, good_ids, _ = bad_inputs.build(tmp_path)
    speech = make_tiny_wav2vec2(tmp_path / "w2v")
    media = [
        "modalities.video={encoder: fer2013, encoder_args: {num_frames: 2}, num_tokens: 1}",
        f"modalities.audio={{encoder: hf_audio, encoder_args: {{name_or_path: {speech}}}, num_tokens: 1}}",
        "modalities.sensor={encoder: physio, encoder_args: {channels: [ecg, eda]}, num_tokens: 1}",
    ]
    run = tmp_path / "run"
    cfg = load_config(None, [f"lm.name_or_path={tiny_lm}", f"data.train={data}", f"train.out_dir={run}",
                             "train.steps=2", "train.batch_size=2", *media])  # fmt: skip
    train(cfg)  # the bad samples are skipped and listed; the run finishes
    skipped = json.loads((run / "bad_samples.json").read_text())
    n_media = sum(p != "ok" for _, p in bad_inputs.MEDIA_CASES.values())
    assert len(skipped) == n_media + len(bad_inputs.RECORD_CASES)
    assert (
        main(["eval", "--ckpt", str(run / "final"), "--data", str(data), "--out", str(tmp_path / "ev")]) == 0
    )
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    usable = (
        len(good_ids) - 1 + sum(p == "ok" for _, p in bad_inputs.MEDIA_CASES.values())
    )  # good-0 is duplicated
    assert metrics["score"]["n"] == usable + 1  # the first good-0 line is kept, its duplicate reported
    assert metrics["n_dropped"] == {"bad_record": len(bad_inputs.RECORD_CASES), "bad_media": n_media}
    every = metrics["score"]["all_samples"]
    assert (
        every["n"] == usable + 1 + n_media
        and every["accuracy"] <= metrics["score"]["accuracy"] * (usable + 1) / every["n"] + 1e-9
    )
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "Not scored" in report and "bad_media" in report
    # chat: a bad file gets a message and the REPL goes on to the next question
    inputs = iter([f":audio {tmp_path / 'corpus/media/audio_silent.wav'}", "how do they feel?",
                   f":audio {tmp_path / 'corpus/media/good.wav'}", "how do they feel?", ":quit"])  # fmt: skip
    import builtins

    original = builtins.input
    builtins.input = lambda prompt="": next(inputs)
    try:
        assert main(["chat", "--ckpt", str(run / "final"), "--text", "hi"]) == 0
    finally:
        builtins.input = original
    out = capsys.readouterr().out
    assert "error:" in out and "audio is silent" in out and out.count("emollm>") == 1


def test_a_rationale_is_checked_against_the_cues_of_the_inputs_the_sample_has_now(trained_ckpt) -> None:
    from emollm.data.sample import Sample
    from emollm.evaluation.evaluate import _generated_rows

    model = emollm.load(trained_ckpt)
    measured = {"face": {"expression": "happy", "p": 0.8}, "physiology": {"hr": 80.0, "hr_change": 2.0},
                "voice": {"pitch": 30.0, "loudness": 1.0, "voiced_rate": 2.0, "z": {"pitch": 1.2}}, "missing": []}  # fmt: skip
    label = model.labels[0]
    text_only = Sample(id="t", labels={"emotion": label}, text="fine", meta={"measured": measured})
    clean = Sample(id="c", labels={"emotion": label}, text="fine", media={"video": "v", "audio": "a", "sensor": "s"},
                   meta={"measured": measured})  # fmt: skip
    absent = f"Emotion: {label}\nReason: No face video or voice or physiology available."
    cited = f"Emotion: {label}\nReason: Face mostly happy (p = 0.80); pitch high (+1.2 SD)."
    rows = [{"id": s.id} for s in (text_only, text_only, clean)]
    _generated_rows(model, rows, [text_only, text_only, clean], [absent, cited, cited], 0.0)
    # right: its inputs are gone
    assert rows[0]["rationale_problems"] == [] and rows[0]["rationale_absent"] == []
    # wrong: it cites a face and a voice it was not given
    assert rows[1]["rationale_absent"] and rows[1]["rationale_problems"]
    assert rows[2]["rationale_problems"] == [] and rows[2]["rationale_claims"] == 2
