"""Config: defaults, YAML + dotlist merge, validation errors that name the key, and every preset validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from emollm.config import ConfigError, RunConfig, dump_config, from_dict, load_config

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted((ROOT / "configs").glob("*.yaml"))


def test_defaults_validate() -> None:
    cfg = RunConfig()
    assert cfg.lm.name_or_path == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "gate_proj" in cfg.lm.lora_target and "q_proj" in cfg.lm.lora_target


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.1\n  steps: 7\nmodalities:\n  audio: {encoder_args: {dim: 24}}\n")
    cfg = load_config(path, ["train.lr=1e-4", "modalities.audio.num_tokens=6", "lm.lora_target=[q_proj]"])
    assert cfg.train.lr == pytest.approx(1e-4)  # "1e-4" is a string to YAML 1.1; it must still parse
    assert cfg.train.steps == 7
    assert cfg.modalities["audio"].num_tokens == 6
    assert cfg.modalities["audio"].encoder_args == {"dim": 24}
    assert cfg.lm.lora_target == ["q_proj"]


def test_round_trip_through_yaml() -> None:
    cfg = load_config(None, ["modalities.video.num_tokens=3", "train.steps=5"])
    again = from_dict(RunConfig, yaml.safe_load(dump_config(cfg)))
    assert again == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown config key 'train.lrr' (did you mean train.lr?)"),
        ("train.steps=abc", "train.steps must be a number"),
        ("train.batch_size=0", "train.batch_size must be > 0"),
        ("lm.quantization=3bit", "lm.quantization must be one of none, 4bit, 8bit"),
        ("modalities.smell.num_tokens=2", "unknown modality 'smell'"),
        ("lm.allow_packaged=maybe", "lm.allow_packaged must be true or false"),
        ("train.steps=0", "train.steps + train.align_steps must be > 0"),
        ("modalities.audio.frame_dropout=1", "modalities.audio.frame_dropout must be in [0, 1), got 1"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("preset", PRESETS, ids=[p.name for p in PRESETS])
def test_every_preset_validates_and_says_how_to_run_it(preset: Path) -> None:
    first = preset.read_text().splitlines()[0]
    assert first.startswith("# ") and ("emollm" in first or "accelerate launch" in first), first
    cfg = load_config(preset)
    assert isinstance(cfg, RunConfig)


def test_presets_exist() -> None:
    assert {p.name for p in PRESETS} >= {"quickstart.yaml", "quickstart_meld.yaml", "smollm2_lora.yaml"}


_KEYS = st.sampled_from(["train.lr", "train.steps", "train.batch_size", "lm.lora_r", "lm.dtype", "data.labels",
                         "train.mixed_precision", "modalities.video", "modalities.smell.encoder", "train", "lm.nope",
                         "baseline.epochs", "data.max_length", "train.warmup_ratio", "", "a.b.c.d"])  # fmt: skip
_VALUES = st.sampled_from(
    ["1e-4", "0", "-3", "yes", "no", "[1, 2]", "{a: 1}", "null", "'x'", "1.5", "", ":", "{", "nan"]
) | st.text(max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_KEYS, _VALUES).map(lambda kv: f"{kv[0]}={kv[1]}") | st.text(max_size=12), max_size=4)
)
def test_any_overrides_give_a_valid_config_or_a_config_error(overrides: list[str]) -> None:
    try:
        cfg = load_config(None, overrides)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    assert isinstance(cfg, RunConfig)
    from_dict(
        RunConfig, yaml.safe_load(dump_config(cfg))
    )  # what it resolved to round-trips and validates again
