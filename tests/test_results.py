"""`emollm results` helpers: stratified subsets, the not-in-MELD filter, subset metrics, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emollm.experiments import result_steps as steps
from emollm.experiments import result_tasks as tasks
from emollm.experiments.results import run_results, write_report
from emollm.io import write_jsonl


def _split(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "s.jsonl", [{"id": i, "labels": {"emotion": e}, "text": t} for i, e, t in rows])
    (folder / "manifest.json").write_text(json.dumps({"label_set": "synthetic4", "media_root": "../raw"}))
    return folder / "s.jsonl"


def test_stratified_subset_keeps_label_shares_and_rebases_the_media_root(tmp_path: Path) -> None:
    data = _split(
        tmp_path / "d",
        [(f"a{i}", "neutral", "x") for i in range(60)] + [(f"b{i}", "sad", "y") for i in range(20)],
    )
    sub = steps.stratified(data, 20, tmp_path / "sub" / "s.jsonl")
    labels = [json.loads(x)["labels"]["emotion"] for x in sub.read_text().splitlines()]
    assert labels.count("neutral") == 15 and labels.count("sad") == 5
    manifest = json.loads((tmp_path / "sub" / "manifest.json").read_text())
    assert (tmp_path / "sub" / manifest["media_root"]).resolve() == (tmp_path / "raw").resolve()


def test_not_verbatim_in_meld_and_subset_metrics(tmp_path: Path) -> None:
    meld = tmp_path / "meld"
    _split(meld, [("m1", "neutral", "Oh. My. God!"), ("m2", "sad", "fine")])
    (meld / "s.jsonl").rename(meld / "train.jsonl")
    emory = _split(
        tmp_path / "e",
        [("e1", "neutral", "oh my god"), ("e2", "sad", "Something new"), ("e3", "happy", "new")],
    )
    assert tasks._not_in_meld(emory, meld) == {"e2", "e3"}
    ev = tmp_path / "ev"
    write_jsonl(ev / "predictions.jsonl", [{"id": "e1", "gold": "neutral", "scored_label": "sad"},
                                          {"id": "e2", "gold": "sad", "scored_label": "sad"},
                                          {"id": "e3", "gold": "happy", "scored_label": "sad"}])  # fmt: skip
    m = tasks._subset_metrics(ev, {"e2", "e3"}, ("neutral", "happy", "sad", "angry"))
    assert m["n"] == 2 and m["accuracy"] == 0.5


def test_report_shows_every_system_with_its_interval_and_the_paired_tests(tmp_path: Path) -> None:
    ci = {"uar": [0.4, 0.6], "weighted_f1": [0.5, 0.7], "macro_f1": [0.3, 0.5], "accuracy": [0.5, 0.7]}
    llm = {"uar": 0.5, "weighted_f1": 0.6, "macro_f1": 0.4, "accuracy": 0.6, "n": 10, "ci95": ci,
           "generate": {"uar": 0.45, "weighted_f1": 0.55, "macro_f1": 0.35, "accuracy": 0.5, "n": 10}}  # fmt: skip
    delta = {"delta": 0.1, "ci95": [0.01, 0.2], "p_value": 0.02}
    summary = {"meld": {"llm": {**llm, "fold_uar": {"03+08": 0.71, "09+10": 0.8}}, "tfidf-logreg": {**llm, "uar": 0.4},
                        "paired_vs_llm": {"tfidf-logreg": {"n": 10, "delta_uar": delta, "delta_weighted_f1": delta,
                                                           "mcnemar": {"p_value": 0.3}}}}}  # fmt: skip
    text = write_report(tmp_path, summary).read_text()
    assert "0.500 [0.400, 0.600]" in text and "llm (generation)" in text and "tfidf-logreg" in text
    assert "llm, UAR per held-out fold: 03+08 0.710, 09+10 0.800." in text
    assert "UAR +0.100 [+0.010, +0.200]" in text and "McNemar p = 0.3000" in text


def test_report_states_each_systems_rationale_figures_and_its_text_only_queries(tmp_path: Path) -> None:
    rationale = {"rationale_checked": 8, "rationale_absent_rate": 0.125, "rationale_claim_accuracy": 0.25,
                 "rationale_level_claim_accuracy": 0.75}  # fmt: skip
    llm = {"uar": 0.5, "n": 8, **rationale, "protocol": "speakers 15+16",
           "text_only_queries": {**rationale, "rationale_absent_rate": 0.0}}  # fmt: skip
    summary = {"emodb": {"llm": llm, "mlp": {"uar": 0.6, "n": 8}, "wall_seconds": 1.0, "note": "n"}}
    text = write_report(tmp_path, summary).read_text()
    assert (
        "llm rationales (8 generated): 0.125 cite an absent input; claim accuracy 0.250 exact, 0.750" in text
    )
    assert (
        "(speakers 15+16)" in text and "llm on text-only queries rationales (8 generated): 0.000 cite" in text
    )
    assert "mlp rationales" not in text


def test_results_refuse_unknown_tasks_and_need_the_data(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="unknown results task"):
        run_results(tmp_path, ["nope"])
    monkeypatch.delenv("EMOLLM_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="EMOLLM_DATA_DIR"):
        run_results(tmp_path, ["meld"])


def test_only_replaces_its_tasks_in_the_published_summary(tmp_path: Path, monkeypatch) -> None:
    from emollm.experiments import results

    published = tmp_path / "published"
    published.mkdir()
    old = {"meld": {"llm": {"uar": 0.1}}, "floor": {"meld": {"score": {"uar": 0.2}}}}
    (published / "summary.json").write_text(json.dumps(old))
    monkeypatch.setattr(results, "run_task", lambda name, root, out: {"llm": {"uar": 0.9, "n": 3}})
    monkeypatch.setenv("EMOLLM_DATA_DIR", str(tmp_path))
    summary = run_results(tmp_path / "fresh", ["meld"], published)
    kept = json.loads((published / "summary.json").read_text())
    assert kept == summary and kept["floor"] == old["floor"]  # not re-run: kept
    assert kept["meld"]["llm"] == {"uar": 0.9, "n": 3} and "task_seconds" in kept["meld"]  # re-run: replaced
    assert "## floor" in (published / "report.md").read_text()


def test_wall_seconds_add_up_over_resumed_invocations(tmp_path: Path) -> None:
    import time

    first = steps.wall_seconds(tmp_path, time.time() - 100)
    second = steps.wall_seconds(tmp_path, time.time() - 5)
    assert 100 <= first < 110 and 105 <= second < 120
