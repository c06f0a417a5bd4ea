"""What made an output: package versions, git commit, machine."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["CODE_PATHS", "cpu_model", "git_commit", "machine", "package_versions", "PACKAGES"]

PACKAGES = (
    "cirrbench",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "SimpleITK",
    "nibabel",
    "pyradiomics",
    "xgboost-cpu",
    "xgboost",
    "torch",
    "monai",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


#: What makes the numbers: a change here (uncommitted) marks the commit ``-dirty``; README, docs and
#: results/ do not.
CODE_PATHS = (":(top)benchmark", ":(top)baselines", ":(top)models", ":(top)cirrbench", ":(top)pyproject.toml")


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit the code came from, ``-dirty`` when the code differs from it."""
    folder = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(  # only the code counts: a run rewriting a tracked results/ is not "dirty"
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), which decides float kernels and speed."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str | int | None]:
    import os

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
