"""Seed variance in the verdict (issue "Reproducible across machines, honest about seeds", item 3):
every shipped profile trains each runner of a declared pair with 3 seeds, the intervals and tests
carry the seed variance, and the tables and words show the spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES as L
from cirrbench.benchmark.execution.experiment import load_experiment
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.benchmark.reporting.page import verdict_in_words
from cirrbench.benchmark.reporting.resampling import PairedBootstrap
from cirrbench.benchmark.reporting.table_builders import DeclaredPair, RowNames, main_table, verdict_table
from cirrbench.benchmark.reporting.table_format import _ESTIMATE, _tex_cell

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "benchmark" / "configs").glob("*.yaml"))


def _seeds_of(experiment, row: str, variant: str) -> dict[str, int]:
    """Training seeds per protocol of one table row (a runner or alias) and variant."""
    out: dict[str, int] = {}
    for spec in experiment.runners:
        if (spec.alias or spec.name) != row or variant not in spec.variants:
            continue
        for protocol in experiment.protocols:
            if spec.protocols is None or protocol.name in spec.protocols:
                seeds = spec.seeds or experiment.n_seeds
                out[protocol.name] = max(out.get(protocol.name, 0), seeds)
    return out


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_shipped_profile_trains_each_declared_runner_with_three_seeds(profile):
    experiment = load_experiment(profile)
    assert experiment.compare, f"{profile.name} declares no comparison"
    for pair in experiment.compare:
        for side in pair:
            row, _, variant = side.partition(":")
            seeds = _seeds_of(experiment, row, variant or "default")
            assert seeds, f"{profile.name}: {side} runs under no protocol"
            assert min(seeds.values()) >= 3, f"{profile.name}: {side} has seeds {seeds}"


def test_a_runner_entry_sets_its_own_seeds_and_a_bad_value_names_the_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("runners:\n  - majority\n  - {name: stratified-random, seeds: 0}\n")
    from cirrbench.benchmark.execution.experiment import ConfigError

    with pytest.raises(ConfigError, match=r"runners\[1\] \(stratified-random\)\.seeds: 0 is not an integer >= 1"):
        load_experiment(config)
    config.write_text("seeds: 2\nrunners:\n  - majority\n  - {name: stratified-random, seeds: 4}\n")
    experiment = load_experiment(config)
    assert [spec.seeds or experiment.n_seeds for spec in experiment.runners] == [2, 4]


# ---- the statistics -----------------------------------------------------------------------------
TRUTH = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def _rows(runner: str, predictions: list[list[int]], protocol: str = "official", split: str = "s0") -> pd.DataFrame:
    """Prediction rows of one method: one list of predicted stages per seed."""
    parts = []
    for seed_index, predicted in enumerate(predictions):
        proba = np.eye(3)[predicted] * 0.8 + 0.2 / 3
        parts.append(
            pd.DataFrame(
                {
                    "patient_id": [f"{split}-p{i:02d}" for i in range(len(TRUTH))],
                    "true_label": TRUTH,
                    **{f"prob_{name}": proba[:, k] for k, name in enumerate(L.names)},
                    "runner": runner,
                    "variant": "default",
                    "input": "T1W",
                    "protocol": protocol,
                    "split_id": split,
                    "seed_index": seed_index,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _split_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for keys, part in frame.groupby([*MethodKey._fields, "split_id", "seed_index"]):
        predicted = part[[f"prob_{n}" for n in L.names]].to_numpy().argmax(axis=1)
        accuracy = float(np.mean(predicted == part["true_label"].to_numpy()))
        rows.append(
            {
                **dict(zip([*MethodKey._fields, "split_id", "seed_index"], keys)),
                "level": "patient",
                "accuracy": accuracy,
            }
        )
    return pd.DataFrame(rows)


def _evaluation(*frames: pd.DataFrame) -> Evaluation:
    frame = pd.concat(frames, ignore_index=True)
    return Evaluation({"patient": frame}, _split_metrics(frame), L, {"cv": 0.25}, n_boot=2000, seed=0)


ALL_RIGHT, ALL_WRONG = TRUTH, [(t + 1) % 3 for t in TRUTH]


def test_the_bootstrap_resamples_seeds_so_the_ci_holds_their_spread():
    """Seed 0 and 2 get every patient right, seed 1 none: each patient is right in 2 of 3 seeds,
    so a patient-only bootstrap of the seed mean has zero width; the two-stage one spans the seeds."""
    key = MethodKey("deep", "default", "T1W", "official")
    evaluation = _evaluation(_rows("deep", [ALL_RIGHT, ALL_WRONG, ALL_RIGHT]))
    estimate = evaluation.estimate(key, "accuracy")
    assert estimate.value == pytest.approx(2 / 3)
    assert estimate.low <= 1 / 3 and estimate.high == pytest.approx(1.0)  # the seeds' own values lie inside
    boot = PairedBootstrap(
        [f"s0-p{i:02d}" for i in range(12)], L, 2000, 0, strata={f"s0-p{i:02d}": t for i, t in enumerate(TRUTH)}
    )
    stats = boot.statistics(_rows("deep", [ALL_RIGHT, ALL_WRONG, ALL_RIGHT]))
    patients_only = np.mean([s.metric("accuracy", boot.counts) for s in stats], axis=0)
    assert np.ptp(patients_only) == 0  # what averaging the seeds per resample used to give
    assert evaluation.seed_spread(key, "accuracy").sd == pytest.approx(np.std([1, 0, 1], ddof=1))


def test_identical_seeds_give_the_one_seed_interval():
    """Three seeds that agree carry no seed variance: the interval is the one seed's."""
    predicted = [0, 0, 1, 0, 1, 1, 2, 1, 2, 2, 0, 2]
    one = _evaluation(_rows("deep", [predicted])).estimate(MethodKey("deep", "default", "T1W", "official"), "accuracy")
    three = _evaluation(_rows("deep", [predicted] * 3)).estimate(
        MethodKey("deep", "default", "T1W", "official"), "accuracy"
    )
    assert (three.value, three.low, three.high) == pytest.approx((one.value, one.low, one.high))


def test_a_pair_within_the_seed_spread_is_not_a_finding_in_tables_and_words():
    radiomics = _rows("radiomics", [[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 0, 1]])  # 10 of 12
    deep = _rows("deep", [ALL_RIGHT, [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0], ALL_RIGHT])  # 12, 6, 12 of 12
    evaluation = _evaluation(radiomics, deep)
    names = RowNames({"radiomics": "Radiomics", "deep": "Deep"}, {"radiomics": "radiomics", "deep": "deep"})
    table, verdicts = verdict_table(
        evaluation, names, [DeclaredPair("radiomics", "deep")], pd.DataFrame(), "official", "accuracy"
    )
    comparison, _ = verdicts[0]
    assert comparison.test == "paired bootstrap"  # not McNemar: three seeds are not three times the patients
    assert comparison.difference.value == pytest.approx(10 / 12 - 10 / 12)
    assert comparison.within_seed_spread and comparison.seed_sd == pytest.approx(np.std([1, 0.5, 1], ddof=1))
    row = table.rows[0]
    assert row[3] == evaluation.estimate(comparison.a, "accuracy").format()  # one seed: no spread shown
    assert _ESTIMATE.match(row[4])["spread"] == f"{comparison.seed_sd:.3f}"
    assert any("Within the seed spread" in note and "Radiomics vs Deep" in note for note in table.notes)
    words = "\n".join(verdict_in_words({"official": verdicts}, names, evaluation, "accuracy"))
    assert "smaller than the spread over training seeds (SD 0.289, 1/3 seeds), so it is not a finding" in words
    assert "for T1W the difference is smaller than the spread over training seeds" in words.splitlines()[0]
    main = main_table(evaluation, names, "official", "patient", "accuracy", None, [])
    deep_cell = main.rows[main.ids.index("deep")][1]
    assert deep_cell.startswith("**0.833 ± 0.289 [")
    assert any(note.startswith("± = SD over training seeds") for note in main.notes)


def test_a_difference_beyond_the_seed_spread_reports_the_spread():
    radiomics = _rows("radiomics", [ALL_WRONG])
    deep = _rows("deep", [ALL_RIGHT, ALL_RIGHT, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0]])
    evaluation = _evaluation(radiomics, deep)
    names = RowNames({}, {"radiomics": "radiomics", "deep": "deep"})
    _, verdicts = verdict_table(
        evaluation, names, [DeclaredPair("radiomics", "deep")], pd.DataFrame(), "official", "accuracy"
    )
    comparison, _ = verdicts[0]
    assert not comparison.within_seed_spread
    words = verdict_in_words({"official": verdicts}, names, evaluation, "accuracy")
    assert "(SD over training seeds at most 0.048, 1/3 seeds)" in words[1]
    assert "not a finding" not in "\n".join(words)


def test_cv_seeds_are_averaged_within_a_split_before_the_corrected_t():
    """Under CV the replicates are the splits: 3 seeds per split never become 3x the splits."""
    frames = [
        _rows("deep", [ALL_RIGHT, ALL_WRONG, ALL_RIGHT] if i % 2 else [ALL_RIGHT] * 3, "cv", f"r0-f{i}")
        for i in range(5)
    ]
    evaluation = _evaluation(*frames)
    key = MethodKey("deep", "default", "T1W", "cv")
    per_split = [2 / 3 if i % 2 else 1.0 for i in range(5)]
    from cirrbench.benchmark.reporting.stats import corrected_t_ci

    expected = corrected_t_ci(np.array(per_split), 0.25, bounds=(0.0, 1.0))
    estimate = evaluation.estimate(key, "accuracy")
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx((expected.value, expected.low, expected.high))
    assert evaluation.seed_spread(key, "accuracy").n == 3


@pytest.mark.parametrize(
    "cell, spread",
    [
        ("0.583 [0.417, 0.750]", None),
        ("0.583 ± 0.048 [0.417, 0.750]*", "0.048"),
        ("-0.100 ± 0.010 [-0.2, 0.0]", "0.010"),
    ],
)
def test_cells_with_a_seed_spread_render_in_latex_with_it(cell, spread):
    match = _ESTIMATE.match(cell.replace("-0.2", "-0.200").replace("0.0]", "0.000]"))
    assert match is not None and match["spread"] == spread
    tex = _tex_cell(cell.replace("-0.2", "-0.200").replace("0.0]", "0.000]"))
    assert ("$\\pm$" in tex) == (spread is not None) and "±" not in tex
