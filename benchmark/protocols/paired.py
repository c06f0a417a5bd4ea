"""The seed paper's released-code protocol: patients with both sequences, one split."""

from __future__ import annotations

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import Split, SplitError, SplitSet
from cirrbench.benchmark.protocols.registry import ProtocolOption, register_protocol

__all__ = ["paired_splits"]


@register_protocol(
    "paired",
    description="paired split (seed paper)",
    order=1,
    options={
        "source_sequence": ProtocolOption(
            "sequence", "T1W or T2W", "T2W", "whose official folders give the patient-level split"
        )
    },
)
def paired_splits(cohort: Cohort, source_sequence: str = "T2W") -> SplitSet:
    """The seed paper's protocol: patients with both sequences, one split taken from the T2 folders."""
    paired = set(cohort.paired_patients())
    if not paired:
        raise SplitError("the paired protocol needs patients with both sequences; this cohort has none")
    roles = {
        r.patient_id: r.official_split
        for r in cohort.records
        if r.sequence == source_sequence and r.patient_id in paired and r.official_split
    }
    return SplitSet("paired", [Split("paired", "paired", roles)])
