"""Whisper's encoder in torch, read from a CTranslate2 `model.bin`, so hidden states of any layer can be used.

CTranslate2 returns only the encoder's last layer; speech-emotion probes do better on intermediate layers (measured
on EmoDB, docs/results.md). The file is parsed as plain arrays (no pickle): a header, then for each variable its
name, shape, dtype and raw little-endian bytes (CTranslate2's format, version 6)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
"""CTranslate2 dtype codes of the arrays this reader converts (bfloat16 and others are refused)."""


class CT2FormatError(ValueError):
    """A CTranslate2 model file this reader cannot parse; the message names the file and the problem."""


def _unpack(f: BinaryIO, fmt: str, path: Path) -> tuple:
    size = struct.calcsize(fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise CT2FormatError(f"{path}: truncated CTranslate2 model file")
    return struct.unpack(fmt, raw)


def _string(f: BinaryIO, path: Path) -> str:
    (n,) = _unpack(f, "<H", path)
    return f.read(n).decode("utf-8", errors="replace").rstrip("\0")


def read_ct2_variables(path: str | Path, prefix: str = "encoder/") -> dict[str, Tensor | np.ndarray]:
    """Variables of a CTranslate2 model file whose name starts with `prefix` (prefix removed): float arrays as fp32
    tensors, integer scalars as numpy arrays. Error on a truncated file, another format version or an unknown dtype."""
    path = Path(path)
    out: dict[str, Tensor | np.ndarray] = {}
    with open(path, "rb") as f:
        (version,) = _unpack(f, "<I", path)
        if version != 6:
            raise CT2FormatError(f"{path}: CTranslate2 format version {version}; this reader knows version 6")
        _string(f, path)  # spec name
        _unpack(f, "<I", path)  # spec revision
        (count,) = _unpack(f, "<I", path)
        for _ in range(count):
            name = _string(f, path)
            (rank,) = _unpack(f, "<B", path)
            dims = _unpack(f, "<" + "I" * rank, path)
            code, nbytes = _unpack(f, "<B", path)[0], _unpack(f, "<I", path)[0]
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise CT2FormatError(f"{path}: truncated CTranslate2 model file (in {name})")
            if not name.startswith(prefix):
                continue
            if code not in CT2_DTYPES:
                raise CT2FormatError(
                    f"{path}: {name} has CTranslate2 dtype code {code}, not one of {sorted(CT2_DTYPES)}"
                )
            array = np.frombuffer(raw, CT2_DTYPES[code]).reshape(dims)
            key = name[len(prefix) :]
            out[key] = torch.from_numpy(array.astype(np.float32)) if array.dtype.kind == "f" else array.copy()
    return out


def layer_count(weights: dict) -> int:
    """Number of transformer blocks among the variables."""
    return len({k.split("/")[0] for k in weights if k.startswith("layer_") and k.split("/")[0][6:].isdigit()})


def whisper_hidden_states(weights: dict, mel: Tensor) -> list[Tensor]:
    """Log-mel `[B, n_mels, 3000]` -> hidden states, each `[B, 1500, D]`: index 0 after the convolutions and position
    embedding, i after block i, and last the final layer norm (what CTranslate2's `encode` returns)."""
    x = F.gelu(F.conv1d(mel, weights["conv1/weight"], weights["conv1/bias"], padding=1))
    x = F.gelu(F.conv1d(x, weights["conv2/weight"], weights["conv2/bias"], stride=2, padding=1)).transpose(
        1, 2
    )
    x = x + weights["position_encodings/encodings"][: x.shape[1]]
    heads, states = int(np.asarray(weights["num_heads"]).reshape(-1)[0]), [x]
    for i in range(layer_count(weights)):
        x = _block(
            x, {k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(f"layer_{i}/")}, heads
        )
        states.append(x)
    states.append(F.layer_norm(x, x.shape[-1:], weights["layer_norm/gamma"], weights["layer_norm/beta"]))
    return states


def _block(x: Tensor, w: dict[str, Tensor], heads: int) -> Tensor:
    """One pre-norm transformer block `[B, T, D]` -> `[B, T, D]` (fused q/k/v projection, GELU MLP)."""
    b, t, d = x.shape
    h = F.layer_norm(x, (d,), w["self_attention/layer_norm/gamma"], w["self_attention/layer_norm/beta"])
    q, k, v = F.linear(h, w["self_attention/linear_0/weight"], w["self_attention/linear_0/bias"]).chunk(3, -1)
    split = lambda z: z.view(b, t, heads, d // heads).transpose(1, 2)  # noqa: E731
    attended = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(b, t, d)
    x = x + F.linear(attended, w["self_attention/linear_1/weight"], w["self_attention/linear_1/bias"])
    h = F.layer_norm(x, (d,), w["ffn/layer_norm/gamma"], w["ffn/layer_norm/beta"])
    hidden = F.gelu(F.linear(h, w["ffn/linear_0/weight"], w["ffn/linear_0/bias"]))
    return x + F.linear(hidden, w["ffn/linear_1/weight"], w["ffn/linear_1/bias"])


def check_layers(layers: list[int], available: int, path: Path) -> list[int]:
    """The requested hidden-state indices, or an error naming the valid range."""
    bad = [i for i in layers if not isinstance(i, int) or not 0 <= i <= available]
    if bad or not layers:
        raise ValueError(
            f"whisper_ct2 layers {layers}: each must be an integer in 0..{available} ({path} has "
            f"{available - 1} blocks; 0 = before the first block, {available} = the final layer norm)"
        )
    return list(layers)
