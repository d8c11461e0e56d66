"""The generated corpus: deterministic, byte-reproducible, each modality carries its documented half."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from emollm.data.sample import load_samples
from emollm.data.synthetic import SyntheticSpec, generate
from emollm.labels import get_labels

LABELS = get_labels("synthetic4")


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SyntheticSpec(n_train=16, n_dev=4, n_test=4, seed=5))
    b = generate(tmp_path / "b", SyntheticSpec(n_train=16, n_dev=4, n_test=4, seed=5))
    assert a == b
    assert (tmp_path / "a" / "train.jsonl").read_text() == (tmp_path / "b" / "train.jsonl").read_text()
    fa = load_file(str(tmp_path / "a" / "features" / "train.video.safetensors"))
    fb = load_file(str(tmp_path / "b" / "features" / "train.video.safetensors"))
    assert all(np.array_equal(fa[k], fb[k]) for k in fa)
    c = generate(tmp_path / "c", SyntheticSpec(n_train=16, n_dev=4, n_test=4, seed=6))
    assert (tmp_path / "c" / "train.jsonl").read_text() != (tmp_path / "a" / "train.jsonl").read_text()
    assert c["generated"] is True


def _pooled(data: Path, split: str, modality: str) -> tuple[np.ndarray, list[str]]:
    samples, _ = load_samples(data / f"{split}.jsonl", LABELS)
    feats = load_file(str(data / "features" / f"{split}.{modality}.safetensors"))
    rows = [(feats[s.id].mean(0), s.emotion) for s in samples if modality in s.media]
    return np.stack([r[0] for r in rows]), [r[1] for r in rows]


def _centroid_accuracy(train: tuple, test: tuple) -> dict[str, float]:
    x, y = train
    centroids = {lab: x[[i for i, t in enumerate(y) if t == lab]].mean(0) for lab in LABELS}
    xt, yt = test
    pred = [min(centroids, key=lambda lab: np.linalg.norm(v - centroids[lab])) for v in xt]
    return {lab: np.mean([p == t for p, t in zip(pred, yt, strict=True) if t == lab]) for lab in LABELS}


def test_each_modality_carries_its_documented_half_of_the_label(tmp_path: Path) -> None:
    data = tmp_path / "d"
    generate(data, SyntheticSpec(n_train=400, n_dev=4, n_test=200, seed=0))
    video = _centroid_accuracy(_pooled(data, "train", "video"), _pooled(data, "test", "video"))
    audio = _centroid_accuracy(_pooled(data, "train", "audio"), _pooled(data, "test", "audio"))
    # video separates valence (happy is easy), audio separates arousal (sad is easy); each alone is well above chance
    assert video["happy"] > 0.7 and audio["sad"] > 0.7
    assert np.mean(list(video.values())) > 0.4 and np.mean(list(audio.values())) > 0.4
    # ...and alone each confuses the pair the other separates
    assert video["sad"] + video["angry"] < 1.6 and audio["happy"] + audio["angry"] < 1.6


def test_raw_media_corpus_is_byte_reproducible(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_train=12, n_dev=2, n_test=2, seed=3, media=True)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    files = sorted((tmp_path / "a" / "media").iterdir())
    assert {f.suffix for f in files} == {".mp4", ".wav", ".csv"}
    assert all(f.read_bytes() == (tmp_path / "b" / "media" / f.name).read_bytes() for f in files)
    samples, bad = load_samples(tmp_path / "a" / "train.jsonl", LABELS)
    assert not bad and all(Path(ref).is_file() for s in samples for ref in s.media.values())
