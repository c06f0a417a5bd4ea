"""The dataset's own train / valid / test folders, one split per sequence."""

from __future__ import annotations

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import Split, SplitError, SplitSet
from cirrbench.benchmark.protocols.registry import register_protocol

__all__ = ["official_splits"]


@register_protocol("official", description="official split", order=0)
def official_splits(cohort: Cohort) -> SplitSet:
    """The dataset's own folders, one split per sequence (they differ per patient between T1 and T2)."""
    splits = []
    for sequence in cohort.sequences:
        roles = {r.patient_id: r.official_split for r in cohort.records if r.sequence == sequence and r.official_split}
        if not roles:
            raise SplitError(
                f"no official split for {sequence}: the cohort has no train/valid/test assignment (manifest without a split column?)"
            )
        splits.append(Split(f"official-{sequence}", "official", roles, sequences=(sequence,)))
    return SplitSet("official", splits)
