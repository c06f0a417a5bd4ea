"""Learning curves: nested, stratified training shares with the same validation and test patients,
the same subsets for every runner, config errors naming the key, a crossover claimed only where
it was measured, and a table and figure of their own beside the per-protocol outputs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.protocols.base import patient_labels
from cirrbench.benchmark.protocols.registry import make_splits
from cirrbench.benchmark.reporting.learning_curves import crossover_sentence
from cirrbench.cli import main

SHARES = [0.34, 0.67, 1.0]


def test_shares_are_nested_stratified_and_keep_validation_and_test(tiny_phantom):
    cohort = load_cirrmri(tiny_phantom)
    labels = patient_labels(cohort)
    splits = make_splits(cohort, "learning-curve", fractions=SHARES, folds=3, seed=4)
    assert len(splits) == 3 * len(SHARES)
    by_outer: dict[tuple[int, int], list] = {}
    for split in splits:
        by_outer.setdefault((split.repeat, split.fold), []).append(split)
    for outer in by_outer.values():
        outer.sort(key=lambda s: s.fraction)
        full = outer[-1]
        for smaller, larger in zip(outer, outer[1:]):
            assert set(smaller.patients("train")) <= set(larger.patients("train"))  # nested
        for split in outer:
            assert split.patients("valid") == full.patients("valid") and split.patients("test") == full.patients("test")
            for stage in set(labels.values()):  # the share of every stage, rounded up
                total = sum(labels[p] == stage for p in full.patients("train"))
                kept = sum(labels[p] == stage for p in split.patients("train"))
                assert kept == max(1, math.ceil(split.fraction * total))
    again = make_splits(cohort, "learning-curve", fractions=SHARES, folds=3, seed=4)
    assert [s.content_hash() for s in again] == [s.content_hash() for s in splits]  # seeded


@pytest.mark.parametrize(
    "fractions, text",
    [
        ([0, 0.5], "protocols[0].fractions: [0, 0.5] is not a non-empty list of numbers in (0, 1]"),
        ([0.5, 1.5], "protocols[0].fractions: [0.5, 1.5] is not a non-empty list of numbers in (0, 1]"),
        ([], "protocols[0].fractions: [] is not a non-empty list of numbers in (0, 1]"),
    ],
)
def test_a_bad_share_is_a_config_error_naming_the_key(fractions, text):
    raw = {"runners": ["majority"], "protocols": [{"name": "learning-curve", "fractions": fractions}]}
    with pytest.raises(
        ConfigError, match=text.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        parse_experiment(raw, "c.yaml")


@dataclass
class _Difference:
    low: float
    high: float


class _Evaluation:
    """compare() returns A - B with the given CIs, share by share."""

    def __init__(self, intervals: list[tuple[float, float]]) -> None:
        self.intervals = dict(zip(["p1", "p2", "p3"], intervals))

    def compare(self, a, b, metric, level):
        low, high = self.intervals[a.protocol]
        return SimpleNamespace(difference=_Difference(low, high))


NAMES = SimpleNamespace(show=lambda runner, variant="default": runner.upper())
POINTS = [(0.25, "p1"), (0.5, "p2"), (1.0, "p3")]
SIZES = {0.25: 12.0, 0.5: 24.0, 1.0: 48.0}
PAIR = ("rad", "default", "deep", "default")


@pytest.mark.parametrize(
    "intervals, expected",
    [
        ([(-0.2, 0.1), (-0.3, -0.05), (-0.4, -0.1)], "DEEP overtakes RAD from 24 training patients on (share 0.5;"),
        ([(-0.3, -0.1), (-0.2, 0.1), (-0.4, -0.1)], "DEEP overtakes RAD from 48 training patients on (share 1;"),
        ([(-0.3, -0.1), (-0.3, -0.1), (-0.1, 0.2)], "no crossover up to 48 training patients"),
        ([(0.1, 0.3), (0.1, 0.3), (0.1, 0.3)], "no crossover up to 48 training patients"),  # A better throughout
    ],
)
def test_a_crossover_holds_from_its_size_to_the_largest_measured(intervals, expected):
    sentence = crossover_sentence(_Evaluation(intervals), NAMES, PAIR, "T1W", POINTS, SIZES, "accuracy")
    assert sentence is not None and expected in sentence


def test_a_lower_is_better_metric_reads_the_other_side_of_the_interval():
    intervals = [(0.05, 0.2), (0.05, 0.2), (0.1, 0.3)]  # A - B > 0 in MAE: B has the smaller error
    sentence = crossover_sentence(_Evaluation(intervals), NAMES, PAIR, "T1W", POINTS, SIZES, "mae")
    assert sentence is not None and "from 12 training patients" in sentence


def test_a_run_gives_the_curve_table_figure_and_words_beside_the_protocol_tables(tiny_phantom, tmp_path):
    raw = {
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "protocols": ["official", {"name": "learning-curve", "fractions": SHARES, "folds": 3}],
        "metrics": {"bootstrap": 20},
        "runners": [
            "majority",
            {
                "name": "radiomics-logreg",
                "params": {"extraction": "default", "tuning_iterations": 0, "select_k": 10, "permutation_repeats": 1},
            },
            {"name": "test-slices"},
        ],
        "compare": [["radiomics-logreg", "test-slices"]],
    }
    config = tmp_path / "lc.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "results"
    assert main(["run", str(config), "--out", str(out), "-q", "--plugin", "runners_for_tests"]) == 0
    curve = pd.read_csv(out / "tables" / "learning_curve_learning-curve.csv")
    assert set(curve["id"]) == {"majority", "radiomics-logreg", "test-slices"}
    assert sorted(set(curve["Share"])) == SHARES
    patients = curve.groupby("Share")["Training patients"].first()
    assert patients.is_monotonic_increasing
    assert (out / "figures" / "learning_curve_learning-curve.png").stat().st_size > 1000
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert "main_official_patient" in tables and not any("@" in t or "main_learning" in t for t in tables)
    report = (out / "REPORT.md").read_text()
    assert "Learning curve (learning-curve): Accuracy, T1W:" in report
    # every runner saw the same patients at each share
    predictions = pd.read_csv(out / "metrics" / "per_split.csv")
    shares = predictions[predictions["protocol"].str.startswith("learning-curve@")]
    counts = shares.groupby(["protocol", "split_id"])["runner"].nunique()
    assert (counts == 3).all() and len(counts) == 3 * len(SHARES)
