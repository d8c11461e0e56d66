"""`emollm cross-corpus`: the train -> test matrix and the committed spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emollm.cli import main
from tests.conftest import emodb_labelled, is_png, tiny_overrides


def test_cross_corpus_matrix(trained_ckpt, tiny_lm, syn_data, tmp_path, capsys) -> None:
    emodb_like = emodb_labelled(syn_data, tmp_path / "emodb_like")
    overrides = [
        o for o in tiny_overrides(tiny_lm, syn_data, tmp_path / "run") if o.startswith("modalities.")
    ]
    spec = {
        "sources": {"syn": {"data": str(syn_data), "checkpoint": str(trained_ckpt), "overrides": overrides,
                            "baselines": ["early"]}},
        "targets": {"syn": {"data": str(syn_data), "split": "test"}, "emodb_like": {"data": str(emodb_like)}},
        "pairs": [{"source": "syn", "target": "syn"},
                  {"source": "syn", "target": "emodb_like", "label_map": "emodb_to_synthetic4", "note": "same samples, EmoDB label names"}],
        "modes": ["score"],
    }  # fmt: skip
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    assert main(["cross-corpus", "--spec", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "cc")]) == 0
    summary = json.loads((tmp_path / "cc" / "cross_corpus.json").read_text())
    in_corpus, zero_shot = summary["pairs"]
    assert in_corpus["kind"] == "in-corpus" and zero_shot["kind"] == "zero-shot"
    assert set(zero_shot["systems"]) == {"llm (score)", "baseline early"}
    assert zero_shot["label_map_counts"] == {"boredom": 1} and zero_shot["systems"]["llm (score)"]["n"] == 12
    # the mapped copy of the same samples scores exactly like the in-corpus run
    assert zero_shot["systems"]["llm (score)"]["uar"] == pytest.approx(
        in_corpus["systems"]["llm (score)"]["uar"]
    )
    assert (
        is_png(tmp_path / "cc" / "uar_matrix.png")
        and "zero-shot" in (tmp_path / "cc" / "report.md").read_text()
    )
    assert "same samples, EmoDB label names" in (tmp_path / "cc" / "report.md").read_text()
    _check_paired_comparison(zero_shot, tmp_path / "cc" / "eval" / "syn-emodb_like", tmp_path, capsys)
    done = tmp_path / "cc" / "eval" / "syn-emodb_like" / "llm" / "metrics.json"
    stamp = done.stat().st_mtime_ns
    assert main(["cross-corpus", "--spec", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "cc")]) == 0
    assert done.stat().st_mtime_ns == stamp  # finished evaluations are reused
    bad = {**spec, "pairs": [{"source": "syn", "target": "emodb_like"}]}
    (tmp_path / "bad.yaml").write_text(json.dumps(bad))
    assert main(["cross-corpus", "--spec", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "cc2")]) == 2


def _check_paired_comparison(pair: dict, folder: Path, tmp_path: Path, capsys) -> None:
    """The pair's LLM-vs-baseline comparison agrees with the two prediction files; `emollm compare` gives the same."""
    (c,) = pair["comparisons"]
    llm, base = (
        {r["id"]: r for r in map(json.loads, (folder / name / "predictions.jsonl").read_text().splitlines())}
        for name in ("llm", "early")
    )
    shared = llm.keys() & base.keys()
    only_llm = sum(llm[i]["scored_label"] == llm[i]["gold"] != base[i]["scored_label"] for i in shared)
    assert c["n"] == len(shared) == 12 and c["mcnemar"]["only_a_correct"] == only_llm
    assert c["delta_uar"]["delta"] == pytest.approx(c["llm (score)"]["uar"] - c["baseline early"]["uar"])
    lo, hi = c["delta_uar"]["ci95"]
    assert lo <= c["delta_uar"]["delta"] <= hi
    capsys.readouterr()
    out = tmp_path / "cmp.json"
    argv = [
        "compare",
        str(folder / "llm"),
        str(folder / "early" / "predictions.jsonl"),
        "--names",
        "llm (score),baseline early",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == c and "McNemar" in capsys.readouterr().out
    rows = (folder / "early" / "predictions.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    first["gold"] = next(lab for lab in first["scores"] if lab != first["gold"])
    (tmp_path / "bad.jsonl").write_text("\n".join([json.dumps(first), *rows[1:]]) + "\n")
    assert main(["compare", str(folder / "llm"), str(tmp_path / "bad.jsonl"), "--names", "a,b"]) == 2
    assert f"sample {first['id']!r}: gold" in capsys.readouterr().err


def test_committed_cross_corpus_spec_is_valid(monkeypatch) -> None:
    from emollm.evaluation.label_maps import load_label_map
    from emollm.experiments.cross_corpus import load_spec
    from tests.conftest import ROOT

    monkeypatch.setenv("EMOLLM_DATA_DIR", "/data")
    spec = load_spec(ROOT / "eval" / "cross_corpus.yaml")
    assert spec["sources"]["meld"]["root"] == "/data"
    for pair in spec["pairs"]:
        if pair.get("label_map"):
            assert load_label_map(pair["label_map"]).source == spec["targets"][pair["target"]][
                "recipe"
            ].replace("synthetic", "synthetic4")
    for source in spec["sources"].values():
        assert (ROOT / source["config"]).is_file()
