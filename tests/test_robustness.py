"""`emollm robustness`: conditions, reports and refused baselines."""

from __future__ import annotations

import json

import pytest

from emollm.cli import main
from tests.conftest import is_png


def test_robustness_conditions_and_report(media_ckpt, tmp_path, capsys) -> None:
    from emollm.baselines import run_baselines
    from emollm.config import load_config

    ckpt, data = media_ckpt
    run_baselines(load_config(ckpt.parent / "config.yaml"), data, tmp_path / "bl", ("early",))
    only = ["without:", "only:", "audio_noise=0", "audio_delay=1.0", "video_blur=4", "video_occlude=0.5",
            "video_drop_frames=0.5", "sensor_flat=eda", "sensor_spikes=2.0"]  # fmt: skip
    argv = ["robustness", "--ckpt", str(ckpt), "--baseline", str(tmp_path / "bl" / "early"), "--baseline",
            str(tmp_path / "bl" / "early"), "--data",
            str(data / "test.jsonl"), "--out", str(tmp_path / "rb"), "--cache", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv + [a for o in only for a in ("--only", o)]) == 0
    summary = json.loads((tmp_path / "rb" / "robustness.json").read_text())
    assert (
        set(summary["systems"]) == {"llm", "baseline-early", "baseline-early-2"}
        and "text" in summary["inputs"]
    )
    names = {r["name"]: r for r in summary["systems"]["llm"]["conditions"]}
    assert {"clean", "without:video", "without:audio", "without:sensor", "without:text", "only:video"} <= set(
        names
    )
    assert {
        "audio_noise=0",
        "video_blur=4",
        "sensor_flat=eda",
        "sensor_spikes=2.0",
        "audio_delay=1.0",
    } <= set(names)
    assert all(r["n"] == 6 and r["skipped"] == 0 for r in names.values())
    assert names["clean"]["delta_uar"] == 0 and all("delta_uar" in r for r in names.values())
    assert names["clean"]["delta_uar_ci95"] is None
    for r in (r for r in names.values() if r["name"] != "clean"):
        lo, hi = r["delta_uar_ci95"]  # paired: the same 6 samples, clean vs condition
        assert -1 <= lo <= hi <= 1 and r["delta_uar_significant"] == (lo > 0 or hi < 0)
    # the baseline reads no text: text conditions are not run for it, text-only leaves it nothing to read
    base = {r["name"]: r for r in summary["systems"]["baseline-early"]["conditions"]}
    assert "without:text" not in base and summary["systems"]["baseline-early"]["inputs"] == [
        "video",
        "audio",
        "sensor",
    ]
    assert "uar" not in base["only:text"] and base["only:text"]["skipped"] == 6
    assert base["clean"]["n"] == 6 and base["without:video"]["n"] == 6 and "uar" in base["video_blur=4"]
    cond = tmp_path / "rb" / "conditions"
    noisy = [json.loads(x) for x in (cond / "audio_noise=0" / "data.jsonl").read_text().splitlines()]
    assert all(r["media"]["audio"].startswith("media/") for r in noisy)
    without = [json.loads(x) for x in (cond / "without_video" / "data.jsonl").read_text().splitlines()]
    assert all("video" not in r["media"] for r in without)
    # both systems scored the same perturbed files
    llm_rows = (cond / "video_blur=4" / "llm" / "data.jsonl").read_text()
    assert llm_rows == (cond / "video_blur=4" / "baseline-early" / "data.jsonl").read_text()
    report = (tmp_path / "rb" / "report.md").read_text()
    assert is_png(tmp_path / "rb" / "modalities.png") and "GENERATED DATA" in report
    assert "ΔUAR 95% CI (paired)" in report
    assert "UAR per condition" in report and "baseline-early" in report and "no input (6 skipped)" in report
    printed = capsys.readouterr().out
    assert "baseline-early" in printed and "no input" in printed
    stamp = (cond / "clean" / "llm" / "metrics.json").stat().st_mtime_ns
    assert main(argv + ["--only", "without:"]) == 0  # a rerun reuses finished conditions
    assert (cond / "clean" / "llm" / "metrics.json").stat().st_mtime_ns == stamp


def test_robustness_refuses_regression_baselines_by_name(tmp_path) -> None:
    from emollm.experiments.robustness import baseline_system

    folder = tmp_path / "early"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "baseline.json").write_text(json.dumps({"format": 1, "fusion": "early", "task": "regression"}))
    with pytest.raises(
        ValueError, match="early: robustness scores classification baselines; this one is a regression"
    ):
        baseline_system(folder)
    with pytest.raises(FileNotFoundError, match="not a saved baseline"):
        baseline_system(tmp_path)
