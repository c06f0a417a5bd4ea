"""Your own split CSV: patient_id,repeat,fold,role."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import SPLIT_COLUMNS, Split, SplitError, SplitSet
from cirrbench.benchmark.protocols.registry import ProtocolOption, register_protocol

__all__ = ["file_splits"]


@register_protocol(
    "file",
    description="split file",
    order=3,
    options={
        "path": ProtocolOption("file", "an existing CSV file", None, "split CSV with patient_id,repeat,fold,role")
    },
    required=("path",),
)
def file_splits(cohort: Cohort | None = None, path: str | Path = "") -> SplitSet:
    """A user's split CSV with columns ``patient_id,repeat,fold,role``."""
    path = Path(path)
    frame = pd.read_csv(path, dtype={"patient_id": str})
    missing = [c for c in SPLIT_COLUMNS if c not in frame.columns]
    if missing:
        raise SplitError(f"{path}: missing column(s) {missing}; expected {','.join(SPLIT_COLUMNS)}")
    splits = []
    for (repeat, fold), part in frame.groupby(["repeat", "fold"], sort=True):
        dupes = part["patient_id"][part["patient_id"].duplicated()].unique().tolist()
        if dupes:
            raise SplitError(
                f"{path}: repeat {repeat} fold {fold} lists patient(s) {dupes[:10]} more than once: a patient must have exactly one role"
            )
        roles = dict(zip(part["patient_id"].astype(str), part["role"].astype(str)))
        if cohort is not None:
            unknown = sorted(set(roles) - set(cohort.patients), key=natural_key)
            if unknown:
                raise SplitError(f"{path}: patient(s) {unknown[:10]} are not in the cohort")
        splits.append(Split(f"file-r{repeat}-f{fold}", "file", roles, repeat=int(repeat), fold=int(fold)))
    return SplitSet("file", splits)
