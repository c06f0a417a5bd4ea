"""``cirrbench perf loop``: how long a researcher waits, per step of the edit-run-read loop.

Five timings, each in a fresh process as a user would type it: a **cold** run of a profile into an
empty cache and an empty results folder (phantom, features, every job, the report), a **warm**
rerun of the same (nothing changed: the report is reused), the rerun after **one runner's setting
changed** (its jobs, then the report with unchanged figures and metrics kept), a **report** rebuild
(`cirrbench report`, always a full build), and the **test suite** as CI runs it. Written with the
machine to ``loop.json``; nothing here is estimated.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["loop_benchmark"]

_ROOT = Path(__file__).resolve().parents[2]
#: The change timed as "one runner changed" (its 17 jobs of the CPU profile rerun).
CHANGED_SETTING = "runners.radiomics-logreg.params.tuning_iterations=5"
#: The test suite's workers, as ``./run_all.sh --test`` starts them: one per core, and the tests that
#: share a costly module fixture on one worker (tests/conftest.py).
TEST_WORKERS = ("-n", "auto", "--dist", "loadgroup")


def _timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return round(seconds, 2)


def loop_benchmark(out: Path, profile: str = "cpu", jobs: int = 2, tests: bool = True) -> dict:
    """Time cold, warm, report and (``tests``) the test suite; write ``out/loop.json``."""
    from cirrbench.perf.speed import write_measurement

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CIRRBENCH_CACHE": str(Path(tmp) / "cache")}  # cold: nothing cached
        results = Path(tmp) / "results"
        run = [sys.executable, "-m", "cirrbench", "run", profile, "--out", str(results), "--jobs", str(jobs), "-q"]
        timings = {"cold_run": _timed(run, env), "warm_run": _timed(run, env)}
        # A researcher's next step: one runner's setting changed; its jobs rerun, the report is
        # rebuilt keeping every figure, metric and image the change does not touch.
        timings["one_runner_changed"] = _timed([*run, "--set", f"{CHANGED_SETTING}"], env)
        timings["report_rebuild"] = _timed([sys.executable, "-m", "cirrbench", "report", str(results)], env)
    if tests:
        timings["test_suite"] = _timed(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TEST_WORKERS], dict(os.environ), _ROOT
        )
    result = {
        "what": "seconds per step of the loop, each a fresh process: cold run (empty cache and results), warm rerun, "
        f"rerun after one runner changed (--set {CHANGED_SETTING}), cirrbench report (full rebuild), "
        f"test suite (pytest {' '.join(TEST_WORKERS)})",
        "profile": profile,
        "jobs": jobs,
        "seconds": timings,
    }
    write_measurement(out, "loop" if profile == "cpu" else f"loop_{profile}", result)
    return result
