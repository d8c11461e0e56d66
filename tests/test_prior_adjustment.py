"""Label-prior adjustment: the rule, its fit on dev, and that checkpoints and baselines carry and apply it."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from emollm.cli import main
from emollm.evaluation.prior_fit import fit_prior_adjustment
from emollm.prior_adjustment import (
    PriorAdjustment,
    label_prior,
    read_prior_adjustment,
    save_prior_adjustment,
)
from tests.conftest import tiny_overrides

LABELS = ("neutral", "happy", "sad", "angry")
PRIOR = (0.7, 0.1, 0.1, 0.1)


def test_the_rule_subtracts_tau_times_the_log_prior() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    assert torch.allclose(PriorAdjustment(LABELS, PRIOR, 0.0).apply(probs), probs)
    out = PriorAdjustment(LABELS, PRIOR, 1.0).apply(probs)
    want = torch.softmax(probs.log() - torch.tensor(PRIOR).log(), -1)
    assert torch.allclose(out, want, atol=1e-6) and torch.allclose(out.sum(-1), torch.ones(2))
    assert out[0].argmax() == 1 and out[1, 0] < out[1, 1]  # the frequent class loses its head start
    half = PriorAdjustment(LABELS, PRIOR, 0.5).apply(probs)
    assert half[0, 0] > out[0, 0] and half[0, 0] < probs[0, 0]


def test_fit_picks_the_tau_that_recovers_the_rare_classes_and_ties_go_to_the_smallest() -> None:
    gen = torch.Generator().manual_seed(0)
    gold = torch.randint(1, 4, (200,), generator=gen)  # the dev set is all rare classes
    logits = torch.nn.functional.one_hot(gold, 4).float() * 1.0 + torch.randn(200, 4, generator=gen) * 0.3
    logits[:, 0] += 1.5  # a model that learned the training prior: "neutral" wins too often
    probs = logits.softmax(-1)
    names = [LABELS[int(g)] for g in gold]
    fitted = fit_prior_adjustment(probs, names, LABELS, PRIOR, "uar", fitted_on="dev")
    assert (
        fitted.tau > 0
        and fitted.fitted_on == "dev"
        and set(fitted.dev_scores) == {f"{0.1 * i:g}" for i in range(11)}
    )
    best = max(fitted.dev_scores.values())
    assert best - 0.05 < fitted.dev_scores[f"{fitted.tau:g}"] <= best and best > fitted.dev_scores["0"] + 0.1
    assert fitted.selection  # says how tau was chosen
    balanced = torch.full((4, 4), 0.25) + torch.eye(4)  # already right at tau 0: every tau scores alike
    same = fit_prior_adjustment(balanced.softmax(-1), list(LABELS), LABELS, (0.25,) * 4, "accuracy")
    assert same.tau == 0.0
    with pytest.raises(ValueError, match="metric must be one of"):
        fit_prior_adjustment(probs, names, LABELS, PRIOR, "auc")
    with pytest.raises(ValueError, match="3 gold labels"):
        fit_prior_adjustment(probs, names[:3], LABELS, PRIOR)


def test_a_flat_dev_curve_keeps_the_model_as_trained_one_standard_error_rule() -> None:
    gen = torch.Generator().manual_seed(1)
    gold = torch.randint(0, 4, (400,), generator=gen)
    probs = (torch.nn.functional.one_hot(gold, 4).float() * 2 + torch.randn(400, 4, generator=gen)).softmax(
        -1
    )
    names = [LABELS[int(g)] for g in gold]
    # two samples whose neutral-vs-rare call is a near tie: the adjustment flips both, one to right, one to wrong,
    # and a third flips to right: the best tau beats tau 0 by 1/400 accuracy, far inside the noise
    for i, right in zip(range(3), (True, False, True), strict=True):
        probs[i] = torch.tensor([0.40, 0.39, 0.11, 0.10])
        names[i] = "happy" if right else "neutral"
    fitted = fit_prior_adjustment(probs, names, LABELS, PRIOR, "accuracy")
    best = max(fitted.dev_scores, key=lambda t: (fitted.dev_scores[t], -float(t)))
    assert (
        float(best) > 0 and fitted.dev_scores[best] > fitted.dev_scores["0"]
    )  # a marginally better tau exists
    assert fitted.tau == 0.0 and "one-SE rule" in fitted.selection  # ...and is not worth the change


def test_label_prior_and_bad_inputs_name_the_file(tmp_path) -> None:
    split = tmp_path / "train.jsonl"
    split.write_text("".join(json.dumps({"id": str(i), "labels": {"emotion": e}}) + "\n"
                             for i, e in enumerate(["neutral"] * 5 + ["sad"])))  # fmt: skip
    assert label_prior(split, LABELS) == pytest.approx((6 / 10, 1 / 10, 2 / 10, 1 / 10))  # add-one
    split.write_text(json.dumps({"id": "x", "labels": {"emotion": "bored"}}) + "\n")
    with pytest.raises(ValueError, match=r"train\.jsonl:1: label 'bored' is not in the label set"):
        label_prior(split, LABELS)
    split.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"train\.jsonl:1: cannot read"):
        label_prior(split, LABELS)
    with pytest.raises(ValueError, match="sum to 1"):
        PriorAdjustment(LABELS, (0.5, 0.5, 0.5, 0.5), 0.3)
    adj = PriorAdjustment(LABELS, PRIOR, 0.3, "uar", "dev.jsonl", {"0": 0.1})
    assert read_prior_adjustment(save_prior_adjustment(tmp_path, adj).parent) == adj
    (tmp_path / "prior_adjustment.json").write_text('{"labels": ["a"]}')
    with pytest.raises(ValueError, match=r"prior_adjustment\.json: malformed prior adjustment"):
        read_prior_adjustment(tmp_path)
    with pytest.raises(ValueError, match="the model has"):
        adj.check_labels(("a", "b"), "ckpt")
    assert read_prior_adjustment(tmp_path / "nothing") is None


def test_calibrate_saves_the_adjustment_that_eval_and_predict_then_apply(
    trained_ckpt, syn_data, tmp_path, capsys
) -> None:
    import emollm
    from emollm.data.sample import load_samples
    from emollm.generate import score_labels
    from emollm.labels import get_labels

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained_ckpt, ckpt)
    dev, train = syn_data / "dev.jsonl", syn_data / "train.jsonl"
    assert (
        main(["calibrate", "--ckpt", str(ckpt), "--dev", str(dev), "--train", str(train), "--metric", "uar"])
        == 0
    )
    adj = read_prior_adjustment(ckpt)
    labels = get_labels("synthetic4")
    assert adj is not None and adj.labels == labels and adj.prior == pytest.approx(label_prior(train, labels))
    assert adj.metric == "uar" and "<- chosen" in capsys.readouterr().out
    forced = PriorAdjustment(adj.labels, adj.prior, 1.0, "uar", "test")  # a visible tau, whatever dev chose
    save_prior_adjustment(ckpt, forced)
    model = emollm.load(ckpt)
    assert model.prior_adjustment == forced
    samples, _ = load_samples(syn_data / "test.jsonl", labels)
    raw = score_labels(model, samples[:4], adjust=False)
    assert torch.allclose(score_labels(model, samples[:4]), forced.apply(raw), atol=1e-6)
    answer = model.predict(text=samples[0].text)
    assert answer["prior_adjustment_tau"] == 1.0 and answer["label"] == max(
        answer["scores"], key=answer["scores"].get
    )
    out = tmp_path / "ev"
    assert main(["eval", "--ckpt", str(ckpt), "--data", str(syn_data / "test.jsonl"), "--out", str(out),
                 "--modes", "score", "--limit", "6"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert metrics["prior_adjustment"]["tau"] == 1.0 and metrics["score_unadjusted"]["n"] == 6
    for row in rows:
        un = torch.tensor([[row["unadjusted"]["scores"][k] for k in labels]])
        assert row["scored_label"] == labels[int(forced.apply(un).argmax())]
    assert (
        main(["calibrate", "--ckpt", str(ckpt), "--remove"]) == 0
        and emollm.load(ckpt).prior_adjustment is None
    )
    assert main(["calibrate", "--ckpt", str(ckpt)]) == 2  # neither --dev nor --predictions


def test_a_prior_adjusted_baseline_saves_and_reapplies_its_adjustment(tiny_lm, syn_data, tmp_path) -> None:
    from emollm.baselines import run_baselines
    from emollm.baselines.saved import baseline_predictions
    from emollm.config import load_config

    cfg = load_config(None, tiny_overrides(tiny_lm, syn_data, tmp_path / "run", data__cache_dir=tmp_path / "cache",
                                           baseline__prior_adjustment="weighted_f1"))  # fmt: skip
    result = run_baselines(cfg, syn_data, tmp_path / "bl", ("early",))["early"]
    meta = json.loads((tmp_path / "bl" / "early" / "baseline.json").read_text())
    assert (
        meta["prior_adjustment"] == result["prior_adjustment"]
        and meta["prior_adjustment"]["fitted_on"] == "dev"
    )
    trained = [
        json.loads(x) for x in (tmp_path / "bl" / "early" / "predictions.jsonl").read_text().splitlines()
    ]
    again, _, _ = baseline_predictions(tmp_path / "bl" / "early", syn_data / "test.jsonl", tmp_path / "cache")
    for a, b in zip(trained, again, strict=True):
        assert a["scored_label"] == b["scored_label"]
        assert all(abs(a["scores"][k] - b["scores"][k]) < 1e-5 for k in a["scores"])
    with pytest.raises(Exception, match="baseline.prior_adjustment"):
        load_config(None, ["baseline.prior_adjustment=auc"])


def test_results_fit_the_adjustment_once_and_reevaluate_only_when_it_or_the_precision_changes(
    trained_ckpt, syn_data, tmp_path, monkeypatch
) -> None:
    from emollm.experiments import result_steps as tasks
    from emollm.experiments.results import write_report

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained_ckpt, ckpt)
    adj = tasks.calibrated(ckpt, syn_data / "dev.jsonl", syn_data / "train.jsonl", tmp_path / "dev-prior")
    assert read_prior_adjustment(ckpt) == adj and adj.fitted_on == str(
        tmp_path / "dev-prior" / "predictions.jsonl"
    )
    m = tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score", "generate"), report=False)
    assert m["prior_adjustment"] == adj.to_dict() and "score_unadjusted" in m
    entry = tasks.llm_entry(m)
    assert entry["prior_adjustment"]["tau"] == adj.tau and entry["unadjusted"]["n"] == entry["n"]
    report = write_report(tmp_path / "rep", {"meld": {"llm": entry}}).read_text()
    assert (
        "llm (before the prior adjustment)" in report and f"tau {adj.tau:g} fitted for weighted_f1" in report
    )
    calls = []
    monkeypatch.setattr(tasks, "evaluate", lambda *a, **k: calls.append(a) or {})
    assert (
        tasks.calibrated(ckpt, syn_data / "dev.jsonl", syn_data / "train.jsonl", tmp_path / "dev-prior")
        == adj
    )
    assert tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",)) == m and not calls
    save_prior_adjustment(ckpt, PriorAdjustment(adj.labels, adj.prior, 0.3 if adj.tau != 0.3 else 0.4))
    tasks.evaluated(
        ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",)
    )  # another tau: evaluated again
    assert len(calls) == 1
    save_prior_adjustment(ckpt, adj)  # back to the adjustment the finished evaluation used
    assert (
        tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",)) == m and len(calls) == 1
    )
    other = "no" if m["precision"] == "bf16" else "bf16"
    monkeypatch.setattr(tasks, "resolve_inference_precision", lambda *a: other)
    tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",))  # another inference precision
    assert len(calls) == 2
    monkeypatch.undo()
    monkeypatch.setattr(tasks, "evaluate", lambda *a, **k: calls.append(a) or {})
    assert (
        tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",)) == m and len(calls) == 2
    )
    later = (tmp_path / "ev" / "metrics.json").stat().st_mtime + 5
    os.utime(ckpt / "projectors.safetensors", (later, later))  # the run was retrained into the same folder
    tasks.evaluated(ckpt, syn_data / "test.jsonl", tmp_path / "ev", ("score",))
    assert len(calls) == 3
