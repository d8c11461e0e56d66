"""Options several verbs share: a YAML config with key=value overrides, and the media inputs."""

from __future__ import annotations

import argparse

from emollm.config import MODALITIES, config_reference


def add_config_arguments(p: argparse.ArgumentParser, config_help: str) -> None:
    """`--config YAML` and trailing `key.path=value` overrides; every config key and its help go in the epilog."""
    p.add_argument("--config", help=config_help)
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. train.lr=1e-4 (keys below)")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "config keys (defaults <- YAML <- overrides):\n" + "\n".join(config_reference())


def add_media_arguments(p: argparse.ArgumentParser) -> None:
    """`--text` and one file option per modality."""
    p.add_argument("--text", help="transcript / utterance text")
    for modality in MODALITIES:
        p.add_argument(f"--{modality}", help=f"{modality} input file")


def media_of(args: argparse.Namespace) -> dict[str, str]:
    """The media files given on the command line, by modality."""
    return {m: getattr(args, m) for m in MODALITIES if getattr(args, m)}


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """`--precision auto|no|bf16`: the inference precision (see `EmoLLM.set_inference_precision`)."""
    p.add_argument("--precision", choices=("auto", "no", "bf16"), default="auto",
                   help="inference precision: auto = bf16 autocast where the hardware multiplies bf16 natively "
                        "(the default), no = the weights' own dtype (fp32), bf16")  # fmt: skip
