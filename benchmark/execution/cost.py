"""What a profile will cost before it runs: slice visits per job (each runner's own estimate) over
the training throughput measured by ``cirrbench perf training`` (``results/perf/training.json``).

The estimate is an upper bound on the work (every epoch, no early stop) divided by one measured
model's speed, scaled by the input's pixel count; other backbones train faster or slower than the
measured one, so the figure sizes a GPU budget, it does not promise a finishing time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cirrbench.benchmark.execution.job_grid import Job
from cirrbench.benchmark.runners.registry import get_runner

__all__ = ["estimate_hours", "find_throughput", "Throughput"]

#: Where the measurement is looked for when the results folder has none: the repository's own.
REPOSITORY_PERF = Path(__file__).resolve().parents[2] / "results" / "perf" / "training.json"


@dataclass(frozen=True)
class Throughput:
    slices_per_second: float
    size: int
    model: str
    device: str
    source: Path

    def describe(self) -> str:
        return f"{self.slices_per_second:g} slices/s of {self.model} at {self.size} px on {self.device} ({self.source})"


def find_throughput(*candidates: Path) -> Throughput | None:
    """The input-path training measurement of the first ``training.json`` that has one."""
    for path in (*candidates, REPOSITORY_PERF):
        try:
            probe = json.loads(Path(path).read_text())["input_path"]
            return Throughput(
                float(probe["training_step"]["slices_per_second"]),
                int(probe["size"]),
                str(probe["training_step"]["model"]),
                str(probe["device"]),
                Path(path),
            )
        except (OSError, KeyError, TypeError, ValueError):
            continue
    return None


def estimate_hours(jobs: list[Job], job_sets, throughput: Throughput) -> dict[str, float]:
    """Estimated hours per runner row (display name); runners without a slice cost are absent.

    ``job_sets(job)`` gives the job's (train, valid, test) scan sets.
    """
    hours: dict[str, float] = {}
    for job in jobs:
        cls = get_runner(job.runner)
        params = cls.make_params(job.params, "default")
        visits = cls.training_cost(params, *job_sets(job))
        if visits is None:
            continue
        scale = (getattr(params, "size", throughput.size) / throughput.size) ** 2
        hours[job.display] = hours.get(job.display, 0.0) + visits * scale / throughput.slices_per_second / 3600
    return hours
