"""The statistics behind the tables, as the report calls them: resampled metrics, the paired
patient bootstrap, corrected resampled t, exact McNemar and Holm, against hand-worked values and
against scipy / statsmodels where these compute the same quantity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cirrbench.benchmark.common.decision import row_keys
from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES, LabelSet
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey, bootstrap_p
from cirrbench.benchmark.reporting.metric_registry import available_metrics
from cirrbench.benchmark.reporting.metric_values import compute_metrics
from cirrbench.benchmark.reporting.resampling import PairedBootstrap, PatientStatistics, bootstrap_counts
from cirrbench.benchmark.reporting.stats import corrected_paired_t, corrected_t_ci, holm, mcnemar_exact

L = CIRRHOSIS_STAGES
METRICS = [
    *available_metrics(),  # every registered metric, and per-stage ones:
    "recall_mild",
    "f1_severe",
    "specificity_moderate",
    "precision_moderate",
    "auc_mild",
]


def random_rows(rng: np.random.Generator, n_patients: int, rows_per_patient: int, classes: int = 3) -> pd.DataFrame:
    """Rows (slices) of patients: each patient has one stage; probabilities rounded to make ties."""
    stage = rng.integers(0, classes, n_patients)
    patient = np.repeat(np.arange(n_patients), rows_per_patient)
    proba = rng.dirichlet(np.ones(3) * 0.8, len(patient))
    proba = np.round(proba, 1) + 1e-3
    proba /= proba.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "patient_id": patient.astype(str),
            "true_label": stage[patient],
            **{f"prob_{c}": proba[:, i] for i, c in enumerate(L.names)},
        }
    )


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or bool(np.isclose(a, b))


@pytest.mark.parametrize("rows_per_patient", [1, 4])
@pytest.mark.parametrize("seed", range(6))
def test_resampled_metrics_equal_compute_metrics(seed, rows_per_patient):
    frame = random_rows(np.random.default_rng(seed), 9 + seed, rows_per_patient, classes=1 + seed % 3)
    patients = sorted(frame["patient_id"].unique())
    stats = PatientStatistics.from_frame(frame, patients, L)
    proba = frame[[f"prob_{c}" for c in L.names]].to_numpy()
    reference = compute_metrics(frame["true_label"].to_numpy(), proba, L, row_keys(frame))  # the same tie draws
    for metric in METRICS:
        assert _same(stats.metric(metric, np.ones((1, len(patients))))[0], reference[metric]), metric


@pytest.mark.parametrize("rows_per_patient", [1, 3])
def test_a_resample_equals_the_metric_of_the_patients_drawn(rows_per_patient):
    """Count weights are the cluster bootstrap: the drawn patients' rows, each repeated as often as drawn."""
    rng = np.random.default_rng(11)
    frame = random_rows(rng, 12, rows_per_patient)
    patients = sorted(frame["patient_id"].unique())
    stats = PatientStatistics.from_frame(frame, patients, L)
    counts = bootstrap_counts(len(patients), 25, seed=4)
    cols = [f"prob_{c}" for c in L.names]
    for b in range(len(counts)):
        drawn = pd.concat([frame[frame["patient_id"] == p] for p, c in zip(patients, counts[b]) for _ in range(int(c))])
        reference = compute_metrics(drawn["true_label"].to_numpy(), drawn[cols].to_numpy(), L, row_keys(drawn))
        for metric in ("accuracy", "f1", "auc", "specificity", "qwk", "brier", "ece"):
            assert _same(stats.metric(metric, counts[b : b + 1])[0], reference[metric]), (b, metric)


def test_bootstrap_counts_are_seeded_resamples_of_every_cluster_size():
    counts = bootstrap_counts(7, 50, seed=3)
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    assert np.array_equal(counts, bootstrap_counts(7, 50, seed=3)) and not np.array_equal(
        counts, bootstrap_counts(7, 50, seed=4)
    )


def test_corrected_t_interval_hand_worked():
    values = np.array([0.6, 0.7, 0.65, 0.75, 0.7])
    # mean 0.68, sample variance 0.00325; corrected variance (1/5 + 0.25) * 0.00325 = 0.0014625
    half = sps.t.ppf(0.975, 4) * np.sqrt(0.0014625)
    estimate = corrected_t_ci(values, 0.25)
    assert estimate.value == pytest.approx(0.68)
    assert (estimate.low, estimate.high) == (pytest.approx(0.68 - half), pytest.approx(0.68 + half))
    clipped = corrected_t_ci(np.array([0.98, 1.0, 0.99, 1.0]), 0.25, bounds=(0.0, 1.0))
    assert clipped.high == 1.0


def test_corrected_paired_t_without_correction_is_scipys_paired_t():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.6, 0.05, 10), rng.normal(0.55, 0.05, 10)
    difference, p = corrected_paired_t(a, b, test_fraction=0.0)  # variance/J: the plain paired t
    assert difference == pytest.approx(np.mean(a - b))
    assert p == pytest.approx(sps.ttest_rel(a, b).pvalue)
    _, corrected = corrected_paired_t(a, b, test_fraction=0.25)
    assert corrected > p  # overlapping training sets: the correction widens, never narrows


def test_mcnemar_exact_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(5)
    for _ in range(20):
        a, b = rng.random(31) < 0.6, rng.random(31) < 0.45
        only_a, only_b, p = mcnemar_exact(a, b)
        table = [[np.sum(a & b), only_a], [only_b, np.sum(~a & ~b)]]
        assert p == pytest.approx(mcnemar(table, exact=True).pvalue)
    # hand-worked: 6 discordant pairs all one way: p = 2 * 0.5^6
    assert mcnemar_exact(np.ones(6, bool), np.zeros(6, bool))[2] == pytest.approx(2 * 0.5**6)


def test_holm_matches_statsmodels_and_keeps_nan_in_place():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    adjusted = holm([0.01, float("nan"), 0.04])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)


def test_bootstrap_p_hand_worked():
    # the estimate at the draws' median (no bias): the percentile interval's inversion, one of four below 0
    assert bootstrap_p(0.15, np.array([0.1, 0.2, -0.1, 0.3])) == pytest.approx(0.5)
    assert bootstrap_p(0.0, np.zeros(10)) == 1.0  # no difference ever: not significant
    assert bootstrap_p(0.1, np.array([0.1] * 100)) == 0.0


# ---- the evaluation: which test for which design ------------------------------------------------
def method_rows(
    rng, runner: str, protocol: str, splits: int, n: int, skill: float, level_rows: int = 1
) -> pd.DataFrame:
    parts = []
    for split in range(splits):
        frame = random_rows(rng, n, level_rows)
        truth = frame["true_label"].to_numpy()
        hit = rng.random(len(frame)) < skill
        proba = np.full((len(frame), 3), 0.1)
        proba[np.arange(len(frame)), np.where(hit, truth, (truth + 1) % 3)] = 0.8
        for i, c in enumerate(L.names):
            frame[f"prob_{c}"] = proba[:, i]
        frame["patient_id"] = [f"{split}-{p}" if splits > 1 else p for p in frame["patient_id"]]
        frame = frame.assign(
            runner=runner,
            variant="default",
            input="T1W",
            protocol=protocol,
            split_id=f"{protocol}-{split}",
            seed_index=0,
        )
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def evaluation_of(frame: pd.DataFrame, n_boot: int = 500) -> Evaluation:
    from cirrbench.benchmark.reporting.rows import per_split_metrics

    return Evaluation(
        {"patient": frame},
        per_split_metrics(frame, L, "patient"),
        L,
        {"cv": 0.25, "official": 0.3},
        n_boot=n_boot,
        seed=1,
    )


def test_one_test_set_uses_mcnemar_for_accuracy_and_the_paired_bootstrap_otherwise():
    rng = np.random.default_rng(2)
    a = method_rows(rng, "a", "official", 1, 40, 0.9)
    b = a.copy().assign(runner="b")
    b[[f"prob_{c}" for c in L.names]] = 1 / 3 + np.zeros((len(b), 3)) + np.array([1e-3, 0, -1e-3])  # always "mild"
    ev = evaluation_of(pd.concat([a, b]))
    ka, kb = MethodKey("a", "default", "T1W", "official"), MethodKey("b", "default", "T1W", "official")
    accuracy = ev.compare(ka, kb, "accuracy")
    assert accuracy.test == "exact McNemar" and accuracy.splits == 1 and accuracy.n_patients == 40
    correct_a = a[[f"prob_{c}" for c in L.names]].to_numpy().argmax(1) == a["true_label"].to_numpy()
    correct_b = b[[f"prob_{c}" for c in L.names]].to_numpy().argmax(1) == b["true_label"].to_numpy()
    assert accuracy.p == pytest.approx(mcnemar_exact(correct_a, correct_b)[2])
    assert accuracy.difference.value == pytest.approx(correct_a.mean() - correct_b.mean())
    assert accuracy.difference.low <= accuracy.difference.value <= accuracy.difference.high
    f1 = ev.compare(ka, kb, "f1")
    assert f1.test == "paired bootstrap" and f1.p < 0.05
    same = ev.compare(ka, ka._replace(), "f1")
    assert same.difference.value == 0 and same.difference.low == 0 and same.difference.high == 0 and same.p == 1.0


def test_repeated_cv_uses_the_corrected_t_on_per_split_differences():
    rng = np.random.default_rng(3)
    frame = pd.concat([method_rows(rng, "a", "cv", 10, 20, 0.8), method_rows(rng, "b", "cv", 10, 20, 0.5)])
    ev = evaluation_of(frame)
    c = ev.compare(MethodKey("a", "default", "T1W", "cv"), MethodKey("b", "default", "T1W", "cv"), "accuracy")
    assert c.test == "corrected resampled t" and c.splits == 10
    per_split = (
        frame.assign(hit=frame[[f"prob_{x}" for x in L.names]].to_numpy().argmax(1) == frame["true_label"])
        .groupby(["runner", "split_id"])["hit"]
        .mean()
    )
    diffs = per_split["a"].to_numpy() - per_split["b"].to_numpy()
    assert c.difference.value == pytest.approx(diffs.mean())
    assert c.p == pytest.approx(corrected_paired_t(per_split["a"].to_numpy(), per_split["b"].to_numpy(), 0.25)[1])
    expected = corrected_t_ci(diffs, 0.25)
    assert (c.difference.low, c.difference.high) == (pytest.approx(expected.low), pytest.approx(expected.high))


def test_slice_level_bootstrap_moves_a_patients_slices_together():
    """With 40 slices per patient the slice-level interval must be about as wide as the patient-level
    one (the evidence is the number of patients), not the sqrt(40)-times narrower slice-count one."""
    rng = np.random.default_rng(4)
    slices = method_rows(rng, "a", "official", 1, 30, 0.7, level_rows=40)
    # every slice of a patient right or wrong together
    first = slices.groupby("patient_id")["prob_mild"].transform("first")
    slices["prob_mild"] = first
    slices[["prob_moderate", "prob_severe"]] = slices.groupby("patient_id")[["prob_moderate", "prob_severe"]].transform(
        "first"
    )
    patients = slices.groupby("patient_id", as_index=False).first()
    width_slices = evaluation_of(slices).estimate(MethodKey("a", "default", "T1W", "official"), "accuracy")
    width_patients = evaluation_of(patients).estimate(MethodKey("a", "default", "T1W", "official"), "accuracy")
    assert (width_slices.high - width_slices.low) == pytest.approx(width_patients.high - width_patients.low, rel=0.25)


def test_paired_bootstrap_shares_resamples_between_methods():
    boot = PairedBootstrap(["1", "2", "3"], L, n_boot=100, seed=0)
    frame = pd.DataFrame(
        {
            "patient_id": ["1", "2", "3"],
            "true_label": [0, 1, 2],
            "prob_mild": [1.0, 0, 0],
            "prob_moderate": [0, 1.0, 0],
            "prob_severe": [0, 0, 1.0],
        }
    )
    stats = boot.statistics(frame)
    assert np.all(boot.draws(stats, "accuracy") - boot.draws(stats, "accuracy") == 0)
    with pytest.raises(KeyError, match="unknown metric"):
        stats[0].metric("kappa_mild", boot.counts)


def test_ordinal_only_metrics_are_refused_for_nominal_label_sets():
    nominal = LabelSet(("a", "b", "c"), ordinal=False)
    frame = random_rows(np.random.default_rng(0), 5, 1).rename(
        columns={f"prob_{c}": f"prob_{n}" for c, n in zip(L.names, nominal.names)}
    )
    frame = frame.assign(runner="x", variant="default", input="T1W", protocol="official", split_id="s", seed_index=0)
    ev = Evaluation({"patient": frame}, pd.DataFrame(), nominal, {}, n_boot=10)
    with pytest.raises(KeyError, match="not available"):
        ev.estimate(MethodKey("x", "default", "T1W", "official"), "qwk")
