"""Which mixed precision is fastest here: bf16 autocast pays off only where the hardware multiplies bf16 natively
(recent GPUs; CPUs with AVX512-BF16 or AMX). On an AVX2-only CPU a bf16 matmul runs ~7x slower than fp32, so
`train.mixed_precision: auto` reads the CPU flags (the same answer in every process) and measures only where
it cannot read them. Also the CPU allocator setting that keeps a step's peak
resident memory at its live tensors (`train.return_freed_memory`)."""

from __future__ import annotations

import ctypes
import functools
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


def _seconds(fn, repeats: int = 5) -> float:
    fn()
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - began) / repeats


@functools.cache
def cpu_bf16_speedup(rows: int = 256, width: int = 576, out: int = 1536) -> float:
    """fp32 time / bf16-autocast time of an LM-shaped linear layer `[rows, width] x [width, out]` on this CPU."""
    x, w = torch.randn(rows, width), torch.randn(out, width)
    fp32 = _seconds(lambda: F.linear(x, w))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = _seconds(lambda: F.linear(x, w))
    return fp32 / bf16


def cpu_bf16_flags() -> bool | None:
    """Whether this CPU multiplies bf16 natively (avx512_bf16 / amx_bf16 in /proc/cpuinfo); None where unknown."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_mixed_precision(setting: str) -> str:
    """`no` | `bf16` | `fp16` as given; `auto`: bf16 on a GPU that supports it; on CPU bf16 where the CPU flags say
    it multiplies bf16 natively (the same answer in every process and every resumed run), else, where the flags
    cannot be read, when it measures at least 1.2x faster than fp32; otherwise `no`."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    native = cpu_bf16_flags()
    if native is not None:
        choice = "bf16" if native else "no"
        log.info("mixed precision auto -> %s (native bf16 in the CPU flags: %s)", choice, native)
        return choice
    speedup = cpu_bf16_speedup()
    choice = "bf16" if speedup >= 1.2 else "no"
    log.info(
        "mixed precision auto -> %s (bf16 autocast %.2fx the fp32 matmul speed on this CPU)", choice, speedup
    )
    return choice


def resolve_inference_precision(setting: str, weights: torch.dtype, quantized: bool) -> str:
    """`no` | `bf16` for inference: `auto` is bf16 autocast wherever `train.mixed_precision: auto` would train in
    bf16 (a GPU that supports it; a CPU that multiplies bf16 natively) and the LM's weights are fp32 and not
    quantized, else `no` (the weights' own dtype); `bf16` needs fp32, unquantized weights too."""
    if setting not in ("auto", "no", "bf16"):
        raise ValueError(f"inference precision {setting!r}: valid are auto, no, bf16")
    eligible = weights == torch.float32 and not quantized
    if setting == "bf16" and not eligible:
        raise ValueError(
            f"bf16 inference needs an fp32, unquantized LM (this one: {weights}, quantized={quantized})"
        )
    if setting == "auto":
        return "bf16" if eligible and resolve_mixed_precision("auto") == "bf16" else "no"
    return setting


def return_freed_memory(threshold: int = 64 * 1024) -> bool:
    """Make glibc malloc serve allocations above `threshold` bytes with mmap, so a freed tensor goes back to the OS at
    once instead of staying in the heap's free lists (peak RSS then follows live memory; CPU only, Linux/glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        log.info("train.return_freed_memory: no glibc here, left as is")
        return False
    m_mmap_threshold = -3  # mallopt parameter number from <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, threshold))
