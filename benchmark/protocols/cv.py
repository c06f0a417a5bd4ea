"""Repeated stratified K-fold over patients with an inner validation part."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import Split, SplitError, SplitSet, patient_labels
from cirrbench.benchmark.protocols.registry import ProtocolOption, register_protocol

__all__ = ["cv_splits"]


@register_protocol(
    "cv",
    description="repeated CV",
    order=2,
    seeded=True,
    options={
        "folds": ProtocolOption("int>=2", "an integer >= 2", 5, "folds per repeat"),
        "repeats": ProtocolOption("int>=1", "an integer >= 1", 3, "repeats with reshuffled folds"),
        "valid_fraction": ProtocolOption(
            "fraction",
            "a number in (0, 1)",
            0.15,
            "share of each training part held out for validation (early stopping, model choice)",
        ),
        "seed": ProtocolOption("int", "an integer", "the config's seed", "shuffling seed"),
    },
)
def cv_splits(
    cohort: Cohort, folds: int = 5, repeats: int = 3, valid_fraction: float = 0.15, seed: int = 0
) -> SplitSet:
    """Repeated stratified K-fold over patients; an inner validation part carved from each training part.

    Splitting patients (not scans) keeps a patient's T1W and T2W scans on the same side.
    """
    labels = patient_labels(cohort)
    patients = np.array(sorted(labels, key=natural_key))
    y = np.array([labels[p] for p in patients])
    if np.bincount(y).min() < folds:
        raise SplitError(f"cv needs at least {folds} patients per class; the smallest class has {np.bincount(y).min()}")
    splits = []
    for repeat in range(repeats):
        rng_seed = int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])
        outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=rng_seed % (2**31))
        for fold, (train_idx, test_idx) in enumerate(outer.split(patients, y)):
            n_valid = max(len(np.unique(y)), int(round(valid_fraction * len(train_idx))))
            train_p, valid_p = train_test_split(
                patients[train_idx], test_size=n_valid, stratify=y[train_idx], random_state=(rng_seed + fold) % (2**31)
            )
            roles = {
                **{p: "train" for p in train_p},
                **{p: "valid" for p in valid_p},
                **{p: "test" for p in patients[test_idx]},
            }
            splits.append(Split(f"cv-r{repeat}-f{fold}", "cv", roles, repeat=repeat, fold=fold))
    return SplitSet("cv", splits)
