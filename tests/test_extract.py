"""`emollm extract`: bad samples reported, good ones cached, training reads the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emollm.cli import main
from emollm.testing import write_sensor_csv


def test_extract_cli_reports_bad_samples_and_keeps_good_ones(tmp_path: Path, capsys) -> None:
    rate = 50
    t = np.arange(10 * rate) / rate
    good = {"ecg": np.sin(2 * np.pi * 1.2 * t) ** 20, "eda": 5 + 0.1 * np.sin(t)}
    write_sensor_csv(tmp_path / "good.csv", rate, good)
    nan = dict(good, eda=good["eda"].copy())
    nan["eda"][10] = np.nan
    write_sensor_csv(tmp_path / "nan.csv", rate, nan)
    write_sensor_csv(tmp_path / "short.csv", rate, {k: v[:20] for k, v in good.items()})
    rows = [
        {"id": f"s{i}", "labels": {"emotion": "happy"}, "media": {"sensor": name}}
        for i, name in enumerate(["good.csv", "nan.csv", "short.csv"])
    ]
    rows.append({"id": "s3", "labels": {"emotion": "happy"}, "media": {"sensor": "missing.csv"}})
    (tmp_path / "split.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    argv = [
        "extract",
        "--data",
        str(tmp_path / "split.jsonl"),
        "--cache",
        str(tmp_path / "cache"),
        "modalities.sensor={encoder: physio, encoder_args: {channels: [ecg, eda]}}",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["modalities"]["sensor"]["computed"] == 1 and summary["bad"] == 3
    report = {r["sample"]: r for r in json.loads(Path(summary["bad_report"]).read_text())}
    assert "has 1 NaN/inf values" in report["s1"]["reason"] and report["s1"]["file"].endswith("nan.csv")
    assert "shorter than" in report["s2"]["reason"]
    assert "sensor file not found" in report["s3"]["reason"]
    assert main(argv) == 0  # second run: a cache hit, nothing decoded
    again = json.loads(capsys.readouterr().out)["modalities"]["sensor"]
    assert again["cache_hits"] == 1 and again["computed"] == 0


def test_training_reads_the_cache(tiny_lm, syn_data, tmp_path) -> None:
    from emollm.config import load_config
    from emollm.extract import extract
    from emollm.train import train
    from tests.conftest import tiny_overrides

    cfg = load_config(
        None,
        tiny_overrides(
            tiny_lm, syn_data, tmp_path / "run", train__steps=2, data__cache_dir=str(tmp_path / "cache")
        ),
    )
    summary = extract(cfg, syn_data / "train.jsonl", tmp_path / "cache")
    assert all(m["computed"] > 0 for m in summary["modalities"].values())
    train(cfg)
    assert all(
        extract(cfg, syn_data / "train.jsonl", tmp_path / "cache")["modalities"][m]["computed"] == 0
        for m in cfg.modalities
    )
