"""Metrics against hand-computed values; CIs, McNemar, paired bootstrap, corpus conventions."""

from __future__ import annotations

import pytest

from emollm.evaluation.metrics import classification_metrics

LABELS = ("neutral", "happy", "sad", "angry")


def test_metrics_match_hand_computation() -> None:
    gold = ["happy", "happy", "happy", "sad", "sad", "neutral"]
    pred = ["happy", "happy", "sad", "sad", None, "happy"]
    m = classification_metrics(gold, pred, LABELS)
    # happy: tp 2, support 3, predicted 3 -> P 2/3, R 2/3, F1 2/3
    # sad: tp 1, support 2, predicted 2 -> P 1/2, R 1/2, F1 1/2
    # neutral: tp 0, support 1 -> F1 0.  angry: no support -> excluded from UAR / macro-F1
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 1 * 0) / 6)
    assert m["unparsed_rate"] == pytest.approx(1 / 6)
    assert m["n"] == 6
    assert m["confusion"]["matrix"][2] == [0, 0, 1, 0, 1]  # sad row: one sad, one unparsed
    assert m["per_class"]["happy"]["precision"] == pytest.approx(2 / 3)


def test_unparsed_is_wrong_even_when_gold_is_neutral() -> None:
    m = classification_metrics(["neutral", "neutral"], [None, None], LABELS)
    assert m["accuracy"] == 0.0 and m["unparsed_rate"] == 1.0


def test_metrics_reject_unknown_labels() -> None:
    with pytest.raises(ValueError, match="not in the label set"):
        classification_metrics(["happy"], ["joyous"], LABELS)
    with pytest.raises(ValueError, match="no predictions"):
        classification_metrics([], [], LABELS)


def test_regression_metrics_match_hand_computation() -> None:
    from emollm.evaluation.metrics import regression_metrics

    gold, pred = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 4.0, 4.0]
    # means 2.5 / 3.0; population variances 1.25 / 1.0; covariance 1.0
    m = regression_metrics(gold, pred)
    assert m["ccc"] == pytest.approx(2 * 1.0 / (1.25 + 1.0 + 0.25))
    assert m["pearson"] == pytest.approx(1.0 / (1.25**0.5 * 1.0))
    assert (
        m["mse"] == pytest.approx(0.5)
        and m["rmse"] == pytest.approx(0.5**0.5)
        and m["mae"] == pytest.approx(0.5)
    )
    assert regression_metrics(gold, gold)["ccc"] == pytest.approx(1.0)
    assert regression_metrics(gold, [g + 1 for g in gold])["ccc"] < 1.0  # a bias is penalised, unlike Pearson
    with pytest.raises(ValueError, match="finite"):
        regression_metrics([1.0, float("nan")], [1.0, 2.0])


def test_bootstrap_ci_brackets_the_estimate_and_is_seeded() -> None:
    from emollm.evaluation.metrics import bootstrap_ci

    gold = ["happy", "sad", "angry", "neutral"] * 10
    pred = gold[:30] + ["happy"] * 10
    point = classification_metrics(gold, pred, LABELS)
    ci = bootstrap_ci(gold, pred, LABELS, n=300, seed=1)
    for key in ("accuracy", "uar", "macro_f1", "weighted_f1"):
        low, high = ci[key]
        assert low <= point[key] <= high and high - low > 0.05
    assert ci == bootstrap_ci(gold, pred, LABELS, n=300, seed=1)


def test_mcnemar_and_paired_bootstrap() -> None:
    from emollm.evaluation.metrics import mcnemar, paired_bootstrap

    gold = ["happy"] * 20
    a = ["happy"] * 20
    b = ["happy"] * 10 + ["sad"] * 9 + [None]
    m = mcnemar(gold, a, b)
    assert (m["only_a_correct"], m["only_b_correct"]) == (10, 0)
    assert m["p_value"] == pytest.approx(2 / 2**10)  # exact: 2 * P(X <= 0), X ~ Bin(10, 1/2)
    assert mcnemar(gold, a, a)["p_value"] == 1.0
    pb = paired_bootstrap(gold, a, b, LABELS, key="accuracy", n=200)
    assert pb["delta"] == pytest.approx(0.5) and pb["p_value"] < 0.05
    assert 0.2 < pb["ci95"][0] < 0.5 < pb["ci95"][1] <= 0.8


def test_mer2023_and_mosi_conventions() -> None:
    from emollm.evaluation.metrics import mer2023_score, mosi_metrics

    assert mer2023_score(0.8, 0.4) == pytest.approx(0.7)
    gold = [2.6, -1.2, 0.0, 0.4, -3.0]
    pred = [2.9, -0.6, -0.2, -0.1, -2.4]
    m = mosi_metrics(gold, pred)
    assert m["acc2_has0"] == pytest.approx(
        3 / 5
    )  # 0.0 counts as non-negative: its -0.2 and 0.4's -0.1 are wrong
    assert m["acc2_non0"] == pytest.approx(3 / 4)  # the zero-gold sample is left out
    assert m["acc7"] == pytest.approx(4 / 5)  # rounded classes [3,-1,0,0,-3] vs [3,-1,0,0,-2]
    assert m["mae"] == pytest.approx((0.3 + 0.6 + 0.2 + 0.5 + 0.6) / 5)
