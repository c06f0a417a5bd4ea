"""Two results folders, table cell by table cell: what changed, and whether a change lies within the
training-seed spread the reference run measured.

Every CSV table both folders hold is compared by row id and column. A cell is *equal* (the same
text), *within seed spread* (its estimate moved by no more than the range of the per-seed values
that the reference's ``seeds_<protocol>_<level>`` table gives for that method and input: main
tables of runs with ``seeds: N`` > 1), or *outside*. Cells only one folder has are listed as
*added* or *removed*. ``cirrbench compare`` prints and writes this; ``cirrbench reproduce
--check`` reruns a folder's config and runs it against the folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text

__all__ = ["CellChange", "RunComparison", "compare_runs", "machine_note", "seed_spreads"]

_NUMBER = re.compile(r"[+-]?\d+\.\d+")
_SEED_RANGE = re.compile(r"\(\d+ seeds, ([+-]?\d+\.\d+)-([+-]?\d+\.\d+)\)")


@dataclass(frozen=True)
class CellChange:
    table: str
    row: str
    column: str
    reference: str
    new: str
    status: str  # equal | within seed spread | outside | added | removed
    difference: float | None = None
    spread: float | None = None


def _cpu(folder: Path) -> str | None:
    """The CPU model a results folder's run recorded (its manifest's kernels), if any."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return (manifest.get("kernels") or {}).get("cpu_model") or None


def machine_note(reference: Path, new: Path) -> str | None:
    """Why deep rows may differ although nothing changed: the two runs ran on other CPU models.

    Measured on this project's machines (2026-12-05): the committed ``cpu`` profile run on an
    AMD EPYC and the same commit's run on an Intel Xeon, both pinned to AVX2 (``reproducible:
    bitwise``), gave identical reference and radiomics rows and different deep predictions.
    """
    a, b = _cpu(reference), _cpu(new)
    if a is None or b is None or a == b:
        return None
    return (
        f"the runs used different CPUs ({a} vs {b}): bitwise reproducibility of deep training holds on one CPU "
        "model; across CPU vendors deep predictions have been seen to differ (radiomics and reference rows did not)"
    )


@dataclass
class RunComparison:
    reference: Path
    new: Path
    cells: list[CellChange]

    @property
    def outside(self) -> list[CellChange]:
        return [c for c in self.cells if c.status in ("outside", "added", "removed")]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.status] = counts.get(cell.status, 0) + 1
        return counts

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.__dict__ for c in self.cells])

    def summary(self, limit: int = 30) -> str:
        counts = self.counts()
        lines = [
            f"{self.new} against {self.reference}: {len(self.cells)} table cells; "
            + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        ]
        if note := machine_note(self.reference, self.new):
            lines.append(f"  note: {note}")
        for cell in [c for c in self.cells if c.status != "equal"][:limit]:
            moved = f" (Δ {cell.difference:+.3f}" if cell.difference is not None else " ("
            moved += f", seed spread {cell.spread:.3f})" if cell.spread is not None else ")"
            lines.append(
                f"  {cell.status:18s} {cell.table} | {cell.row} | {cell.column}: {cell.reference!r} -> {cell.new!r}{moved}"
            )
        hidden = sum(1 for c in self.cells if c.status != "equal") - limit
        if hidden > 0:
            lines.append(f"  ... and {hidden} more (the CSV lists every cell)")
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        return atomic_write_text(path, self.frame().to_csv(index=False))


def _first_number(cell: str) -> float | None:
    match = _NUMBER.search(cell)
    return float(match.group()) if match else None


def _input_of(column: str) -> str:
    """``T1W (n = 110)`` -> ``T1W``: a table column's input, matched to the seeds table's columns."""
    return column.split(" (")[0].strip()


def seed_spreads(tables: Path) -> dict[tuple[str, str], float]:
    """(main table name, row id, input) -> the range (max - min) of the per-seed values, from the
    folder's seeds tables; keyed ``("main_<protocol>_<level>", id, input)``."""
    spreads: dict[tuple[str, str], float] = {}
    for path in sorted(tables.glob("seeds_*.csv")):
        frame = pd.read_csv(path, dtype=str).fillna("")
        main = "main_" + path.stem.removeprefix("seeds_")
        for _, row in frame.iterrows():
            for column in frame.columns[3:]:
                match = _SEED_RANGE.search(row[column])
                if match:
                    low, high = float(match.group(1)), float(match.group(2))
                    spreads[(main, f"{row['id']}|{_input_of(column)}")] = high - low
    return spreads


def _cells(path: Path) -> dict[tuple[str, str], str]:
    frame = pd.read_csv(path, dtype=str).fillna("")
    key = "id" if "id" in frame.columns else frame.columns[0]
    cells = {}
    for index, row in frame.iterrows():
        row_id = f"{row.get('kind', '')}:{row[key]}" if "kind" in frame.columns else str(row[key] or index)
        for column in frame.columns:
            if column in ("kind", key):
                continue
            cells[(row_id, column)] = row[column]
    return cells


def compare_runs(reference: Path, new: Path) -> RunComparison:
    """Every CSV table cell of ``new`` against ``reference`` (both results folders)."""
    reference, new = Path(reference), Path(new)
    spreads = seed_spreads(reference / "tables")
    changes: list[CellChange] = []
    names = sorted(
        {p.name for p in (reference / "tables").glob("*.csv")} | {p.name for p in (new / "tables").glob("*.csv")}
    )
    for name in names:
        table = name.removesuffix(".csv")
        old_path, new_path = reference / "tables" / name, new / "tables" / name
        old = _cells(old_path) if old_path.is_file() else {}
        now = _cells(new_path) if new_path.is_file() else {}
        for key in sorted(set(old) | set(now)):
            row, column = key
            if key not in now:
                changes.append(CellChange(table, row, column, old[key], "", "removed"))
                continue
            if key not in old:
                changes.append(CellChange(table, row, column, "", now[key], "added"))
                continue
            if old[key] == now[key]:
                changes.append(CellChange(table, row, column, old[key], now[key], "equal"))
                continue
            a, b = _first_number(old[key]), _first_number(now[key])
            difference = None if a is None or b is None else b - a
            spread = spreads.get((table, f"{row.split(':', 1)[-1]}|{_input_of(column)}"))
            within = difference is not None and spread is not None and abs(difference) <= spread + 1e-12
            status = "within seed spread" if within else "outside"
            changes.append(CellChange(table, row, column, old[key], now[key], status, difference, spread))
    return RunComparison(reference, new, changes)
