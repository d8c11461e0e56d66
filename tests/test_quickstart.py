"""`emollm quickstart` end to end (generated corpus and real MELD) on a tiny LM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emollm.cli import main
from emollm.labels import get_labels
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parent.parent

LABELS = get_labels("synthetic4")


def test_cli_quickstart_on_tiny_lm(tiny_lm, tmp_path, capsys) -> None:
    out = tmp_path / "qs"
    argv = [
        "quickstart",
        "--out",
        str(out),
        "--n-test",
        "8",
        "--n-train",
        "24",
        f"lm.name_or_path={tiny_lm}",
        "train.steps=2",
        "train.align_steps=1",
        "train.batch_size=4",
        "train.mixed_precision=no",
    ]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n"} <= set(metrics["llm"])
    assert metrics["llm"]["n"] == 8 and metrics["data"]["generated"] is True and metrics["seconds"] > 0
    assert (out / "final" / "projectors.safetensors").is_file()
    shown = capsys.readouterr().out
    assert "checkpoint:" in shown and "llm (generate)" in shown
    # a second quickstart reuses the finished run and data instead of failing or retraining
    stamp = (out / "final" / "meta.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "final" / "meta.json").stat().st_mtime_ns == stamp


@pytest.mark.integration
@pytest.mark.skipif(
    not (SHARED_DATA / "meld").is_dir(), reason="shared MELD corpus not present (EMOLLM_DATA_DIR)"
)
def test_quickstart_on_real_meld_with_tiny_lm(tiny_lm: Path, tmp_path: Path, monkeypatch) -> None:
    from emollm.cli import main

    monkeypatch.setenv("EMOLLM_DATA_DIR", str(SHARED_DATA))
    out = tmp_path / "qs"
    argv = [
        "quickstart",
        "--data",
        "real",
        "--out",
        str(out),
        "--n-test",
        "16",
        f"lm.name_or_path={tiny_lm}",
        "train.steps=2",
        "train.batch_size=4",
    ]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["kind"] == "real" and metrics["data"]["generated"] is False
    assert metrics["llm"]["n"] >= 14  # stratified rounding
    rows = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert 600 <= len(rows) <= 680 and all(r["corpus"] == "meld" for r in rows)
