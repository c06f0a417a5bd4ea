"""The runner contract: declared parameters, named variants, fit on train (+valid), predict on test.

A runner is one class in one file, registered with :func:`register_runner` (or through the
``cirrbench.runners`` entry-point group from another package). It never sees split files, test
labels or tables: the harness hands it :class:`ScanSet` objects and turns what ``predict``
returns into prediction files, metrics and tables.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cirrbench.benchmark.data.cohort import ScanRecord
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.runners.params import check_param_values

__all__ = ["HIDDEN_LABEL", "NoParams", "ParamsError", "Predictions", "RunContext", "Runner", "ScanSet"]

HIDDEN_LABEL = -1


class ParamsError(ValueError):
    """Parameter values a runner cannot use; one line per problem (type, range, choices)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ScanSet:
    """The scans a runner may look at, with the cohort's label set. Test sets carry no labels."""

    records: tuple[ScanRecord, ...]
    labels: LabelSet
    has_labels: bool = True
    features: pd.DataFrame | None = field(default=None, compare=False, repr=False)  # feature-table cohorts only

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def y(self) -> np.ndarray:
        if not self.has_labels:
            raise PermissionError("test labels are hidden from runners")
        return np.array([r.label for r in self.records], dtype=int)

    @property
    def class_frequencies(self) -> np.ndarray:
        """Share of scans per declared class (zero for a class with no scan): the priors of chance rows."""
        return np.bincount(self.y, minlength=self.labels.n_classes) / len(self)

    @property
    def scan_ids(self) -> list[str]:
        return [r.scan_id for r in self.records]

    @property
    def sequences(self) -> tuple[str, ...]:
        return tuple(sorted({r.sequence for r in self.records}))

    @property
    def groups(self) -> np.ndarray:
        """Patient ids, for patient-grouped inner cross-validation."""
        return np.array([r.patient_id for r in self.records])

    def hide_labels(self) -> ScanSet:
        hidden = tuple(replace(r, label=HIDDEN_LABEL, label_name="") for r in self.records)
        return ScanSet(hidden, self.labels, has_labels=False, features=self.features)


@dataclass
class Predictions:
    """Per-scan class probabilities (rows sum to 1), optionally per-slice ones too.

    ``scan_probabilities`` has one row per test scan, indexed by scan id, one column per class in
    label-set order. ``slice_probabilities``, where given, has columns ``scan_id``, ``slice`` and
    the same class columns.
    """

    scan_probabilities: pd.DataFrame
    slice_probabilities: pd.DataFrame | None = None
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)  # written as extra_<name>.csv next to the predictions
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # written together as arrays.npz (e.g. attention maps)
    #: Held-out probabilities on labelled scans the runner learned from (out-of-fold predictions of
    #: an inner cross-validation), same columns as ``scan_probabilities``. A runner that trains on
    #: the validation part returns these so the harness can choose among methods without test data.
    held_out: pd.DataFrame | None = None
    #: Files kept with the job under ``outputs/`` (relative names, e.g. ``best_weights.pt``).
    files: dict[str, bytes] = field(default_factory=dict)

    def validate(self, test: ScanSet) -> None:
        probs = self.scan_probabilities
        names = list(test.labels.names)
        if list(probs.columns) != names:
            raise ValueError(f"prediction columns {list(probs.columns)} must be the class names {names} in order")
        missing = set(test.scan_ids) - set(probs.index)
        extra = set(probs.index) - set(test.scan_ids)
        if missing or extra:
            raise ValueError(
                f"predictions must cover exactly the test scans (missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]})"
            )
        values = probs.to_numpy(dtype=float)
        rows = list(probs.index)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"probabilities must be finite: NaN or infinite for {int((~finite).sum())} scan(s), e.g. {rows[int(np.argmin(finite))]!r}"
            )
        if (values < -1e-9).any():
            raise ValueError(
                f"probabilities must be non-negative: {values.min():.3g} for scan {rows[int(np.argmin(values.min(axis=1)))]!r}"
            )
        sums = values.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-5):
            worst = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(
                f"probabilities must sum to 1 per scan: {sums[worst]:.3g} for scan {rows[worst]!r} (apply a softmax, or divide by the row sum)"
            )
        for name in self.extras:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"extra output name {name!r} must be alphanumeric with underscores")
        for name in self.files:
            parts = name.split("/")
            if any(
                not part or part in (".", "..") or not part.replace("_", "").replace("-", "").replace(".", "").isalnum()
                for part in parts
            ):
                raise ValueError(
                    f"kept file name {name!r} must be a relative path of alphanumeric, '_', '-', '.' parts"
                )
        if self.held_out is not None:
            if list(self.held_out.columns) != names:
                raise ValueError(
                    f"held-out prediction columns {list(self.held_out.columns)} must be the class names {names} in order"
                )
            held = self.held_out.to_numpy(dtype=float)
            if not np.all(np.isfinite(held)) or not np.allclose(held.sum(axis=1), 1.0, atol=1e-5):
                raise ValueError("held-out probabilities must be finite and sum to 1 per scan")
        if self.slice_probabilities is not None:
            cols = list(self.slice_probabilities.columns)
            if cols[:2] != ["scan_id", "slice"] or cols[2:] != names:
                raise ValueError(f"slice predictions need columns scan_id, slice, {', '.join(names)}")

    @classmethod
    def from_array(cls, scan_ids: Iterable[str], probabilities: np.ndarray, labels: LabelSet) -> Predictions:
        frame = pd.DataFrame(np.asarray(probabilities, dtype=float), index=list(scan_ids), columns=list(labels.names))
        frame.index.name = "scan_id"
        return cls(frame)


@dataclass
class RunContext:
    """What the harness gives a runner for one job."""

    seed: int
    device: str = "cpu"
    cache_dir: Path = Path(".cache")
    threads: int = 1
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("cirrbench.runner"))
    progress: Callable[..., Any] | None = None  # tqdm-like factory; None: no progress bars
    show_progress: bool = False
    executor: Any = None  # for prepare(): where to fan out per-scan work (local processes or Dask)

    @property
    def cluster(self) -> Any:
        """The executor when it spans machines (Dask: features are extracted on its workers), else None."""
        return self.executor if getattr(self.executor, "distributed", False) else None

    #: The perturbations a runner that measures feature robustness applies to its training scans
    #: (``cirrbench.benchmark.data.perturbed_scans.perturbed_record``); empty for other runners.
    perturbations: tuple = ()

    #: A folder of this job that survives a failed or killed attempt (checkpoints, logs that grow
    #: during training); None when the harness gives none (e.g. a direct ``fit`` call).
    work_dir: Path | None = None

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def bar(self, iterable=None, **kwargs):
        """A progress bar over ``iterable`` (silent unless the harness enabled them)."""
        from tqdm.auto import tqdm

        factory = self.progress or tqdm
        return factory(iterable, disable=not self.show_progress, leave=False, **kwargs)


@dataclass(frozen=True)
class NoParams:
    """For runners without parameters."""


class Runner(ABC):
    """Base class of every method compared by the benchmark.

    Subclasses set ``name``, ``Params`` (a dataclass of declared parameters with defaults),
    optionally ``variants`` (variant name -> parameter overrides, for ablations; the variant
    ``default`` always exists) and ``sequences`` ("single" or "single+both": whether the runner can
    take T1W and T2W scans of the same patients together).
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    variants: ClassVar[dict[str, dict[str, Any]]] = {}
    inputs: ClassVar[str] = "single"
    description: ClassVar[str] = ""
    #: Parameter overrides that make a run on a tiny cohort take seconds (contract checks, smoke tests).
    smoke_params: ClassVar[dict[str, Any]] = {}
    family: ClassVar[str] = "other"  # reference | radiomics | foundation | deep | other: groups rows in tables
    #: The row name tables and figures show ("VGG-19", "XGBoost (radiomics)"); CSV files keep ``name``.
    display_name: ClassVar[str] = ""
    #: Bump when a change to the code alters predictions for the same parameters: finished jobs of
    #: the old version are then rerun instead of silently reused (it enters the job key).
    version: ClassVar[str] = ""
    #: Whether the runner reads images (a feature-table cohort has none): checked before any job.
    needs_images: ClassVar[bool] = False
    #: Whether the runner reads the images where the cohort has them (radiomics also runs on a
    #: feature table): robustness jobs perturb the test scans of such runners and of those that need images.
    reads_images: ClassVar[bool] = False
    #: Whether the runner's results depend on torch's float kernels (deep runners): its jobs then
    #: carry the config's ``reproducible`` mode in their keys and run with the kernels it pins.
    torch_kernels: ClassVar[bool] = False
    #: Whether the runner computes on ``RunContext.device``. Only for such runners does a run
    #: resolve ``device: auto`` (which imports torch to look for a GPU); the others (references,
    #: radiomics learners) get "cpu", so a run of only them never imports torch.
    uses_device: ClassVar[bool] = True
    #: What ``fit`` does with the validation part, stated for the reader and the harness:
    #: "unused"; "early-stopping" (model selection during training: deep runners); "training"
    #: (fitted on train + valid, tuned by inner CV: radiomics runners; such a runner returns
    #: ``Predictions.held_out`` for model choice, since its validation predictions are in-sample).
    uses_validation: ClassVar[str] = "unused"

    @classmethod
    def sees_images(cls) -> bool:
        """Whether perturbing the images or masks can change this runner's predictions."""
        return cls.needs_images or cls.reads_images

    @classmethod
    def uses_perturbations(cls, params: Any) -> bool:
        """Whether ``fit`` perturbs its training scans with ``RunContext.perturbations`` (they then
        enter the job's key); a robustness job's test perturbations need no such declaration."""
        return False

    @classmethod
    def check_cohort(cls, params: Any, cohort: Any) -> list[str]:
        """Optional: problems that make this runner unusable on ``cohort`` with ``params`` (nominal
        labels for an ordinal learner, no sites for harmonisation), reported before any job."""
        return []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "sequences" in cls.__dict__ and "inputs" not in cls.__dict__:  # a runner written before the rename
            cls.inputs = cls.__dict__["sequences"]

    @classmethod
    def shown_as(cls, params: Any = None) -> str:
        """The row name in tables: the display name, with what the parameters make worth saying
        (e.g. "VGG-19 (ImageNet-pretrained)"; see :meth:`qualifier`)."""
        name = cls.display_name or cls.name
        note = cls.qualifier(params) if params is not None else ""
        return f"{name} ({note})" if note else name

    @classmethod
    def training_cost(cls, params: Any, train: ScanSet, valid: ScanSet, test: ScanSet) -> float | None:
        """Work of one job in slice visits at ``params.size`` pixels (one forward and backward pass
        of one slice; an inference pass counts a third), for ``cirrbench reproduce --dry-run``'s
        estimate; None when the runner's cost is not measured in slices (radiomics, references)."""
        return None

    @classmethod
    def qualifier(cls, params: Any) -> str:
        """A few words a reader must see next to the row name (none by default)."""
        return ""

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def make_params(cls, overrides: dict[str, Any] | None = None, variant: str = "default") -> Any:
        """Defaults, then the variant's overrides, then the user's; unknown names are an error."""
        if variant != "default" and variant not in cls.variants:
            raise KeyError(
                f"runner {cls.name!r} has no variant {variant!r}; variants: default, {', '.join(cls.variants)}"
            )
        merged = {**cls.variants.get(variant, {}), **(overrides or {})}
        known = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise TypeError(f"runner {cls.name!r} has no parameter(s) {unknown}; parameters: {sorted(known)}")
        problems = check_param_values(cls.Params, merged)
        if problems:
            raise ParamsError(problems)
        params = cls.Params(**merged)
        cls.check_params(params)
        return params

    @classmethod
    def check_params(cls, params: Any) -> None:
        """Optional: raise ValueError for parameter values this runner cannot use, so a config
        fails when it is read rather than job by job."""
        return None

    @classmethod
    def variant_names(cls) -> list[str]:
        return ["default", *[v for v in cls.variants if v != "default"]]

    @classmethod
    def prepare(cls, scans: ScanSet, params: Any, context: RunContext) -> None:
        """Optional: label-free work shared by all jobs (feature extraction, slice caches).

        Called once per parameter set before the jobs run, with every scan of the cohort and no
        labels, with ``context.threads`` processes available. Jobs must not depend on it having
        run: it only warms caches.
        """
        return None

    @abstractmethod
    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> Runner:
        """Learn from ``train`` (and ``valid``, as ``uses_validation`` states); never from test."""

    @abstractmethod
    def predict(self, test: ScanSet) -> Predictions:
        """Probabilities for every scan of ``test`` (whose labels are hidden)."""
