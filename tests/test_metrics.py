"""Metrics against hand-worked examples and scikit-learn; statistics against known truths."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES, LabelSet
from cirrbench.benchmark.reporting.metric_values import compute_metrics, expected_calibration_error, multiclass_brier
from cirrbench.benchmark.reporting.stats import corrected_paired_t, corrected_t_ci, holm, mcnemar_exact

Y = np.array([0, 0, 0, 1, 1, 2])
P = np.array(
    [
        [0.8, 0.1, 0.1],  # 0 -> 0
        [0.6, 0.3, 0.1],  # 0 -> 0
        [0.2, 0.7, 0.1],  # 0 -> 1
        [0.3, 0.6, 0.1],  # 1 -> 1
        [0.1, 0.2, 0.7],  # 1 -> 2
        [0.1, 0.1, 0.8],  # 2 -> 2
    ]
)


def test_hand_worked_example():
    m = compute_metrics(Y, P, CIRRHOSIS_STAGES)
    # predictions 0,0,1,1,2,2: 4 of 6 right
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recall: mild 2/3, moderate 1/2, severe 1/1
    assert m["recall_mild"] == pytest.approx(2 / 3)
    assert m["recall_moderate"] == pytest.approx(1 / 2)
    assert m["recall_severe"] == pytest.approx(1.0)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # precision: mild 2/2, moderate 1/2, severe 1/2
    assert m["precision_moderate"] == pytest.approx(0.5)
    # specificity of moderate: negatives are 4 scans (3 mild, 1 severe), one called moderate -> 3/4
    assert m["specificity_moderate"] == pytest.approx(3 / 4)
    # specificity of severe: 5 negatives, one (a moderate) called severe -> 4/5
    assert m["specificity_severe"] == pytest.approx(4 / 5)
    # stage MAE: errors of 1 on two scans -> 2/6
    assert m["mae"] == pytest.approx(2 / 6)
    # Brier: first row (0.8-1)^2 + 0.01 + 0.01 = 0.06, ...
    expected = np.mean(np.sum((P - np.eye(3)[Y]) ** 2, axis=1))
    assert m["brier"] == pytest.approx(expected)
    assert multiclass_brier(Y, np.eye(3)[Y]) == 0.0


def test_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    pred = p.argmax(axis=1)
    m = compute_metrics(y, p, CIRRHOSIS_STAGES)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert m["qwk"] == pytest.approx(skm.cohen_kappa_score(y, pred, weights="quadratic"))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))


def _scikit_learn_metrics(y: np.ndarray, pred: np.ndarray, p: np.ndarray, labels: LabelSet) -> dict[str, float]:
    """The same keys, each from scikit-learn's own function (the suite's earlier implementation)."""
    k = labels.n_classes
    classes = list(range(k))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    cm = skm.confusion_matrix(y, pred, labels=classes)
    present = np.isin(classes, y)
    out = {"accuracy": skm.accuracy_score(y, pred), "cm": cm}
    for index, name in enumerate(labels.names):
        positive = y == index
        both = positive.any() and (~positive).any()
        out[f"auc_{name}"] = skm.roc_auc_score(positive, p[:, index]) if both else float("nan")
        out[f"precision_{name}"] = precision[index] if present[index] else float("nan")
        out[f"recall_{name}"] = recall[index] if present[index] else float("nan")
        out[f"f1_{name}"] = f1[index] if present[index] else float("nan")
        fp, tn = (
            cm[:, index].sum() - cm[index, index],
            cm.sum() - cm[index, :].sum() - cm[:, index].sum() + cm[index, index],
        )
        out[f"specificity_{name}"] = tn / (tn + fp) if tn + fp else float("nan")
    if labels.ordinal:
        several = len(np.unique(np.r_[y, pred])) > 1
        out["qwk"] = skm.cohen_kappa_score(y, pred, labels=classes, weights="quadratic") if several else 0.0
        out["mae"] = skm.mean_absolute_error(y, pred)
    return out


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_every_metric_is_scikit_learns_to_the_bit(n_classes):
    """Small test sets as the report scores them: tied and rounded probabilities, absent classes,
    constant predictions. Equal with ==, not approximately: the report's numbers must not move."""
    from cirrbench.benchmark.common.decision import decide
    from cirrbench.benchmark.reporting.metric_values import binary_auc, confusion

    rng = np.random.default_rng(n_classes)
    labels = LabelSet(tuple("abcde"[:n_classes]), ordinal=True)
    checked = 0
    for trial in range(70):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, n_classes - (trial % 3 == 0), n)  # every third set lacks the last class
        p = rng.dirichlet(np.ones(n_classes), n)
        if trial % 2:
            p = np.round(p, 1)  # ties within and across classes
        if trial % 7 == 0:
            p[:] = p[0]  # one prediction for every patient
        pred = decide(p)
        ours, theirs = compute_metrics(y, p, labels), _scikit_learn_metrics(y, pred, p, labels)
        assert np.array_equal(confusion(y, pred, n_classes), theirs.pop("cm"))
        for key, value in theirs.items():
            assert ours[key] == value or (np.isnan(ours[key]) and np.isnan(value)), (trial, key, ours[key], value)
            checked += 1
        positive = y == 0
        if positive.any() and (~positive).any():
            assert binary_auc(positive, p[:, 0]) == skm.roc_auc_score(positive, p[:, 0])
    assert checked > 70 * n_classes * 5


def test_nominal_labels_have_no_ordinal_metrics_and_any_class_count_works():
    labels = LabelSet(("a", "b"), ordinal=False)
    m = compute_metrics(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]), labels)
    assert "qwk" not in m and "mae" not in m
    assert m["accuracy"] == 0.5
    five = LabelSet(tuple("abcde"), ordinal=True)
    y = np.arange(5).repeat(4)
    assert compute_metrics(y, np.eye(5)[y], five)["qwk"] == pytest.approx(1.0)


def test_ece():
    # Perfectly calibrated in each bin: confidence 0.75, right 3 of 4 -> ECE 0
    y = np.array([0, 0, 0, 1])
    p = np.tile([0.75, 0.25], (4, 1))
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    # Always 100 % confident, half right -> 0.5
    assert expected_calibration_error(np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(0.5)


def test_patient_bootstrap_covers_the_truth_at_about_the_nominal_rate():
    """Seeded simulation: accuracy 0.65 on 60 patients, 400 replicated test sets, the report's bootstrap."""
    import pandas as pd

    from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey

    rng = np.random.default_rng(2026)
    truth, hits, trials = 0.65, 0, 400
    for t in range(trials):
        correct = rng.random(60) < truth
        frame = pd.DataFrame(
            {
                "patient_id": [str(i) for i in range(60)],
                "true_label": 0,
                "prob_mild": np.where(correct, 0.8, 0.1),
                "prob_moderate": np.where(correct, 0.1, 0.8),
                "prob_severe": 0.1,
            }
        )
        frame = frame.assign(
            runner="m", variant="default", input="T1W", protocol="official", split_id="s", seed_index=0
        )
        ci = Evaluation({"patient": frame}, pd.DataFrame(), CIRRHOSIS_STAGES, {}, n_boot=1000, seed=t).estimate(
            MethodKey("m", "default", "T1W", "official"), "accuracy"
        )
        hits += ci.low <= truth <= ci.high
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.98, coverage


def test_corrected_t_is_wider_than_naive_and_centred():
    values = np.array([0.60, 0.70, 0.65, 0.62, 0.68, 0.66, 0.61, 0.69, 0.64, 0.67])
    corrected = corrected_t_ci(values, test_fraction=0.25)
    from scipy import stats

    naive_half = stats.t.ppf(0.975, 9) * values.std(ddof=1) / np.sqrt(10)
    assert corrected.value == pytest.approx(values.mean())
    assert (corrected.high - corrected.low) / 2 == pytest.approx(naive_half * np.sqrt((0.1 + 0.25) / 0.1))
    assert corrected_t_ci(values, 0.25, bounds=(0.0, 0.66)).high == 0.66


def test_corrected_paired_t(caplog):
    a = np.array([0.7, 0.72, 0.69, 0.71, 0.73])
    with caplog.at_level("WARNING"):
        diff, p = corrected_paired_t(a, a - 0.1, test_fraction=0.25, name="X vs Y (T1W, cv)")
    # identical differences in every split: no variance to test against (was p = 2.4e-31 from rounding)
    assert diff == pytest.approx(0.1) and np.isnan(p)
    assert "X vs Y (T1W, cv)" in caplog.text and "no variance" in caplog.text
    diff, p = corrected_paired_t(a, a[::-1], test_fraction=0.25)
    assert p > 0.5


def test_mcnemar_exact():
    a = np.array([1] * 10 + [0] * 0 + [1] * 5, dtype=bool)
    b = np.array([0] * 10 + [1] * 0 + [1] * 5, dtype=bool)
    only_a, only_b, p = mcnemar_exact(a, b)
    assert (only_a, only_b) == (10, 0)
    assert p == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(a, a)[2] == 1.0


def test_holm():
    # Hand-worked: p = 0.01, 0.04, 0.03 -> sorted 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06,0.04)=0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm([np.nan, 0.2])[0])
