"""What made an output: package versions, git commit, machine."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["git_commit", "machine", "package_versions", "PACKAGES"]

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


def git_commit(cwd: Path | None = None) -> str | None:
    folder = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, str | int | None]:
    import os

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
