"""`emollm export`: a checkpoint as a model other people can run.

- default: the emollm checkpoint (peft adapter in the standard format, projectors, placeholder tokens, prompt, config,
  encoder fingerprints) plus the tokenizer with its placeholder tokens and a model card (README.md); `emollm.load`
  reads it, and plain transformers + peft load the adapter onto the base model.
- `--merge`: additionally the LoRA merged into the base weights as a plain transformers folder (OUT/merged) that
  `AutoModelForCausalLM.from_pretrained` loads with no emollm and no peft (text in, text out; the projectors that
  turn video/audio/sensor features into tokens stay in projectors.safetensors).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from emollm.checkpoint import REQUIRED, check_checkpoint, load_checkpoint
from emollm.io import atomic_dir, atomic_write_json, atomic_write_text
from emollm.model.emollm import EmoLLM

DEFINITIONS = {
    "accuracy": "correct / all (= WAR)",
    "uar": "mean per-class recall",
    "macro_f1": "unweighted mean of per-class F1",
    "weighted_f1": "per-class F1 weighted by support",
    "unparsed_rate": "share of generated answers with no readable label (counted wrong)",
}


def export(ckpt: str | Path, out: str | Path, merge: bool = False, metrics: str | Path | None = None) -> Path:
    """Write OUT (replaced whole, atomically); return it."""
    folder = check_checkpoint(ckpt)
    model = load_checkpoint(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    scores = json.loads(Path(metrics).read_text()) if metrics else None
    with atomic_dir(out) as tmp:
        for name in {*REQUIRED, "meta.json", "prior_adjustment.json"}:
            source = folder / name
            if source.is_file():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, tmp / name)
        _point_adapter_at_hub_id(tmp / "adapter" / "adapter_config.json", cfg["lm"]["name_or_path"])
        model.tokenizer.save_pretrained(tmp / "tokenizer")
        if merge:
            merged = model.lm.merge_and_unload()
            merged.save_pretrained(tmp / "merged")
            model.tokenizer.save_pretrained(tmp / "merged")
        atomic_write_text(tmp / "README.md", model_card(model, cfg, scores, merge))
        atomic_write_json(
            tmp / "export.json", {"from": str(folder), "merged": merge, "metrics": str(metrics or "")}
        )
    return Path(out)


def _point_adapter_at_hub_id(path: Path, hub_id: str) -> None:
    """An adapter records the base it was trained on; a local path (e.g. the packaged copy) means nothing elsewhere."""
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = hub_id
    atomic_write_json(path, config)


def _metrics_lines(scores: dict[str, Any] | None) -> list[str]:
    if not scores:
        return ["No evaluation was attached (`emollm export --metrics EVAL/metrics.json`)."]
    lines = [f"Evaluated on `{scores.get('data', '?')}`" + (" (GENERATED DATA)" if scores.get("generated_data") else "") + ":", "",
             "| mode | " + " | ".join(DEFINITIONS) + " | n |", "|---" * (len(DEFINITIONS) + 2) + "|"]  # fmt: skip
    for mode in ("score", "generate"):
        if mode in scores:
            m = scores[mode]
            lines.append(
                f"| {mode} | " + " | ".join(f"{m.get(k, 0):.3f}" for k in DEFINITIONS) + f" | {m.get('n')} |"
            )
    lines += ["", "Definitions: " + "; ".join(f"{k}: {v}" for k, v in DEFINITIONS.items()) + ". `score` = label"
              " scoring (softmax over the labels' likelihoods), `generate` = free generation parsed strictly."]  # fmt: skip
    return lines


def _prior_lines(model: EmoLLM) -> list[str]:
    adj = model.prior_adjustment
    if adj is None:
        return []
    return [
        f"- Label scores adjusted by the training label prior (log p - {adj.tau:g} log prior; tau fitted for"
        f" {adj.metric} on `{adj.fitted_on}`; prior_adjustment.json; `emollm calibrate --remove` undoes it)"
    ]


def model_card(model: EmoLLM, cfg: dict[str, Any], scores: dict[str, Any] | None, merged: bool) -> str:
    """A model card: what the model is, how it was made, how well it did, and what it must not be used for."""
    enc = {m: f"{e.name} (fingerprint {e.fingerprint()[:12]})" for m, e in model.encoders.items()} or {
        "text": "only"
    }
    lora = cfg["lm"]
    lines = [
        "---", f"base_model: {lora['name_or_path']}", "library_name: peft", "tags: [emollm, emotion-recognition, lora]", "---",
        "", f"# emollm emotion model ({model.label_set})", "",
        f"A LoRA-tuned {lora['name_or_path']} that answers with an emotion label ({', '.join(model.labels)}) and a"
        " rationale, made with [emollm](https://github.com/) from frozen encoders and learned projectors.", "",
        "## How it was made", "",
        f"- Base LM: `{lora['name_or_path']}`" + (f" @ `{lora['revision']}`" if lora.get("revision") else "")
        + f"; LoRA r={lora['lora_r']}, alpha={lora['lora_alpha']}, targets {lora['lora_target']}"
        + (f", last {lora['lora_layers']} layers" if lora.get("lora_layers") else ""),
        "- Inputs: " + "; ".join(f"{m}: {e}" for m, e in enc.items()),
        f"- Training data: `{cfg['data']['train']}`; prompt template `{model.template.name}` v{model.template.version}"
        f" (in prompt.yaml); {cfg['train']['align_steps']} alignment + {cfg['train']['steps']} LoRA steps, batch"
        f" {cfg['train']['batch_size']}, seed {cfg['train']['seed']} (config.yaml)", *_prior_lines(model),
        "", "## Results", "", *_metrics_lines(scores), "", "## Use", "",
        "```python\nimport emollm\nm = emollm.load(\"THIS_FOLDER\")\nm.predict(text=\"I can't believe you did this!\")\n```",
        "", "With transformers + peft only (text in, text out): load the base model, resize its embeddings to the"
        " tokenizer in `tokenizer/` (placeholder tokens were added), then `PeftModel.from_pretrained(model, 'adapter')`."
        + (" Or load `merged/` with `AutoModelForCausalLM.from_pretrained` alone." if merged else ""), "",
        "## Intended use and limitations", "",
        "- For research on emotion recognition: it names the emotion a recording or utterance *expresses* in the"
        " label set above; it does not know what anyone *feels*.",
        "- Not for decisions about people (hiring, policing, health, credit, surveillance) or for inferring emotion"
        " from people who have not agreed to it.",
        "- Trained on the corpus above only: expect lower accuracy on other speakers, languages, recording conditions"
        " and label sets; rationales cite the cues of the inputs it was given and can still be wrong.",
        "- The packaged base weights used here offline are dequantised from a 4-bit GGUF copy.",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
