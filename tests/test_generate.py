"""Label scoring and generation: equal to full-sequence likelihoods; the predict/chat API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import emollm
from emollm.data.dataset import encode_media
from emollm.generate import _prompt_ids, generate_answers, make_sample, score_labels

ROOT = Path(__file__).resolve().parent.parent


def _media(syn_data: Path, sid: str, modalities=("video", "audio", "sensor")) -> dict[str, str]:
    split = sid.split("-")[1]
    return {m: f"{syn_data}/features/{split}.{m}.safetensors#{sid}" for m in modalities}


def test_label_scoring_equals_full_sequence_likelihoods(trained_ckpt, syn_data) -> None:
    model = emollm.load(trained_ckpt, precision="no")
    samples = [
        make_sample("I am thrilled", _media(syn_data, "syn-test-00000", ("video",))),
        make_sample(None, _media(syn_data, "syn-test-00001", ("audio", "sensor"))),
    ]
    fast = score_labels(model, samples)  # one pass: the labels' differing tokens side by side (tree mask)
    suffix_lengths = {len(c) for c in emollm.generate._candidates(model)}
    assert len(suffix_lengths) > 1  # labels of different token lengths share the pass
    assert fast.shape == (2, len(model.labels))
    torch.testing.assert_close(fast.sum(1), torch.ones(2))
    words = [model.tokenizer.decode([i]) for i in range(len(model.tokenizer))]
    ends = torch.tensor([not (w and w[0].isalnum()) for w in words])  # tokens that end a word
    for i, sample in enumerate(samples):
        prompt = _prompt_ids(model, sample)
        totals = []
        for label in model.labels:
            cand = model.tokenizer(
                model.template.answer_label_only.format(label=label), add_special_tokens=False
            )["input_ids"]
            ids = torch.tensor([prompt + cand])
            with torch.no_grad():
                logits = model(
                    ids, torch.ones_like(ids), encode_media(model.encoders, [sample.media])
                ).logits[0]
            lp = torch.log_softmax(logits, -1)
            label = sum(lp[len(prompt) - 1 + j, t] for j, t in enumerate(cand))
            boundary = torch.logsumexp(lp[-1, : len(words)][ends], -1)  # P(the label ends here)
            totals.append(label + boundary)
        torch.testing.assert_close(fast[i], torch.softmax(torch.stack(totals), -1), rtol=1e-4, atol=1e-5)


def test_label_last_templates_score_after_the_generated_cues(trained_ckpt) -> None:
    from emollm.generate import label_prefix
    from emollm.prompts import load_template

    last, first = load_template("emotion_explain_first"), load_template("emotion_default")
    assert last.label_last and not first.label_last
    assert (
        label_prefix(last, "Cues: face mostly sad (p = 0.61).\nEmotion: sad")
        == "Cues: face mostly sad (p = 0.61).\n"
    )
    assert label_prefix(last, "Cues: no label given") == "Cues: no label given\n"
    assert label_prefix(first, "Emotion: sad\nReason: x") == ""
    model = emollm.load(trained_ckpt)
    sample = make_sample("I am thrilled")
    plain, after = (
        score_labels(model, [sample]),
        score_labels(model, [sample], ["Cues: words sound happy.\n"]),
    )
    assert not torch.allclose(plain, after)  # the prefix is part of what the labels are scored after


def test_predict_and_chat_api(trained_ckpt, syn_data) -> None:
    model = emollm.load(trained_ckpt)
    media = _media(syn_data, "syn-test-00002")
    out = model.predict(text="Honestly, I feel miserable right now.", **media)
    direct = score_labels(model, [make_sample("Honestly, I feel miserable right now.", media)])[0]
    assert out["scores"] == pytest.approx(dict(zip(model.labels, direct.tolist(), strict=True)), abs=1e-5)
    assert out["label"] == model.labels[int(direct.argmax())]
    assert out["modalities"] == ["video", "audio", "sensor", "text"]
    assert isinstance(out["answer"], str) and "rationale" in out
    turns: list = []
    first = emollm.generate.chat(
        model,
        "What does this person feel, and why?",
        media=_media(syn_data, "syn-test-00003", ("audio",)),
        turns=turns,
    )
    second = emollm.generate.chat(
        model, "Are you sure?", media=_media(syn_data, "syn-test-00003", ("audio",)), turns=turns
    )
    assert first["modalities"] == ["audio"] and second["turns"] == 2 and len(turns) == 2
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        model.predict(text="hi", smell="x.npy")
    with pytest.raises(FileNotFoundError, match="video file not found"):
        model.predict(video="/nonexistent/clip.npy")
    with pytest.raises(ValueError, match="at least one input"):
        model.predict()


def test_scoring_and_generation_run_in_eval_mode(tiny_cfg, syn_data) -> None:
    from emollm.model.emollm import EmoLLM

    tiny_cfg.lm.lora_dropout = 0.5  # dropout that would change every call in train mode
    model = EmoLLM.from_config(tiny_cfg)
    model.train()
    sample = make_sample("I am thrilled", _media(syn_data, "syn-test-00000", ("video",)))
    first = score_labels(model, [sample])
    assert not model.training and not model.lm.training
    model.train()
    torch.testing.assert_close(first, score_labels(model, [sample]), rtol=0, atol=0)
    model.train()
    assert generate_answers(model, [sample], 6) == generate_answers(model, [sample], 6)


def test_merged_adapters_give_the_same_scores_and_answers(trained_ckpt, syn_data, tmp_path) -> None:
    from emollm.checkpoint import write_model_files

    plain, merged = (
        emollm.load(trained_ckpt, merge=False, precision="no"),
        emollm.load(trained_ckpt, precision="no"),
    )
    assert merged.merged and not plain.merged and not hasattr(merged.lm, "merge_and_unload")
    assert not any("lora_" in n for n, _ in merged.lm.named_parameters())  # no adapter matmuls left
    samples = [
        make_sample("I am thrilled", _media(syn_data, "syn-test-00000", ("video",))),
        make_sample(None, _media(syn_data, "syn-test-00001", ("audio", "sensor"))),
    ]
    torch.testing.assert_close(
        score_labels(merged, samples), score_labels(plain, samples), rtol=1e-4, atol=1e-5
    )
    assert generate_answers(merged, samples, 12) == generate_answers(plain, samples, 12)
    assert merged.fingerprint() == plain.fingerprint()  # evaluation resume keys stay valid
    with pytest.raises(ValueError, match="merged for inference cannot be saved"):
        write_model_files(merged, tmp_path, {})


def test_bf16_inference_keeps_the_predictions_of_fp32(trained_ckpt, syn_data, monkeypatch) -> None:
    import emollm.precision

    fp32, bf16 = emollm.load(trained_ckpt, precision="no"), emollm.load(trained_ckpt, precision="bf16")
    assert (fp32.inference_precision, bf16.inference_precision) == ("no", "bf16")
    decoder = bf16.lm.get_decoder()
    assert {m.weight.dtype for m in decoder.modules() if isinstance(m, torch.nn.Linear)} == {torch.bfloat16}
    head, embeddings = bf16.lm.get_output_embeddings().weight, bf16.lm.get_input_embeddings().weight
    assert (
        head.dtype == torch.bfloat16 and embeddings.dtype == torch.float32
    )  # the tied head got its own copy
    samples = [make_sample("I am thrilled", _media(syn_data, f"syn-test-0000{i}")) for i in range(4)]
    want, got = score_labels(fp32, samples), score_labels(bf16, samples)
    assert got.dtype == torch.float32 and not torch.equal(got, want)  # bf16 matmuls really ran
    torch.testing.assert_close(got, want, rtol=0, atol=0.03)
    assert torch.equal(got.argmax(1), want.argmax(1))
    assert len(generate_answers(bf16, samples, 8)) == 4
    ids = bf16.tokenizer("I am thrilled", return_tensors="pt")["input_ids"]
    assert (
        bf16(ids, torch.ones_like(ids)).logits.shape[-1] == fp32.lm.config.vocab_size
    )  # forward autocasts too
    monkeypatch.setattr(emollm.precision, "resolve_mixed_precision", lambda setting: "no")
    assert emollm.load(trained_ckpt).inference_precision == "no"  # auto: fp32 where bf16 is not native
    monkeypatch.setattr(emollm.precision, "resolve_mixed_precision", lambda setting: "bf16")
    assert emollm.load(trained_ckpt).inference_precision == "bf16"
    with pytest.raises(ValueError, match="already in bf16"):
        bf16.set_inference_precision("no")
    with pytest.raises(ValueError, match="valid are auto, no, bf16"):
        fp32.set_inference_precision("fp16")


def test_min_new_tokens_holds_off_the_end_of_the_answer(tiny_cfg, syn_data) -> None:
    from emollm.model.emollm import EmoLLM

    model = EmoLLM.from_config(tiny_cfg)
    eos = model.tokenizer.eos_token_id

    def favour_eos(_module, _inputs, logits: torch.Tensor) -> torch.Tensor:
        return logits.index_add(-1, torch.tensor([eos]), torch.full((*logits.shape[:-1], 1), 1e4))

    model.lm.get_output_embeddings().register_forward_hook(favour_eos)  # the model wants to stop at once
    sample = make_sample("I am thrilled", _media(syn_data, "syn-test-00000", ("video",)))
    rows: list[torch.Tensor] = []
    generate = model.lm.generate
    model.lm.generate = lambda **kw: rows.append(generate(**kw)) or rows[-1]
    generate_answers(model, [sample, sample], 7)
    generate_answers(model, [sample, sample], 7, min_new_tokens=7)
    assert rows[0].shape == (2, 1) and rows[0].flatten().tolist() == [eos, eos]
    assert rows[1].shape == (2, 7)  # every row generated the full 7 tokens
    assert eos not in rows[1].flatten().tolist()  # no end-of-sequence before the minimum
