"""``cirrbench perf kernels``: what ``reproducible: bitwise`` costs, and whether it holds.

The same small deep job runs in fresh processes (the kernels are chosen when torch is imported),
alternating: bitwise with the machine's own kernel level left in the environment, bitwise with
the level lowered (``ATEN_CPU_CAPABILITY=default``, oneDNN at SSE4.1: an older CPU's choices,
which the pins override), and fast. It records each job's training seconds and whether the
bitwise runs gave the same prediction bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from cirrbench.benchmark.common.kernels import BITWISE_PINS

__all__ = ["kernels_benchmark", "KERNEL_PROBE_RUNNER", "run_fresh"]

#: The probe job: a quarter-width ResNet-18 at 64 px, 3 epochs, on one official split.
KERNEL_PROBE_RUNNER = {
    "name": "cnn-resnet18",
    "params": {
        "width": 0.25,
        "size": 64,
        "spacing_mm": 1.5,
        "epochs": 3,
        "batch_size": 4,
        "slices_per_scan": 4,
        "max_slices": 8,
        "early_stopping": 3,
    },
}

#: Environments of the three arms, on top of the caller's (pins from an earlier cirrbench removed).
ARMS = {
    "bitwise": {},
    "bitwise, kernel level lowered": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "fast": {"CIRRBENCH_REPRODUCIBLE": "fast"},
}


def run_fresh(config: Path, out: Path, extra_env: dict[str, str], *args: str) -> tuple[str, dict]:
    """``cirrbench run CONFIG --no-report`` of a one-job config in a fresh process (torch chooses its
    kernels at import), with this process's pins and mode removed from the environment and
    ``extra_env`` added: (SHA-256 of the job's predictions.csv, its job record)."""
    env = {k: v for k, v in os.environ.items() if k not in BITWISE_PINS and k != "CIRRBENCH_REPRODUCIBLE"}
    env.update(extra_env)
    command = [sys.executable, "-m", "cirrbench", "run", str(config), "--out", str(out), "-q", "--no-report", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    (job,) = out.glob("predictions/*/job.json")
    return hashlib.sha256((job.parent / "predictions.csv").read_bytes()).hexdigest(), json.loads(job.read_text())


def _run(config: Path, out: Path, extra_env: dict[str, str]) -> tuple[float, str, str]:
    """(training seconds, prediction digest, torch capability) of one arm's run."""
    fast = ("--set", "reproducible=fast") if extra_env.get("CIRRBENCH_REPRODUCIBLE") == "fast" else ()
    digest, record = run_fresh(config, out, extra_env, "--jobs", "1", *fast)
    return float(record["duration_s"]), digest[:16], str(record.get("kernels", {}).get("torch_cpu_capability", "?"))


def kernels_benchmark(cohort: Path, out: Path, trials: int = 3) -> dict:
    """Alternate the arms ``trials`` times on ``cohort`` (official T1W split) and summarise."""
    from cirrbench.perf.speed import write_measurement

    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "kernels.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": "kernels",
                    "data": {"root": str(cohort)},
                    "inputs": ["T1W"],
                    "protocols": ["official"],
                    "reference": None,
                    "metrics": {"bootstrap": 20},
                    "runners": [KERNEL_PROBE_RUNNER],
                }
            )
        )
        for trial in range(trials):
            for index, (arm, env) in enumerate(ARMS.items()):
                seconds, digest, capability = _run(config, Path(tmp) / f"run-{trial}-{index}", env)
                runs[arm].append({"seconds": seconds, "predictions": digest, "torch_cpu_capability": capability})
    median = {arm: statistics.median(r["seconds"] for r in rows) for arm, rows in runs.items()}
    bitwise_digests = {r["predictions"] for arm in ARMS if arm.startswith("bitwise") for r in runs[arm]}
    result = {
        "what": "reproducible: bitwise (float kernels pinned to AVX2) vs fast (the machine's own), one deep job per fresh process",
        "job": KERNEL_PROBE_RUNNER,
        "cohort": str(cohort),
        "pins": BITWISE_PINS,
        "runs": runs,
        "median_training_seconds": median,
        "bitwise_cost": round(median["bitwise"] / median["fast"] - 1, 3),
        "bitwise_identical": len(bitwise_digests) == 1,
        "fast_differs_from_bitwise": runs["fast"][0]["predictions"] not in bitwise_digests,
    }
    write_measurement(out, "kernels", result)
    return result
