"""`emollm eval` with label maps and saved baselines, `emollm cross-corpus` and `emollm robustness`: files,
reports and numbers that agree with each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emollm.cli import main
from emollm.io import write_jsonl
from tests.conftest import tiny_overrides

TO_EMODB = {"neutral": "neutral", "happy": "happiness", "sad": "sadness", "angry": "anger"}


def _emodb_labelled(syn_data: Path, out: Path) -> Path:
    """The generated test split with EmoDB label names, plus one 'boredom' sample the map must drop."""
    rows = [json.loads(x) for x in (syn_data / "test.jsonl").read_text().splitlines()]
    for r in rows:
        r["labels"] = {"emotion": TO_EMODB[r["labels"]["emotion"]]}
        r["media"] = {m: str((syn_data / ref.partition("#")[0]).resolve()) + "#" + ref.partition("#")[2]
                      for m, ref in r["media"].items()}  # fmt: skip
    rows.append({**rows[0], "id": "bored-1", "labels": {"emotion": "boredom"}})
    write_jsonl(out / "test.jsonl", rows)
    return out


def _png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_with_label_map_writes_report_and_counts_drops(trained_ckpt, syn_data, tmp_path, capsys) -> None:
    data = _emodb_labelled(syn_data, tmp_path / "emodb_like")
    out = tmp_path / "ev"
    args = ["eval", "--ckpt", str(trained_ckpt), "--data", str(data / "test.jsonl"), "--out", str(out)]
    assert main([*args, "--label-map", "emodb_to_synthetic4"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["label_map"]["dropped"] == {"boredom": 1} and metrics["label_map"]["kept"] == 12
    assert metrics["score"]["n"] == metrics["generate"]["n"] == 12
    assert (
        0 <= metrics["score"]["ece"] <= 1
        and sum(b["n"] for b in metrics["score"]["calibration"]["bins"]) == 12
    )
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert {r["gold"] for r in rows} <= {"neutral", "happy", "sad", "angry"} and all(
        "scores" in r for r in rows
    )
    report = (out / "report.md").read_text()
    assert "GENERATED DATA" in report and "emodb_to_synthetic4 v1" in report and "dropped 1" in report
    assert "--label-map emodb_to_synthetic4" in report  # the exact command is recorded
    for png in ("per_class_f1.png", "confusion_score.png", "confusion_generate.png", "reliability.png"):
        assert _png(out / png), png
    assert (out / "report.html").read_text().count("<img") == 4
    assert "UAR 95% CI" in capsys.readouterr().out
    # without the map, EmoDB names other than "neutral" are unknown labels: reported bad, never guessed
    unmapped = _evaluate_unmapped(trained_ckpt, data, tmp_path)
    assert unmapped["n_bad_records"] == 10 and unmapped["score"]["n"] == 3
    assert main([*args, "--label-map", "meld_to_emorynlp"]) == 2  # maps into the wrong label space


def _evaluate_unmapped(ckpt: Path, data: Path, tmp_path: Path) -> dict:
    from emollm.checkpoint import load_checkpoint
    from emollm.evaluation.evaluate import evaluate

    return evaluate(load_checkpoint(ckpt), data / "test.jsonl", tmp_path / "ev2", report=False)


def test_saved_baseline_evaluates_like_it_scored_in_training(tiny_lm, syn_data, tmp_path, capsys) -> None:
    from emollm.baselines import run_baselines
    from emollm.config import load_config

    cfg = load_config(
        None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__cache_dir=tmp_path / "cache")
    )
    run_baselines(cfg, syn_data, tmp_path / "bl", ("early", "late"))
    assert main(["eval", "--baseline", str(tmp_path / "bl" / "early"), "--data", str(syn_data / "test.jsonl"),
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
    trained = [
        json.loads(x) for x in (tmp_path / "bl" / "early" / "predictions.jsonl").read_text().splitlines()
    ]
    again = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert [r["predicted"] for r in trained] == [r["predicted"] for r in again]
    for a, b in zip(trained, again, strict=True):
        assert all(abs(a["scores"][k] - b["scores"][k]) < 1e-5 for k in a["scores"])
    assert _png(tmp_path / "ev" / "confusion_score.png")
    assert main(["eval", "--baseline", str(tmp_path / "bl"), "--data", str(syn_data / "test.jsonl"),
                 "--out", str(tmp_path / "x")]) == 2  # not a saved baseline folder  # fmt: skip
    assert main(["eval", "--data", str(syn_data / "test.jsonl"), "--out", str(tmp_path / "x")]) == 2


def test_cross_corpus_matrix(trained_ckpt, tiny_lm, syn_data, tmp_path, capsys) -> None:
    emodb_like = _emodb_labelled(syn_data, tmp_path / "emodb_like")
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
        _png(tmp_path / "cc" / "uar_matrix.png")
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


@pytest.fixture(scope="module")
def media_ckpt(tiny_lm, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny LM trained 2 steps on a small generated raw-media corpus with the quickstart's real encoders."""
    from emollm.config import load_config
    from emollm.data.synthetic import SyntheticSpec, generate
    from emollm.train import train
    from tests.conftest import ROOT

    root = tmp_path_factory.mktemp("media")
    generate(root / "d", SyntheticSpec(n_train=8, n_dev=2, n_test=6, media=True, seed=5, missing_rate=0.0))
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", [
        f"lm.name_or_path={tiny_lm}", f"data.train={root / 'd' / 'train.jsonl'}", f"train.out_dir={root / 'run'}",
        "train.steps=2", "train.align_steps=0", "train.batch_size=4", "train.mixed_precision=no",
        f"data.cache_dir={root / 'cache'}", "lm.lora_r=4", "lm.lora_alpha=8"])  # fmt: skip
    return train(cfg), root / "d"


def test_robustness_conditions_and_report(media_ckpt, tmp_path, capsys) -> None:
    from emollm.baselines import run_baselines
    from emollm.config import load_config

    ckpt, data = media_ckpt
    run_baselines(load_config(ckpt.parent / "config.yaml"), data, tmp_path / "bl", ("early",))
    only = ["without:", "only:", "audio_noise=0", "audio_delay=1.0", "video_blur=4", "video_occlude=0.5",
            "video_drop_frames=0.5", "sensor_flat=eda", "sensor_spikes=2.0"]  # fmt: skip
    argv = ["robustness", "--ckpt", str(ckpt), "--baseline", str(tmp_path / "bl" / "early"), "--baseline",
            str(tmp_path / "bl" / "early"), "--data",
            str(data / "test.jsonl"), "--out", str(tmp_path / "rb"), "--cache", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv + [a for o in only for a in ("--only", o)]) == 0
    summary = json.loads((tmp_path / "rb" / "robustness.json").read_text())
    assert (
        set(summary["systems"]) == {"llm", "baseline-early", "baseline-early-2"}
        and "text" in summary["inputs"]
    )
    names = {r["name"]: r for r in summary["systems"]["llm"]["conditions"]}
    assert {"clean", "without:video", "without:audio", "without:sensor", "without:text", "only:video"} <= set(
        names
    )
    assert {
        "audio_noise=0",
        "video_blur=4",
        "sensor_flat=eda",
        "sensor_spikes=2.0",
        "audio_delay=1.0",
    } <= set(names)
    assert all(r["n"] == 6 and r["skipped"] == 0 for r in names.values())
    assert names["clean"]["delta_uar"] == 0 and all("delta_uar" in r for r in names.values())
    assert names["clean"]["delta_uar_ci95"] is None
    for r in (r for r in names.values() if r["name"] != "clean"):
        lo, hi = r["delta_uar_ci95"]  # paired: the same 6 samples, clean vs condition
        assert -1 <= lo <= hi <= 1 and r["delta_uar_significant"] == (lo > 0 or hi < 0)
    # the baseline reads no text: text conditions are not run for it, text-only leaves it nothing to read
    base = {r["name"]: r for r in summary["systems"]["baseline-early"]["conditions"]}
    assert "without:text" not in base and summary["systems"]["baseline-early"]["inputs"] == [
        "video",
        "audio",
        "sensor",
    ]
    assert "uar" not in base["only:text"] and base["only:text"]["skipped"] == 6
    assert base["clean"]["n"] == 6 and base["without:video"]["n"] == 6 and "uar" in base["video_blur=4"]
    cond = tmp_path / "rb" / "conditions"
    noisy = [json.loads(x) for x in (cond / "audio_noise=0" / "data.jsonl").read_text().splitlines()]
    assert all(r["media"]["audio"].startswith("media/") for r in noisy)
    without = [json.loads(x) for x in (cond / "without_video" / "data.jsonl").read_text().splitlines()]
    assert all("video" not in r["media"] for r in without)
    # both systems scored the same perturbed files
    llm_rows = (cond / "video_blur=4" / "llm" / "data.jsonl").read_text()
    assert llm_rows == (cond / "video_blur=4" / "baseline-early" / "data.jsonl").read_text()
    report = (tmp_path / "rb" / "report.md").read_text()
    assert _png(tmp_path / "rb" / "modalities.png") and "GENERATED DATA" in report
    assert "ΔUAR 95% CI (paired)" in report
    assert "UAR per condition" in report and "baseline-early" in report and "no input (6 skipped)" in report
    printed = capsys.readouterr().out
    assert "baseline-early" in printed and "no input" in printed
    stamp = (cond / "clean" / "llm" / "metrics.json").stat().st_mtime_ns
    assert main(argv + ["--only", "without:"]) == 0  # a rerun reuses finished conditions
    assert (cond / "clean" / "llm" / "metrics.json").stat().st_mtime_ns == stamp


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


def test_robustness_refuses_regression_baselines_by_name(tmp_path) -> None:
    from emollm.experiments.robustness import baseline_system

    folder = tmp_path / "early"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "baseline.json").write_text(json.dumps({"format": 1, "fusion": "early", "task": "regression"}))
    with pytest.raises(
        ValueError, match="early: robustness scores classification baselines; this one is a regression"
    ):
        baseline_system(folder)
    with pytest.raises(FileNotFoundError, match="not a saved baseline"):
        baseline_system(tmp_path)
