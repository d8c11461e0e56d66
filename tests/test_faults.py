"""Kill anywhere, lose nothing: `emollm extract` and recipe conversion SIGKILLed at their kill points (emollm/faults.py)
and run again give the same outputs as an uninterrupted run. (Training: tests/test_train.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emollm.encoders import build_encoder
from emollm.encoders.cache import CachedEncoder, FeatureCache
from emollm.faults import kill_point

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_kill_point_fires_on_the_named_count_only(monkeypatch) -> None:
    script = "from emollm.faults import kill_point\nfor i in range(5):\n    kill_point('x')\n    print(i, flush=True)\n"
    out = subprocess.run(
        [sys.executable, "-c", script], env={**ENV, "EMOLLM_KILL_AT": "x:3"}, capture_output=True
    )
    assert out.returncode == -9 and out.stdout.decode().split() == ["0", "1"]
    monkeypatch.delenv("EMOLLM_KILL_AT", raising=False)
    kill_point("x")  # unset: nothing happens


def _feature_corpus(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        np.save(root / f"f{i}.npy", rng.standard_normal((3, 4)).astype(np.float32))
        rows.append({"id": f"s{i}", "labels": {"emotion": "happy"}, "media": {"audio": f"f{i}.npy"}})
    (root / "split.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "split.jsonl"


@pytest.mark.slow
def test_extract_killed_mid_shard_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    data = _feature_corpus(tmp_path, 600)  # 3 shards of 256
    spec = "modalities.audio={encoder: precomputed, encoder_args: {dim: 4}}"
    extract = [sys.executable, "-m", "emollm", "extract", "--data", str(data), spec]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    # after the 2nd shard is renamed but before the index lists it; after a shard's temp file; between samples
    for point in ("cache.shard_renamed:2", "cache.shard_written:1", "extract.sample:100"):
        done = subprocess.run(
            [*extract, "--cache", str(killed)], env={**ENV, "EMOLLM_KILL_AT": point}, capture_output=True
        )
        assert done.returncode == -9, (point, done.stderr[-1500:])
    subprocess.run([*extract, "--cache", str(killed)], env=ENV, check=True, capture_output=True)
    subprocess.run([*extract, "--cache", str(clean)], env=ENV, check=True, capture_output=True)
    encoder = build_encoder("precomputed", "audio", dim=4)
    a = CachedEncoder(encoder, FeatureCache(killed, encoder.fingerprint()))
    b = CachedEncoder(encoder, FeatureCache(clean, encoder.fingerprint()))
    assert len(a.cache.index) == len(b.cache.index) == 600
    for i in range(600):
        ref = str(tmp_path / f"f{i}.npy")
        np.testing.assert_array_equal(a.features(ref)[0], b.features(ref)[0])
    assert a.misses == 0 and b.misses == 0  # every entry was read from the cache, none recomputed here


@pytest.mark.slow
@pytest.mark.parametrize("name", ["synthetic", "meld"])
def test_recipe_killed_between_split_files_then_rerun_writes_identical_files(
    tmp_path: Path, name: str
) -> None:
    from tests.test_recipes import _fake_meld

    if name == "meld":
        _fake_meld(tmp_path / "raw")
    args = ["--n", "40"] if name == "synthetic" else ["--root", str(tmp_path / "raw")]
    recipe = [sys.executable, "-m", "data_recipes", name, *args]
    killed = subprocess.run([*recipe, "--out", str(tmp_path / "killed")], env={**ENV, "EMOLLM_KILL_AT": "recipe.split:1"},
                            capture_output=True)  # fmt: skip
    assert killed.returncode == -9 and not (tmp_path / "killed" / "manifest.json").exists()
    for out in ("killed", "clean"):
        subprocess.run([*recipe, "--out", str(tmp_path / out)], env=ENV, check=True, capture_output=True)
    files = sorted(p.relative_to(tmp_path / "clean") for p in (tmp_path / "clean").rglob("*") if p.is_file())
    assert files and files == sorted(
        p.relative_to(tmp_path / "killed") for p in (tmp_path / "killed").rglob("*") if p.is_file()
    )
    for rel in files:
        assert (tmp_path / "clean" / rel).read_bytes() == (tmp_path / "killed" / rel).read_bytes(), rel
