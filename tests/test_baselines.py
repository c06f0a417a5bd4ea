"""Radiomics baselines: extraction fidelity and cache, feature tables, learners, leakage canary."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import CV3, experiment_config

from cirrbench.baselines.features import extract_features, load_params
from cirrbench.baselines.pipeline import CorrelationFilter, select_columns
from cirrbench.benchmark.data.loading import load_cohort
from cirrbench.benchmark.data.phantom import PhantomConfig, write_phantom
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.data.sources.feature_table import import_pyradiomics_batch
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

SMOKE = {"extraction": "default", "tuning_iterations": 2, "inner_folds": 2, "permutation_repeats": 1, "select_k": 10}


def pyradiomics_direct(image: Path, mask: Path, params_file: Path) -> dict[str, float]:
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    result = featureextractor.RadiomicsFeatureExtractor(str(params_file)).execute(str(image), str(mask))
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


@pytest.mark.parametrize("params, spacing", [("default", None), ("mri", 3.0)])
def test_extraction_equals_pyradiomics_called_directly(tiny_phantom, tmp_path, params, spacing):
    """The shipped default file as it is; the MRI set (filters, normalisation, resampling) through
    the spacing override, on a 3 mm grid (8x fewer voxels to filter than its 1.5 mm), against
    PyRadiomics given the same effective parameters as a file."""
    from cirrbench.baselines.features import resolve_params_file

    cohort = load_cirrmri(tiny_phantom)
    records = [cohort.records[0], cohort.records[-1]]  # one T1W, one T2W
    effective = load_params(params, spacing=None if spacing is None else [spacing] * 3)
    params_file = resolve_params_file(params)
    if spacing is not None:
        params_file = tmp_path / "params.yaml"
        params_file.write_text(yaml.safe_dump(effective, sort_keys=False))
        assert effective["setting"]["resampledPixelSpacing"] == [spacing] * 3
    result = extract_features(records, effective, use_cache=False, progress=False)
    for record in records:
        direct = pyradiomics_direct(record.image, record.mask, params_file)
        ours = result.table.loc[record.scan_id]
        assert list(ours.index) == list(direct)  # same names, same order
        np.testing.assert_allclose(ours.to_numpy(), np.array(list(direct.values())), rtol=1e-10, equal_nan=True)


def test_an_extractor_reused_across_scans_and_parameter_sets_gives_a_fresh_ones_values(tiny_phantom):
    """Each process keeps one PyRadiomics extractor per parameter set for all its scans."""
    import copy

    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    records = load_cirrmri(tiny_phantom).records[:2]
    default = load_params("default")
    coarse = copy.deepcopy(default)
    coarse.setdefault("setting", {})["binWidth"] = 50  # another parameter set, another extractor
    sets = {"default": default, "coarse": coarse}
    direct = {}
    for name, params in sets.items():
        for r in records:
            fresh = featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(params)).execute(str(r.image), str(r.mask))
            direct[name, r.scan_id] = {k: float(v) for k, v in fresh.items() if not k.startswith("diagnostics_")}
    assert direct["default", records[0].scan_id] != direct["coarse", records[0].scan_id]
    for name in ("default", "coarse", "default"):  # the second "default" reuses the first's extractor
        table = extract_features(records, sets[name], use_cache=False, progress=False).table
        for r in records:
            assert table.loc[r.scan_id].to_dict() == direct[name, r.scan_id]


def test_building_an_extractor_leaves_no_library_deprecation_in_the_jobs_warnings(tiny_phantom):
    """PyRadiomics' schema check calls the deprecated load_module on each build of an extractor;
    a job records its warnings, so that one would be counted by how many extractors its worker
    process happened to build."""
    import copy
    import warnings

    params = copy.deepcopy(load_params("default"))
    params.setdefault("setting", {})["binWidth"] = 37  # a parameter set no other test uses: a new extractor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extract_features(load_cirrmri(tiny_phantom).records[:1], params, use_cache=False, progress=False)
    assert not [str(w.message) for w in caught if "load_module" in str(w.message)]


def test_default_file_reproduces_library_defaults(tiny_phantom):
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    record = load_cirrmri(tiny_phantom).records[0]
    library = featureextractor.RadiomicsFeatureExtractor().execute(str(record.image), str(record.mask))
    library = {k: float(v) for k, v in library.items() if not k.startswith("diagnostics_")}
    ours = extract_features([record], load_params("default"), use_cache=False, progress=False).table.iloc[0]
    assert list(ours.index) == list(library)
    np.testing.assert_allclose(ours.to_numpy(), list(library.values()), rtol=1e-10)


def test_cache_hit_on_rerun_and_invalidated_when_the_parameter_file_changes(tiny_phantom, tmp_path, monkeypatch):
    import cirrbench.baselines.features as features

    monkeypatch.setenv("CIRRBENCH_CACHE", str(tmp_path / "fresh-cache"))
    features._MEMO.clear()
    records = load_cirrmri(tiny_phantom).records[:3]
    params_file = tmp_path / "mine.yaml"
    shutil.copy(features.resolve_params_file("default"), params_file)
    first = extract_features(records, load_params(params_file), progress=False)
    assert (first.extracted, first.cached) == (3, 0)
    features._MEMO.clear()  # a new process: only the on-disk cache remains
    second = extract_features(records, load_params(params_file), progress=False)
    assert (second.extracted, second.cached) == (0, 3)
    pd.testing.assert_frame_equal(first.table, second.table)
    params_file.write_text(params_file.read_text().replace("binWidth: 25", "binWidth: 10"))
    third = extract_features(records, load_params(params_file), progress=False)
    assert (third.extracted, third.cached) == (3, 0)
    assert not np.allclose(third.table["original_firstorder_Entropy"], first.table["original_firstorder_Entropy"])
    spacing = extract_features(records, load_params(params_file, spacing=(2.0, 2.0, 2.0)), progress=False)
    assert spacing.extracted == 3


def test_a_failing_scan_is_reported_and_the_others_go_on(phantom_copy):
    cohort = load_cirrmri(phantom_copy)
    broken = cohort.records[1]
    data = np.zeros(nib.load(str(broken.mask)).shape, dtype=np.uint16)
    img = nib.load(str(broken.mask))
    nib.save(nib.Nifti1Image(data, img.affine, img.header), str(broken.mask))
    result = extract_features(cohort.records[:4], load_params("default"), use_cache=False, progress=False)
    assert [f.scan_id for f in result.failures] == [broken.scan_id]
    assert str(broken.image) in str(result.failures[0])
    assert len(result.table) == 3


def test_cli_extract_writes_one_row_per_scan(tiny_phantom, tmp_path, capsys):
    from cirrbench.cli import main

    out = tmp_path / "features.csv"
    assert (
        main(["features", "extract", "--data", str(tiny_phantom), "--params", "default", "--out", str(out), "-q"]) == 0
    )
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["scan_id", "patient_id", "sequence"]
    assert "original_shape_Sphericity" in table.columns
    assert len(table) == len(load_cirrmri(tiny_phantom))


def test_column_selection_and_correlation_filter():
    columns = [
        "original_shape_Sphericity",
        "original_firstorder_Mean",
        "log-sigma-1-0-mm-3D_glcm_Idmn",
        "wavelet-LLH_glszm_ZoneEntropy",
        "original_ngtdm_Busyness",
    ]
    assert select_columns(columns, ["original"], ["shape", "firstorder", "texture"]) == [
        "original_shape_Sphericity",
        "original_firstorder_Mean",
        "original_ngtdm_Busyness",
    ]
    assert select_columns(columns, ["log", "wavelet"], ["texture"]) == [
        "log-sigma-1-0-mm-3D_glcm_Idmn",
        "wavelet-LLH_glszm_ZoneEntropy",
    ]
    assert select_columns(columns, ["wavelet"], ["shape"]) == [
        "original_shape_Sphericity"
    ]  # shape does not depend on the filter
    x = np.random.default_rng(0).normal(size=(50, 3))
    X = np.c_[x[:, 0], x[:, 0] * 2 + 0.001, x[:, 1], x[:, 2]]
    kept = CorrelationFilter(0.95).fit(X).keep_
    assert list(kept) == [0, 2, 3]


# ---- learners on a study-sized phantom ------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """60 patients, default features extracted once and written as a PyRadiomics batch CSV."""
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    root = write_phantom(
        tmp_path_factory.mktemp("study") / "cohort",
        PhantomConfig(patients=60, seed=5, scale=0.5, healthy=0, sub_slices=1),
        progress=False,
    )
    cohort = load_cirrmri(root)
    table = extract_features(cohort.records, load_params("default"), jobs=2, progress=False).table
    extractor = featureextractor.RadiomicsFeatureExtractor()
    diagnostics = extractor.execute(str(cohort.records[0].image), str(cohort.records[0].mask))
    rows = []
    for record in cohort.records:  # PyRadiomics batch layout: inputs, diagnostics, features
        row = {"Image": str(record.image), "Mask": str(record.mask)}
        row.update({k: str(v) for k, v in diagnostics.items() if k.startswith("diagnostics_")})
        row.update(table.loc[record.scan_id].to_dict())
        rows.append(row)
    batch = tmp_path_factory.mktemp("batch") / "pyradiomics_batch.csv"
    pd.DataFrame(rows).to_csv(batch, index=False)
    return root, batch


def run(raw: dict, out: Path):
    return run_experiment(parse_experiment(raw, "test.yaml"), RunOptions(out=out, progress=False))


def test_imported_pyradiomics_csv_runs_under_official_and_cv(study, tmp_path):
    root, batch = study
    table_path = import_pyradiomics_batch(
        batch, root / "Metadata" / "CirrMRI600+_CompleteData_age_gender_evaluation.csv", tmp_path / "features.csv"
    )
    cohort = load_cohort(table_path)
    assert cohort.features is not None and all(r.image is None for r in cohort)
    assert {r.official_split for r in cohort} == {"train", "valid", "test"}
    original = {r.scan_id: (r.label, r.official_split) for r in load_cirrmri(root)}
    assert {r.scan_id: (r.label, r.official_split) for r in cohort} == original
    raw = experiment_config(
        table_path, protocols=["official", CV3], runners=["majority", {"name": "radiomics-logreg", "params": SMOKE}]
    )
    summary, report = run(raw, tmp_path / "results")
    assert summary.ok and len(summary.ran) == 2 * 4
    for name in ("main_official_patient", "main_cv_patient"):
        table = pd.read_csv(tmp_path / "results" / "tables" / f"{name}.csv")
        assert "radiomics-logreg" in set(table["id"])


def test_learners_beat_the_majority_runner(study, tmp_path):
    root, _ = study
    runners = [
        "majority",
        {"name": "radiomics-xgboost", "params": SMOKE},
        {"name": "radiomics-logreg", "params": SMOKE},
    ]
    raw = experiment_config(root, inputs=["T1W", "T2W"], protocols=[CV3], runners=runners)
    summary, report = run(raw, tmp_path / "results")
    assert summary.ok
    table = report.summary[(report.summary["level"] == "patient") & (report.summary["metric"] == "accuracy")].set_index(
        ["runner", "input"]
    )["value"]
    gains = []
    for runner in ("radiomics-xgboost", "radiomics-logreg"):
        for column in ("T1W", "T2W"):
            gain = table[(runner, column)] - table[("majority", column)]
            assert gain > 0.03, (runner, column, table.to_dict())
            assert table[(runner, column)] < 0.97
            gains.append(gain)
    print("learner gains over majority:", np.round(gains, 3))
    assert np.mean(gains) > 0.1, table.to_dict()


def test_leakage_canary_is_useless_because_nothing_is_fitted_on_test_data(study, tmp_path):
    """A feature equal to the label in test scans only (noise elsewhere) must not lift test accuracy."""
    root, _ = study
    cohort = load_cirrmri(root).select(sequences=["T1W"])
    features = extract_features(cohort.records, load_params("default"), progress=False).table
    patients = sorted(cohort.patients, key=int)
    rng = np.random.default_rng(0)
    test_patients = set(rng.choice(patients, size=len(patients) // 3, replace=False))
    roles = ["test" if p in test_patients else "train" for p in patients]
    for i in range(len(patients)):  # a few validation patients from the training side
        if roles[i] == "train" and i % 6 == 0:
            roles[i] = "valid"
    split_file = tmp_path / "split.csv"
    pd.DataFrame({"patient_id": patients, "repeat": 0, "fold": 0, "role": roles}).to_csv(split_file, index=False)
    frame = pd.DataFrame(
        {
            "scan_id": [r.scan_id for r in cohort],
            "patient_id": [r.patient_id for r in cohort],
            "sequence": "T1W",
            "label": [r.label_name for r in cohort],
        }
    )
    frame = pd.concat([frame, features.loc[frame["scan_id"]].reset_index(drop=True)], axis=1)
    accuracies = {}
    for name, with_canary in (("plain", False), ("canary", True)):
        table = frame.copy()
        if with_canary:
            is_test = table["patient_id"].isin(test_patients)
            table["canary_label"] = np.where(is_test, [r.label for r in cohort], rng.normal(size=len(table)))
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        raw = {
            "data": {"root": str(path)},
            "inputs": ["T1W"],
            "protocols": [{"name": "file", "path": str(split_file)}],
            "runners": [{"name": "radiomics-xgboost", "params": {**SMOKE, "select": "none"}}],
            "reference": None,
            "metrics": {"bootstrap": 100},
        }
        _, report = run(raw, tmp_path / name)
        summary = report.summary
        accuracies[name] = float(
            summary[(summary["level"] == "patient") & (summary["metric"] == "accuracy")]["value"].iloc[0]
        )
        if with_canary:
            importance = pd.read_csv(next((tmp_path / name / "predictions").glob("*/extra_feature_importance.csv")))
            canary = importance[importance["feature"] == "canary_label"]
            ranked = importance.sort_values("gain", ascending=False)["feature"].tolist()
            assert canary.empty or ranked.index("canary_label") > 5, (
                "the canary ranks among the top features: something saw test labels"
            )
    assert accuracies["canary"] < 0.9, accuracies
    assert accuracies["canary"] <= accuracies["plain"] + 0.15, accuracies
