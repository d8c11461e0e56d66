"""Shared fixtures: a tiny LLaMA + tokenizer built offline, a small generated corpus, and a tiny run config."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from emollm.io import write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_HF_HOME = tempfile.mkdtemp(prefix="emollm-hf-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_DATASETS_CACHE"] = str(Path(_HF_HOME) / "datasets")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMOLLM_DATA_DIR", ROOT.parent / "shared" / "data"))
DIMS = {"video": 32, "audio": 24, "sensor": 8}


def has_modules(*modules: str) -> bool:
    """True when every named module can be imported (for skipif on optional packages)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer LLaMA (hidden 64) with a byte-level BPE tokenizer and a ChatML template."""
    from emollm.testing import make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="session")
def syn_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated tri-modal corpus (48 train / 8 dev / 12 test)."""
    from emollm.data.synthetic import SyntheticSpec, generate

    out = tmp_path_factory.mktemp("syn")
    generate(out, SyntheticSpec(n_train=48, n_dev=8, n_test=12, seed=1))
    return out


def tiny_overrides(tiny_lm: Path, data: Path, out: Path, **extra: object) -> list[str]:
    """Dotlist overrides for a fast tri-modal tiny run."""
    items = {
        "lm.name_or_path": str(tiny_lm),
        "lm.lora_r": 4,
        "lm.lora_alpha": 8,
        "lm.lora_dropout": 0.0,
        "modalities.video": "{encoder: precomputed, encoder_args: {dim: 32}, projector: mlp2x_gelu, num_tokens: 2}",
        "modalities.audio": "{encoder: precomputed, encoder_args: {dim: 24}, projector: linear, num_tokens: 3}",
        "modalities.sensor": "{encoder: precomputed, encoder_args: {dim: 8}, projector: resampler, num_tokens: 2}",
        "data.train": str(data / "train.jsonl"),
        "data.max_length": 512,
        "train.out_dir": str(out),
        "train.batch_size": 4,
        "train.steps": 4,
        "train.align_steps": 0,
        "train.lr": 5e-3,
        "train.log_every": 1,
        "train.warmup_ratio": 0.0,
    }
    items.update({k.replace("__", "."): v for k, v in extra.items()})
    return [f"{k}={v}" for k, v in items.items()]


@pytest.fixture()
def tiny_cfg(tiny_lm: Path, syn_data: Path, tmp_path: Path):
    """A validated RunConfig for a 4-step tiny run writing into tmp_path/run."""
    from emollm.config import load_config

    return load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run"))


@pytest.fixture(scope="session")
def trained_ckpt(tiny_lm: Path, syn_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run's final checkpoint (2 align + 4 instruct steps), shared by inference tests."""
    from emollm.config import load_config
    from emollm.train import train

    out = tmp_path_factory.mktemp("trained") / "run"
    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, out, train__align_steps=2))
    return train(cfg)


def python_cmd() -> list[str]:
    """The interpreter running the tests (the project venv's)."""
    return [sys.executable]


@pytest.fixture(scope="session")
def tiny_vision(tmp_path_factory) -> dict[str, Path]:
    """Tiny random CLIP, ViT and VideoMAE vision towers with their processors, saved as local folders."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        VideoMAEConfig,
        VideoMAEImageProcessor,
        VideoMAEModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    root = tmp_path_factory.mktemp("hfv")
    common = dict(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    size = {"height": 32, "width": 32}
    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(**common)).save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=size).save_pretrained(root / "clip")
    ViTModel(ViTConfig(**common)).save_pretrained(root / "vit")
    ViTImageProcessor(size=size).save_pretrained(root / "vit")
    VideoMAEModel(VideoMAEConfig(**common, num_frames=4, tubelet_size=2)).save_pretrained(root / "videomae")
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size=size).save_pretrained(root / "videomae")
    return {"clip": root / "clip", "vit": root / "vit", "videomae": root / "videomae"}


TO_EMODB = {"neutral": "neutral", "happy": "happiness", "sad": "sadness", "angry": "anger"}


def emodb_labelled(syn_data: Path, out: Path) -> Path:
    """The generated test split with EmoDB label names (its feature files copied along, so the split's media stay
    under its own folder), plus one 'boredom' sample the map must drop."""
    import shutil

    rows = [json.loads(x) for x in (syn_data / "test.jsonl").read_text().splitlines()]
    for r in rows:
        r["labels"] = {"emotion": TO_EMODB[r["labels"]["emotion"]]}
        for ref in r["media"].values():
            src = syn_data / ref.partition("#")[0]
            (out / ref.partition("#")[0]).parent.mkdir(parents=True, exist_ok=True)
            if not (out / ref.partition("#")[0]).exists():
                shutil.copy(src, out / ref.partition("#")[0])
    rows.append({**rows[0], "id": "bored-1", "labels": {"emotion": "boredom"}})
    write_jsonl(out / "test.jsonl", rows)
    return out


def is_png(path: Path) -> bool:
    """True when `path` is a file that starts with the PNG signature."""
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def media_ckpt(tiny_lm, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny LM trained 2 steps on a small generated raw-media corpus with the quickstart's real encoders."""
    from emollm.config import load_config
    from emollm.data.synthetic import SyntheticSpec, generate
    from emollm.train import train

    root = tmp_path_factory.mktemp("media")
    generate(root / "d", SyntheticSpec(n_train=8, n_dev=2, n_test=6, media=True, seed=5, missing_rate=0.0))
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", [
        f"lm.name_or_path={tiny_lm}", f"data.train={root / 'd' / 'train.jsonl'}", f"train.out_dir={root / 'run'}",
        "train.steps=2", "train.align_steps=0", "train.batch_size=4", "train.mixed_precision=no",
        "data.prompt=emotion_default",  # trained on the raw split: no measured cues written (quickstart writes them)
        f"data.cache_dir={root / 'cache'}", "lm.lora_r=4", "lm.lora_alpha=8"])  # fmt: skip
    return train(cfg), root / "d"
