"""A report rebuilt only when something it reads changed: the fast warm rerun.

A warm ``cirrbench run`` (every job finished, nothing changed) used to rebuild about 80 tables,
50 figures and the page: about a minute on a 2-core machine, for the same bytes. The report is a
pure function of (a) the prediction files of its jobs, (b) the report settings and provenance from
the manifest, (c) the code that draws it (the suite's sources and any plugin files) and (d) the
library versions. Their fingerprint, and the hash of every file the report wrote, are kept in
``<out>/.report.json``; a run whose fingerprint matches, with every recorded file present and
unchanged, reuses the report and says so. Any difference, including a table edited or deleted by
hand, rebuilds the report; the rebuild keeps each figure whose own key (:mod:`figure_cache`) is
unchanged, so a changed runner redraws only the figures it is in. ``cirrbench report`` always
redraws everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.hashing import content_hash, file_digest
from cirrbench.benchmark.common.provenance import package_versions
from cirrbench.benchmark.common.results_store import ResultsStore
from cirrbench.benchmark.reporting.table_format import Block, Table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "STATE_NAME",
    "Memo",
    "code_fingerprint",
    "fingerprint",
    "previous_figures",
    "read_state",
    "reusable",
    "save_state",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

STATE_NAME = ".report.json"
_STATE_VERSION = 1
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding benchmark/, baselines/, models/
_READ_FROM_JOBS = ("*.csv", "*.json", "*.npz")  # what the report reads of a job folder (not outputs/)


def _sources(plugins: list[str]) -> list[Path]:
    """The suite's Python sources and the plugin files a run loaded (their tables and figures)."""
    files = [p for folder in ("benchmark", "baselines", "models") for p in (_SOURCE_ROOT / folder).rglob("*.py")]
    files += [Path(p) for p in plugins if str(p).endswith(".py") and Path(p).is_file()]
    return sorted(set(files))


def code_fingerprint(settings: object) -> str:
    """The hash of the code that draws a report (the suite's and the run's plugin files) and the
    library versions: part of the report's fingerprint and of every figure's key."""
    digest = hashlib.sha256()
    digest.update(json.dumps(package_versions(), sort_keys=True).encode())
    plugins = list(((getattr(settings, "provenance", {}) or {}).get("experiment") or {}).get("plugins") or [])
    for path in _sources(plugins):
        digest.update(f"{path.relative_to(path.anchor)}:{file_digest(path)}".encode())
    return digest.hexdigest()


def fingerprint(out: Path, settings: DataclassInstance, code: str | None = None) -> str:
    """The hash of everything a report of ``out`` reads: jobs' files, settings, code, versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str).encode())
    digest.update((code or code_fingerprint(settings)).encode())
    store = ResultsStore(out)
    for key in sorted(getattr(settings, "job_keys", None) or []):
        folder = store.job_dir(key)
        for path in sorted(p for pattern in _READ_FROM_JOBS for p in folder.glob(pattern)):
            digest.update(f"{key}/{path.name}:{file_digest(path)}".encode())
    return digest.hexdigest()


def read_state(out: Path) -> dict:
    """What the previous build of ``out`` recorded ({} when none, or of another state version);
    read once per build, then handed to :func:`reusable`, :func:`previous_figures` and :meth:`Memo.of`."""
    try:
        state = json.loads((out / STATE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("version") == _STATE_VERSION else {}


def previous_figures(state: dict) -> dict[str, dict]:
    """The figures the previous build recorded (stem -> key and file hashes), for :class:`FigureCache`."""
    figures = state.get("figures")
    return figures if isinstance(figures, dict) else {}


@dataclass
class Memo:
    """Values an earlier build computed (per-split metrics, page images), by the content hash of
    their inputs and the code: a rebuild after one runner changed recomputes only that runner's.
    Only the values this build used are kept for the next one.

    Args:
        code: the fingerprint of the code and library versions (part of every key).
        previous: ``{kind: {key: value}}`` as the previous build saved it (JSON values).
    """

    code: str
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, state: dict, code: str) -> Memo:
        """The memo of a previous build's ``state`` (:func:`read_state`)."""
        memo = state.get("memo")
        return cls(code, memo if isinstance(memo, dict) else {})

    def value(self, kind: str, inputs: tuple, compute: Callable[[], T]) -> T:
        """``compute()``, or the value an earlier build computed from the same ``inputs``."""
        digest = content_hash(self.code, *inputs)
        if digest is None:
            return compute()
        kept = self.previous.get(kind, {}).get(digest)
        value = kept if kept is not None else compute()
        self.current.setdefault(kind, {})[digest] = value
        return value


def _table_from(record: dict) -> Table:
    blocks = [Block(**block) for block in record.pop("blocks")]
    groups = [tuple(group) for group in record.pop("groups")]
    return Table(**record, blocks=blocks, groups=groups)


def reusable(out: Path, key: str, state: dict) -> tuple[list[Table], list[Path], pd.DataFrame, list[str]] | None:
    """The report ``state`` recorded (:func:`read_state` of ``out``) when its fingerprint is ``key``
    and every file it wrote is still there, byte for byte; None otherwise (then it is rebuilt)."""
    if state.get("fingerprint") != key:
        return None
    files = [out / name for name in state["files"]]
    for file, digest in zip(files, state["files"].values()):
        if not file.is_file() or file_digest(file) != digest:
            log.info("%s changed since the last report: rebuilding it", file)
            return None
    summary_path = out / "metrics" / "summary.csv"
    summary = pd.read_csv(summary_path) if summary_path.is_file() else pd.DataFrame()
    return [_table_from(dict(t)) for t in state["tables"]], files, summary, list(state["verdict"])


def save_state(
    out: Path,
    key: str,
    tables: list[Table],
    files: list[Path],
    verdict: list[str],
    figures: dict[str, dict],
    memo: Memo | None = None,
) -> Path:
    """Record what a build wrote, each figure's key and the memoised values, for the next run."""
    state = {
        "version": _STATE_VERSION,
        "fingerprint": key,
        "figures": dict(sorted(figures.items())),
        "memo": memo.current if memo is not None else {},
        "files": {str(p.relative_to(out)): file_digest(p) for p in sorted(set(files))},
        "tables": [dataclasses.asdict(t) for t in tables],
        "verdict": verdict,
    }
    return atomic_write_text(out / STATE_NAME, json.dumps(state, indent=1))
