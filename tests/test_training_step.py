"""One training step's loss and the kernels it runs on: answer-only loss, class weights, length-grouped order,
the attention implementation and compiled decoder layers (tiny random LM, generated corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emollm.data.dataset import Collator, build_dataset
from emollm.data.sample import load_samples
from emollm.model.emollm import EmoLLM


def training_batches(model: EmoLLM, data: Path, n: int = 1, size: int = 4) -> list[dict]:
    """`n` collated training batches of `size` samples each from the generated corpus's train split."""
    samples, _ = load_samples(data / "train.jsonl", model.labels)
    ds, _ = build_dataset(
        samples[: n * size], model.tokenizer, model.template, model.tokens, model.labels, 512
    )
    collate = Collator(model.encoders, model.tokenizer.pad_token_id)
    return [collate([ds[i] for i in range(j, j + size)]) for j in range(0, n * size, size)]


def test_answer_only_loss_equals_the_lms_own_causal_loss(tiny_cfg, syn_data) -> None:
    """The training loss applies the LM head only at supervised positions; it must equal transformers' loss over
    full logits (which counts the same positions)."""
    model = EmoLLM.from_config(tiny_cfg)
    batch = training_batches(model, syn_data)[0]
    ours = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"])
    embeds = model.embed(batch["input_ids"], batch["features"])
    theirs = model.lm(
        inputs_embeds=embeds, attention_mask=batch["attention_mask"], labels=batch["labels"]
    ).loss
    supervised = int((batch["labels"][:, 1:] != -100).sum())
    assert ours.logits.shape == (supervised, model.lm.get_output_embeddings().weight.shape[0])
    assert float(ours.loss) == pytest.approx(float(theirs), rel=1e-5)


def test_length_grouped_order_is_a_seeded_permutation_with_less_padding() -> None:
    from emollm.data.sampling import EpochSampler

    lengths = [int(x) for x in torch.randint(5, 200, (400,), generator=torch.Generator().manual_seed(0))]
    grouped, plain = EpochSampler(400, 3, lengths, batch=8), EpochSampler(400, 3)

    def padded(order: list[int]) -> int:
        return sum(8 * max(lengths[i] for i in order[j : j + 8]) for j in range(0, 400, 8))

    order = list(grouped)
    assert sorted(order) == list(range(400)) and order == list(grouped)  # a permutation, the same every time
    grouped.use_epoch(1)
    assert list(grouped) != order  # a new order per epoch
    assert padded(order) < 0.75 * padded(list(plain))


def test_class_weights_from_training_counts_and_the_weighted_loss(tiny_cfg, syn_data) -> None:
    from emollm.data.sampling import class_weight_table, class_weights_of

    table = class_weight_table(["a"] * 6 + ["b"] * 2, "inverse")
    assert table == {"a": pytest.approx(8 / (2 * 6)), "b": pytest.approx(8 / (2 * 2))}
    assert class_weight_table(["a"] * 6 + ["b"] * 2, "sqrt_inverse")["b"] == pytest.approx(2**0.5)
    assert class_weight_table(["a", "b"], "none") == {}
    model = EmoLLM.from_config(tiny_cfg)
    b = training_batches(model, syn_data)[0]
    weights = class_weights_of(b["emotions"], {e: float(i + 1) for i, e in enumerate(model.labels)})
    with torch.no_grad():
        weighted = model(b["input_ids"], b["attention_mask"], b["features"], b["labels"], weights).loss
        logits = model.lm(inputs_embeds=model.embed(b["input_ids"], b["features"]),
                          attention_mask=b["attention_mask"]).logits[:, :-1]  # fmt: skip
    targets = b["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")
    ce = ce * (targets != -100)  # [B, L-1] per-token losses at the supervised positions
    w = weights[:, None] * (targets != -100)
    assert float(weighted) == pytest.approx(float((ce * w).sum() / w.sum()), rel=1e-5)


def test_training_attention_rule_and_both_kernels_give_the_same_loss(tiny_cfg, syn_data) -> None:
    from emollm.model.lm import set_attention, training_attention

    assert training_attention("auto", "cpu", [60] * 99 + [900]) == "eager"  # 95% of sequences short
    assert training_attention("auto", "cpu", [60] * 90 + [300] * 10) is None  # long ones: keep SDPA
    assert training_attention("auto", "cuda", [60] * 10) is None
    assert training_attention("sdpa", "cpu", [60]) == "sdpa"
    model = EmoLLM.from_config(tiny_cfg)
    batch = training_batches(model, syn_data)[0]
    assert not bool(batch["attention_mask"].all())  # padded rows: the masks must agree too
    loss = {}
    for kernel in ("sdpa", "eager"):
        set_attention(model.lm, kernel)
        assert model.lm.get_base_model().config._attn_implementation == kernel
        out = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"])
        loss[kernel] = float(out.loss.detach())
    assert loss["eager"] == pytest.approx(loss["sdpa"], rel=1e-5)


def test_compile_rule_and_compiled_layers_train_like_eager_ones(tiny_cfg, syn_data, monkeypatch) -> None:
    import emollm.model.lm as lm_module
    from emollm.model.lm import compile_for_training, set_attention, training_compile

    assert training_compile("auto", "cpu", 1249, True, False) == "layers"
    assert training_compile("auto", "cpu", 20, True, False) == "none"  # too short to pay for compiling
    assert training_compile("auto", "cuda", 1249, True, False) == "none"
    assert training_compile("auto", "cpu", 1249, False, False) == "none"  # several processes
    assert training_compile("auto", "cpu", 1249, True, True) == "none"  # quantized
    assert training_compile("none", "cpu", 1249, True, False) == "none"
    assert training_compile("decoder", "cuda", 5, False, True) == "decoder"
    monkeypatch.setattr(lm_module, "cpp_compiler", lambda: None)
    assert training_compile("auto", "cpu", 1249, True, False) == "none"  # nothing to build kernels with
    monkeypatch.undo()
    if lm_module.cpp_compiler() is None:
        pytest.skip("no C++ compiler: torch.compile cannot build CPU kernels here")
    model = EmoLLM.from_config(tiny_cfg)
    set_attention(model.lm, "eager")
    batches = training_batches(model, syn_data, n=2)
    trainable = [p for p in model.parameters() if p.requires_grad]
    names = sorted(n for n, _ in model.named_parameters())

    def losses_and_grads() -> list[tuple[float, list[torch.Tensor]]]:
        out = []
        for b in batches:  # two batches, two lengths: the dynamic-shape graph must serve both
            loss = model(b["input_ids"], b["attention_mask"], b["features"], b["labels"]).loss
            grads = torch.autograd.grad(loss, trainable)
            out.append((float(loss.detach()), grads))
        return out

    eager = losses_and_grads()
    assert batches[0]["input_ids"].shape[1] != batches[1]["input_ids"].shape[1]
    assert compile_for_training(model.lm, "layers") == len(model.lm.get_base_model().get_decoder().layers)
    compiled = losses_and_grads()
    assert sorted(n for n, _ in model.named_parameters()) == names  # adapters save under the same names
    for (loss_e, grads_e), (loss_c, grads_c) in zip(eager, compiled, strict=True):
        assert loss_c == pytest.approx(loss_e, rel=1e-4)
        for ge, gc in zip(grads_e, grads_c, strict=True):
            assert torch.allclose(gc, ge, rtol=1e-3, atol=1e-6)
