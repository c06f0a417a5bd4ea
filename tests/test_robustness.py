"""Robustness: perturbations applied once, identically and reproducibly to the test scans of every
image runner; config errors naming the key; the paired change, flip rate and ICC computed right;
a zero-level perturbation changing nothing; the table, figure, words and feature stability of a run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from cirrbench.baselines.feature_stability import feature_class, icc_1_1
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.data.perturbations import (
    KINDS,
    Perturbation,
    inscribed_radius_mm,
    level_problem,
    perturb_arrays,
)
from cirrbench.benchmark.data.perturbed_scans import erasing_problems, perturbed_record
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.execution.job_grid import build_jobs
from cirrbench.benchmark.protocols.registry import make_splits
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.cli import main

SPACING = (4.0, 2.0, 2.0)


def _ball(shape=(12, 32, 32), radius=8.0) -> tuple[np.ndarray, np.ndarray]:
    z, y, x = np.indices(shape)
    centre = [(s - 1) / 2 for s in shape]
    distance = np.sqrt(
        ((z - centre[0]) * SPACING[0]) ** 2 + ((y - centre[1]) * SPACING[1]) ** 2 + ((x - centre[2]) * SPACING[2]) ** 2
    )
    mask = distance <= radius * SPACING[1]
    image = 100.0 + 20.0 * mask + np.random.default_rng(0).normal(0, 2, shape)
    return image, mask


@pytest.mark.parametrize("name", [n for n in KINDS if KINDS[n].identity_level is not None])
def test_a_zero_level_changes_nothing(name):
    image, mask = _ball()
    new_image, new_mask = perturb_arrays(image, mask, SPACING, Perturbation(name, 0.0), np.random.default_rng(1))
    assert np.array_equal(new_image, image) and np.array_equal(new_mask, mask)


def test_each_kind_changes_what_it_says_in_the_expected_direction():
    image, mask = _ball()
    rng = np.random.default_rng

    def run(name, level):
        return perturb_arrays(image, mask, SPACING, Perturbation(name, level), rng(3))

    assert run("mask-erode", 4.0)[1].sum() < mask.sum() and (run("mask-erode", 4.0)[1] <= mask).all()
    assert run("mask-dilate", 4.0)[1].sum() > mask.sum() and (run("mask-dilate", 4.0)[1] >= mask).all()
    assert np.array_equal(run("mask-erode", 1.0)[1], mask)  # less than a voxel: nothing to remove
    contour = run("contour-random", 2.0)[1]
    assert not np.array_equal(contour, mask) and abs(int(contour.sum()) - int(mask.sum())) < 0.3 * mask.sum()
    noisy = run("noise", 10.0)[0]
    assert np.std(noisy - image) == pytest.approx(np.mean(image[mask]) / 10.0, rel=0.05)
    for name in ("mask-erode", "mask-dilate", "contour-random"):
        assert np.array_equal(run(name, 2.0)[0], image)  # mask kinds leave the image alone
    for name, level in (("noise", 10.0), ("bias-field", 0.3)):
        assert np.array_equal(run(name, level)[1], mask)  # image kinds leave the mask alone
    gain = run("bias-field", 0.3)[0] / image
    assert 0.69 <= gain.min() and gain.max() <= 1.31 and gain.std() > 0.01
    assert np.array_equal(run("thick-slices", 4.0)[0], image)  # not coarser than the scan
    thick = run("thick-slices", 12.0)[0]
    assert not np.array_equal(thick, image) and np.allclose(thick.mean(), image.mean(), rtol=0.05)
    assert run("rotate", 10.0)[1].sum() == pytest.approx(mask.sum(), rel=0.05)


def test_an_erosion_that_empties_the_mask_is_an_error():
    image, mask = _ball(radius=2.0)
    with pytest.raises(ValueError, match="mask-erode:20 erases the liver mask"):
        perturb_arrays(image, mask, SPACING, Perturbation("mask-erode", 20.0), np.random.default_rng(0))


def test_levels_outside_a_kinds_range_are_named():
    assert level_problem("noise", 0) == "0 is outside (0, 1e+06] (SNR in the liver)"
    assert level_problem("bias-field", 1.0) is not None and level_problem("bias-field", 0.5) is None
    assert level_problem("rotate", -50) is not None and level_problem("rotate", -5) is None
    assert level_problem("mask-erode", "2") == "'2' is not a number"


def _arrays(record):
    return [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in record.files()]


def test_perturbed_scans_are_cached_reproducible_and_the_same_for_every_caller(tiny_phantom, tmp_path, monkeypatch):
    record = load_cirrmri(tiny_phantom).records[0]
    noise = Perturbation("noise", 5.0, seed=3)
    first = perturbed_record(record, noise)
    assert first.mask == record.mask and first.image != record.image  # only what the kind changes is copied
    assert perturbed_record(record, noise) == first  # cached: the same file
    monkeypatch.setenv("CIRRBENCH_CACHE", str(tmp_path / "another-machine"))
    again = perturbed_record(record, noise)
    assert again.image != first.image and np.array_equal(_arrays(again)[0], _arrays(first)[0])  # same voxels
    other_seed = perturbed_record(record, dataclasses.replace(noise, seed=4))
    assert not np.array_equal(_arrays(other_seed)[0], _arrays(first)[0])
    image = sitk.ReadImage(str(first.image))
    original = sitk.ReadImage(str(record.image))
    assert image.GetSpacing() == original.GetSpacing() and image.GetOrigin() == original.GetOrigin()
    assert perturbed_record(record, Perturbation("mask-erode", 0.0)) is record


def test_an_erosion_that_would_empty_a_scans_mask_is_named_before_work(tiny_phantom):
    records = list(load_cirrmri(tiny_phantom).records)
    key = "robustness.perturbations[0].levels[1]"
    problems = erasing_problems(
        records, [(key, Perturbation("mask-erode", 500.0)), ("k", Perturbation("mask-erode", 1.0))]
    )
    assert len(problems) == 1 and problems[0].startswith(f"{key}: mask-erode by 500 mm erases the liver mask of scan ")


def test_the_inscribed_radius_is_the_whole_volumes_distance_transform_to_the_bit():
    """Computed on the mask's box: equal (==) to the whole volume's, also for masks that touch the
    volume's border (where no background lies beyond) and for a mask with no background at all."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    masks = [np.ones((4, 5, 6), bool)]
    for _ in range(100):
        shape = tuple(int(n) for n in rng.integers(3, 14, size=3))
        masks.append(rng.random(shape) < rng.uniform(0.3, 0.98))  # mostly liver: touches the border
        masks.append(ndimage.binary_dilation(rng.random(shape) < 0.05, iterations=2))  # scattered blobs
    for mask in masks:
        spacing = tuple(float(s) for s in rng.uniform(0.5, 3.0, size=3))
        whole = float(ndimage.distance_transform_edt(mask, sampling=spacing).max())
        assert inscribed_radius_mm(mask, spacing) == whole


BASE = {"runners": ["majority", "radiomics-logreg", "msa"], "protocols": ["official", "cv"]}


@pytest.mark.parametrize(
    "section, key, text",
    [
        (
            {"perturbations": [{"name": "blur", "levels": [1]}]},
            "robustness.perturbations[0].name",
            "unknown perturbation 'blur'",
        ),
        (
            {"perturbations": [{"name": "mask-dilat", "levels": [1]}]},
            "robustness.perturbations[0].name",
            "did you mean 'mask-dilate'?",
        ),
        (
            {"perturbations": [{"name": "noise", "levels": [0]}]},
            "robustness.perturbations[0].levels[0]",
            "0 is outside (0, 1e+06]",
        ),
        (
            {"perturbations": [{"name": "rotate", "levels": [5, 5]}]},
            "robustness.perturbations[0].levels[1]",
            "listed twice",
        ),
        (
            {"perturbations": [{"name": "rotate", "levels": []}]},
            "robustness.perturbations[0].levels",
            "is not a non-empty list",
        ),
        (
            {"perturbations": [{"name": "rotate", "levels": [5], "sed": 1}]},
            "robustness.perturbations[0].sed",
            "unknown key",
        ),
        (
            {"protocol": "paired", "perturbations": [{"name": "rotate", "levels": [5]}]},
            "robustness.protocol",
            "not a protocol of this config",
        ),
        (
            {"runners": ["svm"], "perturbations": [{"name": "rotate", "levels": [5]}]},
            "robustness.runners[0]",
            "'svm' is not a runner",
        ),
        ({"protocol": "official"}, "robustness.perturbations", "is not a non-empty list"),
        ({"perturbation": []}, "robustness.perturbation", "did you mean 'perturbations'?"),
    ],
)
def test_a_bad_robustness_section_is_a_config_error_naming_the_key(section, key, text):
    with pytest.raises(ConfigError) as error:
        parse_experiment({**BASE, "robustness": section}, "c.yaml")
    assert any(line.startswith(f"c.yaml: {key}: ") and text in line for line in error.value.problems), (
        error.value.problems
    )


def test_only_image_runners_of_the_robustness_protocol_get_perturbed_jobs_and_other_keys_stay(contract_phantom):
    cohort = load_cirrmri(contract_phantom)
    raw = {
        "inputs": ["T1W"],
        "protocols": ["official", {"name": "cv", "folds": 2}],
        "runners": ["majority", {"name": "radiomics-logreg", "variants": ["default", "stable-features"]}, "msa"],
    }
    splits = {p: make_splits(cohort, p, **({"folds": 2, "seed": 0} if p == "cv" else {})) for p in ("official", "cv")}
    plain = {j.label: j.key for j in build_jobs(parse_experiment(raw, "c.yaml"), splits, "f")}
    section = {"perturbations": [{"name": "noise", "levels": [20, 10], "seed": 2}]}
    jobs = build_jobs(parse_experiment({**raw, "robustness": section}, "c.yaml"), splits, "f")
    for job in jobs:
        robust = job.protocol == "official" and job.runner != "majority"
        assert job.robustness == robust
        stability = job.variant == "stable-features"
        assert bool(job.perturbations) == (robust or stability)
        assert (job.key == plain[job.label]) == (not robust and not stability)  # other jobs keep their results
        if job.perturbations:
            assert [p.label for p in job.perturbations] == ["noise:20", "noise:10"]
    # without a robustness section stable-features measures with the default chain
    default_chain = {j.variant: j.perturbations for j in build_jobs(parse_experiment(raw, "c.yaml"), splits, "f")}
    assert [p.name for p in default_chain["stable-features"]] == ["contour-random", "noise", "rotate"]


def test_icc_matches_shrout_and_fleiss():
    # Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(1,1) = 0.17 (Table 4)
    ratings = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float
    )
    # by hand: BMS = 11.24, WMS = 6.26, ICC = (11.24 - 6.26) / (11.24 + 3 x 6.26) = 0.166
    same = np.stack([ratings[:, 0]] * 4, axis=1)
    constant = np.ones_like(ratings)
    icc = icc_1_1(np.stack([ratings, same, constant]))
    assert icc[0] == pytest.approx(0.1657, abs=5e-4)
    assert icc[1] == pytest.approx(1.0) and np.isnan(icc[2])
    assert feature_class("wavelet-LLH_glcm_Contrast") == ("wavelet-LLH", "glcm")
    assert feature_class("age") == ("", "other")


def _frame(predictions: dict[str, list[int]], protocol_of: dict[str, str]) -> pd.DataFrame:
    """Patient rows of one split: per method name, the predicted class of patients p0.. (true: 0, 1, 2, ...)."""
    rows = []
    for name, predicted in predictions.items():
        for i, cls in enumerate(predicted):
            probs = np.full(3, 0.1)
            probs[cls] = 0.8
            rows.append(
                {
                    "runner": "r",
                    "variant": "default",
                    "input": "T1W",
                    "protocol": protocol_of[name],
                    "split_id": "s",
                    "seed_index": 0,
                    "patient_id": f"p{i}",
                    "true_label": i % 3,
                    **{f"prob_{c}": v for c, v in zip("abc", probs)},
                }
            )
    return pd.DataFrame(rows)


def test_flip_rate_and_paired_change_on_a_hand_made_test_set():
    truth = [0, 1, 2, 0, 1, 2]
    altered = [0, 1, 0, 0, 2, 2]  # two of six patients flip, both to a wrong stage
    frame = _frame({"clean": truth, "noisy": altered}, {"clean": "official", "noisy": "official~noise:5"})
    labels = LabelSet(("a", "b", "c"), True)
    evaluation = Evaluation({"patient": frame}, pd.DataFrame(), labels, {}, n_boot=400, seed=0)
    clean, noisy = MethodKey("r", "default", "T1W", "official"), MethodKey("r", "default", "T1W", "official~noise:5")
    flips = evaluation.flip_rate(clean, noisy)
    assert flips.value == pytest.approx(2 / 6) and 0 <= flips.low <= flips.value <= flips.high <= 1
    change = evaluation.contrast([(1.0, noisy), (-1.0, clean)], "accuracy")
    assert change.value == pytest.approx(-2 / 6) and change.high <= 0
    same = evaluation.flip_rate(clean, clean)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)


def test_a_run_perturbs_every_image_runner_identically_and_reports_it(tiny_phantom, tmp_path):
    raw = {
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "metrics": {"bootstrap": 50},
        "robustness": {
            "perturbations": [{"name": "mask-erode", "levels": [0]}, {"name": "bias-field", "levels": [0.6]}]
        },
        "runners": [
            "majority",
            {"name": "test-radiomics"},
            {
                "name": "radiomics-logreg",
                "variants": ["default", "stable-features"],
                "params": {
                    "extraction": "default",
                    "tuning_iterations": 0,
                    "select_k": 10,
                    "permutation_repeats": 0,
                    "stability_scans": 6,
                },
            },
            {"name": "test-slices"},
        ],
        "compare": [["radiomics-logreg", "test-radiomics"]],
    }
    config = tmp_path / "robust.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "results"
    assert main(["run", str(config), "--out", str(out), "-q", "--plugin", "runners_for_tests"]) == 0
    perturbed = pd.concat([pd.read_csv(p) for p in (out / "predictions").glob("*/perturbed.csv")])
    assert set(perturbed["runner"]) == {"test-radiomics", "radiomics-logreg"}  # image runners only
    clean = pd.concat([pd.read_csv(p) for p in (out / "predictions").glob("*/predictions.csv")])
    # every runner predicted the same perturbed test scans
    scans = perturbed.groupby(["runner", "variant", "perturbation", "level"])["scan_id"].apply(
        lambda s: tuple(sorted(s))
    )
    assert scans.nunique() == 1
    # a zero-level perturbation gives the clean predictions back
    zero = perturbed[perturbed["perturbation"] == "mask-erode"].drop(columns=["perturbation", "level"])
    merged = zero.merge(clean, on=["runner", "variant", "scan_id"], suffixes=("", "_clean"))
    assert len(merged) == len(zero) and (merged["pred_label"] == merged["pred_label_clean"]).all()
    table = pd.read_csv(out / "tables" / "robustness_official.csv")
    rows = table[table["Perturbation"] == "mask-erode"]
    assert len(rows) == 3 and (rows["Flip rate (95 % CI)"] == "0.000 [0.000, 0.000]").all()
    assert (rows["Change (95 % CI)"] == "+0.000 [+0.000, +0.000]").all()
    assert (out / "figures" / "robustness_official.png").stat().st_size > 1000
    stability = pd.read_csv(out / "tables" / "feature_stability.csv")
    assert len(stability) > 20 and stability["ICC mean"].dropna().between(-1, 1).all()
    assert (out / "tables" / "feature_stability_classes.tex").is_file()
    assert not (out / "tables" / "feature_stability.tex").exists()  # the long listing is CSV only
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert not any("~" in t for t in tables)  # perturbed points get no per-protocol tables of their own
    report = (out / "REPORT.md").read_text()
    assert "Robustness (official): Accuracy, T1W, 2 perturbation level(s): mean change" in report


def test_what_only_the_cohort_can_show_stops_the_run_before_any_job(tiny_phantom, tmp_path, capsys):
    raw = {
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "runners": ["majority", "test-radiomics"],
        "robustness": {
            "runners": ["majority", "test-radiomics"],
            "perturbations": [{"name": "mask-erode", "levels": [2, 45]}],
        },
    }
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "results"
    assert main(["run", str(config), "--out", str(out), "--dry-run", "-q", "--plugin", "runners_for_tests"]) == 2
    err = capsys.readouterr().err
    assert "robustness.runners: 'majority' reads no images" in err
    assert "robustness.perturbations[0].levels[1]: mask-erode by 45 mm erases the liver mask of scan" in err
    assert "levels[0]" not in err and not (out / "predictions").exists()


def test_over_repeated_splits_the_flip_rate_and_change_are_means_over_splits_with_a_corrected_t():
    truth = [0, 1, 2, 0, 1, 2]
    parts = []
    for split, altered in (("s1", [0, 1, 0, 0, 1, 2]), ("s2", [0, 2, 0, 0, 1, 1])):  # 1 and 3 of 6 flip
        frame = _frame({"clean": truth, "noisy": altered}, {"clean": "cv", "noisy": "cv~noise:5"})
        parts.append(frame.assign(split_id=split, patient_id=[f"{split}-{p}" for p in frame["patient_id"]]))
    frame = pd.concat(parts, ignore_index=True)
    labels = LabelSet(("a", "b", "c"), True)
    from cirrbench.benchmark.reporting.rows import per_split_metrics

    evaluation = Evaluation(
        {"patient": frame}, per_split_metrics(frame, labels, "patient"), labels, {"cv": 0.25}, n_boot=50
    )
    clean, noisy = MethodKey("r", "default", "T1W", "cv"), MethodKey("r", "default", "T1W", "cv~noise:5")
    assert not evaluation.single_test_set("cv", "T1W")
    flips = evaluation.flip_rate(clean, noisy)
    assert flips.value == pytest.approx((1 / 6 + 3 / 6) / 2) and flips.method == "corrected-t"
    assert flips.low < flips.value < flips.high and flips.low >= 0
    change = evaluation.contrast([(1.0, noisy), (-1.0, clean)], "accuracy")
    assert change.value == pytest.approx((-1 / 6 - 3 / 6) / 2) and change.low < change.value < change.high
