"""emollm: multimodal emotion recognition with LLMs (frozen encoders -> projectors -> LoRA-tuned LM)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emollm.model.emollm import EmoLLM

__version__ = "0.1.0"


def load(checkpoint: str | Path, device: str = "cpu", merge: bool = True, precision: str = "auto") -> EmoLLM:
    """Load a trained EmoLLM from a checkpoint folder (e.g. runs/quickstart/final) for `predict` and `chat`, its
    LoRA merged into the base weights for speed (`merge=False` keeps the adapters, e.g. to inspect them);
    `precision` "auto" runs it under bf16 autocast where the hardware multiplies bf16 natively, "no" in fp32."""
    from emollm.checkpoint import load_checkpoint  # deferred: `import emollm` stays light for the CLI

    return load_checkpoint(checkpoint, device, merge=merge, precision=precision)


__all__ = ["__version__", "load"]
