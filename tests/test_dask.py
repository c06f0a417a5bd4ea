"""Dask execution: a LocalCluster gives the same predictions and tables as a local run."""

from __future__ import annotations

import filecmp

import pytest
from helpers import CV3, experiment_config

from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

distributed = pytest.importorskip("dask.distributed")


def test_local_cluster_gives_the_same_tables_as_a_local_run(tiny_phantom, tmp_path):
    logreg = {"extraction": "default", "tuning_iterations": 0, "select_k": 10, "permutation_repeats": 1}
    runners = ["majority", "stratified-random", {"name": "radiomics-logreg", "params": logreg}]
    raw = experiment_config(tiny_phantom, inputs=["T1W", "T2W"], protocols=[CV3], runners=runners)
    experiment = parse_experiment(raw, "dask.yaml")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary, _ = run_experiment(
            experiment, RunOptions(out=tmp_path / "dask", progress=False, dask=cluster.scheduler_address)
        )
    assert summary.ok and len(summary.ran) == 3 * 2 * 3
    run_experiment(experiment, RunOptions(out=tmp_path / "local", progress=False))
    tables = sorted((tmp_path / "local" / "tables").iterdir())
    assert tables
    for path in tables:
        assert filecmp.cmp(path, tmp_path / "dask" / "tables" / path.name, shallow=False), path.name
    for path in sorted((tmp_path / "local" / "predictions").glob("*/predictions.csv")):
        assert filecmp.cmp(
            path, tmp_path / "dask" / "predictions" / path.parent.name / "predictions.csv", shallow=False
        )
