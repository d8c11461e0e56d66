"""EmoLLM: features land exactly in placeholder slots, count mismatches raise, missing modalities have no slots."""

from __future__ import annotations

import pytest
import torch

from emollm.data.dataset import Collator, build_dataset
from emollm.data.sample import load_samples
from emollm.encoders.base import Features
from emollm.model.emollm import EmoLLM


@pytest.fixture(scope="module")
def model(tiny_lm, syn_data, tmp_path_factory) -> EmoLLM:
    from emollm.config import load_config
    from tests.conftest import tiny_overrides

    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path_factory.mktemp("m")))
    torch.manual_seed(0)
    return EmoLLM.from_config(cfg)


@pytest.fixture(scope="module")
def batch(model, syn_data):
    samples, bad = load_samples(syn_data / "train.jsonl", model.labels)
    assert not bad
    # pick a batch that mixes full and partial modality sets
    chosen = sorted(samples, key=lambda s: len(s.media))[:2] + [s for s in samples if len(s.media) == 3][:2]
    assert {len(s.media) for s in chosen} == {2, 3}
    ds, _ = build_dataset(chosen, model.tokenizer, model.template, model.tokens, model.labels, 512)
    return Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))]), chosen


def test_features_land_exactly_at_placeholder_positions(model, batch) -> None:
    b, samples = batch
    embeds = model.embed(b["input_ids"], b["features"])
    plain = model.lm.get_input_embeddings()(b["input_ids"])
    all_slots = torch.zeros_like(b["input_ids"], dtype=torch.bool)
    for modality, tok in model.tokens.items():
        slots = b["input_ids"] == tok.token_id
        all_slots |= slots
        f = b["features"][modality]
        projected = model.projectors[modality](f.feats, f.mask)  # [B_m, N, H]
        for j, row in enumerate(f.rows.tolist()):
            torch.testing.assert_close(embeds[row][slots[row]], projected[j])
        present_rows = {i for i, s in enumerate(samples) if modality in s.media}
        assert set(f.rows.tolist()) == present_rows
        for row in set(range(len(samples))) - present_rows:
            assert not slots[row].any(), "a missing modality must have no placeholder"
    torch.testing.assert_close(embeds[~all_slots], plain[~all_slots])


def test_count_mismatch_raises_with_both_counts(model, batch) -> None:
    b, _ = batch
    f = b["features"]["video"]
    wrong = dict(b["features"], video=Features(f.feats[:1], f.mask[:1], f.rows[:1]))
    with pytest.raises(
        ValueError, match=r"video: placeholder slots per sample \[.*\] != projected feature tokens"
    ):
        model.embed(b["input_ids"], wrong)
    with pytest.raises(ValueError, match="audio: the prompt has .* placeholder slots but no audio features"):
        model.embed(b["input_ids"], {k: v for k, v in b["features"].items() if k != "audio"})
    with pytest.raises(ValueError, match="unknown modality"):
        model.embed(b["input_ids"], {**b["features"], "smell": f})


def test_loss_only_on_answer_tokens(model, batch) -> None:
    b, _ = batch
    tok = model.tokenizer
    for row in range(b["input_ids"].shape[0]):
        targets = b["labels"][row][b["labels"][row] != -100]
        text = tok.decode(targets)
        assert text.startswith("Emotion:"), text
        assert "<|im_start|>" not in text and "Transcript" not in text
    assert (b["labels"][b["attention_mask"] == 0] == -100).all()


def test_trainable_parts_and_frozen_lm(model) -> None:
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("projectors.") or "lora_" in n for n in names)
    counts = model.parameter_counts()
    assert 0 < counts["trainable"] < counts["total"]
    buffers = {f"projectors.{m}.norm.{b}" for m in model.tokens for b in ("mean", "std")}
    assert set(model.trainable_state_dict()) == set(names) | buffers  # fitted norm statistics travel too


def test_sample_with_unmodelled_modality_is_rejected(model, syn_data) -> None:
    from emollm.data.dataset import sample_messages
    from emollm.data.sample import Sample

    sample = Sample(id="x", labels={"emotion": "happy"}, media={"video": "v"})
    tokens = {k: v for k, v in model.tokens.items() if k != "video"}
    with pytest.raises(ValueError, match="sample x: has video but the model has no video encoder"):
        sample_messages(sample, model.template, tokens, model.labels, True)


def test_feature_augmentation_is_configured_per_modality_and_kept_in_checkpoints(
    tiny_lm, syn_data, tmp_path
) -> None:
    from emollm.checkpoint import load_checkpoint, write_model_files
    from emollm.config import load_config
    from tests.conftest import tiny_overrides

    extra = {"modalities__audio__frame_dropout": 0.5, "modalities__audio__input_dropout": 0.2}
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", **extra))
    torch.manual_seed(0)
    model = EmoLLM.from_config(cfg)
    audio, video = model.projectors["audio"], model.projectors["video"]
    assert (audio.frame_dropout, audio.input_dropout.p) == (0.5, 0.2)
    assert (video.frame_dropout, video.input_dropout.p) == (0.0, 0.0)
    feats, mask = torch.randn(2, 6, 24), torch.ones(2, 6, dtype=torch.bool)
    model.train()
    assert not torch.allclose(audio(feats, mask), audio(feats, mask))
    (tmp_path / "ckpt").mkdir()
    write_model_files(model, tmp_path / "ckpt", {"step": 0})
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config.modalities["audio"].frame_dropout == 0.5
    torch.testing.assert_close(
        loaded.projectors["audio"](feats, mask), model.eval().projectors["audio"](feats, mask)
    )
