"""The tasks of `emollm results`: each trains (or reuses) the LLM and its baselines on one protocol and returns
{system: metrics}. Every step reuses what a previous run finished, so a killed `make results` resumes."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from emollm.baselines import run_baselines, run_loso
from emollm.baselines.tfidf import run_tfidf
from emollm.baselines.train import feature_settings
from emollm.checkpoint import load_checkpoint, write_model_files
from emollm.config import RunConfig, load_config
from emollm.evaluation.compare import compare_predictions
from emollm.evaluation.metrics import bootstrap_ci, classification_metrics, headline
from emollm.experiments.quickstart import features_and_rationales, prepare_data
from emollm.experiments.result_steps import (
    brief,
    calibrated,
    corpus,
    evaluated,
    llm_entry,
    reused,
    select_checkpoint,
    stratified,
    trained,
    wall_seconds,
)
from emollm.experiments.robustness import baseline_system, llm_system, run_robustness
from emollm.extract import extract
from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels
from emollm.model.emollm import EmoLLM
from emollm.rationale import annotate_file
from emollm.resources import resource_dir

log = logging.getLogger("emollm.experiments.results")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def meld(root: str, out: Path) -> dict[str, Any]:
    """MELD text, 7 classes: full official train (one epoch, dialogue context), dev selection, full test; TF-IDF and
    MiniLM baselines (utterance alone)."""
    data, task = corpus("meld", root, out), out / "meld"
    began = time.time()
    final, seconds = trained("results/meld_text.yaml", [f"data.train={data / 'train.jsonl'}",
                                                        f"train.out_dir={task / 'llm'}"])  # fmt: skip
    dev = stratified(data / "dev.jsonl", 300, task / "dev-select" / "dev300.jsonl")
    best, _ = select_checkpoint(final.parent, dev, task / "dev-select")
    calibrated(best, data / "dev.jsonl", data / "train.jsonl", task / "dev-prior")
    llm = evaluated(best, data / "test.jsonl", task / "eval" / "llm", ("score", "generate"))
    systems: dict[str, Any] = {"llm": {**llm_entry(llm), "checkpoint": str(best), "train_seconds": seconds}}
    for cw in (False, True):
        name = "tfidf-logreg" + ("-classweights" if cw else "")
        m = reused(task / "eval" / name) or run_tfidf(data / "train.jsonl", data / "test.jsonl", task / "eval" / name,
                                                      "meld", class_weights=cw)  # fmt: skip
        systems[name] = brief(m["score"])
    for suffix, extra in (("", []), ("-classweights", ["baseline.class_weights=true"]),
                          ("-prioradjust", ["baseline.prior_adjustment=weighted_f1"])):  # fmt: skip
        systems["minilm-mlp" + suffix] = _minilm(data, task / ("minilm-mlp" + suffix), "meld", extra)
    systems["wall_seconds"] = wall_seconds(task, began)
    return _with_comparisons(systems, task)


def emorynlp(root: str, out: Path, meld_ckpt: Path) -> dict[str, Any]:
    """MELD -> EmoryNLP dev, zero-shot through `emorynlp_to_meld`; also on the dev utterances not found verbatim in
    MELD; against TF-IDF + logistic regression trained in-corpus on EmoryNLP train (same mapped label space)."""
    data, meld_data, task = corpus("emorynlp", root, out), corpus("meld", root, out), out / "emorynlp"
    lmap = "emorynlp_to_meld"
    llm = evaluated(
        meld_ckpt, data / "dev.jsonl", task / "eval" / "llm_zeroshot", ("score", "generate"), label_map=lmap
    )
    base = reused(task / "eval" / "tfidf-logreg") or run_tfidf(data / "train.jsonl", data / "dev.jsonl",
                                                                task / "eval" / "tfidf-logreg", "meld", label_map=lmap)  # fmt: skip
    systems = {"llm_zeroshot": llm_entry(llm), "tfidf-logreg": brief(base["score"])}
    unseen = _not_in_meld(data / "dev.jsonl", meld_data)
    for name, folder in (
        ("llm_zeroshot", task / "eval" / "llm_zeroshot"),
        ("tfidf-logreg", task / "eval" / "tfidf-logreg"),
    ):
        systems[name]["not_verbatim_in_meld"] = _subset_metrics(folder, unseen, get_labels("meld"))
    systems["note"] = f"{len(unseen)} of the mapped dev utterances do not occur verbatim in MELD"
    return _with_comparisons(systems, task)


def floor(root: str, out: Path) -> dict[str, Any]:
    """The untuned SmolLM2-135M-Instruct (LoRA at its identity init, no training) on stratified subsets of MELD test
    (500) and EmoryNLP dev (300, mapped), both prediction modes, with the utterance-only compact prompt: the floor a
    fine-tuned model must clear."""
    task = out / "floor"
    ckpt = task / "untuned"
    if not (ckpt / "meta.json").is_file():
        cfg = load_config(resource_dir("configs") / "results/meld_text.yaml",
                          [f"train.out_dir={task}", "data.prompt=emotion_compact"])  # fmt: skip
        ckpt.mkdir(parents=True, exist_ok=True)
        write_model_files(EmoLLM.from_config(cfg), ckpt, {"step": 0, "stage": "untuned"})
    meld_test = stratified(
        corpus("meld", root, out) / "test.jsonl", 500, task / "meld-test500" / "test.jsonl"
    )
    emory_dev = stratified(
        corpus("emorynlp", root, out) / "dev.jsonl", 300, task / "emorynlp-dev300" / "dev.jsonl"
    )
    systems = {}
    for name, data, lmap in (("meld", meld_test, None), ("emorynlp", emory_dev, "emorynlp_to_meld")):
        m = evaluated(ckpt, data, task / "eval" / name, ("score", "generate"), label_map=lmap)
        systems[name] = {"score": brief(m["score"]), "generate": brief(m["generate"])}
    return systems


EMODB_FOLDS = [["03", "08"], ["09", "10"], ["11", "12"], ["13", "14"], ["15", "16"]]
EMODB_BASELINES = {"whisper-mlp": "unimodal-audio", "whisper-linear": "linear-audio"}
"""EmoDB baselines on the LLM's Whisper features: system name -> fusion (MLP head; L-BFGS logistic regression)."""


def emodb(root: str, out: Path) -> dict[str, Any]:
    """EmoDB audio, 7 classes, leave-2-speakers-out (5 folds) on Whisper tiny.en frames: the LLM trained once per
    fold, and the Whisper MLP and logistic-regression baselines on the same folds; predictions pooled over the folds."""
    data, task = corpus("emodb", root, out), out / "emodb"
    cache = task / "cache"
    rows = [json.loads(x) for x in (data / "all.jsonl").read_text().splitlines()]
    began, seconds, pooled, fold_uar = time.time(), 0.0, [], {}
    for k, speakers in enumerate(EMODB_FOLDS):
        for split, keep in (("train", False), ("test", True)):  # beside all.jsonl: same relative media paths
            write_jsonl(
                data / f"fold{k}-{split}.jsonl", [r for r in rows if (r["speaker"] in speakers) == keep]
            )
        final, sec = trained("results/emodb_whisper.yaml", [f"data.train={data / f'fold{k}-train.jsonl'}",
                                                             f"data.cache_dir={cache}", f"train.out_dir={task / 'llm' / f'fold{k}'}"])  # fmt: skip
        seconds += sec
        m = evaluated(final, data / f"fold{k}-test.jsonl", task / "eval" / "folds" / f"llm{k}", ("score", "generate"),
                      cache_dir=cache)  # fmt: skip
        fold_uar["+".join(speakers)] = round(m["score"]["uar"], 4)
        pooled += [
            json.loads(x)
            for x in (task / "eval" / "folds" / f"llm{k}" / "predictions.jsonl").read_text().splitlines()
        ]
    labels = get_labels("emodb")
    write_jsonl(task / "eval" / "llm" / "predictions.jsonl", pooled)
    llm = {
        mode: _pooled(pooled, key, labels)
        for mode, key in (("score", "scored_label"), ("generate", "predicted"))
    }
    atomic_write_json(task / "eval" / "llm" / "metrics.json", llm)
    cfg = load_config(resource_dir("configs") / "results/emodb_whisper.yaml", [f"data.cache_dir={cache}"])
    systems = {"llm": {**brief(llm["score"]), "generate": brief(llm["generate"]), "train_seconds": round(seconds, 1),
                       "protocol": "leave-2-speakers-out, 5 folds: " + ", ".join("+".join(f) for f in EMODB_FOLDS),
                       "fold_uar": fold_uar}}  # fmt: skip
    for system, fusion in EMODB_BASELINES.items():
        folder = task / "eval" / system
        base = reused(folder / fusion)
        if base is None or base.get("features") != feature_settings(cfg):  # none yet, or of other features
            run_loso(cfg, data / "all.jsonl", folder, (fusion,), cfg.baseline, cache, folds=EMODB_FOLDS)
            base = reused(folder / fusion)
        systems[system] = {**brief(base["score"]), "eval_dir": str(folder / fusion),
                           "fold_uar": {k: round(v, 4) for k, v in base.get("fold_uar", {}).items()}}  # fmt: skip
    systems["wall_seconds"] = wall_seconds(task, began)
    systems = _with_comparisons(systems, task)
    systems["llm-rationales"] = _emodb_rationales(data, task, EMODB_FOLDS[-1])
    return systems


def _emodb_rationales(data: Path, task: Path, held_out: list[str]) -> dict[str, Any]:
    """Rationales on real speech: eGeMAPS -> 2 tokens, the measured prosody cues also as text
    (`emotion_compact_measured`), trained with cue-grounded rationales on the other speakers and tested on
    `held_out`; its generated rationales checked against the measured cues. The cues' z-scores are relative to each
    speaker's own clips (test speakers included), so its label scores are transductive and not a headline figure."""
    cache, name = task / "cache-egemaps", "llm-rationales"
    over = [f"data.cache_dir={cache}", "data.prompt=emotion_compact_measured", "data.with_rationale=true"]
    cfg = load_config(resource_dir("configs") / "emodb_audio.yaml", over)
    annotated = data / "all.measured.jsonl"
    if not annotated.is_file():
        extract(cfg, data / "all.jsonl", cache)
        annotate_file(cfg, data / "all.jsonl", annotated, cache)
    rows = [json.loads(x) for x in annotated.read_text().splitlines()]
    for split, keep in (("train", False), ("test", True)):
        write_jsonl(data / f"measured-{split}.jsonl", [r for r in rows if (r["speaker"] in held_out) == keep])
    final, seconds = trained("emodb_audio.yaml", [*over, f"data.train={data / 'measured-train.jsonl'}",
                                                  f"train.out_dir={task / name}", "train.align_steps=40",
                                                  "train.steps=200", "train.lr=5e-4"])  # fmt: skip
    m = evaluated(
        final, data / "measured-test.jsonl", task / "eval" / name, ("score", "generate"), cache_dir=cache
    )
    return {**brief(m["score"]), "generate": brief(m["generate"]), "train_seconds": seconds,
            "protocol": f"train: the other 8 speakers; test: speakers {'+'.join(held_out)}; transductive cue z-scores",
            **{k: v for k, v in m["generate"].items() if k.startswith("rationale_")}}  # fmt: skip


def _pooled(rows: list[dict], key: str, labels: tuple[str, ...]) -> dict[str, Any]:
    """Metrics with bootstrap CIs over the pooled predictions of every fold."""
    gold, pred = [r["gold"] for r in rows], [r.get(key) for r in rows]
    return {**classification_metrics(gold, pred, labels), "ci95": bootstrap_ci(gold, pred, labels)}


GENERATED_BASELINES = ("unimodal-video", "unimodal-audio", "unimodal-sensor", "early", "late", "hybrid-attention",
                       "hybrid-gated", "mult", "tfn", "lmf")  # fmt: skip


def generated(out: Path, steps: int = 400) -> dict[str, Any]:
    """The quickstart's generated tri-modal corpus (raw media through the real encoders), the fusion family on the
    same cached features, and two LLMs trained to convergence: `llm` (`emotion_default`: cues only as projected
    features) and `llm-measured` (`emotion_compact_measured`, the quickstart's prompt: the measured cues also given
    as text);
    each system's drop per removed modality and the LLMs' rationales on text-only queries."""
    task = out / "generated"
    data = task / "data"
    prepare_data("synthetic", data, 0, 128)
    base = [f"data.train={data / 'train.jsonl'}", f"data.test={data / 'test.jsonl'}", f"data.cache_dir={task / 'cache'}",
            f"train.steps={steps}", "train.align_steps=40", "train.lr=5e-4", "train.modality_dropout=0.3"]  # fmt: skip
    cfg = load_config(resource_dir("configs") / "quickstart.yaml", base)
    features_and_rationales(cfg, data)
    if not all(reused(task / "eval" / f) for f in GENERATED_BASELINES):
        run_baselines(cfg, data, task / "eval", GENERATED_BASELINES, cfg.baseline, task / "cache")
    systems: dict[str, Any] = {
        name: brief(reused(task / "eval" / name)["score"]) for name in GENERATED_BASELINES
    }
    best = max(GENERATED_BASELINES, key=lambda n: systems[n]["uar"])
    for name, extra in (
        ("llm", ["data.prompt=emotion_default"]),
        ("llm-measured", ["data.prompt=emotion_compact_measured"]),
    ):
        systems[name] = _generated_llm(task, name, [*base, f"train.out_dir={task / name}", *extra], best)
    systems["best_baseline"] = best
    return _with_comparisons(systems, task)


def _generated_llm(task: Path, name: str, overrides: list[str], best: str) -> dict[str, Any]:
    """One LLM on the generated corpus: trained, evaluated, and perturbed next to the best baseline (without each
    input, text only); its rationales' honesty on the test set and on text-only queries."""
    final, seconds = trained("quickstart.yaml", overrides)
    cache = task / "cache"
    llm = evaluated(
        final, task / "data" / "test.jsonl", task / "eval" / name, ("score", "generate"), cache_dir=cache
    )
    row: dict[str, Any] = {**brief(llm["score"]), "generate": brief(llm["generate"]), "train_seconds": seconds,
                           **{k: v for k, v in llm["generate"].items() if k.startswith("rationale_")}}  # fmt: skip
    robust_dir = task / ("robustness" if name == "llm" else f"robustness-{name}")
    robust = run_robustness([llm_system(load_checkpoint(final, merge=True, precision="auto"), ("score", "generate"), 16, cache),
                             baseline_system(task / "eval" / best, cache)],
                            task / "data" / "test.jsonl", robust_dir, only=["without", "only:text"])  # fmt: skip
    for system, result in robust["systems"].items():
        drops = {
            c["name"].split(":", 1)[1]: c["delta_uar"]
            for c in result["conditions"]
            if c["name"].startswith("without:")
        }
        row["drop_without" if system == "llm" else f"{best}_drop_without"] = drops
    text_only = json.loads((robust_dir / "conditions" / "only_text" / "llm" / "metrics.json").read_text())
    row["text_only_queries"] = {k: v for k, v in text_only["generate"].items()
                                if k.startswith("rationale_") or k in ("uar", "n")}  # fmt: skip
    return row


def _minilm(data: Path, out: Path, labels: str, extra: list[str]) -> dict[str, Any]:
    """MiniLM sentence embeddings + MLP (the fusion framework's unimodal-text head) on the same splits; `extra`:
    baseline config overrides (class weights, prior adjustment)."""
    done = reused(out / "unimodal-text")
    if done is None:
        cfg = load_config(None, [f"data.labels={labels}", f"baseline.text_encoder={MINILM}", *extra])
        done = run_baselines(cfg, data, out, ("unimodal-text",), cfg.baseline, out / "cache")["unimodal-text"]
    return {**brief(done["score"]), "eval_dir": str(out / "unimodal-text")}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", " ".join(text.lower().split()))


def _not_in_meld(split: Path, meld_data: Path) -> set[str]:
    """Ids of a split's records whose utterance does not occur (normalised) in any MELD split."""
    seen = {
        _norm(json.loads(x).get("text") or "")
        for f in meld_data.glob("*.jsonl")
        for x in f.read_text().splitlines()
    }
    return {
        r["id"]
        for r in map(json.loads, split.read_text().splitlines())
        if _norm(r.get("text") or "") not in seen
    }


def _subset_metrics(folder: Path, ids: set[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """Headline metrics (label scoring) of an evaluation's predictions restricted to `ids`."""
    rows = [json.loads(x) for x in (folder / "predictions.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["id"] in ids]
    return headline(
        classification_metrics([r["gold"] for r in rows], [r["scored_label"] for r in rows], labels)
    )


def _with_comparisons(systems: dict[str, Any], task: Path) -> dict[str, Any]:
    """Paired LLM-vs-baseline tests (label scoring, same samples) for every baseline with predictions:
    `paired_vs_llm` for the task's main LLM, `paired_vs_<name>` for each other LLM system (e.g. llm-measured)."""
    llms = [n for n in systems if n.startswith("llm") and (task / "eval" / n / "predictions.jsonl").is_file()]
    out = dict(systems)
    for llm_name in llms:
        comparisons = {}
        for name, m in systems.items():
            folder = Path(m["eval_dir"]) if isinstance(m, dict) and "eval_dir" in m else task / "eval" / name
            if (
                not name.startswith("llm")
                and isinstance(m, dict)
                and (folder / "predictions.jsonl").is_file()
            ):
                c = compare_predictions(task / "eval" / llm_name, folder, "score", (llm_name, name))
                comparisons[name] = {
                    k: c[k] for k in ("n", "delta_uar", "delta_accuracy", "delta_weighted_f1", "mcnemar")
                }
        main = llm_name == ("llm" if "llm" in systems else "llm_zeroshot")
        out["paired_vs_llm" if main else f"paired_vs_{llm_name}"] = comparisons
    return out


__all__ = ["RunConfig", "emorynlp", "floor", "meld"]
