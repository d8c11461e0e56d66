"""`emollm eval`: label maps, reports and resume after a kill."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert (
        0 <= metrics["score"]["ece"] <= 1
        and sum(b["n"] for b in metrics["score"]["calibration"]["bins"]) == 12
    )
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
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

    model = emollm.load(trained_ckpt)
    out, data = tmp_path / "ev", syn_data / "test.jsonl"
    first = ev.evaluate(model, data, out, batch_size=4, modes=("score",))
    rows = (out / "predictions.jsonl").read_text().splitlines()
    key = json.dumps({"key": ev.run_key(model, data, ("score",), 64, None)})
    calls = []
    original = ev.score_labels
    monkeypatch.setattr(
        ev, "score_labels", lambda m, batch, *a: calls.append(len(batch)) or original(m, batch, *a)
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
