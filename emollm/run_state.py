"""The run folder's bookkeeping: readable logs, the loss log, atomic step/final checkpoints, accelerate state hooks."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from accelerate import Accelerator

from emollm.checkpoint import load_trainable, prune_steps, save_trainable, write_model_files
from emollm.config import ConfigError, RunConfig, from_dict, to_dict
from emollm.faults import kill_point
from emollm.io import atomic_write_json, atomic_write_text, replace_dir
from emollm.model.emollm import EmoLLM

log = logging.getLogger("emollm.train")
TRAINABLE_FILE = "trainable.safetensors"
LOG_FIELDS = ["step", "stage", "loss", "lr", "dev_loss", "seconds"]
RUN_IDENTITY = "run_identity.json"


def setup_logging(run_dir: Path, is_main: bool) -> None:
    """Readable logs to the console and to run_dir/train.log (main process only)."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    root = logging.getLogger("emollm")
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(fmt)
    root.addHandler(console)
    if is_main:
        file_handler = logging.FileHandler(run_dir / "train.log")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)


def trackers(names: list[str] | None = None) -> list[str]:
    """The accelerate trackers to log to: the names given (tensorboard, wandb, mlflow, comet_ml, aim, clearml,
    dvclive, ...); `auto` (the default) = tensorboard when it is installed (it is in emollm's requirements)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    chosen = []
    for name in ["auto"] if names is None else names:
        if name == "auto":
            if importlib.util.find_spec("tensorboard") is not None:
                chosen.append("tensorboard")
        elif name in LOGGER_TYPE_TO_CLASS:
            chosen.append(name)
        else:
            raise ValueError(
                f"unknown tracker {name!r}; valid: auto, {', '.join(sorted(LOGGER_TYPE_TO_CLASS))}"
            )
    return list(dict.fromkeys(chosen))


# Settings that steer a run without changing what it computes: a resumed run may differ from its first part in these.
RUN_CONTROL = {"train.out_dir", "train.max_steps_per_run", "train.log_every", "train.trackers", "train.num_workers",
               "train.save_every", "train.keep_last", "data.cache_dir"}  # fmt: skip
# The per-process batch and accumulation may change with the process count; the global batch they give may not.
BATCH_LAYOUT = {"train.batch_size", "train.grad_accum"}


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted.key: leaf value} of a nested config dict."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {
        k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}.{key}" if prefix else key).items()
    }


def check_same_config(run_dir: Path, cfg: RunConfig, processes: int) -> None:
    """Refuse to resume (or reuse) the run in `run_dir` under a config, data files or global batch that would compute
    something else: a finished or half-done run of another recipe must not stand in for this one. Run-control
    settings may differ, and so may the per-process batch where the global batch stays (another process count)."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return
    try:
        before = to_dict(from_dict(RunConfig, yaml.safe_load(saved.read_text()) or {}))
    except ConfigError as exc:
        raise ConfigError(
            f"{saved}: the run's config no longer loads ({exc}); start a new train.out_dir"
        ) from exc
    old, new = _flat(before), _flat(to_dict(cfg))
    changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(old.keys() | new.keys())
               if k not in RUN_CONTROL | BATCH_LAYOUT and old.get(k) != new.get(k)]  # fmt: skip
    recorded_path = run_dir / RUN_IDENTITY
    recorded = json.loads(recorded_path.read_text()) if recorded_path.is_file() else {}
    now = run_identity(cfg, processes)
    changed += [
        f"the content of {key} {path}"
        for key, path in _data_files(cfg).items()
        if key in recorded and recorded[key] != now[key]
    ]
    if "global_batch" in recorded and recorded["global_batch"] != now["global_batch"]:
        changed.append(
            f"global batch {recorded['global_batch']} -> {now['global_batch']} (batch_size x grad_accum x processes)"
        )
    if changed:
        raise ConfigError(f"{run_dir} holds a run of another config or data ({'; '.join(changed[:6])}); delete it "
                          "or choose another train.out_dir to train this one")  # fmt: skip


def run_identity(cfg: RunConfig, processes: int) -> dict[str, Any]:
    """What a resume must find unchanged beyond the config: SHA-256 of the training and dev files ("" where there is
    none) and the global batch (batch_size x grad_accum x processes)."""
    digests = {key: hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else ""
               for key, path in _data_files(cfg).items()}  # fmt: skip
    return {**digests, "global_batch": cfg.train.batch_size * cfg.train.grad_accum * processes}


def _data_files(cfg: RunConfig) -> dict[str, str]:
    """The run's data files by config key."""
    return {"data.train": cfg.data.train, "data.dev": cfg.data.dev}


def save_step(
    accelerator: Accelerator, model: EmoLLM, run_dir: Path, step: int, meta: dict[str, Any], keep_last: int
) -> None:
    """Write run_dir/step-NNNNNN atomically: model files + accelerate state (optimizer, RNG, trainable weights)."""
    tmp = run_dir / f".step-{step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / "state"))
    accelerator.wait_for_everyone()  # every rank's RNG state is on disk before the folder is renamed
    kill_point("checkpoint.state")
    if accelerator.is_main_process:
        missing = [
            i
            for i in range(accelerator.num_processes)
            if not (tmp / "state" / f"random_states_{i}.pkl").is_file()
        ]
        if missing:
            raise RuntimeError(f"{tmp}: RNG state of rank(s) {missing} missing after save_state")
        write_model_files(model, tmp, meta)
        kill_point("checkpoint.files")
        replace_dir(tmp, run_dir / f"step-{step:06d}")
        kill_point("checkpoint.renamed")
        prune_steps(run_dir, keep_last)
        log.info("saved checkpoint %s", run_dir / f"step-{step:06d}")
    accelerator.wait_for_everyone()


def _write_folder(accelerator: Accelerator, run_dir: Path, name: str, fill: Callable[[Path], None]) -> None:
    """Write run_dir/NAME atomically (main process): `fill` writes into .NAME.tmp, which then replaces NAME."""
    if accelerator.is_main_process:
        tmp = run_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        fill(tmp)
        replace_dir(tmp, run_dir / name)
    accelerator.wait_for_everyone()


def save_final(
    accelerator: Accelerator, model: EmoLLM, run_dir: Path, meta: dict[str, Any], name: str = "final"
) -> None:
    """Write run_dir/NAME (final, or best) atomically: model files only, a finished run needs no optimizer state."""
    _write_folder(accelerator, run_dir, name, lambda tmp: write_model_files(model, tmp, meta))
    if accelerator.is_main_process:
        log.info("saved %s checkpoint %s", name, run_dir / name)


def best_dev_loss(run_dir: Path, start: int) -> float:
    """The dev loss of run_dir/best when it was saved at or before step `start` (a resumed run recomputes the steps
    after its checkpoint, so a best/ from those steps no longer counts), else infinity."""
    meta = run_dir / "best" / "meta.json"
    if not meta.is_file():
        return float("inf")
    best = json.loads(meta.read_text())
    return float(best["dev_loss"]) if best["step"] <= start else float("inf")


def final_from_best(accelerator: Accelerator, run_dir: Path, meta: dict[str, Any]) -> None:
    """Write run_dir/final atomically as a copy of run_dir/best, its meta.json = `meta` + the best step and loss."""
    best = json.loads((run_dir / "best" / "meta.json").read_text())

    def fill(tmp: Path) -> None:
        shutil.copytree(run_dir / "best", tmp, dirs_exist_ok=True)
        atomic_write_json(
            tmp / "meta.json", {**meta, "best_step": best["step"], "best_dev_loss": best["dev_loss"]}
        )

    _write_folder(accelerator, run_dir, "final", fill)
    if accelerator.is_main_process:
        log.info("saved final checkpoint %s = the weights of step %d (lowest dev loss %.4f)", run_dir / "final",
                 best["step"], best["dev_loss"])  # fmt: skip


def log_row(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one step's numbers to run_dir/log.jsonl and run_dir/log.csv."""
    with (run_dir / "log.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    csv_path = run_dir / "log.csv"
    new = not csv_path.exists()
    with csv_path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in writer.fieldnames})


def truncate_log(run_dir: Path, step: int) -> None:
    """Keep only the rows of log.jsonl and log.csv up to `step` (a resumed run recomputes the rest), atomically."""
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
        if row["step"] <= step:
            kept.append(row)
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
    csv_path = run_dir / "log.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS)
    writer.writeheader()
    for row in kept:
        writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})
    atomic_write_text(csv_path, buffer.getvalue())


def register_state_hooks(accelerator: Accelerator, model: EmoLLM) -> None:
    """Make accelerate's save_state/load_state keep only the trainable weights (projectors + LoRA), not the LM."""

    def save_hook(models: list, weights: list, output_dir: str) -> None:
        weights.clear()
        if accelerator.is_main_process:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            save_trainable(model, Path(output_dir) / TRAINABLE_FILE)

    def load_hook(models: list, input_dir: str) -> None:
        models.clear()
        load_trainable(model, Path(input_dir) / TRAINABLE_FILE)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
