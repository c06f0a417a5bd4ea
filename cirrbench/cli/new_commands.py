"""``cirrbench new runner``: the files of a new runner, ready to run and to test.

As benchopt's solver template, the quickest correct start is a working file: a runner of the
chosen family (a radiomics-style model on liver intensity statistics, or a small CNN on the
largest liver slice), a config that compares it with the chance row and a radiomics baseline on
identical splits, and a test that passes ``check_runner``. Nothing is overwritten.
"""

from __future__ import annotations

import argparse
import keyword
from importlib import resources
from pathlib import Path
from string import Template

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.paths import name_problem
from cirrbench.cli.registry import UsageError, command, group

__all__ = ["runner_files"]

group("new", "start a new runner from a template (runner file, config, contract test)", __doc__ or "")

FAMILIES = ("radiomics", "deep")


def runner_files(name: str, family: str) -> dict[str, str]:
    """File name -> text of a new runner ``name`` of ``family`` (its ``.py``, ``.yaml`` and test)."""
    stem = name.replace("-", "_")
    class_name = "".join(part.capitalize() for part in stem.split("_") if part) + "Runner"
    values = {
        "name": name,
        "stem": stem,
        "class_name": class_name,
        "display": " ".join(part.capitalize() for part in name.replace("_", "-").split("-") if part) + f" ({family})",
    }
    templates = resources.files(__package__ or __name__).joinpath("templates")

    def fill(template: str) -> str:
        return Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(values)

    return {
        f"{stem}.py": fill(f"runner_{family}.py.txt"),
        f"{stem}.yaml": fill("runner_config.yaml.txt"),
        f"test_{stem}.py": fill("runner_test.py.txt"),
    }


def _new_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the runner's name, e.g. my-texture (letters, digits, - and _; used in configs)")
    p.add_argument(
        "--family",
        choices=FAMILIES,
        default="radiomics",
        help="radiomics: a model on liver intensity statistics (default); deep: a small CNN on the largest liver slice",
    )
    p.add_argument("--dir", type=Path, default=Path("."), help="folder to write into (default: the current one)")


@command("new runner", _new_runner_options)
def new_runner(args: argparse.Namespace) -> int:
    """write a new runner, its config and a contract test from a template

    Write NAME's runner file (NAME with - as _ .py), a config comparing it with the chance row and
    a radiomics baseline (.yaml, runs on the phantom in seconds) and a pytest file that checks the
    runner contract (test_*.py) into --dir. Existing files are never overwritten.
    """
    problem = name_problem(args.name)
    stem = args.name.replace("-", "_")
    if problem:
        raise UsageError(f"runner name {problem}")
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise UsageError(
            f"runner name {args.name!r} must give a Python module name ({stem!r} is not one); start with a letter"
        )
    files = runner_files(args.name, args.family)
    taken = [name for name in files if (args.dir / name).exists()]
    if taken:
        raise UsageError(f"{args.dir / taken[0]} exists; choose another name or --dir (nothing was written)")
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        print(f"wrote {atomic_write_text(args.dir / name, text)}")
    folder = args.dir
    print(
        f"next: python -m pytest {folder / f'test_{stem}.py'}   (the contract check)\n"
        f"      cirrbench run {folder / f'{stem}.yaml'} --out results-{args.name}   (it against the baselines)"
    )
    return 0
