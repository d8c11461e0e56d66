"""Saved fusion baselines score like they did in training."""

from __future__ import annotations

import json

from emollm.cli import main
from tests.conftest import is_png, tiny_overrides


def test_saved_baseline_evaluates_like_it_scored_in_training(tiny_lm, syn_data, tmp_path, capsys) -> None:
    from emollm.baselines import run_baselines
    from emollm.config import load_config

    cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__cache_dir=tmp_path / "cache")
    )
    run_baselines(cfg, syn_data, tmp_path / "bl", ("early", "late"))
    assert main(["eval", "--baseline", str(tmp_path / "bl" / "early"), "--data", str(syn_data / "test.jsonl"),
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
    trained = [
        json.loads(x) for x in (tmp_path / "bl" / "early" / "predictions.jsonl").read_text().splitlines()
    ]
    again = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert [r["predicted"] for r in trained] == [r["predicted"] for r in again]
    for a, b in zip(trained, again, strict=True):
        assert all(abs(a["scores"][k] - b["scores"][k]) < 1e-5 for k in a["scores"])
    assert is_png(tmp_path / "ev" / "confusion_score.png")
    assert main(["eval", "--baseline", str(tmp_path / "bl"), "--data", str(syn_data / "test.jsonl"),
                 "--out", str(tmp_path / "x")]) == 2  # not a saved baseline folder  # fmt: skip
    assert main(["eval", "--data", str(syn_data / "test.jsonl"), "--out", str(tmp_path / "x")]) == 2
