"""What ``./run_all.sh`` runs: cohort -> validation -> experiments -> reports, in one place.

The shell script only prepares the environment; everything a user sees comes from here, so the
end-to-end test exercises exactly the code path of ``run_all.sh``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .cohort import Cohort
from .info import format_info
from .montage import montage
from .phantom import NOTICE
from .run import phantom_root
from .problems import CohortError
from .validate import validate

log = logging.getLogger("cirrbench")

DATA_ENV = "CIRRBENCH_DATA"


@dataclass(frozen=True)
class ReproduceOptions:
    data: Path | None = None
    profile: str = "cpu"
    out: Path = Path("results")
    jobs: int = 1
    phantom_patients: int = 120
    phantom_seed: int = 0
    phantom_scale: float = 1.0
    skip_checks: tuple[str, ...] = ()


def resolve_data(options: ReproduceOptions) -> tuple[Path, bool]:
    """The cohort to use and whether it is the synthetic phantom."""
    data = options.data or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None)
    if data is not None:
        return data.expanduser(), False
    return phantom_root(options.phantom_patients, options.phantom_seed, options.phantom_scale, options.jobs), True


def reproduce(options: ReproduceOptions) -> int:
    data, is_phantom = resolve_data(options)
    if is_phantom:
        print(f"No --data given (nor ${DATA_ENV}): using the embedded synthetic phantom cohort at {data}")
        print(f"  {NOTICE}")
    else:
        print(f"Using the cohort at {data}")
    report = validate(data, skip=options.skip_checks, jobs=options.jobs)
    print(report.format())
    if not report.ok:
        print("The cohort failed validation: fix the problems above, or pass --skip-check CHECK to proceed without a check.")
        return 1
    cohort: Cohort = report.cohort  # type: ignore[assignment]
    print()
    print(format_info(cohort))
    out = options.out
    figure = montage(cohort, out / "figures" / "cohort_montage.png", title=("SYNTHETIC PHANTOM - " if is_phantom else "") + "largest liver slice per stage")
    print(f"\ncohort montage: {figure}")
    return 0


def main_from_args(args) -> int:
    options = ReproduceOptions(
        data=args.data,
        profile=args.profile,
        out=args.out,
        jobs=args.jobs,
        phantom_patients=args.phantom_patients,
        phantom_seed=args.phantom_seed,
        phantom_scale=args.phantom_scale,
        skip_checks=tuple(args.skip_check or ()),
    )
    try:
        return reproduce(options)
    except CohortError as exc:
        print(str(exc))
        return 1
