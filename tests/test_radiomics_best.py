"""The radiomics half at its best: train + valid with inner-CV tuning, tuned selection (k = all
included), covariates that always reach the classifier, the ordinal learner, ComBat across sites,
calibration, out-of-fold predictions for model choice, and a feature table that is a cohort."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from cirrbench.baselines.harmonisation import ComBatHarmoniser
from cirrbench.baselines.ordinal import FrankHallClassifier
from cirrbench.baselines.pipeline import kept_feature_names
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.data.loading import load_cohort
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.job_execution import job_data
from cirrbench.benchmark.protocols.registry import make_splits
from cirrbench.benchmark.runners.contract import RunContext, ScanSet
from cirrbench.benchmark.runners.registry import get_runner
from cirrbench.cli import main

SMOKE = {"extraction": "default", "tuning_iterations": 0, "inner_folds": 2, "permutation_repeats": 1}


@pytest.fixture(scope="module")
def cohort(contract_phantom):
    return load_cirrmri(contract_phantom)


def official(cohort, sequence: str = "T1W"):
    split = make_splits(cohort, "official").by_id()[f"official-{sequence}"]
    parts = {"train": [], "valid": [], "test": []}
    for r in cohort.records:
        if r.sequence == sequence and split.roles.get(r.patient_id) in parts:
            parts[split.roles[r.patient_id]].append(r)
    return (ScanSet(tuple(parts[k]), cohort.labels) for k in ("train", "valid", "test"))


def fitted(name: str, cohort, **params):
    train, valid, test = official(cohort)
    cls = get_runner(name)
    runner = cls(cls.make_params({**SMOKE, **params}))
    runner.fit(train, valid, RunContext(seed=3, cache_dir=Path("."), logger=logging.getLogger("t")))
    return runner, train, valid, test


def test_the_validation_part_is_training_data_and_test_is_never_seen(cohort):
    runner, train, valid, test = fitted("radiomics-logreg", cohort)
    assert get_runner("radiomics-logreg").uses_validation == "training"
    assert set(runner.held_out_.index) == set(train.scan_ids) | set(valid.scan_ids)  # out-of-fold over train + valid
    assert not set(runner.held_out_.index) & set(test.scan_ids)
    assert np.allclose(runner.held_out_.sum(axis=1), 1.0)


def test_the_harness_stores_out_of_fold_predictions_for_model_choice(cohort, tmp_path):
    from cirrbench.benchmark.common.results_store import ResultsStore
    from cirrbench.benchmark.execution.job_execution import run_job
    from cirrbench.benchmark.execution.job_grid import build_jobs

    raw = {
        "inputs": ["T1W"],
        "protocols": ["official"],
        "runners": [{"name": "radiomics-logreg", "params": SMOKE}],
        "reference": None,
    }
    experiment = parse_experiment(raw, "t.yaml")
    splits = {"official": make_splits(cohort, "official")}
    (job,) = [j for j in build_jobs(experiment, splits, cohort.fingerprint()) if j.input == "T1W"]
    data = job_data(job, cohort, splits)
    assert run_job(job, data, tmp_path)[2] is None
    choice = ResultsStore(tmp_path).load_model_choice(job.key)
    assert set(choice["choice_source"]) == {"inner CV, out of fold"}
    assert set(choice["scan_id"]) == set(data.train.scan_ids) | set(data.valid.scan_ids)


def test_the_inner_search_covers_k_all_and_no_correlation_filter(cohort, monkeypatch):
    import cirrbench.baselines.radiomics_runner as module

    seen = {}

    class Spy(module.RandomizedSearchCV):
        def __init__(self, estimator, param_distributions, **kwargs):
            seen.update(param_distributions)
            super().__init__(estimator, param_distributions, **kwargs)

    monkeypatch.setattr(module, "RandomizedSearchCV", Spy)
    fitted("radiomics-logreg", cohort, tuning_iterations=2)
    assert "all" in seen["features__radiomics__select__k"] and 10 in seen["features__radiomics__select__k"]
    assert (
        1.0 in seen["features__radiomics__decorrelate__threshold"]
        and 0.9 in seen["features__radiomics__decorrelate__threshold"]
    )


def test_clinical_covariates_always_reach_the_classifier(cohort):
    runner, *_ = fitted("radiomics-logreg", cohort, clinical=True, select_k=1)
    kept = kept_feature_names(runner.model_, runner.columns_)
    assert "clinical_age" in kept and "clinical_sex_male" in kept  # despite k = 1 on the radiomics features
    assert len([k for k in kept if not k.startswith("clinical_")]) == 1


def test_no_selection_variant_keeps_every_decorrelated_feature(cohort):
    runner, *_ = fitted("radiomics-logreg", cohort, select="none")
    assert "select" not in runner.model_.named_steps["features"].named_transformers_["radiomics"].named_steps


def test_calibrated_learners_average_one_calibrated_model_per_inner_fold(cohort):
    from sklearn.calibration import CalibratedClassifierCV

    runner, *_ = fitted("radiomics-rf", cohort)
    assert isinstance(runner.model_, CalibratedClassifierCV) and len(runner.model_.calibrated_classifiers_) == 2
    logreg, *_ = fitted("radiomics-logreg", cohort)
    assert not isinstance(logreg.model_, CalibratedClassifierCV)


def test_permutation_importance_comes_from_held_out_inner_folds(cohort):
    runner, *_ = fitted("radiomics-logreg", cohort, permutation_repeats=2, permutation_features=5)
    measured = runner.importance_.dropna(subset=["permutation_mean"])
    assert 1 <= len(measured) <= 2 * 5
    assert set(measured["feature"]) <= set(runner.columns_)


def test_permutation_importance_is_the_same_whatever_the_prediction_batch(cohort, monkeypatch):
    """The shuffled copies of a held-out fold (16: itself, 5 features x 3 repeats) are predicted
    in batches: one copy per call (as before batching), three per call (the last batch is not
    full) and all at once give the same importances."""
    import cirrbench.baselines.radiomics_runner as module

    folds: list[tuple[int, int]] = []  # (values, rows) of each held-out fold
    rows_per_call: list[int] = []
    accuracies, fold_proba = module.RadiomicsRunner._permuted_accuracies, module.RadiomicsRunner._fold_proba

    def measured(self, model, held, truth, permutations):
        folds.append((held.size, len(held)))
        return accuracies(self, model, held, truth, permutations)

    def counted(self, model, X):
        rows_per_call.append(len(X))
        return fold_proba(self, model, X)

    monkeypatch.setattr(module.RadiomicsRunner, "_permuted_accuracies", measured)
    monkeypatch.setattr(module.RadiomicsRunner, "_fold_proba", counted)

    def importance(batch: int) -> pd.DataFrame:
        monkeypatch.setattr(module, "PREDICTION_BATCH", batch)
        folds.clear()
        rows_per_call.clear()
        return fitted("radiomics-logreg", cohort, permutation_repeats=3, permutation_features=5)[0].importance_

    one = importance(1)
    largest = max(folds)
    assert max(rows_per_call) == largest[1]
    three = importance(3 * largest[0])
    assert 3 * largest[1] in rows_per_call and largest[1] in rows_per_call
    every = importance(10**9)
    assert max(rows_per_call) == 16 * largest[1]
    assert (one["permutation_mean"].abs() > 0).any()  # the shuffles changed some predictions
    pd.testing.assert_frame_equal(three, one)
    pd.testing.assert_frame_equal(every, one)


# ---- ordinal ------------------------------------------------------------------------------------
def ordinal_toy(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Five ordered classes cut from one latent variable, seen through noise, with 10 noise features."""
    latent = rng.normal(size=n)
    X = np.c_[latent + rng.normal(scale=0.6, size=n), rng.normal(size=(n, 10))]
    return X, np.digitize(latent, [-1.0, -0.3, 0.3, 1.0])


def test_frank_hall_beats_a_nominal_model_in_qwk_on_an_ordinal_problem():
    wins, gaps = 0, []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        (X, y), (X_test, y_test) = ordinal_toy(rng, 60), ordinal_toy(rng, 2000)
        ordinal = cohen_kappa_score(
            y_test,
            FrankHallClassifier(LogisticRegression(max_iter=5000)).fit(X, y).predict(X_test),
            weights="quadratic",
        )
        nominal = cohen_kappa_score(
            y_test, LogisticRegression(max_iter=5000).fit(X, y).predict(X_test), weights="quadratic"
        )
        wins += ordinal > nominal
        gaps.append(ordinal - nominal)
    assert wins >= 5 and np.mean(gaps) > 0.02, gaps


def test_frank_hall_probabilities_are_a_distribution_over_ordered_classes():
    X, y = ordinal_toy(np.random.default_rng(1), 200)
    model = FrankHallClassifier(LogisticRegression(max_iter=5000)).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (200, 5) and np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    assert list(model.classes_) == [0, 1, 2, 3, 4] and len(model.estimators_) == 4


def test_the_ordinal_runner_refuses_nominal_labels(cohort):
    nominal = type(cohort)(cohort.records, LabelSet(cohort.labels.names, ordinal=False), cohort.source)
    cls = get_runner("radiomics-ordinal")
    assert "nominal" in cls.check_cohort(cls.make_params(SMOKE), nominal)[0]
    assert cls.check_cohort(cls.make_params(SMOKE), cohort) == []
    train, valid, _ = official(nominal)
    with pytest.raises(ValueError, match="needs ordered classes"):
        cls(cls.make_params(SMOKE)).fit(train, valid, RunContext(seed=0))


# ---- harmonisation ------------------------------------------------------------------------------
def test_combat_removes_a_site_shift_and_is_fitted_without_test_rows():
    rng = np.random.default_rng(0)
    site = np.repeat([0.0, 1.0, 2.0], 200)
    signal = rng.normal(size=(600, 6))
    shifted = signal * np.repeat([1.0, 2.0, 0.5], 200)[:, None] + np.repeat([0.0, 5.0, -3.0], 200)[:, None]
    train, test = np.arange(600) % 4 != 0, np.arange(600) % 4 == 0
    harmoniser = ComBatHarmoniser().fit(np.c_[shifted, site][train])
    out = harmoniser.transform(np.c_[shifted, site][test])
    means = pd.DataFrame(out).groupby(site[test]).mean().to_numpy()
    assert np.abs(means - means.mean(axis=0)).max() < 0.6  # the site shifts (0, 5, -3) are gone on test rows
    # a canary: test rows with huge values would move the estimates if they were used in fitting
    canary = np.c_[shifted, site].copy()
    canary[test, :6] += 1000.0
    again = ComBatHarmoniser().fit(canary[train])
    assert np.allclose(again.transform(np.c_[shifted, site][test]), out)
    with pytest.warns(UserWarning, match="left unharmonised"):
        unseen = harmoniser.transform(np.c_[shifted[:3], np.full(3, 7.0)])
    assert np.array_equal(unseen, shifted[:3])  # a site without training scans is passed through, with a warning


def test_harmonised_variant_needs_sites_and_uses_them(cohort):
    cls = get_runner("radiomics-logreg")
    assert any(r.site for r in cohort.records)  # the phantom writes its centres
    runner, *_ = fitted("radiomics-logreg", cohort, harmonise=True)
    assert "harmonise" in runner.model_.named_steps["features"].named_transformers_["radiomics"].named_steps
    without = type(cohort)(
        tuple(r.__class__(**{**r.__dict__, "site": None}) for r in cohort.records), cohort.labels, cohort.source
    )
    assert "needs the cohort's sites" in cls.check_cohort(cls.make_params({**SMOKE, "harmonise": True}), without)[0]


# ---- extraction output is a cohort ----------------------------------------------------------
def test_features_extract_writes_a_feature_table_cohort_that_runs_as_data(contract_phantom, tmp_path):
    out = tmp_path / "features.csv"
    assert (
        main(
            [
                "features",
                "extract",
                "--data",
                str(contract_phantom),
                "--params",
                "default",
                "--out",
                str(out),
                "--jobs",
                "1",
                "-q",
            ]
        )
        == 0
    )
    table = pd.read_csv(out)
    assert list(table.columns[:8]) == ["scan_id", "patient_id", "sequence", "label", "split", "age", "sex", "site"]
    features = load_cohort(out)
    images = load_cirrmri(contract_phantom)
    assert {r.scan_id: (r.label, r.official_split, r.site) for r in features} == {
        r.scan_id: (r.label, r.official_split, r.site) for r in images
    }
    from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

    raw = {
        "data": {"root": str(out)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "runners": ["majority", {"name": "radiomics-ordinal", "params": SMOKE}],
        "metrics": {"bootstrap": 20},
    }
    summary, report = run_experiment(
        parse_experiment(raw, "t.yaml"), RunOptions(out=tmp_path / "results", progress=False)
    )
    assert summary.ok and report is not None


def test_svm_calibration_folds_keep_each_patient_whole():
    from cirrbench.baselines.grouped_svm import GroupedCalibratedSVC

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 2)  # two scans (T1W, T2W) per patient
    y = np.repeat(np.arange(30) % 3, 2)
    X = rng.normal(size=(60, 4)) + y[:, None]
    svm = GroupedCalibratedSVC(folds=3, random_state=0)
    for train_rows, held in svm.calibration_splits(X, y, groups):
        assert not set(groups[train_rows]) & set(groups[held])  # no patient on both sides
    proba = svm.fit(X, y, groups=groups).predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)


def test_the_svm_runner_routes_patients_to_its_calibration_through_the_inner_search(cohort, monkeypatch):
    """Tuned by the inner search, refitted on every inner fold: each fit gets the groups of its own rows."""
    from cirrbench.baselines.grouped_svm import GroupedCalibratedSVC

    seen = []
    original = GroupedCalibratedSVC.fit

    def recording_fit(self, X, y, groups=None, sample_weight=None):
        seen.append(None if groups is None else len(groups) == len(X))
        return original(self, X, y, groups=groups, sample_weight=sample_weight)

    monkeypatch.setattr(GroupedCalibratedSVC, "fit", recording_fit)
    runner, _, _, test = fitted("radiomics-svm", cohort, tuning_iterations=2)
    assert seen and all(seen)  # every fit (search, inner folds, final) received its rows' patients
    probabilities = runner.predict(test.hide_labels()).scan_probabilities
    assert np.allclose(probabilities.to_numpy().sum(axis=1), 1.0)
