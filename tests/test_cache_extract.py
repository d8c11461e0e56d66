"""Feature cache (hits, invalidation, corruption) and `emollm extract` (bad samples reported, good ones kept)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emollm.cli import main
from emollm.encoders import build_encoder
from emollm.encoders.cache import CachedEncoder, FeatureCache
from emollm.testing import write_sensor_csv


def _encoder_and_files(tmp_path: Path) -> tuple[object, list[Path]]:
    enc = build_encoder("random_mlp", "audio", in_dim=4, dim=6, seed=0)
    files = []
    for i in range(3):
        np.save(tmp_path / f"x{i}.npy", np.full((i + 2, 4), float(i), np.float32))
        files.append(tmp_path / f"x{i}.npy")
    return enc, files


def test_cache_hits_persist_and_content_changes_invalidate(tmp_path: Path, monkeypatch) -> None:
    enc, files = _encoder_and_files(tmp_path)
    cached = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint(), shard_size=2))
    first = [cached.features(f) for f in files]
    cached.cache.flush()
    assert (cached.hits, cached.misses) == (0, 3)
    assert len(list((tmp_path / "cache" / enc.fingerprint()).glob("shard-*.safetensors"))) == 2
    calls = []
    monkeypatch.setattr(enc, "prepare", lambda ref: calls.append(ref) or np.zeros((1, 4), np.float32))
    again = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint()))
    for a, f in zip(first, files, strict=True):
        np.testing.assert_array_equal(again.features(f), a)
    assert again.hits == 3 and calls == []  # a warm cache decodes nothing
    np.save(files[0], np.full((2, 4), 9.0, np.float32))  # same path, new content
    again.features(files[0])
    assert calls == [files[0]]
    other = build_encoder("random_mlp", "audio", in_dim=4, dim=6, seed=1)
    assert other.fingerprint() != enc.fingerprint()  # another encoder reads its own folder


def test_corrupted_shard_and_bad_checksum_are_recomputed_not_used(tmp_path: Path) -> None:
    enc, files = _encoder_and_files(tmp_path)
    cache = FeatureCache(tmp_path / "cache", enc.fingerprint())
    cached = CachedEncoder(enc, cache)
    want = cached.features(files[1])
    cache.flush()
    shard = next(cache.dir.glob("shard-*.safetensors"))
    shard.write_bytes(b"garbage" + shard.read_bytes()[40:])
    fresh = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint()))
    np.testing.assert_allclose(fresh.features(files[1]), want)
    assert fresh.misses == 1 and shard.with_name(shard.name + ".corrupt").exists() and not shard.exists()
    fresh.cache.flush()
    index = json.loads(fresh.cache.index_path.read_text())
    key = next(iter(index))
    index[key]["checksum"] = "0" * 16
    fresh.cache.index_path.write_text(json.dumps(index))
    third = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint()))
    third.features(files[1])
    assert third.misses == 1


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


def test_cache_key_depends_on_content_not_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.ones((2, 3)))
    np.save(b, np.ones((2, 3)))
    assert FeatureCache.key(a) == FeatureCache.key(b)
    assert FeatureCache.key(f"{a}#x") != FeatureCache.key(f"{a}#y")
    with pytest.raises(FileNotFoundError):
        FeatureCache.key(tmp_path / "none.npy")
