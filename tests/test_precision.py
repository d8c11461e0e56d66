"""CPU runtime settings: `train.return_freed_memory` hands freed tensor memory back to the OS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    from emollm.precision import return_freed_memory

    def anon_mb():
        with open("/proc/self/status") as fh:
            return int(next(x for x in fh if x.startswith("RssAnon")).split()[1]) / 1024

    applied = return_freed_memory() if sys.argv[1] == "on" else False
    big = torch.empty(16 * 2**20, dtype=torch.uint8).fill_(1)
    del big  # freeing a mmapped 16 MiB block lifts glibc's dynamic mmap threshold above 1 MiB
    tensors = [torch.empty(2**20, dtype=torch.uint8).fill_(1) for _ in range(256)]  # 256 x 1 MiB
    full = anon_mb()
    del tensors[::2]  # every other block freed: holes the heap cannot trim
    print(json.dumps({"applied": applied, "released_mb": full - anon_mb()}))
    """
)


def _released(setting: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, setting], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings are Linux-only")
def test_return_freed_memory_releases_freed_tensors_at_once() -> None:
    on, off = _released("on"), _released("off")
    assert on["applied"] is True
    assert on["released_mb"] > 100, on  # 128 MiB freed -> resident memory falls with it
    assert off["released_mb"] < 32, off  # the default heap keeps the holes resident


def test_frozen_linears_and_head_in_bf16_give_the_same_autocast_step(tiny_cfg) -> None:
    """bf16 autocast casts the frozen fp32 weights at every forward; storing the decoder linears and the (tied) LM
    head in bf16 once gives the same loss and LoRA gradients without the copies, and leaves LoRA, the input
    embeddings and norms in fp32."""
    import torch

    from emollm.data.dataset import Collator, build_dataset
    from emollm.data.sample import load_samples
    from emollm.model.emollm import EmoLLM
    from emollm.model.lm import base_model, store_frozen_head, store_frozen_linears

    torch.manual_seed(0)
    model = EmoLLM.from_config(tiny_cfg)
    samples, _ = load_samples(tiny_cfg.data.train, model.labels)
    ds, _ = build_dataset(samples[:4], model.tokenizer, model.template, model.tokens, model.labels, 512)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(4)])

    def loss_and_grads() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for n, p in model.named_parameters() if "lora_B" in n]

    before, grads_before = loss_and_grads()
    base = base_model(model.lm)
    assert base.get_output_embeddings().weight is base.get_input_embeddings().weight  # tied, as in SmolLM2
    converted = store_frozen_linears(model.lm, torch.bfloat16)
    assert store_frozen_head(model.lm, torch.bfloat16) == 1
    after, grads_after = loss_and_grads()
    assert converted > 0 and store_frozen_linears(model.lm, torch.bfloat16) == 0
    assert store_frozen_head(model.lm, torch.bfloat16) == 0
    assert base.get_output_embeddings().weight.dtype == torch.bfloat16
    assert base.get_input_embeddings().weight.dtype == torch.float32
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert all(d == torch.float32 for n, d in dtypes.items() if "lora_" in n or "norm" in n or "embed" in n)
    assert any(d == torch.bfloat16 for n, d in dtypes.items() if "base_layer" in n)
    assert torch.equal(before, after)
    assert all(torch.equal(a, b) for a, b in zip(grads_before, grads_after, strict=True))


def test_return_freed_memory_is_applied_from_the_config(tiny_lm, syn_data, tmp_path, monkeypatch) -> None:
    """`train.return_freed_memory: true` (the QLoRA preset) reaches the allocator when the model is built on CPU."""
    from emollm.config import load_config
    from emollm.model import emollm as model_module
    from tests.conftest import tiny_overrides

    calls = []
    monkeypatch.setattr(model_module, "return_freed_memory", lambda: calls.append(True) or True)
    for flag in ("false", "true"):
        cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path, train__return_freed_memory=flag))
        model_module.EmoLLM.from_config(cfg)
        assert len(calls) == (flag == "true")


def test_auto_precision_follows_the_cpu_flags_and_measures_only_without_them(monkeypatch) -> None:
    """`auto` on CPU is decided by the flags (the same in every process); a timing decides only where none are read."""
    from emollm import precision

    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: 4.0)
    for flags, expected in ((True, "bf16"), (False, "no"), (None, "bf16")):
        monkeypatch.setattr(precision, "cpu_bf16_flags", lambda flags=flags: flags)
        assert precision.resolve_mixed_precision("auto") == expected
    assert precision.resolve_mixed_precision("no") == "no"
