"""The LM loader: 4-bit / 8-bit quantised LMs with LoRA, through the training loop and reload."""

from __future__ import annotations

import pytest
import torch

from emollm.config import load_config
from emollm.data.dataset import Collator, build_dataset
from emollm.data.sample import load_samples
from emollm.model.emollm import EmoLLM
from tests.conftest import tiny_overrides

bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed")


def _batch(model: EmoLLM, syn_data) -> dict:
    samples, _ = load_samples(syn_data / "train.jsonl", model.labels)
    ds, _ = build_dataset(samples[:4], model.tokenizer, model.template, model.tokens, model.labels, 512)
    return Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(4)])


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_quantized_lm_lora_step(tiny_lm, syn_data, tmp_path, bits: str) -> None:
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path, lm__quantization=bits))
    model = EmoLLM.from_config(cfg)
    quantized = [m for m in model.lm.modules() if isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))]
    assert quantized, "no bitsandbytes layers in the quantized LM"
    batch = _batch(model, syn_data)
    model.train()
    loss = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
    loss.backward()
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert lora_grads and all(g is not None for g in lora_grads)
    assert any(g.abs().sum() > 0 for g in lora_grads)
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    opt.step()
    with torch.no_grad():
        after = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
    assert torch.isfinite(after)


def test_qlora_through_the_training_loop_and_reload(tiny_lm, syn_data, tmp_path) -> None:
    """The shipped QLoRA recipe (configs/smollm2_qlora4.yaml): nf4 base computing in bf16, activation checkpointing."""
    import json

    import emollm
    from emollm.train import train

    cfg = load_config(
        None,
        tiny_overrides(
            tiny_lm,
            syn_data,
            tmp_path / "run",
            lm__quantization="4bit",
            lm__dtype="bfloat16",
            train__activation_checkpointing="true",
            train__steps=2,
            train__align_steps=1,
        ),  # fmt: skip
    )
    final = train(cfg)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    model = emollm.load(final)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.lm.modules())
    out = model.predict(text="This news makes me furious.")
    from emollm.generate import make_sample, score_labels

    direct = score_labels(model, [make_sample("This news makes me furious.")])[0]
    assert out["label"] == model.labels[int(direct.argmax())] and sum(
        out["scores"].values()
    ) == pytest.approx(1, abs=1e-4)
