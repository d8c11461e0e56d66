"""Reads features that were computed earlier (by `emollm extract` or by a corpus generator)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from torch import Tensor

from emollm.data.media import MediaError
from emollm.encoders.base import hash_config, pad_frames


def load_feature_file(ref: str | Path) -> np.ndarray:
    """Load `[T, D]` features from `file.npy` or `file.safetensors#key`, refusing pickles and non-finite values."""
    text = str(ref)
    path_str, _, key = text.partition("#")
    path = Path(path_str)
    if not path.is_file():
        raise FileNotFoundError(f"feature file not found: {path}")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise MediaError(f"{path}: not a plain numeric .npy file ({exc})") from exc
    elif path.suffix == ".safetensors":
        array = _safetensors_array(path, key)
    else:
        raise MediaError(
            f"{path}: precomputed features must be .npy or .safetensors, got {path.suffix or 'no suffix'}"
        )
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise MediaError(f"{text}: features must be [T, D] with T > 0, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise MediaError(f"{text}: features contain NaN or inf")
    return array


def _safetensors_array(path: Path, key: str) -> np.ndarray:
    """One tensor of a safetensors file (the only one when no key is given); a clear error for a file that is not
    safetensors (a pickle, a truncated write) or a missing key."""
    stat = path.stat()
    try:
        index = _safetensors_index(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{path}: not a readable safetensors file ({exc})") from exc
    if not key:
        if len(index) != 1:
            raise MediaError(f"{path}: holds {len(index)} tensors; name one as {path}#KEY")
        key = next(iter(index))
    if key not in index:
        raise MediaError(f"{path}: no tensor named {key!r}")
    dtype, shape, start, end = index[key]
    if dtype is None:
        raise MediaError(f"{path}#{key}: unsupported tensor dtype; store float32")
    with open(path, "rb") as fh:
        fh.seek(start)
        data = bytearray(fh.read(end - start))  # writable, like any loaded array
    return np.frombuffer(data, dtype=dtype).reshape(shape)


_NUMPY_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                 "I16": np.int16, "I8": np.int8, "U8": np.uint8}  # fmt: skip


@functools.lru_cache(maxsize=16)
def _safetensors_index(
    path: str, size: int, mtime_ns: int
) -> dict[str, tuple[Any, tuple[int, ...], int, int]]:
    """{tensor name: (numpy dtype or None, shape, start byte, end byte)} of a safetensors file, read once while the
    file is unchanged: a corpus stores one file per split and modality whose header lists every sample, so it must
    not be parsed per sample, and reading each tensor with a plain read (no memory map) keeps a pass over a large
    corpus from holding the file in memory. safetensors itself validates the header first."""
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    with safe_open(os.fspath(path), framework="np"):
        pass  # raises SafetensorError for a file that is not safetensors or whose offsets do not fit
    with open(path, "rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(length))
    base = 8 + length
    index = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, stop = info["data_offsets"]
        if not 0 <= begin <= stop <= size - base:
            raise ValueError(f"tensor {name!r} lies outside the file")
        index[name] = (_NUMPY_DTYPES.get(info["dtype"]), tuple(info["shape"]), base + begin, base + stop)
    return index


class PrecomputedEncoder:
    """An 'encoder' whose features already exist on disk as `[T, D]` arrays; it pads them into a batch."""

    def __init__(self, modality: str, dim: int, source: str = "unspecified") -> None:
        self.name = "precomputed"
        self.modality = modality
        self.dim = int(dim)
        self.source = source

    def prepare(self, ref: str | Path) -> np.ndarray:
        """Load and check one sample's features `[T, D]`."""
        array = load_feature_file(ref)
        if array.shape[1] != self.dim:
            raise MediaError(
                f"{ref}: expected feature dim {self.dim} for {self.modality}, got {array.shape[1]}"
            )
        return array

    def encode(self, inputs: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Pad a batch: features `[B, T, D]`, mask `[B, T]`."""
        return pad_frames(inputs, self.dim)

    def fingerprint(self) -> str:
        """Identifies the producer of the stored features (given as `source`) and their dimension."""
        return hash_config(name=self.name, modality=self.modality, dim=self.dim, source=self.source)
