"""Reads features that were computed earlier (by `emollm extract` or by a corpus generator)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
    try:
        with safe_open(str(path), framework="np") as fh:
            keys = list(fh.keys())
            if not key:
                if len(keys) != 1:
                    raise MediaError(f"{path}: holds {len(keys)} tensors; name one as {path}#KEY")
                key = keys[0]
            if key not in keys:
                raise MediaError(f"{path}: no tensor named {key!r}")
            return fh.get_tensor(key)
    except SafetensorError as exc:
        raise MediaError(f"{path}: not a readable safetensors file ({exc})") from exc


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
