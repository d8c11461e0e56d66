"""Samples, the generated corpus, and the MELD recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from emollm.data.sample import load_samples
from emollm.data.synthetic import SyntheticSpec, generate
from emollm.labels import get_labels
from tests.conftest import SHARED_DATA

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


def test_bad_records_are_reported_and_good_ones_kept(syn_data: Path, tmp_path: Path) -> None:
    good = (syn_data / "test.jsonl").read_text().splitlines()
    missing_media = json.loads(good[1])
    missing_media["media"]["video"] = "features/nope.safetensors#x"
    dup = json.loads(good[0])
    path = syn_data / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                good[0],
                "[1, 2]",
                json.dumps(missing_media),
                json.dumps(dup),
                json.dumps({"id": "t", "labels": {"emotion": "happy"}}),
                *good[2:4],
            ]
        )
        + "\n"
    )
    samples, bad = load_samples(path, LABELS)
    assert [s.id for s in samples] == [json.loads(line)["id"] for line in (good[0], good[2], good[3])]
    reasons = {b.line: b.reason for b in bad}
    assert "must be a JSON object" in reasons[2]
    assert "video file not found" in reasons[3] and "mixed.jsonl:3" in reasons[3]
    assert "duplicate sample id" in reasons[4]
    assert "neither media nor text" in reasons[5]


def _fake_meld(root: Path) -> None:
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\r\n"
    rows = {
        "train": [
            "1,Oh my God!,Monica,surprise,positive,0,0,1,1,0,1",
            "1,I\u2019m fine.,Ross,neutral,neutral,0,1,1,1,1,2",
            "2,Stop it,Joey,Anger,negative,1,0,1,1,0,1",
            "3,bad,Joey,angry,negative,1,1,1,1,0,1",
        ],
        "dev": ["1,Yay,Rachel,joy,positive,0,0,1,1,0,1"],
        "test": ["1,Ugh,Chandler,disgust,negative,0,0,1,1,0,1"],
    }
    root.mkdir(parents=True)
    for split, lines in rows.items():
        (root / f"{split}_sent_emo.csv").write_text(header + "\r\n".join(lines) + "\r\n", encoding="utf-8")


def test_meld_recipe_on_a_fake_tree(tmp_path: Path) -> None:
    from data_recipes.meld import convert

    _fake_meld(tmp_path / "raw" / "meld")
    manifest = convert(str(tmp_path / "raw"), str(tmp_path / "out"))
    assert manifest["splits"]["train"] == 3  # the unknown label "angry" is reported, not kept
    assert manifest["bad"][0]["line"] == 5 and "unknown label 'angry'" in manifest["bad"][0]["reason"]
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["meld-train-d0-u0", "meld-train-d0-u1", "meld-train-d1-u0"]
    assert rows[1]["text"] == "I\u2019m fine." and rows[1]["meta"]["context"] == ["Monica: Oh my God!"]
    assert rows[2]["labels"]["emotion"] == "anger"
    samples, bad = load_samples(tmp_path / "out" / "train.jsonl", get_labels("meld"))
    assert len(samples) == 3 and not bad


@pytest.mark.integration
@pytest.mark.skipif(
    not (SHARED_DATA / "meld").is_dir(), reason="shared MELD corpus not present (EMOLLM_DATA_DIR)"
)
def test_meld_recipe_on_the_real_corpus(tmp_path: Path) -> None:
    from data_recipes.meld import convert

    manifest = convert(str(SHARED_DATA), str(tmp_path))
    assert manifest["splits"] == {"train": 9989, "dev": 1109, "test": 2610}
    assert manifest["labels"]["train"] == {
        "neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109, "sadness": 683, "disgust": 271, "fear": 268
    }  # fmt: skip
    assert manifest["labels"]["test"]["neutral"] == 1256 and not manifest["bad"]


@pytest.mark.integration
@pytest.mark.skipif(
    not (SHARED_DATA / "meld").is_dir(), reason="shared MELD corpus not present (EMOLLM_DATA_DIR)"
)
def test_quickstart_on_real_meld_with_tiny_lm(tiny_lm: Path, tmp_path: Path, monkeypatch) -> None:
    from emollm.cli import main

    monkeypatch.setenv("EMOLLM_DATA_DIR", str(SHARED_DATA))
    out = tmp_path / "qs"
    argv = [
        "quickstart",
        "--data",
        "real",
        "--out",
        str(out),
        "--n-test",
        "16",
        f"lm.name_or_path={tiny_lm}",
        "train.steps=2",
        "train.batch_size=4",
    ]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["kind"] == "real" and metrics["data"]["generated"] is False
    assert metrics["llm"]["n"] >= 14  # stratified rounding
    rows = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert 600 <= len(rows) <= 680 and all(r["corpus"] == "meld" for r in rows)


def test_raw_media_corpus_is_byte_reproducible(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_train=12, n_dev=2, n_test=2, seed=3, media=True)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    files = sorted((tmp_path / "a" / "media").iterdir())
    assert {f.suffix for f in files} == {".mp4", ".wav", ".csv"}
    assert all(f.read_bytes() == (tmp_path / "b" / "media" / f.name).read_bytes() for f in files)
    samples, bad = load_samples(tmp_path / "a" / "train.jsonl", LABELS)
    assert not bad and all(Path(ref).is_file() for s in samples for ref in s.media.values())
