"""Which importance a feature chart shows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cirrbench.benchmark.reporting.figures import FigureTarget, importance_measure, top_features


def frame(permutation, gain) -> pd.DataFrame:
    n = len(gain)
    return pd.DataFrame(
        {
            "input": ["T1W"] * n,
            "feature": [f"original_firstorder_F{i}" for i in range(n)],
            "permutation_mean": permutation,
            "permutation_sd": [0.01] * n,
            "gain_mean": gain,
        }
    )


def test_permutation_importance_is_charted_when_it_moved_anything():
    assert importance_measure(frame([0.0, 0.02, -0.01], [0.3, 0.2, 0.1]))[0] == "permutation_mean"


def test_permutation_that_lowered_nothing_falls_back_to_the_model_importance_and_says_why():
    for permutation in ([0.0, 0.0, 0.0], [0.0, -0.08, 0.0]):
        value, error, label = importance_measure(frame(permutation, [0.3, 0.2, 0.1]))
        assert (value, error) == ("gain_mean", None) and "lowered validation accuracy" in label


def test_nothing_to_chart_without_either_measure(tmp_path):
    rows = frame([np.nan] * 3, [np.nan] * 3)
    assert importance_measure(rows) is None
    paths = top_features(rows, FigureTarget(tmp_path / "top", "learner: top features"))
    assert all(p.stat().st_size > 1000 for p in paths)  # still a figure, with a note instead of bars
