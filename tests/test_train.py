"""Training: the loss is the LM's own causal loss and falls, exact resume, frozen parts stay frozen, checkpoints reload to identical logits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emollm.checkpoint import check_checkpoint, load_checkpoint, resolve_resume, write_model_files
from emollm.config import ConfigError, load_config
from emollm.data.dataset import Collator, build_dataset
from emollm.data.sample import load_samples
from emollm.model.emollm import EmoLLM
from emollm.train import train
from tests.conftest import tiny_overrides


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_dev_loss(tiny_lm, syn_data, tmp_path) -> None:
    extra = dict(train__steps=24, data__dev=str(syn_data / "dev.jsonl"), train__eval_every=24, train__lr=1e-2,
                 train__attention="eager", train__compile="layers")  # fmt: skip
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", **extra))
    model = EmoLLM.from_config(cfg)
    samples, _ = load_samples(syn_data / "dev.jsonl", model.labels)
    ds, _ = build_dataset(samples, model.tokenizer, model.template, model.tokens, model.labels, 512)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        before = float(
            model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"]).loss
        )
    meta = json.loads((train(cfg) / "meta.json").read_text())
    assert (meta["attention"], meta["compile"]) == ("eager", "layers")  # plain attention, compiled layers
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and rows[-1]["dev_loss"] < before - 0.4, (
        before,
        rows[-1],
    )  # untrained: ln(vocab) = 6.24


def test_experiment_tracker_receives_the_config_and_every_step(
    tiny_lm, syn_data, tmp_path, monkeypatch
) -> None:
    """The tracker path (tensorboard where it is installed) runs here with a recording tracker."""
    from accelerate.tracking import GeneralTracker

    class Recorder(GeneralTracker):
        name, requires_logging_directory = "recorder", False

        def __init__(self) -> None:
            super().__init__()
            self.config: dict = {}
            self.rows: list[tuple[int, dict]] = []

        @property
        def tracker(self) -> Recorder:
            return self

        def store_init_configuration(self, values: dict) -> None:
            self.config = dict(values)

        def log(self, values: dict, step: int | None = None, **kwargs) -> None:
            self.rows.append((step, dict(values)))

    recorder = Recorder()
    monkeypatch.setattr("emollm.train.trackers", lambda names: [recorder])
    train(load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", train__steps=3)))
    assert recorder.config["steps"] == 3 and recorder.config["batch_size"] > 0
    assert [step for step, _ in recorder.rows] == [1, 2, 3]
    assert [row["loss"] for _, row in recorder.rows] == pytest.approx(losses(tmp_path / "run"))
    from emollm.run_state import trackers

    assert (
        trackers(["auto"]) == ["tensorboard"]
        and trackers([]) == []
        and trackers(["wandb", "auto"]) == ["wandb", "tensorboard"]
    )
    with pytest.raises(ValueError, match="unknown tracker 'tensorbored'"):
        trackers(["tensorbored"])


def test_resume_equals_uninterrupted(tiny_lm, syn_data, tmp_path) -> None:
    extra = dict(train__steps=3, train__align_steps=1, train__grad_accum=4, lm__lora_dropout=0.1)
    full_cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "full", **extra))
    train(full_cfg)
    part_cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "part", train__max_steps_per_run=2, **extra)
    )
    stopped = train(part_cfg)
    assert stopped.name == "step-000002" and not (tmp_path / "part" / "final").exists()
    (tmp_path / "part" / ".step-000003.tmp").mkdir()  # a half-written checkpoint from a kill: must be ignored
    assert resolve_resume("auto", tmp_path / "part") == stopped
    train(part_cfg, resume="auto")
    assert losses(tmp_path / "part") == losses(
        tmp_path / "full"
    )  # 4 micro-batches/step cross an epoch boundary
    a = load_file(str(tmp_path / "full" / "final" / "projectors.safetensors"))
    b = load_file(str(tmp_path / "part" / "final" / "projectors.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    la = load_file(str(tmp_path / "full" / "final" / "adapter" / "adapter_model.safetensors"))
    lb = load_file(str(tmp_path / "part" / "final" / "adapter" / "adapter_model.safetensors"))
    assert la.keys() == lb.keys()
    for key in la:
        torch.testing.assert_close(la[key], lb[key], rtol=0, atol=0)
    # a finished run resumed again does nothing: no retraining from its step checkpoint, no new log rows
    final = tmp_path / "part" / "final"
    log_before, stamp = (
        (tmp_path / "part" / "log.jsonl").read_text(),
        (final / "meta.json").stat().st_mtime_ns,
    )
    assert resolve_resume("auto", tmp_path / "part") is not None  # a step checkpoint is still there
    assert train(part_cfg, resume="auto") == final
    assert (tmp_path / "part" / "log.jsonl").read_text() == log_before
    assert (final / "meta.json").stat().st_mtime_ns == stamp


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    """Keys whose values changed; under bf16 autocast training stores the frozen decoder linears in bf16 (the values
    autocast computes with), so each tensor is compared in its dtype after training."""
    return {k for k in before if not torch.equal(before[k].to(after[k].dtype), after[k])}


def test_frozen_parts_unchanged_and_align_stage_trains_projectors_only(
    tiny_lm, syn_data, tmp_path, monkeypatch
):
    captured: dict = {}
    original = EmoLLM.from_config

    def capture(cfg, device="cpu"):
        model = original(cfg, device)
        captured["model"] = model
        captured["before"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        encoder = model.encoders["video"]
        if isinstance(encoder, torch.nn.Module):
            captured["encoder"] = {k: v.clone() for k, v in encoder.state_dict().items()}
        return model

    monkeypatch.setattr(EmoLLM, "from_config", capture)
    video = "{encoder: random_mlp, encoder_args: {in_dim: 32, dim: 16}, projector: linear, num_tokens: 2}"
    cfg = load_config(
        None,
        tiny_overrides(
            tiny_lm, syn_data, tmp_path / "run", train__steps=0, train__align_steps=3, modalities__video=video
        ),
    )
    train(cfg)
    model, before = captured["model"], captured["before"]
    after = model.state_dict()
    changed = _changed(before, after)
    assert changed and all(k.startswith("projectors.") for k in changed), sorted(changed)[:5]
    assert any(k.startswith("projectors.video") for k in changed)
    for k, v in model.encoders["video"].state_dict().items():
        assert torch.equal(v, captured["encoder"][k])
    # stage 2 then changes LoRA but still no frozen LM weight
    captured.clear()
    cfg2 = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run2", train__steps=2))
    train(cfg2)
    model, before = captured["model"], captured["before"]
    changed = _changed(before, model.state_dict())
    assert any("lora_" in k for k in changed)
    assert all(k.startswith("projectors.") or "lora_" in k for k in changed)


def test_checkpoint_reload_gives_identical_logits(tiny_cfg, syn_data, tmp_path) -> None:
    torch.manual_seed(0)
    model = EmoLLM.from_config(tiny_cfg).eval()
    with torch.no_grad():  # stand in for training: move every trainable weight
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    samples, _ = load_samples(syn_data / "test.jsonl", model.labels)
    ds, _ = build_dataset(samples[:3], model.tokenizer, model.template, model.tokens, model.labels, 512)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id)([ds[i] for i in range(3)])
    folder = tmp_path / "ckpt"
    folder.mkdir()
    write_model_files(model, folder, {"step": 0})
    check_checkpoint(folder)
    reloaded = load_checkpoint(folder)
    with torch.no_grad():
        want = model(batch["input_ids"], batch["attention_mask"], batch["features"]).logits
        got = reloaded(batch["input_ids"], batch["attention_mask"], batch["features"]).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert (folder / "adapter" / "adapter_config.json").is_file()
    assert json.loads((folder / "tokens.json").read_text())["audio"]["num_tokens"] == 3


def test_bad_training_records_are_skipped_and_reported(tiny_lm, syn_data, tmp_path) -> None:
    lines = (syn_data / "train.jsonl").read_text().splitlines()
    bad_file = syn_data / "train_with_bad.jsonl"
    broken = json.loads(lines[1])
    broken["labels"]["emotion"] = "ecstatic"
    bad_file.write_text("\n".join([lines[0], "{not json", json.dumps(broken), *lines[2:]]) + "\n")
    cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", train__steps=1, data__train=str(bad_file))
    )
    train(cfg)
    report = json.loads((tmp_path / "run" / "bad_samples.json").read_text())
    assert [r["line"] for r in report] == [2, 3]
    assert "malformed JSON" in report[0]["reason"] and "unknown label 'ecstatic'" in report[1]["reason"]


def test_refuses_to_overwrite_a_run_without_resume(tiny_cfg) -> None:
    train(tiny_cfg)
    with pytest.raises(FileExistsError, match="--resume auto"):
        train(tiny_cfg)
    other = dataclasses.replace(tiny_cfg, train=dataclasses.replace(tiny_cfg.train, lr=1e-3, log_every=5))
    with pytest.raises(ConfigError, match=r"another config or data \(train.lr: 0.005 -> 0.001\)"):
        train(other, resume="auto")  # a finished run of another recipe does not stand in for this one
    steered = dataclasses.replace(tiny_cfg, train=dataclasses.replace(tiny_cfg.train, log_every=5))
    assert train(steered, resume="auto").name == "final"  # run-control settings may differ
    bigger = dataclasses.replace(tiny_cfg, train=dataclasses.replace(tiny_cfg.train, batch_size=8))
    with pytest.raises(ConfigError, match=r"global batch 4 -> 8"):
        train(bigger, resume="auto")  # the per-process batch may change only with the process count


def test_refuses_to_resume_when_the_training_file_changed(tiny_lm, syn_data, tmp_path) -> None:
    data = syn_data / f"train-{tmp_path.name}.jsonl"  # beside the shared corpus's features
    data.write_text((syn_data / "train.jsonl").read_text())
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__train=str(data)))
    train(cfg)
    data.write_text(
        "".join(data.read_text().splitlines(keepends=True)[:-1])
    )  # the same path, one record less
    with pytest.raises(ConfigError, match="the content of data.train"):
        train(cfg, resume="auto")


# Where a run is killed, in order: each resume of the run is killed at the next point (SIGKILL via EMOLLM_KILL_AT,
# emollm/faults.py), and the last resume finishes. With save_every=5 and 16 steps: after logging step 7; in the
# step-10 checkpoint after the accelerate state, after the adapter, after all files, after the rename (before
# pruning); after the optimizer step of step 13 (not logged); halfway through writing final/.
KILLS = ["train.logged:7", "checkpoint.state:1", "checkpoint.adapter:1", "checkpoint.files:1",
         "checkpoint.renamed:1", "train.step:3", "checkpoint.adapter:2"]  # fmt: skip


@pytest.mark.slow
def test_killed_anywhere_then_resumed_equals_uninterrupted(tiny_lm, syn_data, tmp_path) -> None:
    import os
    import subprocess
    import sys

    extra = dict(train__steps=16, train__save_every=5, train__keep_last=2, train__log_every=50)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = [sys.executable, "-m", "emollm", "train"]
    killed, full = tmp_path / "killed", tmp_path / "full"
    argv = [*run, *tiny_overrides(tiny_lm, syn_data, killed, **extra)]
    for i, point in enumerate(KILLS):
        resume = ["--resume", "auto"] if i else []
        done = subprocess.run([*argv, *resume], env={**env, "EMOLLM_KILL_AT": point}, capture_output=True)
        assert done.returncode == -9, (point, done.stderr[-2000:])  # SIGKILLed at that point
        assert not (killed / "final" / "meta.json").is_file() or point == "checkpoint.adapter:2"
    subprocess.run([*argv, "--resume", "auto"], env=env, check=True, capture_output=True, timeout=300)
    # same thread count as the killed run, so float reductions match bit for bit
    subprocess.run(
        [*run, *tiny_overrides(tiny_lm, syn_data, full, **extra)], env=env, check=True, capture_output=True
    )
    rows = [json.loads(line) for line in (killed / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 17))  # every step once: none lost, none duplicated
    assert [r["loss"] for r in rows] == losses(full)
    for name in ("projectors.safetensors", "adapter/adapter_model.safetensors"):
        a, b = load_file(str(full / "final" / name)), load_file(str(killed / "final" / name))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_failed_run_leaves_no_checkpoint(tiny_lm, syn_data, tmp_path) -> None:
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__max_length=16))
    with pytest.raises(ValueError, match=r"no usable training samples \(48 skipped\)"):
        train(cfg)
    leftovers = [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(("step-", "final", "."))]
    assert leftovers == []
    report = json.loads((tmp_path / "run" / "bad_samples.json").read_text())
    assert len(report) == 48 and "tokens > data.max_length=16" in report[0]["reason"]


def test_over_long_samples_are_skipped_and_reported(tiny_lm, syn_data, tmp_path) -> None:
    probe = EmoLLM.from_config(load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "probe")))
    samples, _ = load_samples(syn_data / "train.jsonl", probe.labels)
    ds, _ = build_dataset(samples, probe.tokenizer, probe.template, probe.tokens, probe.labels, 10_000)
    lengths = sorted(len(x) for x in ds["input_ids"])
    limit = lengths[len(lengths) // 2]
    expected_out = sum(n > limit for n in lengths)
    cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__max_length=limit, train__steps=1)
    )
    train(cfg)
    report = json.loads((tmp_path / "run" / "bad_samples.json").read_text())
    assert 0 < len(report) == expected_out < 48
    assert (tmp_path / "run" / "final" / "projectors.safetensors").is_file()


def test_input_standardisation_is_fitted_on_training_frames(tiny_lm, syn_data, tmp_path) -> None:
    from safetensors.numpy import load_file as load_np

    cfg = load_config(
        None,
        tiny_overrides(
            tiny_lm, syn_data, tmp_path / "run", train__steps=1, modalities__sensor__normalize=False
        ),
    )
    final = train(cfg)
    stored = load_file(str(final / "projectors.safetensors"))
    samples, _ = load_samples(syn_data / "train.jsonl", ("neutral", "happy", "sad", "angry"))
    feats = load_np(str(syn_data / "features" / "train.video.safetensors"))
    frames = np.concatenate([feats[s.id] for s in samples if "video" in s.media])
    np.testing.assert_allclose(stored["video.norm.mean"].numpy(), frames.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stored["video.norm.std"].numpy(), frames.std(0), rtol=1e-4, atol=1e-5)
    assert torch.equal(stored["sensor.norm.std"], torch.ones(8))  # normalize: false leaves the identity


def test_samples_with_a_modality_the_model_lacks_are_reported(tiny_lm, syn_data, tmp_path) -> None:
    cfg = load_config(
        None,
        [
            o
            for o in tiny_overrides(tiny_lm, syn_data, tmp_path / "run", train__steps=1)
            if not o.startswith("modalities.sensor")
        ],
    )
    train(cfg)
    report = json.loads((tmp_path / "run" / "bad_samples.json").read_text())
    assert report and all("has sensor media but the model has no encoder" in r["reason"] for r in report)


def test_modality_dropout_hides_inputs_and_keeps_answers_honest(tiny_lm, syn_data, tmp_path) -> None:
    from emollm.data.dataset import ModalityDropout

    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "probe"))
    model = EmoLLM.from_config(cfg)
    samples, _ = load_samples(syn_data / "train.jsonl", model.labels)
    ds, _ = build_dataset(samples[:8], model.tokenizer, model.template, model.tokens, model.labels, 512)
    rows = [ds[i] for i in range(8)]
    placeholder_ids = {t.token_id for t in model.tokens.values()}
    dropped = ModalityDropout(0.999, model.tokenizer, model.template, model.tokens, model.labels)
    batch = Collator(model.encoders, model.tokenizer.pad_token_id, dropped)(rows)
    assert not set(batch["input_ids"].flatten().tolist()) & placeholder_ids and batch["features"] == {}
    for row in range(8):
        answer = model.tokenizer.decode(batch["labels"][row][batch["labels"][row] != -100])
        assert answer.startswith("Emotion:") and "Reason" not in answer  # no rationale about unseen cues
    assert "Not available: video, audio, sensor" in model.tokenizer.decode(batch["input_ids"][0])
    torch.manual_seed(0)
    half = Collator(
        model.encoders,
        model.tokenizer.pad_token_id,
        ModalityDropout(0.5, model.tokenizer, model.template, model.tokens, model.labels),
    )(rows)
    counts = [len(f.rows) for f in half["features"].values()]
    assert 0 < sum(counts) < sum(len(json.loads(r["media"])) for r in rows)
    cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", train__steps=2, train__modality_dropout=0.5)
    )
    assert (train(cfg) / "adapter" / "adapter_model.safetensors").is_file()


def test_two_runs_in_one_process_may_differ_in_mixed_precision(tiny_lm, syn_data, tmp_path) -> None:
    """cross-corpus trains one model per source corpus in one process; accelerate's state must not leak."""
    from emollm.config import load_config
    from emollm.train import train
    from tests.conftest import tiny_overrides

    for name, precision in (("a", "no"), ("b", "bf16")):
        cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / name, train__steps=1,
                                               train__mixed_precision=precision))  # fmt: skip
        assert (train(cfg) / "meta.json").is_file()


def test_fused_adamw_on_one_device_matches_the_default_implementation() -> None:
    """One process on CPU trains with torch's fused AdamW; its updates equal the per-tensor loop's to float rounding,
    with weight decay and two learning-rate groups (align/instruct switch their lr per group)."""
    from accelerate import Accelerator

    from emollm.train import adamw, fusable

    torch.manual_seed(0)
    shapes = [(8, 32), (48, 8), (16,), (4, 4)]
    fused_params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    loop_params = [torch.nn.Parameter(p.detach().clone()) for p in fused_params]
    start = [p.detach().clone() for p in fused_params]
    assert fusable(Accelerator(cpu=True))
    fused = adamw([{"params": fused_params[:2]}, {"params": fused_params[2:]}], 0.01, fused=True)
    loop = torch.optim.AdamW([{"params": loop_params[:2]}, {"params": loop_params[2:]}], lr=0.0,
                             weight_decay=0.01, foreach=False)  # fmt: skip
    assert fused.defaults["fused"] is True and not loop.defaults["fused"]
    for step in range(5):
        grads = [torch.randn(s) for s in shapes]
        for opt, params in ((fused, fused_params), (loop, loop_params)):
            for group, lr in zip(opt.param_groups, (1e-2, 3e-3), strict=True):
                group["lr"] = lr * (step + 1)
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for a, b, before in zip(fused_params, loop_params, start, strict=True):
        assert (a - before).abs().min() > 1e-6  # every weight moved
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
