"""The job grid: one job per runner x variant x input x split x seed, each keyed by the hash of
everything that determines its output, so a finished job is never run twice."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cirrbench.benchmark.data.perturbations import Perturbation
from cirrbench.benchmark.execution.experiment import BOTH, ConfigError, Experiment
from cirrbench.benchmark.protocols.base import Split, SplitSet
from cirrbench.benchmark.runners.registry import get_runner

__all__ = ["Job", "build_jobs", "derive_seed", "split_covers"]


@dataclass(frozen=True)
class Job:
    runner: str  # registry name
    variant: str
    params: dict[str, Any]
    input: str  # T1W, T2W or both
    protocol: str
    split_id: str
    split_hash: str
    seed_index: int
    seed: int
    cohort_fingerprint: str
    alias: str = ""  # the name shown in tables; the registry name when empty
    runner_version: str = ""  # the runner's declared version: a new one reruns its finished jobs
    kernels: str = ""  # reproducible mode of a runner whose results depend on float kernels (torch)
    #: What the job perturbs: its test scans (``robustness``) and/or, for a runner that measures
    #: feature robustness, its training scans (``RunContext.perturbations``).
    perturbations: tuple[Perturbation, ...] = ()
    robustness: bool = False  # also predict each perturbed copy of the test scans

    @property
    def display(self) -> str:
        return self.alias or self.runner

    @property
    def label(self) -> str:
        return f"{self.display}:{self.variant}:{self.input}:{self.split_id}:s{self.seed_index}"

    @property
    def key(self) -> str:
        """Hash of everything that determines the job's output (and the row name it is filed under)."""
        payload = json.dumps(
            [self.runner, self.variant, self.params, self.input, self.split_hash, self.cohort_fingerprint, self.seed]
            + ([self.alias] if self.alias else [])
            + ([f"runner-version:{self.runner_version}"] if self.runner_version else [])
            + ([f"kernels:{self.kernels}"] if self.kernels else [])
            + (
                [f"perturbations:{'test' if self.robustness else 'fit'}", [p.as_list() for p in self.perturbations]]
                if self.perturbations
                else []
            ),
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "key": self.key, "label": self.label}


def derive_seed(base: int, *axes: Any) -> int:
    """A seed per (split, input, replicate), independent of job order: parallel == serial."""
    text = json.dumps([base, *axes], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % (2**31 - 1)


def split_covers(split: Split, input_: str) -> bool:
    return split.sequences is None or input_ in split.sequences


def _job_perturbations(experiment: Experiment, robust: bool, measures_stability: bool) -> tuple[Perturbation, ...]:
    """The declared perturbations for a robustness job; for a runner that measures feature
    robustness on its training scans, those (or the default chain); else none."""
    if robust and experiment.robustness is not None:
        return experiment.robustness.perturbations
    return experiment.stability_perturbations() if measures_stability else ()


def build_jobs(
    experiment: Experiment, split_sets: dict[str, SplitSet], cohort_fingerprint: str, only: str | None = None
) -> list[Job]:
    jobs: list[Job] = []
    # each split's hash once: hashing writes its CSV, and a profile's grid has hundreds of jobs per split
    split_hashes = {(name, s.split_id): s.content_hash() for name, split_set in split_sets.items() for s in split_set}
    for spec in experiment.runners:
        cls = get_runner(spec.name)
        for protocol in experiment.protocols:
            if spec.protocols is not None and protocol.name not in spec.protocols:
                continue
            for input_ in experiment.inputs:
                if spec.inputs is not None and input_ not in spec.inputs:
                    continue
                if input_ == BOTH and "both" not in cls.inputs:
                    continue
                for split in split_sets[protocol.name]:
                    if input_ == BOTH and split.sequences is not None:
                        continue  # per-sequence splits (official) cannot hold a two-sequence job
                    if input_ != BOTH and not split_covers(split, input_):
                        continue
                    robust = (
                        experiment.robustness is not None
                        and experiment.robustness.covers(protocol.name, spec.alias or spec.name)
                        and cls.sees_images()
                    )
                    for variant in spec.variants:
                        made = cls.make_params(spec.params, variant)
                        params = dataclasses.asdict(made)
                        perturbations = _job_perturbations(experiment, robust, cls.uses_perturbations(made))
                        for seed_index in range(spec.seeds or experiment.n_seeds):
                            seed = derive_seed(experiment.seed, split.split_id, input_, seed_index)
                            job = Job(
                                spec.name,
                                variant,
                                params,
                                input_,
                                protocol.name,
                                split.split_id,
                                split_hashes[protocol.name, split.split_id],
                                seed_index,
                                seed,
                                cohort_fingerprint,
                                spec.alias or "",
                                cls.version,
                                experiment.reproducible if cls.torch_kernels else "",
                                perturbations,
                                robust,
                            )
                            if only is None or fnmatch.fnmatch(job.label, only):
                                jobs.append(job)
    unique = {job.key: job for job in jobs}  # a runner listed twice (e.g. variants under one protocol) runs once
    seen: dict[tuple, dict] = {}
    for job in unique.values():
        row = (job.display, job.variant, job.input, job.split_id, job.seed_index)
        if seen.setdefault(row, job.params) != job.params:
            raise ConfigError(
                f"{experiment.source}: runner {job.display!r} variant {job.variant!r} appears with different parameters; give one of the entries a distinct name with 'as:'"
            )
    return list(unique.values())
