"""`emollm extract`: bad samples reported, good ones cached, training reads the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.slow
def test_bad_input_corpus_every_class_reported_every_good_sample_kept(tmp_path: Path, capsys) -> None:
    from emollm.testing import make_tiny_wav2vec2
    from tests import bad_inputs

    data, good_ids, expected = bad_inputs.build(tmp_path)
    speech = make_tiny_wav2vec2(tmp_path / "w2v")
    argv = ["extract", "--data", str(data), "--cache", str(tmp_path / "cache"),
            "modalities.video={encoder: fer2013, encoder_args: {num_frames: 2}}",
            f"modalities.audio={{encoder: hf_audio, encoder_args: {{name_or_path: {speech}}}}}",
            "modalities.sensor={encoder: physio, encoder_args: {channels: [ecg, eda]}}"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads(Path(summary["bad_report"]).read_text())
    assert all("\n" not in r["reason"] for r in report)
    for name, (modality, phrase) in bad_inputs.MEDIA_CASES.items():
        about = [r for r in report if r["sample"] == name]
        if phrase == "ok":  # unusual but valid: processed, not reported
            assert not about, (name, about)
        else:  # one line naming the sample's file and the problem
            assert len(about) == 1 and about[0]["modality"] == modality, (name, about)
            assert phrase in about[0]["reason"] and Path(about[0]["file"]).name in about[0]["reason"], about
    for name, phrase in bad_inputs.RECORD_CASES.items():
        hits = [r for r in report if phrase in r["reason"]]
        assert len(hits) == (2 if "corpus root" in phrase else 1), (name, hits)
        assert all(f"split.jsonl:{h['line']}:" in h["reason"] for h in hits)  # the file and line it came from
    reported = {r["sample"] for r in report}
    assert not reported & set(good_ids) - {"good-0"} and "good-0" in [
        r.get("sample") for r in report if "duplicate" in r["reason"]
    ]
    n_media = {
        m: sum(1 for v in bad_inputs.MEDIA_CASES.values() if v[0] == m) for m in ("video", "audio", "sensor")
    }
    for modality, stats in summary[
        "modalities"
    ].items():  # the good clip once (same file), plus each usable bad one
        usable_bad = sum(1 for n, (m, p) in bad_inputs.MEDIA_CASES.items() if m == modality and p == "ok")
        failed = sum(1 for r in report if r.get("modality") == modality)
        assert (
            stats["samples"] - failed
            == len(good_ids) + usable_bad + sum(n_media.values()) - n_media[modality]
        )
    assert len(expected) >= 20
