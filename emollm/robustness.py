"""`emollm robustness`: evaluate one checkpoint under missing and degraded inputs and report each condition's
metrics and its drop relative to clean input.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emollm import perturb
from emollm.config import MODALITIES
from emollm.data.sample import rebase_media
from emollm.io import atomic_write_json, iter_jsonl, write_jsonl

log = logging.getLogger("emollm.robustness")


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
    from emollm.data.media import load_audio, load_sensor, load_video

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
        if not r["media"] and not r.get("text"):
            skipped.append({"sample": r["id"], "reason": "no input left"})
            continue
        out.append(r)
    return out, skipped


def run_robustness(
    model: Any,
    data: str | Path,
    out: str | Path,
    modes: tuple[str, ...] = ("score",),
    batch_size: int = 16,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate every condition; write OUT/robustness.json and OUT/report.{md,html} with plots; return the summary."""
    from emollm.evaluate import evaluate

    data, out = Path(data), Path(out)
    records = [r for _, r, err in iter_jsonl(data) if err is None][: limit or None]
    inputs = [
        m for m in MODALITIES if m in model.encoders and any(m in (r.get("media") or {}) for r in records)
    ]
    inputs += ["text"] if any(r.get("text") for r in records) else []
    sensor = model.encoders.get("sensor")
    conditions = default_conditions(inputs, list(getattr(sensor, "channels", [])))
    if only:
        conditions = [c for c in conditions if c.name == "clean" or any(c.name.startswith(o) for o in only)]
    results: dict[str, Any] = {}
    for cond in conditions:
        cdir = out / "conditions" / re.sub(r"[^\w.=+-]", "_", cond.name)
        done = cdir / "metrics.json"
        if not done.is_file():
            log.info("robustness: %s", cond.name)
            cdir.mkdir(parents=True, exist_ok=True)  # relative media paths walk up through it
            recs, skipped = condition_records(cond, records, data.parent, cdir)
            write_jsonl(cdir / "data.jsonl", recs)
            if recs:
                evaluate(model, cdir / "data.jsonl", cdir, batch_size, modes, cache_dir=cache_dir or out / "cache",
                         report=False)  # fmt: skip
                metrics = json.loads(done.read_text())
            else:
                metrics = {}
            metrics["skipped"] = skipped
            atomic_write_json(done, metrics)
        results[cond.name] = {
            "condition": cond.__dict__ | {"drop": sorted(cond.drop)},
            **json.loads(done.read_text()),
        }
    summary = summarize_conditions(results, modes[0])
    summary.update(data=str(data), modes=list(modes), inputs=inputs, n=len(records))
    atomic_write_json(out / "robustness.json", summary)
    from emollm.report_robustness import write_robustness_report

    write_robustness_report(out, summary, getattr(model, "path", ""))
    return summary


def summarize_conditions(results: dict[str, Any], mode: str) -> dict[str, Any]:
    """Per condition: accuracy, UAR, macro-F1, n and the UAR/accuracy drop relative to clean."""
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
        rows.append(row)
    return {"mode": mode, "conditions": rows, "generated_data": bool(results["clean"].get("generated_data"))}
