"""Shared test helpers: experiment configs (one place knows the keys; a test names only what it changes)
and the command line in a subprocess (for kill tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CV3 = {"name": "cv", "folds": 3, "repeats": 1}  # the smallest cross-validation the tiny phantoms allow


def experiment_config(root: Path, **keys: Any) -> dict:
    """A valid config on the cohort at ``root``: T1W, official split, majority, 200 bootstrap resamples,
    PNG figures only at 60 dpi (the tests that check PDFs or the default resolution ask for them),
    with ``keys`` replacing top-level keys."""
    raw = {
        "name": "test",
        "data": {"root": str(root)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "runners": ["majority"],
        "metrics": {"bootstrap": 200},
        "figures": {"formats": ["png"], "dpi": 60},
    }
    raw.update(keys)
    return raw


def config_file(root: Path, folder: Path, **keys: Any) -> Path:
    """:func:`experiment_config` written as ``folder/config.yaml``."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(experiment_config(root, **keys)))
    return path


def sharpness_pair(root: Path) -> tuple[dict, dict]:
    """Two configs whose only difference is one runner parameter: same job labels, other job keys."""
    return tuple(
        experiment_config(root, runners=[{"name": "test-slices", "params": {"sharpness": s}}], reference=None)
        for s in (2.0, 0.1)
    )


def fresh_python(code: str, timeout: int = 300) -> list[str]:
    """The lines ``code`` prints in a fresh interpreter (nothing imported yet), which must succeed."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def cli_in_subprocess(*argv: str) -> list[str]:
    """The argv of a Python process that runs ``cirrbench ARGV`` with the test runners registered."""
    tests = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {tests!r}); import runners_for_tests; "
        f"from cirrbench.cli import main; sys.exit(main({list(argv)!r}))"
    )
    return [sys.executable, "-c", code]


def grow_unless_first_task(megabytes: int) -> tuple[int, bool]:
    """In a pool worker: after its first task, hold ``megabytes`` of touched memory for 3 s, as a
    deep job's imports do, and stay busy past loky's one-second check interval."""
    import os
    import threading
    import time

    import numpy as np

    calls = int(os.environ.get("CIRRBENCH_TEST_TASKS", "0"))
    os.environ["CIRRBENCH_TEST_TASKS"] = str(calls + 1)
    if calls == 0:
        time.sleep(0.1)
        return os.getpid(), False
    ballast = [np.ones(megabytes * 2**20, dtype=np.uint8)]
    threading.Timer(3.0, ballast.clear).start()
    time.sleep(1.05)
    return os.getpid(), True
