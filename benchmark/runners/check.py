"""``check_runner``: does a runner obey the contract? (the suite's ``check_estimator``)

Runs the runner on a tiny cohort the way the harness does and checks what it returns. The test
suite applies it to every registered runner; runner authors can call it on their own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.model_selection import train_test_split

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.runners.contract import HIDDEN_LABEL, Predictions, RunContext, Runner, ScanSet

__all__ = ["check_runner"]


def _sets(cohort: Cohort, sequences: set[str]) -> tuple[ScanSet, ScanSet, ScanSet]:
    """A stratified 60/15/25 patient split (large training part: tiny cohorts stay usable)."""
    labels = {r.patient_id: r.label for r in cohort.records}
    patients = sorted(labels)
    y = [labels[p] for p in patients]
    rest, test = train_test_split(patients, test_size=0.25, stratify=y, random_state=0)
    train, valid = train_test_split(
        rest, test_size=max(len(set(y)), int(0.15 * len(patients))), stratify=[labels[p] for p in rest], random_state=0
    )
    roles = {**{p: "train" for p in train}, **{p: "valid" for p in valid}, **{p: "test" for p in test}}
    parts: dict[str, list] = {"train": [], "valid": [], "test": []}
    for r in cohort.records:
        if r.sequence in sequences:
            parts[roles[r.patient_id]].append(r)
    return tuple(ScanSet(tuple(parts[k]), cohort.labels) for k in ("train", "valid", "test"))  # type: ignore[return-value]


def check_runner(cls: type[Runner], cohort: Cohort, params: dict | None = None, tmp_cache=None) -> None:
    """Raise AssertionError (with the reason) unless ``cls`` obeys the runner contract on ``cohort``.

    Args:
        cls: the runner class.
        cohort: a small labelled cohort (a phantom) to fit and predict on.
        params: parameter overrides; default: the runner's ``smoke_params``.
        tmp_cache: a cache folder for the check (default: the usual cache).

    Returns:
        None when every check passes. The checks, each small (as scikit-learn's ``check_estimator``):
        every variant resolves to valid parameters; ``fit`` returns the runner and leaves its
        parameters unchanged; test labels arrive hidden; probabilities cover exactly the test scans
        and sum to one, over every class of the label set even when a class is absent from the
        training part; two fits with one seed give the same predictions (refitting is idempotent);
        the predictions for a subset of the test scans are the subset of the predictions.
    """
    params = dict(cls.smoke_params) if params is None else params
    assert isinstance(getattr(cls, "name", None), str) and cls.name, "a runner needs a string 'name'"
    assert dataclasses.is_dataclass(cls.Params), "Params must be a dataclass"
    for variant in cls.variant_names():
        cls.make_params(params, variant)  # every variant resolves to valid parameters
    sequence_sets = [{cohort.sequences[0]}]
    if "both" in cls.inputs and len(cohort.sequences) > 1:
        sequence_sets.append(set(cohort.sequences))
    for sequences in sequence_sets:
        train, valid, test = _sets(cohort, sequences)
        hidden = test.hide_labels()
        assert all(r.label == HIDDEN_LABEL for r in hidden), "test labels must be hidden"
        outputs = []
        for _ in range(2):
            context = RunContext(seed=1234, cache_dir=tmp_cache or RunContext.cache_dir)
            declared = cls.make_params(params)
            runner = cls(declared)
            fitted = runner.fit(train, valid, context)
            assert fitted is runner, "fit must return self"
            assert runner.params == declared, (
                "fit must not change the runner's parameters (store what it learns in attributes ending in _)"
            )
            predictions = runner.predict(hidden)
            assert isinstance(predictions, Predictions), "predict must return Predictions"
            predictions.validate(hidden)
            outputs.append(predictions.scan_probabilities.loc[hidden.scan_ids].to_numpy())
        assert np.allclose(outputs[0], outputs[1]), "two fits with the same seed must give the same predictions"
        # a patient's scans stay together: with both sequences, a scan's prediction may use its pair
        patients = sorted({r.patient_id for r in hidden})[: max(1, len({r.patient_id for r in hidden}) // 2)]
        subset = ScanSet(tuple(r for r in hidden.records if r.patient_id in patients), hidden.labels, has_labels=False)
        part = runner.predict(subset).scan_probabilities.loc[subset.scan_ids].to_numpy()
        full = dict(zip(hidden.scan_ids, outputs[1]))
        expected = np.stack([full[s] for s in subset.scan_ids])
        assert np.allclose(part, expected, atol=1e-5), (
            "predictions for a subset of the test patients must be the subset of the predictions"
        )
    _check_absent_class(cls, cohort, params, tmp_cache)


def _check_absent_class(cls: type[Runner], cohort: Cohort, params: dict, tmp_cache) -> None:
    """Probabilities for every class of the label set even when one is absent from training."""
    sequence = cohort.sequences[0]
    train, valid, test = _sets(cohort, {sequence})
    missing = train.labels.n_classes - 1  # the last class (severe) leaves the training part
    kept = tuple(r for r in train.records if r.label != missing)
    if len({r.label for r in kept}) < 2:
        return
    reduced = ScanSet(kept, train.labels)
    runner = cls(cls.make_params(params))
    runner.fit(
        reduced,
        ScanSet(tuple(r for r in valid.records if r.label != missing), valid.labels),
        RunContext(seed=7, cache_dir=tmp_cache or RunContext.cache_dir),
    )
    hidden = test.hide_labels()
    predictions = runner.predict(hidden)
    predictions.validate(hidden)  # every class column, rows summing to one
    assert list(predictions.scan_probabilities.columns) == list(train.labels.names), (
        "probabilities for every class of the label set, also one unseen in training"
    )
