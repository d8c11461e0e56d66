"""train.keep_best: final/ holds the weights of the evaluation with the lowest dev loss, also across a resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emollm.checkpoint import load_checkpoint
from emollm.config import ConfigError, load_config
from emollm.data.dataset import Collator, build_dataset
from emollm.data.sample import load_samples
from emollm.run_state import best_dev_loss
from emollm.train import train
from tests.conftest import tiny_overrides

EXTRA = dict(train__steps=12, train__eval_every=2, train__log_every=50, train__mixed_precision="no")
# a scripted dev loss per evaluation (steps 2, 4, ..., 12): lowest at step 4, as when a run starts to over-fit
SCRIPTED = [5.0, 3.0, 4.0, 6.0, 7.0, 8.0]


def _config(tiny_lm: Path, syn_data: Path, out: Path, **extra: object):
    over = tiny_overrides(tiny_lm, syn_data, out, data__dev=str(syn_data / "dev.jsonl"), **EXTRA, **extra)
    return load_config(None, over)


def _dev_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r for r in rows if "dev_loss" in r]


def _projectors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "projectors.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _dev_loss_of(folder: Path, dev: Path) -> float:
    """Token-weighted answer loss of a saved checkpoint on the dev file, recomputed from the files alone."""
    model = load_checkpoint(folder).eval()
    samples, _ = load_samples(dev, model.labels)
    ds, _ = build_dataset(samples, model.tokenizer, model.template, model.tokens, model.labels, 512)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        return float(
            model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
        )


def test_final_holds_the_weights_whose_dev_loss_was_lowest(tiny_lm, syn_data, tmp_path) -> None:
    final = train(_config(tiny_lm, syn_data, tmp_path / "run", train__keep_best=True))
    rows = _dev_rows(tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(2, 13, 2))
    lowest = min(rows, key=lambda r: r["dev_loss"])
    meta = json.loads((final / "meta.json").read_text())
    assert (meta["step"], meta["best_step"], meta["best_dev_loss"]) == (
        12,
        lowest["step"],
        lowest["dev_loss"],
    )
    assert _same(_projectors(final), _projectors(tmp_path / "run" / "best"))
    assert _dev_loss_of(final, syn_data / "dev.jsonl") == pytest.approx(lowest["dev_loss"], rel=1e-4)


def test_an_earlier_best_step_is_kept_across_a_resume(tiny_lm, syn_data, tmp_path, monkeypatch) -> None:
    plain = _config(tiny_lm, syn_data, tmp_path / "plain", train__save_every=2, train__keep_last=10)
    train(plain)  # the same trajectory without selection, a checkpoint every 2 steps
    scripted = iter(SCRIPTED)
    monkeypatch.setattr("emollm.train.dev_loss", lambda *_: next(scripted))
    cut = _config(tiny_lm, syn_data, tmp_path / "cut", train__keep_best=True, train__max_steps_per_run=7)
    assert train(cut).name == "step-000007"  # evaluated at 2, 4, 6; best so far: step 4
    final = train(cut, resume="auto")  # 8, 10, 12 are all worse
    assert json.loads((final / "meta.json").read_text())["best_step"] == 4
    assert _same(_projectors(final), _projectors(tmp_path / "plain" / "step-000004"))
    assert not _same(_projectors(final), _projectors(tmp_path / "plain" / "final"))
    assert best_dev_loss(tmp_path / "cut", 4) == 3.0
    assert (
        best_dev_loss(tmp_path / "cut", 3) == math.inf
    )  # a best/ from steps a resume recomputes is not kept


def test_keep_best_without_a_dev_split_is_refused(tiny_lm, syn_data, tmp_path) -> None:
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", train__keep_best=True))
    with pytest.raises(ConfigError, match="data.dev"):
        train(cfg)
    assert not (tmp_path / "run").exists()
