"""`emollm robustness`: evaluate an LLM checkpoint and/or saved fusion baselines under missing and degraded inputs,
on the same perturbed files, and report each condition's metrics and its drop relative to clean input.

Conditions (built from the inputs the data and model have):
- modality removed (`without:video`, ...) and every smaller subset (`only:audio+text`, ...), text included;
- audio: additive white noise at 20/10/5/0 dB SNR;
- video: Gaussian blur (sigma 1/2/4 px), a black square occluding 25%/50% of the frame, 25%/50% dropped frames
  (frozen on the last kept frame);
- sensor: one channel flat-lined (a detached electrode), motion artefacts (spikes + a baseline jump, 0.5 and 2 per s);
- temporal misalignment: audio delayed 0.25/0.5/1 s, sensor delayed 2/4 s relative to the other inputs.
Perturbed files are written under OUT/conditions/NAME/media/ with a per-sample seed; a finished condition is not
rerun (resume after a kill). Modalities stored as feature tensors (`file#key`) cannot be perturbed and are noted.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emollm.baselines.saved import baseline_name, evaluate_baseline, read_baseline_meta
from emollm.config import MODALITIES, load_config
from emollm.data.media import load_audio, load_sensor, load_video
from emollm.data.sample import rebase_media, split_roots
from emollm.encoders import build_encoder
from emollm.evaluation.compare import compare_predictions
from emollm.evaluation.evaluate import evaluate
from emollm.evaluation.report.robustness import write_robustness_report
from emollm.experiments import perturb
from emollm.io import atomic_write_json, iter_jsonl, write_jsonl

if TYPE_CHECKING:
    from emollm.model.emollm import EmoLLM

log = logging.getLogger("emollm.experiments.robustness")


@dataclass(frozen=True)
class Condition:
    """One evaluation condition: inputs removed, and/or one modality's signal transformed at a level."""

    name: str
    family: str
    level: float | str | None = None
    drop: frozenset[str] = frozenset()
    modality: str | None = None
    kind: str | None = None


def default_conditions(inputs: list[str], sensor_channels: list[str]) -> list[Condition]:
    """Clean, removals and subsets, then the perturbations that apply to the present inputs."""
    conds = [Condition("clean", "clean")]
    for k in range(len(inputs) - 1, 0, -1):
        for keep in itertools.combinations(inputs, k):
            drop = frozenset(set(inputs) - set(keep))
            if len(drop) == 1:
                conds.append(Condition(f"without:{next(iter(drop))}", "modality removed", None, drop))
            else:
                conds.append(Condition(f"only:{'+'.join(keep)}", "modality subset", len(keep), drop))
    table = {
        "audio": [("noise", "audio noise (SNR dB)", [20, 10, 5, 0]), ("delay", "audio delay (s)", [0.25, 0.5, 1.0])],
        "video": [("blur", "video blur (sigma px)", [1, 2, 4]), ("occlude", "video occlusion (area)", [0.25, 0.5]),
                  ("drop_frames", "video dropped frames (rate)", [0.25, 0.5])],
        "sensor": [("flat", "sensor channel flat-lined", sensor_channels),
                   ("spikes", "sensor artefacts (spikes/s)", [0.5, 2.0]), ("delay", "sensor delay (s)", [2.0, 4.0])],
    }  # fmt: skip
    for modality in (m for m in MODALITIES if m in inputs):
        for kind, family, levels in table[modality]:
            if kind == "delay" and len([m for m in inputs if m != "text"]) < 2:
                continue
            conds += [
                Condition(f"{modality}_{kind}={lv}", family, lv, modality=modality, kind=kind)
                for lv in levels
            ]
    return conds


def _rng(name: str, sid: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{name}|{sid}".encode()))


def perturb_file(cond: Condition, src: Path, dst: Path, sid: str) -> Path:
    """Write the perturbed copy of one media file; return its path."""

    rng, level = _rng(cond.name, sid), cond.level
    if cond.modality == "audio":
        audio = load_audio(src, 16000)
        x = (
            perturb.add_noise_snr(audio.samples, float(level), rng)
            if cond.kind == "noise"
            else perturb.delay(audio.samples, float(level), 16000)
        )
        return perturb.write_wav(dst.with_suffix(".wav"), x, 16000)
    if cond.modality == "video":
        video = load_video(src, num_frames=None, sample_fps=None, max_frames=100_000)
        frames = {"blur": lambda f: perturb.blur(f, float(level)), "occlude": lambda f: perturb.occlude(f, float(level), rng),
                  "drop_frames": lambda f: perturb.drop_frames(f, float(level), rng)}[cond.kind](video.frames)  # fmt: skip
        return perturb.write_video(dst.with_suffix(".mp4"), frames, video.fps)
    rec = load_sensor(src)
    signals = dict(rec.signals)
    for name, x in signals.items():
        if cond.kind == "flat" and name == level:
            signals[name] = perturb.flatline(x)
        elif cond.kind == "spikes":
            signals[name] = perturb.spikes(x, float(level), rec.rates[name], rng)
        elif cond.kind == "delay":
            signals[name] = perturb.delay(x, float(level), rec.rates[name])
    return perturb.write_sensor(dst.with_suffix(".npy"), signals, rec.rates)


def condition_records(
    cond: Condition, records: list[dict], src_dir: Path, cdir: Path
) -> tuple[list[dict], list[dict]]:
    """The split's records under one condition (media rebased to `cdir`), and the samples it could not use."""
    out, skipped = [], []
    for record in records:
        r = rebase_media(dict(record), src_dir, cdir)
        r["media"] = {m: ref for m, ref in (r.get("media") or {}).items() if m not in cond.drop}
        if "text" in cond.drop:
            r.pop("text", None)
        if cond.modality and cond.modality in r["media"]:
            ref = r["media"][cond.modality]
            if "#" in ref:
                skipped.append(
                    {"sample": r["id"], "reason": f"{cond.modality} is stored as features, not media"}
                )
                continue
            safe = re.sub(r"[^\w.-]", "_", r["id"])
            try:
                path = perturb_file(cond, cdir / ref, cdir / "media" / safe, r["id"])
            except (ValueError, OSError) as exc:
                skipped.append({"sample": r["id"], "reason": str(exc)})
                continue
            r["media"][cond.modality] = str(path.relative_to(cdir))
            if isinstance(
                r.get("meta"), dict
            ):  # cues measured on the clean input no longer hold: re-measured
                r["meta"] = {k: v for k, v in r["meta"].items() if k != "measured"}
        if not r["media"] and not r.get("text"):
            skipped.append({"sample": r["id"], "reason": "no input left"})
            continue
        out.append(r)
    return out, skipped


@dataclass
class System:
    """A model evaluated under every condition: its name, the inputs it reads (modalities and "text"), its sensor
    channels, the metrics key it reports, and `evaluate(data.jsonl, out_dir, media_roots)` writing
    out_dir/metrics.json."""

    name: str
    inputs: list[str]
    sensor_channels: list[str]
    mode: str
    evaluate: Callable[[Path, Path, list[Path]], Any]
    checkpoint: str = ""

    def affected_by(self, cond: Condition) -> bool:
        """Whether a condition changes anything this system reads (clean always does)."""
        return cond.name == "clean" or bool(cond.drop & set(self.inputs)) or cond.modality in self.inputs


def llm_system(
    model: EmoLLM,
    modes: tuple[str, ...] = ("score",),
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
) -> System:
    """The LLM checkpoint as a robustness system (text is always an input: the prompt carries it)."""

    sensor = model.encoders.get("sensor")
    return System(
        "llm",
        [m for m in MODALITIES if m in model.encoders] + ["text"],
        list(getattr(sensor, "channels", [])),
        modes[0],
        lambda data, out, roots: evaluate(
            model, data, out, batch_size, modes, cache_dir=cache_dir, report=False, media_roots=roots
        ),
        str(getattr(model, "path", "")),
    )


def baseline_system(folder: str | Path, cache_dir: str | Path | None = None) -> System:
    """A saved fusion baseline (`emollm baseline` output folder) as a robustness system."""

    meta = read_baseline_meta(folder)
    if meta["task"] != "classification":
        raise ValueError(
            f"{folder}: robustness scores classification baselines; this one is a {meta['task']} model"
        )
    cfg = load_config(Path(folder) / "config.yaml")
    sensor = cfg.modalities.get("sensor")
    channels = (
        list(getattr(build_encoder(sensor.encoder, "sensor", **sensor.encoder_args), "channels", []))
        if sensor and "sensor" in meta["modalities"]
        else []
    )
    return System(
        baseline_name(meta),
        list(meta["modalities"]),
        channels,
        "score",
        lambda data, out, roots: evaluate_baseline(
            folder, data, out, cache_dir, report=False, media_roots=roots
        ),
        str(folder),
    )


def run_robustness(
    systems: list[System],
    data: str | Path,
    out: str | Path,
    limit: int | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate every system under every condition that touches its inputs; write OUT/robustness.json and
    OUT/report.{md,html} with plots; return the summary."""
    data, out = Path(data), Path(out)
    _number_repeated_names(systems)
    records = [r for _, r, err in iter_jsonl(data) if err is None][: limit or None]
    present = {m for r in records for m in (r.get("media") or {})} | (
        {"text"} if any(r.get("text") for r in records) else set()
    )
    inputs = [m for m in (*MODALITIES, "text") if m in present and any(m in s.inputs for s in systems)]
    channels = sorted({c for s in systems for c in s.sensor_channels})
    conditions = default_conditions(inputs, channels)
    if only:
        conditions = [c for c in conditions if c.name == "clean" or any(c.name.startswith(o) for o in only)]
    results: dict[str, dict[str, Any]] = {s.name: {} for s in systems}
    for cond in conditions:
        cdir = out / "conditions" / re.sub(r"[^\w.=+-]", "_", cond.name)
        users = [s for s in systems if s.affected_by(cond)]
        if users:
            recs, skipped = _condition_split(cond, records, data.parent, cdir)
        for system in users:
            metrics = _evaluate_condition(system, cond, recs, skipped, cdir, [cdir, *split_roots(data)])
            results[system.name][cond.name] = {
                "condition": cond.__dict__ | {"drop": sorted(cond.drop)},
                **metrics,
                "paired": _paired_drop(
                    cdir / system.name, out / "conditions" / "clean" / system.name, system.mode
                )
                if cond.name != "clean"
                else None,
            }
    summary: dict[str, Any] = {"data": str(data), "n": len(records), "inputs": inputs, "systems": {}}
    for s in systems:
        row = summarize_conditions(results[s.name], s.mode)
        summary["systems"][s.name] = {
            "checkpoint": s.checkpoint,
            "inputs": [m for m in s.inputs if m in inputs],
            **row,
        }
    summary["generated_data"] = any(v["generated_data"] for v in summary["systems"].values())
    atomic_write_json(out / "robustness.json", summary)

    write_robustness_report(out, summary)
    return summary


def _number_repeated_names(systems: list[System]) -> None:
    """Give a system whose name is already taken (the same kind of baseline trained twice) a -2, -3... suffix."""
    taken: set[str] = set()
    for system in systems:
        base, copy = system.name, 1
        while system.name in taken:
            copy += 1
            system.name = f"{base}-{copy}"
        taken.add(system.name)


def _condition_split(
    cond: Condition, records: list[dict], src_dir: Path, cdir: Path
) -> tuple[list[dict], list[dict]]:
    """The condition's split file and perturbed media under `cdir`, written once and shared by every system."""
    if (cdir / "data.jsonl").is_file() and (cdir / "skipped.json").is_file():
        return [r for _, r, _ in iter_jsonl(cdir / "data.jsonl")], json.loads(
            (cdir / "skipped.json").read_text()
        )
    log.info("robustness: preparing %s", cond.name)
    cdir.mkdir(parents=True, exist_ok=True)  # relative media paths walk up through it
    recs, skipped = condition_records(cond, records, src_dir, cdir)
    write_jsonl(cdir / "data.jsonl", recs)
    atomic_write_json(cdir / "skipped.json", skipped)
    return recs, skipped


def _evaluate_condition(
    system: System, cond: Condition, recs: list[dict], skipped: list[dict], cdir: Path, roots: list[Path]
) -> dict:
    """One system's metrics under one condition (reused when already written); samples left with no input this
    system reads are skipped and counted."""
    sdir = cdir / system.name
    done = sdir / "metrics.json"
    if not done.is_file():
        log.info("robustness: %s under %s", system.name, cond.name)
        sdir.mkdir(parents=True, exist_ok=True)
        reads = set(system.inputs)
        usable = [
            r for r in recs if reads & (set(r.get("media") or {}) | ({"text"} if r.get("text") else set()))
        ]
        kept = {r["id"] for r in usable}
        lost = [
            {"sample": r["id"], "reason": f"no input {system.name} reads"}
            for r in recs
            if r["id"] not in kept
        ]
        metrics: dict[str, Any] = {}
        if usable:
            write_jsonl(sdir / "data.jsonl", [rebase_media(dict(r), cdir, sdir) for r in usable])
            system.evaluate(sdir / "data.jsonl", sdir, roots)
            metrics = json.loads(done.read_text())
        metrics["skipped"] = skipped + lost
        atomic_write_json(done, metrics)
    return json.loads(done.read_text())


def _paired_drop(sdir: Path, clean_dir: Path, mode: str) -> dict[str, Any] | None:
    """UAR under the condition minus clean UAR on the samples both scored, with its paired-bootstrap 95% interval."""

    if not (sdir / "predictions.jsonl").is_file() or not (clean_dir / "predictions.jsonl").is_file():
        return None
    c = compare_predictions(sdir, clean_dir, mode, ("condition", "clean"))
    return {"n": c["n"], "delta_uar": c["delta_uar"]["delta"], "ci95": c["delta_uar"]["ci95"]}


def summarize_conditions(results: dict[str, Any], mode: str) -> dict[str, Any]:
    """Per condition: accuracy, UAR, macro-F1, n, the UAR/accuracy drop relative to clean and the paired 95% interval
    of the UAR drop (significant when it excludes 0)."""
    clean = results["clean"].get(mode, {})
    rows = []
    for name, r in results.items():
        m = r.get(mode)
        row = {"name": name, "family": r["condition"]["family"], "level": r["condition"]["level"],
               "skipped": len(r.get("skipped", []))}  # fmt: skip
        if m:
            row.update({k: m[k] for k in ("accuracy", "uar", "macro_f1", "n")})
            row["uar_ci95"] = m.get("ci95", {}).get("uar")
            row["delta_uar"] = m["uar"] - clean["uar"] if clean else None
            row["delta_accuracy"] = m["accuracy"] - clean["accuracy"] if clean else None
            paired = r.get("paired")
            row["delta_uar_ci95"] = paired["ci95"] if paired else None
            row["delta_uar_significant"] = bool(paired and (paired["ci95"][0] > 0 or paired["ci95"][1] < 0))
        rows.append(row)
    return {"mode": mode, "conditions": rows, "generated_data": bool(results["clean"].get("generated_data"))}
