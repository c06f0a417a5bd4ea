"""Learning curves: the same outer CV splits, each training part cut to nested, stratified shares.

Within every outer split (repeated stratified K-fold over patients, its validation part carved as
``cv`` does) the training patients are put in a seeded order per stage; the share ``f`` keeps the
first ``ceil(f x n)`` of each stage, so every smaller training set lies inside every larger one,
the stage mix stays that of the cohort, and the validation and test patients are the same for
every share. One split per (outer split, share): every runner sees exactly the same subsets, and
the report draws each method's metric against the number of training patients.
"""

from __future__ import annotations

import math

import numpy as np

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import Split, SplitError, SplitSet, patient_labels
from cirrbench.benchmark.protocols.cv import cv_splits
from cirrbench.benchmark.protocols.registry import ProtocolOption, register_protocol

__all__ = ["learning_curve_splits", "nested_shares"]

FRACTIONS_TEXT = "a non-empty list of numbers in (0, 1]"


def nested_shares(
    patients: list[str], labels: dict[str, int], fractions: list[float], seed: int
) -> dict[float, list[str]]:
    """Per share, the patients kept: a seeded order per stage, cut at ``ceil(share x n)``."""
    rng = np.random.default_rng(seed)
    by_stage: dict[int, list[str]] = {}
    for patient in sorted(patients, key=natural_key):
        by_stage.setdefault(labels[patient], []).append(patient)
    order = {stage: [members[i] for i in rng.permutation(len(members))] for stage, members in sorted(by_stage.items())}
    return {
        share: sorted(
            (p for members in order.values() for p in members[: max(1, math.ceil(share * len(members)))]),
            key=natural_key,
        )
        for share in fractions
    }


def _checked(fractions: object) -> list[float]:
    if not isinstance(fractions, (list, tuple)) or not fractions:
        raise SplitError(f"learning-curve: fractions {fractions!r} is not {FRACTIONS_TEXT}")
    values = []
    for value in fractions:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise SplitError(f"learning-curve: fraction {value!r} is not a number in (0, 1]")
        values.append(float(value))
    return sorted(set(values))


@register_protocol(
    "learning-curve",
    description="learning curve",
    order=4,
    seeded=True,
    options={
        "fractions": ProtocolOption(
            "fractions", FRACTIONS_TEXT, "[0.25, 0.5, 1.0]", "shares of each outer training part, nested"
        ),
        "folds": ProtocolOption("int>=2", "an integer >= 2", 3, "outer folds per repeat"),
        "repeats": ProtocolOption("int>=1", "an integer >= 1", 1, "repeats with reshuffled folds"),
        "valid_fraction": ProtocolOption(
            "fraction", "a number in (0, 1)", 0.15, "share of each outer training part held out for validation"
        ),
        "seed": ProtocolOption("int", "an integer", "the config's seed", "shuffling and subsampling seed"),
    },
)
def learning_curve_splits(
    cohort: Cohort,
    fractions: list[float] | tuple[float, ...] = (0.25, 0.5, 1.0),
    folds: int = 3,
    repeats: int = 1,
    valid_fraction: float = 0.15,
    seed: int = 0,
) -> SplitSet:
    """One split per outer CV split and share; split ids ``lc-r<repeat>-f<fold>-<share>``."""
    shares = _checked(fractions)
    labels = patient_labels(cohort)
    splits = []
    for outer in cv_splits(cohort, folds=folds, repeats=repeats, valid_fraction=valid_fraction, seed=seed):
        subsample_seed = int(np.random.SeedSequence([seed, outer.repeat, outer.fold, 1]).generate_state(1)[0])
        kept = nested_shares(outer.patients("train"), labels, shares, subsample_seed)
        others = {p: role for p, role in outer.roles.items() if role != "train"}
        for share in shares:
            roles = {**{p: "train" for p in kept[share]}, **others}
            split_id = f"lc-r{outer.repeat}-f{outer.fold}-{share:g}"
            splits.append(Split(split_id, "learning-curve", roles, outer.repeat, outer.fold, fraction=share))
    return SplitSet("learning-curve", splits)
