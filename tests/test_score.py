"""``cirrbench score``: any method's prediction file scored as the report scores the suite's own;
every bad file is one error naming the line or column, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.cli import main


@pytest.fixture(scope="module")
def test_scans(tiny_phantom) -> pd.DataFrame:
    """A good prediction file's rows: every official test scan, probabilities from a fixed rule."""
    cohort = load_cirrmri(tiny_phantom)
    records = [r for r in cohort.records if r.official_split == "test"]
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), len(records))
    return pd.DataFrame(
        {"scan_id": [r.scan_id for r in records], "mild": proba[:, 0], "moderate": proba[:, 1], "severe": proba[:, 2]}
    )


def write(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_a_good_file_prints_every_metric_with_its_ci_and_writes_them(tiny_phantom, test_scans, tmp_path, capsys):
    assert (
        main(
            [
                "score",
                write(test_scans, tmp_path / "p.csv"),
                "--data",
                str(tiny_phantom),
                "--bootstrap",
                "200",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    for name in ("Accuracy", "Macro F1", "Macro one-vs-rest AUC", "Quadratic weighted kappa", "Brier score"):
        assert name in text
    table = pd.read_csv(tmp_path / "out" / "score.csv")
    assert {"metric", "value", "low", "high"} <= set(table.columns)
    finite = table.dropna()
    assert (
        len(finite) >= 6
        and (finite["low"] <= finite["value"] + 1e-9).all()
        and (finite["value"] <= finite["high"] + 1e-9).all()
    )


def test_the_suites_own_prediction_file_and_prob_prefixed_columns_are_accepted(tiny_phantom, test_scans, tmp_path):
    own = test_scans.rename(columns={c: f"prob_{c}" for c in ("mild", "moderate", "severe")}).assign(
        runner="x", variant="default", true_label=0
    )
    assert main(["score", write(own, tmp_path / "p.csv"), "--data", str(tiny_phantom), "--bootstrap", "50"]) == 0


def compare(a: pd.DataFrame, b: pd.DataFrame, root: Path, tmp_path: Path, *options: str) -> int:
    """``cirrbench score A --compare B`` on the cohort at ``root``."""
    return main(
        [
            "score",
            write(a, tmp_path / "a.csv"),
            "--compare",
            write(b, tmp_path / "b.csv"),
            "--data",
            str(root),
            *options,
        ]
    )


def test_compare_runs_the_paired_test(tiny_phantom, test_scans, tmp_path, capsys):
    other = test_scans.copy()
    other[["mild", "moderate", "severe"]] = other[["severe", "mild", "moderate"]].to_numpy()
    code = compare(test_scans, other, tiny_phantom, tmp_path, "--bootstrap", "100", "--out", str(tmp_path / "o"))
    assert code == 0
    text = capsys.readouterr().out
    assert "exact McNemar" in text and "paired bootstrap" in text and "Δ" in text
    table = pd.read_csv(tmp_path / "o" / "score.csv")
    assert np.allclose(table["difference"], table["value"] - table["b_value"])


def test_scan_level_never_uses_mcnemar(tiny_phantom, test_scans, tmp_path, capsys):
    code = compare(test_scans, test_scans, tiny_phantom, tmp_path, "--level", "scan", "--bootstrap", "50")
    assert code == 0 and "McNemar" not in capsys.readouterr().out


def _drop_column(f):
    return f.drop(columns=["moderate"])


def _extra_column(f):
    return f.assign(Moderate=0.0)


def _no_scan_id(f):
    return f.rename(columns={"scan_id": "id"})


def _unknown_scan(f):
    g = f.copy()
    g.loc[1, "scan_id"] = "T1W-999"
    return g


def _duplicate(f):
    return pd.concat([f, f.iloc[[0]]], ignore_index=True)


def _nan(f):
    g = f.copy()
    g.loc[2, "mild"] = np.nan
    return g


def _text(f):
    g = f.astype({"severe": object})
    g.loc[2, "severe"] = "high"
    return g


def _negative(f):
    g = f.copy()
    g.loc[0, ["mild", "moderate", "severe"]] = [-0.1, 0.6, 0.5]
    return g


def _not_summing(f):
    g = f.copy()
    g.loc[3, ["mild", "moderate", "severe"]] = [0.5, 0.5, 0.1]
    return g


def _missing_scan(f):
    return f.iloc[1:]


def _empty_id(f):
    g = f.copy()
    g.loc[0, "scan_id"] = ""
    return g


@pytest.mark.parametrize(
    "break_it, message",
    [
        (_drop_column, "no probability column for class 'moderate'"),
        (_extra_column, "column 'Moderate' is not a class"),
        (_no_scan_id, "no scan_id column"),
        (_unknown_scan, "line 3: scan 'T1W-999' is not in the cohort"),
        (_duplicate, "appears on lines 2, "),
        (_nan, "line 4: mild is empty, NaN or not a number"),
        (_text, "line 4: severe is empty, NaN or not a number"),
        (_negative, "line 2: a negative probability"),
        (_not_summing, "line 5: probabilities sum to 1.1, not 1"),
        (_missing_scan, "scan(s) of the cohort's test split are missing"),
        (_empty_id, "line 2: empty scan_id"),
    ],
)
def test_bad_prediction_files_are_one_error_naming_the_line_or_column(
    tiny_phantom, test_scans, tmp_path, capsys, break_it, message
):
    path = write(break_it(test_scans), tmp_path / "bad.csv")
    assert main(["score", path, "--data", str(tiny_phantom), "--bootstrap", "20", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.csv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_compare_needs_the_same_scans_and_split_any_skips_completeness(tiny_phantom, test_scans, tmp_path, capsys):
    a, b = write(test_scans, tmp_path / "a.csv"), write(test_scans.iloc[1:], tmp_path / "b.csv")
    assert main(["score", a, "--compare", b, "--data", str(tiny_phantom), "--split", "any", "--bootstrap", "20"]) == 2
    assert "needs the same scans" in capsys.readouterr().err
    assert main(["score", b, "--data", str(tiny_phantom), "--split", "any", "--bootstrap", "20"]) == 0
    assert main(["score", str(tmp_path / "absent.csv"), "--data", str(tiny_phantom)]) == 2


def test_score_without_a_cohort_says_how_to_give_one(test_scans, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CIRRBENCH_DATA", raising=False)
    assert main(["score", write(test_scans, tmp_path / "a.csv")]) == 2
    assert "--data COHORT is required" in capsys.readouterr().err


def test_the_suites_own_file_scores_without_data_named_by_its_job_with_aligned_columns(tiny_phantom, tmp_path, capsys):
    from helpers import experiment_config

    from cirrbench.benchmark.execution.experiment import parse_experiment
    from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

    out = tmp_path / "results"
    raw = experiment_config(tiny_phantom, runners=["majority", "stratified-random"], metrics={"bootstrap": 20})
    run_experiment(parse_experiment(raw, "c.yaml"), RunOptions(out=out, progress=False, jobs=1))
    index = pd.read_csv(out / "predictions" / "index.csv")
    assert list(index["runner"]) == ["majority", "stratified-random"] and index["current"].all()
    first, second = (out / "predictions" / folder / "predictions.csv" for folder in index["folder"])
    capsys.readouterr()

    assert main(["score", str(first), "--compare", str(second), "--bootstrap", "20"]) == 0  # no --data
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"cohort: {tiny_phantom} (the run's, from {out / 'manifest.json'})"
    assert lines[1].startswith("majority:default:T1W:official-T1W:s0 (")
    assert "compared with stratified-random:default:T1W:official-T1W:s0" in lines[3]
    values = [line for line in lines if line.startswith("  ") and "[" in line]
    assert len({line.index("[") for line in values}) == 1  # every value in one column, Stage MAE included
    assert len({line.index(" vs ") for line in values}) == 1 and any("Stage MAE" in line for line in values)

    assert main(["score", str(first), "--compare", str(second), "--name", "M", "--name", "R", "--bootstrap", "20"]) == 0
    named = capsys.readouterr().out.splitlines()
    assert named[1].startswith("M (") and "compared with R (" in named[3]
    assert main(["score", str(first), "--name", "A", "--name", "B"]) == 2  # two names, one file
    assert "at most" in capsys.readouterr().err


def test_a_run_whose_cohort_is_gone_asks_for_data(tmp_path, capsys):
    folder = tmp_path / "results" / "predictions" / "abc"
    folder.mkdir(parents=True)
    (tmp_path / "results" / "manifest.json").write_text('{"cohort": {"source": "/no/such/cohort"}}')
    (folder / "predictions.csv").write_text("scan_id,mild,moderate,severe\n")
    assert main(["score", str(folder / "predictions.csv")]) == 2
    err = capsys.readouterr().err
    assert "/no/such/cohort is gone" in err and "--data" in err and len(err.strip().splitlines()) == 1
