"""`emollm export`: the adapter export loads in emollm and in plain transformers + peft; the merged export in plain
transformers alone, with the same text-only logits as `emollm.load`."""

from __future__ import annotations

import json

import torch

import emollm
from emollm.cli import main


def test_export_round_trips_through_plain_transformers(trained_ckpt, tmp_path, capsys) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"data": "test.jsonl", "generated_data": True,
                                   "score": {"accuracy": 0.5, "uar": 0.5, "macro_f1": 0.4, "weighted_f1": 0.45,
                                             "unparsed_rate": 0.0, "n": 12}}))  # fmt: skip
    out = tmp_path / "export"
    assert (
        main(["export", "--ckpt", str(trained_ckpt), "--out", str(out), "--merge", "--metrics", str(metrics)])
        == 0
    )
    card = (out / "README.md").read_text()
    assert "base_model:" in card and "GENERATED DATA" in card and "| score | 0.500 | 0.500 |" in card
    assert "Intended use and limitations" in card
    original = emollm.load(trained_ckpt, precision="no")  # fp32: compared with the exported fp32 weights
    ids = original.tokenizer("I can't believe you did this!", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = original(ids, torch.ones_like(ids)).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")  # no emollm, no peft
        torch.testing.assert_close(merged(input_ids=ids).logits, want, rtol=1e-4, atol=1e-5)
        tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
        base = AutoModelForCausalLM.from_pretrained(original.config.lm.name_or_path)
        base.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            base.get_input_embeddings().weight[len(tokenizer) - len(original.tokens) :] = 0
        adapted = PeftModel.from_pretrained(base, out / "adapter")  # standard peft adapter
        torch.testing.assert_close(adapted(input_ids=ids).logits, want, rtol=1e-4, atol=1e-5)
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ] == str(original.config.lm.name_or_path)
    again = emollm.load(out, precision="no")  # an export is also an emollm checkpoint
    assert (
        again.predict(text="I can't believe you did this!")["scores"]
        == original.predict(text="I can't believe you did this!")["scores"]
    )
