"""Feature cache: encoder outputs stored once per (encoder fingerprint, media content hash).

Layout: `ROOT/<encoder fingerprint>/index.json` + `shard-NNNNN.safetensors`. The fingerprint covers the encoder's
weights and preprocessing (layer, frame sampling, windowing), so changing any of them, or the media file's bytes,
misses exactly the affected entries. Keying by content rather than sample id lets samples that share a clip share
its entry; the index records which sample first produced it. Shards are written to a temporary file and renamed, then the index is replaced
atomically, so readers only ever see complete shards. Each entry records a checksum of its array; a corrupted or
missing shard is detected on read and the entry is dropped (and recomputed by the caller), never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from torch import Tensor

from emollm.encoders.base import pad_frames
from emollm.faults import kill_point
from emollm.io import atomic_write_json, sha256_file

log = logging.getLogger(__name__)
_HASHES: dict[tuple[str, int, int], str] = {}


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes (a `file#key` reference hashes the file and the key); memoised by size and mtime."""
    text = str(path)
    file_part, _, key = text.partition("#")
    stat = os.stat(file_part)
    memo = (file_part, stat.st_size, stat.st_mtime_ns)
    if memo not in _HASHES:
        _HASHES[memo] = sha256_file(file_part)
    return hashlib.sha256(f"{_HASHES[memo]}#{key}".encode()).hexdigest()[:32]


def _checksum(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes() + str(array.shape).encode()).hexdigest()[:16]


class FeatureCache:
    """Features of one encoder (by fingerprint) under a cache root; `get` / `put` / `flush`."""

    MAX_OPEN = 8

    def __init__(self, root: str | Path, fingerprint: str, shard_size: int = 256) -> None:
        self.dir = Path(root) / fingerprint
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        self.index: dict[str, dict[str, str]] = (
            json.loads(self.index_path.read_text()) if self.index_path.is_file() else {}
        )
        self.pending: dict[str, np.ndarray] = {}
        self.sources: dict[str, str] = {}
        self.shard_size = shard_size
        self._open: OrderedDict[str, Any] = (
            OrderedDict()
        )  # a few memory-mapped shards, least recently used first

    @staticmethod
    def key(media_ref: str | Path) -> str:
        """The entry key: the content hash of the media file (and its `#key`, if any)."""
        return content_hash(media_ref)

    def __contains__(self, key: str) -> bool:
        return key in self.index or key in self.pending

    def __len__(self) -> int:
        return len(self.index) + len(self.pending)

    def get(self, key: str) -> np.ndarray | None:
        """The cached array, or None when absent, unreadable or failing its checksum (then it is forgotten)."""
        if key in self.pending:
            return self.pending[key]
        entry = self.index.get(key)
        if entry is None:
            return None
        try:
            array = self._shard(entry["shard"]).get_tensor(entry["tensor"])
        except Exception as exc:  # missing or corrupted shard file
            log.warning(
                "feature cache %s: shard %s unreadable (%s); recomputing", self.dir, entry["shard"], exc
            )
            self._forget_shard(entry["shard"])
            return None
        if _checksum(array) != entry["checksum"]:
            log.warning("feature cache %s: entry %s fails its checksum; recomputing", self.dir, key)
            del self.index[key]
            return None
        return array

    def _shard(self, name: str) -> Any:
        """An open shard (memory-mapped: one entry is read without loading the others). At most `MAX_OPEN` stay
        open, so a pass over a large corpus holds a bounded amount of it in memory."""
        handle = self._open.pop(name, None)
        if handle is None:
            handle = safe_open(str(self.dir / name), framework="np")
        self._open[name] = handle
        while len(self._open) > self.MAX_OPEN:
            self._open.popitem(last=False)
        return handle

    def _forget_shard(self, shard: str) -> None:
        """Drop a damaged shard's entries and move the file aside (it is never read again)."""
        self._open.pop(shard, None)
        self.index = {k: v for k, v in self.index.items() if v["shard"] != shard}
        damaged = self.dir / shard
        if damaged.exists():
            os.replace(damaged, damaged.with_name(f"{shard}.corrupt"))
        atomic_write_json(self.index_path, self.index)

    def put(self, key: str, array: np.ndarray, source: str = "") -> None:
        """Stage an entry; it reaches disk at the next `flush` (automatic every `shard_size` entries)."""
        self.pending[key] = np.ascontiguousarray(array, dtype=np.float32)
        self.sources[key] = source
        if len(self.pending) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Write staged entries as a new shard (temp file + rename), then replace the index atomically."""
        if not self.pending:
            return
        number = 1 + max((int(p.stem.split("-")[1]) for p in self.dir.glob("shard-*.safetensors")), default=0)
        name = f"shard-{number:05d}.safetensors"
        tensors = {f"t{i}": array for i, array in enumerate(self.pending.values())}
        tmp = self.dir / f".{name}.tmp"
        save_file(tensors, str(tmp))
        kill_point("cache.shard_written")
        os.replace(tmp, self.dir / name)
        kill_point("cache.shard_renamed")  # a shard the index does not list yet: ignored, recomputed
        for i, (key, array) in enumerate(self.pending.items()):
            self.index[key] = {
                "shard": name,
                "tensor": f"t{i}",
                "checksum": _checksum(array),
                "source": self.sources.get(key, ""),
            }
        atomic_write_json(self.index_path, self.index)
        self.pending, self.sources = {}, {}


class CachedEncoder:
    """An encoder whose per-sample features come from a FeatureCache, computed (and staged) on a miss."""

    def __init__(self, encoder: Any, cache: FeatureCache, read_only: bool = False) -> None:
        self.inner, self.cache, self.read_only = encoder, cache, read_only
        self.name, self.modality, self.dim = encoder.name, encoder.modality, encoder.dim
        self.hits = self.misses = 0

    def features(self, ref: str | Path, source: str = "") -> np.ndarray:
        """Features `[T, D]` of one media file (valid frames only)."""
        key = self.cache.key(ref)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        feats, mask = self.inner.encode([self.inner.prepare(ref)])
        array = feats[0][mask[0]].detach().cpu().numpy()
        self.misses += 1
        if not self.read_only:
            self.cache.put(key, array, source or str(ref))
        return array

    def prepare(self, ref: str | Path) -> np.ndarray:
        """Cached features stand in for the decoded input."""
        return self.features(ref)

    def encode(self, inputs: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Pad cached features: `[B, T, D]` + mask `[B, T]`."""
        return pad_frames(inputs, self.dim)

    def fingerprint(self) -> str:
        """The wrapped encoder's fingerprint."""
        return self.inner.fingerprint()


def cached_encoders(
    encoders: dict[str, Any], cache_root: str | Path, read_only: bool = False
) -> dict[str, Any]:
    """Wrap each encoder with its FeatureCache under `cache_root` (unchanged when `cache_root` is empty)."""
    if not cache_root:
        return encoders
    return {
        m: CachedEncoder(e, FeatureCache(cache_root, e.fingerprint()), read_only) for m, e in encoders.items()
    }


def flush_caches(encoders: dict[str, Any]) -> None:
    """Write staged entries of every cached encoder (no-op for plain encoders and read-only caches)."""
    for encoder in encoders.values():
        if isinstance(encoder, CachedEncoder) and not encoder.read_only:
            encoder.cache.flush()
