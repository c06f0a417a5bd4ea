"""The statistics review (issue "Statistics that hold under review"): each finding as a test whose
expected value comes from scikit-learn, statsmodels, scipy or a hand-worked case, including the
review's exact inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import precision_recall_fscore_support

from cirrbench.benchmark.common.decision import decide, row_keys
from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES as L
from cirrbench.benchmark.reporting.evaluation import Comparison, Evaluation, MethodKey
from cirrbench.benchmark.reporting.figures import pairwise_levels
from cirrbench.benchmark.reporting.metric_registry import Metric, direction, register_metric, unregister_metric
from cirrbench.benchmark.reporting.metric_values import compute_metrics
from cirrbench.benchmark.reporting.page import verdict_in_words
from cirrbench.benchmark.reporting.resampling import PairedBootstrap
from cirrbench.benchmark.reporting.rows import test_fractions as fractions_of
from cirrbench.benchmark.reporting.stats import (
    Estimate,
    bias_corrected_interval,
    bias_corrected_p,
    corrected_paired_t,
    detectable_difference_bootstrap,
    detectable_difference_t,
    mcnemar_exact,
    mcnemar_interval,
)
from cirrbench.benchmark.reporting.table_builders import RowNames
from cirrbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
CI_CELL = re.compile(r"([+-]?\d+\.\d+)(?: ± \d+\.\d+)? \[([+-]?\d+\.\d+), ([+-]?\d+\.\d+)\]")  # ± SD over seeds


def onehot(classes: list[int], k: int = 3) -> np.ndarray:
    return np.eye(k)[classes]


def frame_of(truth: list[int], proba: np.ndarray, runner: str = "a", protocol: str = "official") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [f"p{i:02d}" for i in range(len(truth))],
            "true_label": truth,
            **{f"prob_{name}": proba[:, k] for k, name in enumerate(L.names)},
            "runner": runner,
            "variant": "default",
            "input": "T1W",
            "protocol": protocol,
            "split_id": "s0",
            "seed_index": 0,
        }
    )


# ---- 3. macro metrics when a stage is absent from the test set ---------------------------------
REVIEW_TRUTH = [0, 0, 0, 0, 1, 1, 1, 1]  # 4 mild + 4 moderate
REVIEW_PREDICTED = [0, 2, 0, 0, 1, 1, 1, 2]  # mild, severe, mild, mild, moderate x3, severe


def test_macro_metrics_equal_scikit_learn_when_a_stage_is_absent():
    values = compute_metrics(np.array(REVIEW_TRUTH), onehot(REVIEW_PREDICTED), L)
    precision, recall, f1, _ = precision_recall_fscore_support(
        REVIEW_TRUTH, REVIEW_PREDICTED, average="macro", zero_division=0
    )
    assert (precision, recall, f1) == (pytest.approx(2 / 3), pytest.approx(0.5), pytest.approx(0.5714285714))
    assert values["precision"] == pytest.approx(precision)
    assert values["recall"] == pytest.approx(recall)
    assert values["f1"] == pytest.approx(f1)


def test_the_bootstrap_point_equals_scikit_learn_too():
    evaluation = Evaluation({"patient": frame_of(REVIEW_TRUTH, onehot(REVIEW_PREDICTED))}, pd.DataFrame(), L, {}, 200)
    key = MethodKey("a", "default", "T1W", "official")
    assert evaluation.estimate(key, "precision").value == pytest.approx(2 / 3)
    assert evaluation.estimate(key, "recall").value == pytest.approx(0.5)
    assert evaluation.estimate(key, "f1").value == pytest.approx(0.5714285714)


def test_cirrbench_score_agrees_with_scikit_learn_on_the_absent_stage_case(tmp_path, capsys):
    cohort = pd.DataFrame(
        {
            "scan_id": [f"T1W-{i}" for i in range(8)],
            "patient_id": [str(i) for i in range(8)],
            "sequence": "T1W",
            "label": ["mild"] * 4 + ["moderate"] * 4,
            "split": "test",
            "feature": np.arange(8.0),
        }
    )
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    proba = onehot(REVIEW_PREDICTED)
    predictions = pd.DataFrame({"scan_id": cohort["scan_id"], **{n: proba[:, k] for k, n in enumerate(L.names)}})
    predictions.to_csv(tmp_path / "pred.csv", index=False)
    assert (
        main(
            ["score", str(tmp_path / "pred.csv"), "--data", str(tmp_path / "cohort.csv"), "--out", str(tmp_path / "s")]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "s" / "score.csv").set_index("metric")
    assert table.loc["precision", "value"] == pytest.approx(2 / 3)
    assert table.loc["recall", "value"] == pytest.approx(0.5)
    assert table.loc["f1", "value"] == pytest.approx(0.5714285714)


# ---- 4. resamples keep every stage ---------------------------------------------------------------
def test_a_constant_predictors_macro_recall_ci_is_degenerate_with_one_patient_of_a_stage():
    truth = [0] * 6 + [1] * 5 + [2]  # one severe patient among twelve
    evaluation = Evaluation({"patient": frame_of(truth, onehot([0] * 12))}, pd.DataFrame(), L, {}, 2000)
    recall = evaluation.estimate(MethodKey("a", "default", "T1W", "official"), "recall")
    assert (recall.value, recall.low, recall.high) == (pytest.approx(1 / 3),) * 3


def test_every_resample_keeps_every_stage_of_the_test_set():
    truth = {f"p{i}": stage for i, stage in enumerate([0] * 6 + [1] * 5 + [2])}
    boot = PairedBootstrap(list(truth), L, n_boot=500, seed=0, strata=truth)
    stage_of = np.array([truth[p] for p in boot.patients])
    for stage in range(3):  # each stage's patients are drawn as often as it has patients
        assert (boot.counts[:, stage_of == stage].sum(axis=1) == np.sum(stage_of == stage)).all()


# ---- 5. intervals that agree with their estimate and their test ----------------------------------
def test_a_biased_statistics_interval_contains_its_estimate():
    rng = np.random.default_rng(3)
    draws = 0.06 + rng.gamma(2.0, 0.05, 2000)  # ECE-like: nearly every resample above the estimate
    low, high = bias_corrected_interval(0.061, draws)
    assert low <= 0.061 <= high
    plain_low = np.quantile(draws, 0.025)
    assert plain_low > 0.061  # the percentile interval would miss it, as the review found


def test_unbiased_draws_give_the_percentile_interval():
    draws = np.random.default_rng(0).normal(0.5, 0.1, 4001)
    point = float(np.median(draws))
    low, high = bias_corrected_interval(point, draws)
    assert low == pytest.approx(np.quantile(draws, 0.025), abs=2e-3)
    assert high == pytest.approx(np.quantile(draws, 0.975), abs=2e-3)


@pytest.mark.parametrize("seed", range(40))
def test_the_bootstrap_p_agrees_with_its_interval(seed):
    rng = np.random.default_rng(seed)
    draws = np.round(rng.normal(rng.uniform(-0.2, 0.2), rng.uniform(0.02, 0.15), 2000), 2)
    point = float(np.round(np.median(draws) + rng.normal(0, 0.02), 3))
    low, high = bias_corrected_interval(point, draws)
    p = bias_corrected_p(point, draws)
    if low <= point <= high and not (low == point or high == point):  # not extended to reach the estimate
        assert (p < 0.05) == (low > 0 or high < 0), (p, low, high)


def test_the_mcnemar_interval_inverts_the_exact_test():
    from statsmodels.stats.contingency_tables import mcnemar

    # the review's case: +0.250 on 12 patients, 3 discordant pairs all one way, exact p = 0.25
    low, high = mcnemar_interval(3, 0, 12)
    assert low <= 0 <= high and high >= 0.25
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(5, 60))
        a, b = rng.random(n) < rng.uniform(0.2, 0.9), rng.random(n) < rng.uniform(0.2, 0.9)
        only_a, only_b, p = mcnemar_exact(a, b)
        reference = mcnemar([[np.sum(a & b), only_a], [only_b, np.sum(~a & ~b)]], exact=True).pvalue
        low, high = mcnemar_interval(only_a, only_b, n)
        assert p == pytest.approx(reference)
        assert low <= (only_a - only_b) / n <= high
        assert (p < 0.05) == (low > 0 or high < 0)


def test_a_patient_accuracy_comparison_prints_the_interval_of_its_exact_test():
    truth = [0, 1, 2] * 4
    right = onehot(truth)
    wrong_three = onehot([(t + 1) % 3 if i < 3 else t for i, t in enumerate(truth)])
    frames = pd.concat([frame_of(truth, right, "a"), frame_of(truth, wrong_three, "b")], ignore_index=True)
    evaluation = Evaluation({"patient": frames}, pd.DataFrame(), L, {}, 500)
    c = evaluation.compare(
        MethodKey("a", "default", "T1W", "official"), MethodKey("b", "default", "T1W", "official"), "accuracy"
    )
    assert c.difference.value == pytest.approx(0.25) and c.p == pytest.approx(0.25) and c.test == "exact McNemar"
    assert c.difference.low <= 0 <= c.difference.high


# ---- 6. ties go to a seeded draw, not the lowest stage ---------------------------------------------
def test_ties_are_broken_by_a_seeded_draw_keyed_by_the_row():
    proba = np.tile([0.5, 0.5, 0.0], (3000, 1))
    keys = [f"patient-{i}" for i in range(3000)]
    chosen = decide(proba, keys)
    assert set(chosen) == {0, 1} and abs(np.mean(chosen == 0) - 0.5) < 0.03
    assert np.array_equal(chosen, decide(proba, keys))  # seeded: the same every time
    assert np.array_equal(decide(proba[::-1], keys[::-1]), chosen[::-1])  # by key, not by position
    clear = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    assert decide(clear, ["x", "y"]).tolist() == [1, 2]  # no tie: the argmax


def test_a_chance_row_on_both_sequences_matches_its_expected_per_stage_recall():
    """Stratified-random on `both`: a patient's two independent one-hot draws are averaged; the
    expected recall of every stage is its prevalence (draws follow the training prevalence)."""
    rng = np.random.default_rng(0)
    prevalence = np.array([0.4, 0.35, 0.25])
    truth = rng.choice(3, 3000, p=prevalence)
    proba = (onehot(list(rng.choice(3, 3000, p=prevalence))) + onehot(list(rng.choice(3, 3000, p=prevalence)))) / 2
    frame = frame_of(list(truth), proba)
    predicted = decide(proba, row_keys(frame))
    for stage in range(3):
        assert np.mean(predicted[truth == stage] == stage) == pytest.approx(prevalence[stage], abs=0.04)


# ---- 7. the Nadeau-Bengio ratio uses the patients a runner fitted on --------------------------------
def test_the_corrected_t_ratio_counts_the_validation_part_for_runners_that_train_on_it():
    jobs = [
        {"protocol": "cv", "runner": "radiomics-xgboost", "n_train": 68, "n_valid": 12, "n_test": 20, "n_fit": 80},
        {"protocol": "cv", "runner": "msa", "n_train": 68, "n_valid": 12, "n_test": 20, "n_fit": 68},
        {"protocol": "cv", "runner": "old", "n_train": 68, "n_test": 20},  # written before n_fit: n_train
    ]
    fractions = fractions_of(jobs)
    assert fractions[("cv", "radiomics-xgboost")] == pytest.approx(0.25)  # 20 / 80, not 20 / 68 = 0.294
    assert fractions[("cv", "msa")] == pytest.approx(20 / 68)
    assert fractions[("cv", "old")] == pytest.approx(20 / 68)
    evaluation = Evaluation({"patient": frame_of([0, 1, 2], onehot([0, 1, 2]))}, pd.DataFrame(), L, fractions, 10)
    assert evaluation.test_fraction(MethodKey("radiomics-xgboost", "default", "T1W", "cv")) == pytest.approx(0.25)


# ---- 9. identical per-split differences --------------------------------------------------------------
def test_zero_variance_gives_nan_with_a_warning_naming_the_comparison(caplog):
    with caplog.at_level("WARNING"):
        _, p = corrected_paired_t(np.full(15, 0.6), np.full(15, 0.5), 0.25, name="A vs B (T1W, cv, patient accuracy)")
    assert np.isnan(p) and "A vs B (T1W, cv, patient accuracy)" in caplog.text


# ---- 10. what an underpowered design can and cannot exclude -----------------------------------------
def test_the_detectable_difference_hand_worked():
    diffs = np.array([0.05, -0.02, 0.10, 0.03, 0.00, 0.07])
    se = np.sqrt((1 / 6 + 0.25) * diffs.var(ddof=1))
    expected = (sps.t.ppf(0.975, 5) + sps.t.ppf(0.8, 5)) * se
    assert detectable_difference_t(diffs, 0.25) == pytest.approx(expected)
    draws = np.random.default_rng(1).normal(0, 0.1, 5000)
    assert detectable_difference_bootstrap(draws) == pytest.approx(
        (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * draws.std(ddof=1)
    )
    # two methods with identical predictions: no variance, so no claim of what the design detects
    assert np.isnan(detectable_difference_bootstrap(np.zeros(500)))
    assert np.isnan(detectable_difference_t(np.full(6, 0.02), 0.25))


def _comparison(metric: str, a: float, b: float, low: float, high: float, p: float) -> Comparison:
    key_a, key_b = MethodKey("A", "default", "T1W", "cv"), MethodKey("B", "default", "T1W", "cv")
    return Comparison(
        key_a,
        key_b,
        "patient",
        metric,
        Estimate(a, a - 0.05, a + 0.05, "corrected-t"),
        Estimate(b, b - 0.05, b + 0.05, "corrected-t"),
        Estimate(a - b, low, high, "corrected-t"),
        p,
        "corrected resampled t",
        40,
        15,
        0.19,
    )


class _OneSplitDesign:
    """What verdict_in_words asks of an evaluation: the number of splits of a protocol."""

    frames = {"patient": pd.DataFrame({"protocol": ["cv"] * 15, "input": ["T1W"] * 15, "split_id": range(15)})}


def test_two_methods_that_agree_on_every_patient_are_not_called_inconclusive():
    names = RowNames(display={"A": "A", "B": "B"}, families={"A": "radiomics", "B": "deep"})
    c = _comparison("accuracy", 0.5, 0.5, 0.0, 0.0, 1.0)
    words = verdict_in_words({"cv": [(c, 1.0)]}, names, _OneSplitDesign(), "accuracy")
    assert "agree on every test patient" in words[1] and "from +0.000 to +0.000" not in words[1]


def test_an_underpowered_comparison_says_what_it_cannot_exclude():
    names = RowNames(display={"A": "A", "B": "B"}, families={"A": "radiomics", "B": "deep"})
    c = _comparison("accuracy", 0.62, 0.53, -0.05, 0.23, 0.17)
    words = verdict_in_words({"cv": [(c, 0.5)]}, names, _OneSplitDesign(), "accuracy")
    assert "inconclusive" in words[0] and "significant" not in words[0].split("):")[-1]
    assert "differences from -0.050 to +0.230 are not excluded" in words[1]
    assert "detects ±0.190 with 80 % power" in words[1]


# ---- 2. one source of truth for a metric's direction ---------------------------------------------------
@pytest.mark.parametrize("metric", ["mae", "ece", "brier", "test-lower-metric"])
def test_a_lower_is_better_metric_calls_the_lower_method_better(metric):
    register_metric(
        Metric("test-lower-metric", "Test lower", "TL", higher_is_better=False, compute=lambda y, p, labels: 0.0)
    )
    try:
        names = RowNames(display={"A": "A", "B": "B"}, families={"A": "radiomics", "B": "deep"})
        c = _comparison(metric, 0.200, 0.990, -0.9, -0.7, 3e-5)  # A's MAE 0.200 vs B's 0.990
        words = verdict_in_words({"cv": [(c, 3e-5)]}, names, _OneSplitDesign(), metric)
        assert "A was significantly better than B" in words[0]
        assert words[1].endswith("A better.")
        cell = pairwise_levels(np.array([[0.0, -0.79], [0.79, 0.0]]), np.array([[1.0, 3e-5], [3e-5, 1.0]]), metric)
        assert cell[0, 1] == 3 and cell[1, 0] == -3  # row A better (blue), row B worse
        assert direction(metric) == -1
    finally:
        unregister_metric("test-lower-metric")


# ---- "every CI contains its point estimate", on the committed tables ----------------------------------
def _ci_cells(folder: Path):
    for path in sorted(folder.glob("*.csv")):
        for cell in pd.read_csv(path, dtype=str).fillna("").to_numpy().ravel():
            for match in CI_CELL.finditer(cell):
                yield path.name, cell, *(float(g) for g in match.groups())


def test_every_ci_of_the_committed_tables_contains_its_point():
    cells = list(_ci_cells(ROOT / "results" / "tables"))
    assert len(cells) > 500
    outside = [
        (name, cell) for name, cell, value, low, high in cells if not (low <= value + 1e-9 and value <= high + 1e-9)
    ]
    assert not outside, outside[:10]


# ---- 11. no number typed by hand ---------------------------------------------------------------------
def test_the_readmes_phantom_numbers_are_the_committed_tables():
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "readme_numbers.py"))
    assert script["main"](["--check"]) == 0, "README.md's phantom numbers differ: run scripts/readme_numbers.py"
    readme = (ROOT / "README.md").read_text()
    tables = ROOT / "results" / "tables"
    assert script["paragraph"](tables) in readme
