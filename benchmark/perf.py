"""``cirrbench perf``: measured speed of the suite's heavy parts, written as JSON and a plot.

Each measurement runs on a phantom (generated into the cache when needed) and records the
machine, versions and settings next to its numbers, so a figure quoted in the README can be
traced to the run that produced it.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .cohort import load_cirrmri  # noqa: E402
from .provenance import git_commit, machine, package_versions  # noqa: E402


def _write(out: Path, name: str, payload: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "machine": machine(), "versions": package_versions(), "git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def extraction_benchmark(root: Path, out: Path, scans: int = 48, jobs: int = 2, params_name: str = "mri") -> dict:
    """Sequential PyRadiomics loop vs the suite's parallel extraction (cold cache) vs warm cache."""
    from radiomics import featureextractor

    import baselines.features as features

    from .hashing import clear_memo

    features.quiet_radiomics()
    cohort = load_cirrmri(root)
    records = list(cohort.records[:scans])
    params = features.load_params(params_name)

    start = time.perf_counter()
    for record in records:  # what a researcher writes first: one extractor, one loop, library threading
        extractor = featureextractor.RadiomicsFeatureExtractor(dict(params))
        extractor.execute(str(record.image), str(record.mask))
    sequential = time.perf_counter() - start

    previous = os.environ.get("CIRRBENCH_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CIRRBENCH_CACHE"] = cache
        try:
            features._MEMO.clear()
            clear_memo()
            start = time.perf_counter()
            cold_result = features.extract_features(records, params, jobs=jobs, progress=False)
            cold = time.perf_counter() - start
            features._MEMO.clear()  # as in a new process: only the on-disk cache remains
            clear_memo()
            start = time.perf_counter()
            warm_result = features.extract_features(records, params, jobs=jobs, progress=False)
            warm = time.perf_counter() - start
        finally:
            if previous is None:
                os.environ.pop("CIRRBENCH_CACHE", None)
            else:
                os.environ["CIRRBENCH_CACHE"] = previous
    assert cold_result.extracted == len(records) and warm_result.cached == len(records)
    result = {
        "what": "PyRadiomics extraction: sequential loop vs cirrbench parallel (cold cache) vs warm cache",
        "cohort": str(root),
        "scans": len(records),
        "params": params_name,
        "jobs": jobs,
        "seconds": {"sequential_loop": round(sequential, 2), "parallel_cold": round(cold, 2), "warm_cache": round(warm, 3)},
        "speedup_parallel_vs_loop": round(sequential / cold, 2),
        "warm_fraction_of_cold": round(warm / cold, 4),
        "targets": {"speedup_parallel_vs_loop": ">= 1.8", "warm_fraction_of_cold": "<= 0.02"},
    }
    result["meets_targets"] = result["speedup_parallel_vs_loop"] >= 1.8 and result["warm_fraction_of_cold"] <= 0.02
    _write(out, "extraction", result)
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    labels = ["sequential loop", f"cirrbench, {jobs} processes\n(cold cache)", "cirrbench\n(warm cache)"]
    values = [sequential, cold, warm]
    ax.barh(labels, values, color=["0.6", "C0", "C2"])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.1f} s" if v >= 1 else f" {v:.2f} s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds for {len(records)} phantom scans ({params_name} parameters)")
    ax.set_title(f"PyRadiomics extraction: {result['speedup_parallel_vs_loop']}x faster, warm = {100 * result['warm_fraction_of_cold']:.1f} % of cold", fontsize=9)
    ax.set_xlim(0, max(values) * 1.2)
    fig.tight_layout()
    fig.savefig(out / "extraction.png", dpi=130)
    plt.close(fig)
    return result
