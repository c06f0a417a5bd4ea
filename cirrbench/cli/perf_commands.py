"""Performance measurements on phantoms; each writes JSON with machine and versions (extraction and
scaling also a PNG) under results/perf/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cirrbench.cli.registry import command, group

__all__: list[str] = []  # everything here registers itself

group("perf", "measure the suite's speed (JSON, and plots, under results/perf/)", __doc__ or "")


def _out_folder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("results/perf"), help="output folder (default results/perf)")


def _phantom_cohort(p: argparse.ArgumentParser) -> None:
    _out_folder(p)
    p.add_argument("--data", type=Path, default=None, help="cohort (default: the 120-patient phantom in the cache)")


def _extraction_options(p: argparse.ArgumentParser) -> None:
    _phantom_cohort(p)
    p.add_argument("--scans", type=int, default=48, help="scans to extract (default 48)")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    p.add_argument("--params", default="mri", help="parameter file (default mri)")


@command("perf extraction", _extraction_options)
def extraction(args: argparse.Namespace) -> int:
    """sequential PyRadiomics loop vs parallel extraction vs warm cache

    Time feature extraction: a plain sequential PyRadiomics loop, the suite's parallel extraction
    with a cold cache, and a warm rerun.
    """
    from cirrbench.benchmark.execution.orchestrator import phantom_root
    from cirrbench.perf.speed import extraction_benchmark

    root = args.data or phantom_root(120, 0, jobs=args.jobs)
    result = extraction_benchmark(root, args.out, scans=args.scans, jobs=args.jobs, params_name=args.params)
    print(json.dumps(result, indent=2))
    return 0


def _training_options(p: argparse.ArgumentParser) -> None:
    _phantom_cohort(p)
    p.add_argument("--scans", type=int, default=60, help="T1W scans (default 60)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per timed run (default 12)")
    p.add_argument(
        "--trials",
        type=int,
        default=9,
        help="alternating suite/bare runs; the overhead is the median paired ratio (default 9)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="device of the input-path probe (augmentation speed-up, data-wait share): cpu or cuda (default cpu)",
    )
    p.add_argument("--size", type=int, default=256, help="input-path probe slice size in pixels (default 256)")
    p.add_argument("--batch", type=int, default=32, help="input-path probe batch size in slices (default 32)")
    p.add_argument("--steps", type=int, default=4, help="input-path probe training steps timed (default 4)")


@command("perf training", _training_options)
def training(args: argparse.Namespace) -> int:
    """deep training loop vs a bare torch loop on the same cached slices

    Measure the suite's deep-training overhead and the share of step time spent waiting for data.
    """
    from cirrbench.benchmark.execution.orchestrator import phantom_root
    from cirrbench.perf.speed import InputProbe, training_benchmark

    root = args.data or phantom_root(120, 0, jobs=2)
    probe = InputProbe(device=args.device, size=args.size, batch=args.batch, steps=args.steps)
    result = training_benchmark(root, args.out, scans=args.scans, epochs=args.epochs, trials=args.trials, probe=probe)
    print(json.dumps(result, indent=2))
    return 0


@command("perf scaling", _out_folder)
def scaling(args: argparse.Namespace) -> int:
    """time and peak memory of extraction and one deep epoch at ~60, 200, 600 scans

    Cost growth with cohort size (phantoms on small grids); fits the time exponent.
    """
    from cirrbench.perf.speed import scaling_benchmark

    print(json.dumps(scaling_benchmark(args.out), indent=2))
    return 0


def _kernels_options(p: argparse.ArgumentParser) -> None:
    _phantom_cohort(p)
    p.add_argument("--trials", type=int, default=3, help="alternating runs of each arm (default 3)")


@command("perf kernels", _kernels_options)
def kernels(args: argparse.Namespace) -> int:
    """what reproducible: bitwise costs against fast, and whether its bytes hold

    One small deep job in fresh processes, alternating: bitwise, bitwise with the kernel level
    lowered through the environment, and fast; writes kernels.json with the training seconds and
    prediction digests.
    """
    from cirrbench.benchmark.execution.orchestrator import phantom_root
    from cirrbench.perf.kernel_cost import kernels_benchmark

    root = args.data or phantom_root(120, 0, jobs=2)
    print(json.dumps(kernels_benchmark(root, args.out, trials=args.trials), indent=2))
    return 0


def _loop_options(p: argparse.ArgumentParser) -> None:
    _out_folder(p)
    p.add_argument("--profile", default="cpu", help="the profile timed (default cpu; loop_<profile>.json for others)")
    p.add_argument("--jobs", type=int, default=2, help="processes for the runs (default 2)")
    p.add_argument("--no-tests", action="store_true", help="leave out the test suite's time")


@command("perf loop", _loop_options)
def loop(args: argparse.Namespace) -> int:
    """cold run, warm rerun, report rebuild and test suite, as a user waits for them

    Each in a fresh process: the profile into an empty cache and results folder (cold), the same
    again (warm: the report is reused), `cirrbench report` (a full rebuild) and the test suite
    (pytest -n auto --dist loadgroup, as ./run_all.sh --test); writes loop.json with the machine.
    """
    from cirrbench.perf.loop import loop_benchmark

    print(json.dumps(loop_benchmark(args.out, args.profile, args.jobs, tests=not args.no_tests), indent=2))
    return 0
