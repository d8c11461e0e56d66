"""The feature cache: hits persist, content changes and corruption invalidate, keys follow content."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emollm.encoders import build_encoder
from emollm.encoders.cache import CachedEncoder, FeatureCache


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


def test_cache_key_depends_on_content_not_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.ones((2, 3)))
    np.save(b, np.ones((2, 3)))
    assert FeatureCache.key(a) == FeatureCache.key(b)
    assert FeatureCache.key(f"{a}#x") != FeatureCache.key(f"{a}#y")
    with pytest.raises(FileNotFoundError):
        FeatureCache.key(tmp_path / "none.npy")


def test_a_pass_over_many_shards_keeps_only_a_few_open(tmp_path: Path) -> None:
    enc = build_encoder("random_mlp", "audio", in_dim=4, dim=6, seed=0)
    files = []
    for i in range(12):
        np.save(tmp_path / f"x{i}.npy", np.full((2, 4), float(i), np.float32))
        files.append(tmp_path / f"x{i}.npy")
    cached = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint(), shard_size=1))
    first = [cached.features(f) for f in files]  # 12 shards of one entry each
    reader = CachedEncoder(enc, FeatureCache(tmp_path / "cache", enc.fingerprint()))
    reader.cache.MAX_OPEN = 3
    for f, want in zip(files, first, strict=True):
        np.testing.assert_array_equal(reader.features(f), want)
        assert len(reader.cache._open) <= 3
    assert reader.hits == 12 and list(reader.cache._open) == ["shard-00010.safetensors", "shard-00011.safetensors",
                                                              "shard-00012.safetensors"]  # fmt: skip
    np.testing.assert_array_equal(reader.features(files[0]), first[0])  # reopened after eviction
