"""Label sets: which classes a cohort has, in which order, and whether the order means something.

The default is the three CirrMRI600+ stages. A manifest cohort may bring its own set; ordinal
metrics (quadratic weighted kappa, stage MAE) are only computed for ordinal sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CIRRHOSIS_STAGES", "LabelIssue", "LabelSet", "resolve_labels", "STAGES_WITH_HEALTHY"]


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


def _key(value: str) -> str:
    return " ".join(str(value).split()).casefold()


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class LabelIssue:
    """A label problem: what is wrong and the (1-based CSV) lines where it occurs."""

    message: str
    lines: tuple[int, ...]

    def where(self) -> str:
        shown = ", ".join(map(str, self.lines[:6])) + (f" (+{len(self.lines) - 6} more)" if len(self.lines) > 6 else "")
        return f"line{'s' if len(self.lines) > 1 else ''} {shown}"


def resolve_labels(
    values: list[str],
    lines: list[int],
    declared: Sequence[str] | None = None,
    ordinal: bool | None = None,
) -> tuple[LabelSet | None, list[int | None], list[LabelIssue]]:
    """The label set of a manifest or feature table and each row's class index.

    Class names are compared case- and whitespace-insensitively (``Mild``, ``mild `` and ``MILD``
    are one class), so spelling never creates a class. Without ``declared`` names: a subset of
    mild/moderate/severe gives the ordinal cirrhosis stages; stage names mixed with other values,
    or numeric labels (1/2/3), are errors (their meaning must be declared); any other set is
    nominal, in sorted order. With ``declared`` names, their order is the class order and every
    value must be one of them.

    Returns:
        (label set or None when unusable, class index per row or None, issues naming the lines).
    """
    issues: list[LabelIssue] = []
    keys = [_key(v) for v in values]
    empty = [line for line, k in zip(lines, keys) if not k]
    if empty:
        issues.append(LabelIssue("empty label", tuple(empty)))
    present: dict[str, list[int]] = {}
    for line, k in zip(lines, keys):
        if k:
            present.setdefault(k, []).append(line)
    if declared is not None:
        names = tuple(" ".join(str(d).split()) for d in declared)
        declared_keys = [_key(n) for n in names]
        if len(set(declared_keys)) != len(declared_keys) or len(names) < 2:
            issues.append(LabelIssue(f"declared labels {list(names)} must be at least two distinct names", ()))
            return None, [None] * len(values), issues
        for k, where in present.items():
            if k not in declared_keys:
                issues.append(
                    LabelIssue(
                        f"label {values[lines.index(where[0])].strip()!r} is not one of the declared labels {list(names)}",
                        tuple(where),
                    )
                )
        are_stages = list(declared_keys) == [_key(n) for n in CIRRHOSIS_STAGES.names]
        label_set = LabelSet(names, ordinal=are_stages if ordinal is None else bool(ordinal))
    else:
        stage_keys = [_key(n) for n in CIRRHOSIS_STAGES.names]
        stages = [k for k in present if k in stage_keys]
        others = [k for k in present if k not in stage_keys]
        if stages and others:
            shown = "; ".join(
                f"{values[lines.index(present[k][0])].strip()!r} ({LabelIssue('', tuple(present[k])).where()})"
                for k in others
            )
            issues.append(
                LabelIssue(
                    f"labels mix the cirrhosis stages (mild, moderate, severe) with other values: {shown}; fix them, or declare the label set (--labels, data: {{labels: [...]}})",
                    tuple(line for k in others for line in present[k]),
                )
            )
            return None, [None] * len(values), issues
        if others and all(_looks_numeric(k) for k in others):
            issues.append(
                LabelIssue(
                    f"numeric labels {sorted(others)} need a declared meaning: pass --labels {','.join(sorted(others))} (and --ordinal if ordered), or data: {{labels: [...]}} in the config; CirrMRI600+ codes 1, 2, 3 are mild, moderate, severe",
                    tuple(line for k in others for line in present[k]),
                )
            )
            return None, [None] * len(values), issues
        if not others:
            label_set = CIRRHOSIS_STAGES if ordinal is None else LabelSet(CIRRHOSIS_STAGES.names, bool(ordinal))
        else:
            spelled = {k: " ".join(values[lines.index(present[k][0])].split()) for k in others}
            label_set = LabelSet(tuple(spelled[k] for k in sorted(others)), ordinal=bool(ordinal))
    index = {_key(n): i for i, n in enumerate(label_set.names)}
    classes = [index.get(k) if k else None for k in keys]
    return label_set, classes, issues
