"""``cirrbench prune``: delete job folders that the results folder's current experiment no longer uses.

Job folders are keyed by runner, parameters, split, cohort and seed, so every config change leaves
the previous folders behind (reports already ignore them). Pruning keeps exactly the jobs listed
in ``manifest.json``, i.e. the last experiment run into that folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cirrbench.benchmark.common.results_store import WORK, ResultsStore

__all__ = ["prune", "PruneResult", "stale_job_folders"]


@dataclass(frozen=True)
class PruneResult:
    removed: list[Path]
    kept: int
    bytes_freed: int


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def stale_job_folders(out: str | Path) -> tuple[list[Path], int]:
    """(folders not in the manifest's job list, number of folders kept)."""
    store = ResultsStore(out)
    manifest = store.read_manifest()
    if manifest is None:
        raise FileNotFoundError(
            f"{store.manifest_path}: no manifest, so nothing says which jobs are current; run `cirrbench run CONFIG --out {out}` first"
        )
    keep = {entry["key"] for entry in manifest["jobs"]}
    folder = store.predictions_dir
    folders = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    stale = [p for p in folders if p.name.removeprefix(WORK) not in keep]  # a current job's work folder stays
    return stale, len(folders) - len(stale)


def prune(out: str | Path, dry_run: bool = False) -> PruneResult:
    stale, kept = stale_job_folders(out)
    freed = sum(_size(p) for p in stale)
    if not dry_run:
        for path in stale:
            shutil.rmtree(path)
        store = ResultsStore(out)
        manifest = store.read_manifest() or {}
        store.write_index([entry["key"] for entry in manifest.get("jobs", []) if entry.get("done")])
    return PruneResult(stale, kept, freed)
