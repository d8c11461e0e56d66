"""`emollm extract`: decode every sample's media, run the frozen encoders, fill the feature cache; skip and report
bad samples (sample id, modality, file, reason) while keeping every good one. Resumable: cached entries are skipped
and the cache is flushed in shards as it goes."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from emollm.config import RunConfig
from emollm.data.prepass import MEDIA_ERRORS
from emollm.data.sample import load_samples
from emollm.encoders import build_encoder
from emollm.encoders.cache import CachedEncoder, FeatureCache
from emollm.faults import kill_point
from emollm.io import atomic_write_json
from emollm.labels import get_labels

log = logging.getLogger("emollm.extract")


def extract(
    cfg: RunConfig, data: str | Path, cache_root: str | Path, report: str | Path | None = None
) -> dict[str, Any]:
    """Fill the cache for every modality of `cfg` over the samples of `data`; return per-modality counts."""
    samples, bad_records = load_samples(data, get_labels(cfg.data.labels), [cfg.data.media_root])
    bad: list[dict[str, Any]] = [
        {
            "sample": b.sample_id,
            "modality": None,
            "kind": "bad_record",
            "file": b.file,
            "line": b.line,
            "reason": b.reason,
        }
        for b in bad_records
    ]
    summary: dict[str, Any] = {"data": str(data), "cache": str(cache_root), "modalities": {}}
    for modality, mc in cfg.modalities.items():
        encoder = build_encoder(mc.encoder, modality, **mc.encoder_args)
        cached = CachedEncoder(encoder, FeatureCache(cache_root, encoder.fingerprint()))
        todo = [s for s in samples if modality in s.media]
        began = time.time()
        for sample in tqdm(todo, desc=f"extract {modality}", unit="clip"):
            file = sample.media[modality].partition("#")[0]
            try:
                cached.features(sample.media[modality], source=sample.id)
            except MEDIA_ERRORS as exc:
                bad.append({"sample": sample.id, "modality": modality, "kind": "bad_media", "file": file,
                            "reason": str(exc)})  # fmt: skip
                log.warning("skipping %s %s: %s", sample.id, modality, exc)
            except Exception as exc:  # noqa: BLE001 - an encoder failing on one input must not stop the batch
                reason = f"encoder error ({type(exc).__name__}): {exc}"
                bad.append({"sample": sample.id, "modality": modality, "kind": "encoder_error", "file": file,
                            "reason": reason})  # fmt: skip
                log.error("skipping %s %s: %s", sample.id, modality, reason)
            kill_point("extract.sample")
        cached.cache.flush()
        seconds = time.time() - began
        summary["modalities"][modality] = {
            "encoder": encoder.name,
            "fingerprint": encoder.fingerprint(),
            "samples": len(todo),
            "cache_hits": cached.hits,
            "computed": cached.misses,
            "seconds": round(seconds, 2),
            "clips_per_s": round(cached.misses / seconds, 2) if cached.misses and seconds > 0 else None,
        }
    summary["bad"] = len(bad)
    report = Path(report) if report else Path(cache_root) / f"bad_samples.{Path(data).stem}.json"
    atomic_write_json(report, bad)
    summary["bad_report"] = str(report)
    return summary
