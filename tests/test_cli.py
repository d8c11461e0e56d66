"""The `emollm` command: every verb once end to end, one-line errors, accelerate launch, 2-process DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emollm.cli import main
from tests.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parent.parent


def _media(syn_data: Path, sid: str, modalities=("video", "audio", "sensor")) -> dict[str, str]:
    split = sid.split("-")[1]
    return {m: f"{syn_data}/features/{split}.{m}.safetensors#{sid}" for m in modalities}


def test_cli_chat_json_eval_and_repl(trained_ckpt, syn_data, tmp_path, capsys, monkeypatch) -> None:
    media = _media(syn_data, "syn-test-00004")
    args = [
        "chat",
        "--ckpt",
        str(trained_ckpt),
        "--text",
        "This news makes me furious.",
        "--json",
        "--video",
        media["video"],
        "--audio",
        media["audio"],
        "--sensor",
        media["sensor"],
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"label", "rationale", "scores", "modalities"} <= set(out)
    assert out["modalities"] == ["video", "audio", "sensor", "text"]

    assert (
        main(
            [
                "eval",
                "--ckpt",
                str(trained_ckpt),
                "--data",
                str(syn_data / "test.jsonl"),
                "--out",
                str(tmp_path / "ev"),
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for mode in ("generate", "score"):
        assert {"accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n"} <= set(metrics[mode])
        assert metrics[mode]["n"] == 12
        low, high = metrics[mode]["ci95"]["uar"]
        assert low <= metrics[mode]["uar"] <= high
    preds = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 12 and all(
        p["predicted"] is None or p["predicted"] in ("neutral", "happy", "sad", "angry") for p in preds
    )
    assert not (tmp_path / "ev" / "predictions.partial.jsonl").exists()

    lines = iter(
        [f":audio {media['audio']}", ":text hello", "What does this person feel?", ":bogus", ":quit"]
    )
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--ckpt", str(trained_ckpt)]) == 0
    shown = capsys.readouterr().out
    assert "emollm>" in shown and "inputs: audio, text" in shown and "unknown command :bogus" in shown


def test_cli_errors_are_one_line_with_nonzero_exit(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["chat", "--ckpt", str(tmp_path / "missing"), "--text", "x"], "checkpoint not found"),
        (["chat", "--ckpt", str(empty), "--text", "x"], "checkpoint folder is empty"),
        (["train", "train.lrr=1"], "unknown config key 'train.lrr'"),
        (["train", "modalities.smell.num_tokens=1"], "unknown modality 'smell'"),
    ]
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.yaml").write_text("lm: {}\n")
    cases.append((["chat", "--ckpt", str(partial), "--text", "x"], "incomplete checkpoint"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, err


@pytest.mark.slow
def test_accelerate_launch_train_then_chat_subprocess(tiny_lm, syn_data, tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "emollm",
        "train",
    ]
    run = tmp_path / "run"
    res = subprocess.run(
        launch + tiny_overrides(tiny_lm, syn_data, run, train__steps=2),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (run / "final" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run / "config.yaml").is_file() and (run / "train.log").is_file()
    media = _media(syn_data, "syn-test-00005", ("video",))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "emollm",
            "chat",
            "--ckpt",
            str(run / "final"),
            "--json",
            "--video",
            media["video"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["modalities"] == ["video"]
    bad = subprocess.run(
        [sys.executable, "-m", "emollm", "chat", "--ckpt", str(tmp_path / "nope"), "--text", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith(
        "error: checkpoint not found"
    )


def test_prepare_synthetic_cli(tmp_path, capsys) -> None:
    assert main(["prepare", "synthetic", "--out", str(tmp_path / "d"), "--limit", "20"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert sum(manifest["splits"]["train"].values()) == 20
    assert (tmp_path / "d" / "train.jsonl").is_file()


def test_a_checkpoint_whose_weights_are_pickles_is_refused_in_one_line(
    trained_ckpt, tmp_path, capsys
) -> None:
    import shutil

    import torch

    for name in ("adapter/adapter_model.safetensors", "projectors.safetensors"):
        bad = tmp_path / name.replace("/", "_")
        shutil.copytree(trained_ckpt, bad)
        marker = tmp_path / f"{bad.name}.ran"
        # a pickle whose loading would run code (it would create `marker`)
        payload = type("Payload", (), {"__reduce__": lambda self, m=marker: (Path.touch, (m,))})()
        torch.save({"weight": payload}, bad / name)
        assert main(["chat", "--ckpt", str(bad), "--text", "x", "--json"]) == 2
        err = capsys.readouterr().err.strip()
        assert (
            err.startswith("error: ") and "\n" not in err and str(bad / name) in err and "safetensors" in err
        )
        assert not marker.exists()
