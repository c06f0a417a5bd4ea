"""Label sets: which classes a cohort has, in which order, and whether the order means something.

The default is the three CirrMRI600+ stages. A manifest cohort may bring its own set; ordinal
metrics (quadratic weighted kappa, stage MAE) are only computed for ordinal sets.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSet:
    """Ordered class names; ``ordinal`` says whether neighbouring classes are closer than far ones."""

    names: tuple[str, ...]
    ordinal: bool = False

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise ValueError(f"a label set needs at least two classes, got {self.names!r}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate class names in {self.names!r}")

    @property
    def n_classes(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown label {name!r}; expected one of {', '.join(self.names)}") from None

    def name(self, index: int) -> str:
        return self.names[index]

    def to_dict(self) -> dict:
        return {"names": list(self.names), "ordinal": self.ordinal}


#: CirrMRI600+ "Radiological Evaluation" codes 1, 2, 3 map to indices 0, 1, 2.
CIRRHOSIS_STAGES = LabelSet(("mild", "moderate", "severe"), ordinal=True)

#: Used only when healthy volunteers are explicitly included: they sit below "mild".
STAGES_WITH_HEALTHY = LabelSet(("healthy", "mild", "moderate", "severe"), ordinal=True)
