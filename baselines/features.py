"""PyRadiomics feature extraction: parameter files, per-scan content cache, parallel over scans.

The cache key of a scan is the SHA-256 of the image file, of the mask file, of the effective
parameters and the PyRadiomics version: a rerun extracts nothing, and changing any of them
invalidates exactly what it should. Scans are extracted in separate processes (SimpleITK limited
to one thread in each, so processes do not oversubscribe the cores).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cirrbench.benchmark.common.atomic import read_cache_entry, write_cache_entry
from cirrbench.benchmark.common.hashing import memo_digest
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.data.cohort import ScanRecord

__all__ = [
    "extract_features",
    "extract_one",
    "feature_table_frame",
    "FeatureFailure",
    "FeatureResult",
    "load_params",
    "params_digest",
    "PARAMS_DIR",
    "pyradiomics_version",
    "quiet_radiomics",
    "resolve_params_file",
    "scan_key",
    "shipped_params",
]

PARAMS_DIR = Path(__file__).parent / "params"
log = logging.getLogger("cirrbench.features")


def shipped_params() -> list[str]:
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def resolve_params_file(name_or_file: str | Path) -> Path:
    """A shipped name (``default``, ``mri``) or a path to the user's own parameter file."""
    candidate = Path(name_or_file).expanduser()
    if candidate.is_file():
        return candidate
    shipped = PARAMS_DIR / f"{name_or_file}.yaml"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"{name_or_file}: no such parameter file (shipped: {', '.join(shipped_params())})")


def load_params(
    name_or_file: str | Path, spacing: Sequence[float] | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The effective PyRadiomics parameters: the file (safe-loaded), then spacing and setting overrides."""
    with resolve_params_file(name_or_file).open() as handle:
        params = yaml.safe_load(handle) or {}
    if not isinstance(params, dict):
        raise ValueError(
            f"{name_or_file}: a PyRadiomics parameter file is a mapping (imageType, featureClass, setting)"
        )
    params = copy.deepcopy(params)
    params.setdefault("setting", {})
    if spacing is not None:
        params["setting"]["resampledPixelSpacing"] = [float(s) for s in spacing]
    for key, value in (overrides or {}).items():
        params["setting"][key] = value
    return params


def params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def pyradiomics_version() -> str:
    from importlib.metadata import version

    return version("pyradiomics")


def scan_key(image: Path, mask: Path, digest: str, version: str) -> str:
    payload = json.dumps([memo_digest(image), memo_digest(mask), digest, version])
    return hashlib.sha256(payload.encode()).hexdigest()


def extract_one(image: str, mask: str, params: dict[str, Any]) -> dict[str, float]:
    """Features of one scan exactly as PyRadiomics computes them for these parameters."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    quiet_radiomics()
    result = _extractor(params).execute(image, mask)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


_EXTRACTORS: dict[str, Any] = {}


def _extractor(params: dict[str, Any]):
    """One PyRadiomics extractor per parameter set and process, reused for every scan, as
    PyRadiomics' own batch example does: building one validates the parameters against its
    schema (a YAML parse), a tenth of a small scan's extraction. ``execute`` copies the settings
    and resets the geometry tolerance, so a reused extractor gives the same values.

    The schema check (pykwalify) loads PyRadiomics' schema functions with the deprecated
    ``load_module`` on every build, and the DeprecationWarning is silenced here: it says nothing
    about the job, and since extractors are reused per process, how often a job's
    ``warnings.log`` counted it depended on which jobs its worker had run before."""
    from radiomics import featureextractor

    key = json.dumps(params, sort_keys=True, default=str)
    if key not in _EXTRACTORS:
        if len(_EXTRACTORS) >= 8:
            _EXTRACTORS.clear()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"the load_module\(\) method is deprecated", DeprecationWarning)
            _EXTRACTORS[key] = featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(params))
    return _EXTRACTORS[key]


@dataclass
class FeatureFailure:
    scan_id: str
    image: Path | None
    reason: str

    def __str__(self) -> str:
        return f"{self.image}: feature extraction failed ({self.reason}) -> check the image and mask with `cirrbench data validate`"


@dataclass
class FeatureResult:
    table: pd.DataFrame  # index scan_id; feature columns in PyRadiomics order
    failures: list[FeatureFailure] = field(default_factory=list)
    extracted: int = 0
    cached: int = 0


_MEMO: dict[str, dict[str, float]] = {}


def _cache_path(key: str) -> Path:
    return cache_dir("features", key[:2]) / f"{key}.json"


def _read_cache(key: str) -> dict[str, float] | None:
    if key in _MEMO:
        return _MEMO[key]
    values = read_cache_entry(_cache_path(key))
    if not isinstance(values, dict):
        return None
    _MEMO[key] = values
    return values


def _write_cache(key: str, values: dict[str, float]) -> None:
    write_cache_entry(_cache_path(key), values)
    _MEMO[key] = values


def _extract_safely(image: str, mask: str, params: dict[str, Any]) -> tuple[dict[str, float] | None, str | None]:
    try:
        return extract_one(image, mask, params), None
    except Exception as exc:  # reported per scan; the others go on
        return None, f"{type(exc).__name__}: {str(exc).strip()[:200]}"


def quiet_radiomics() -> None:
    """PyRadiomics sets its logger to INFO on import; keep only errors (the suite reports failures itself)."""
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    logging.getLogger("pykwalify").setLevel(logging.ERROR)  # validates parameter files, logs at INFO


def _import_radiomics() -> None:
    """Import PyRadiomics before forking workers, so each worker starts with it loaded."""
    from radiomics import featureextractor  # noqa: F401

    quiet_radiomics()


def _run_in_processes(tasks: list[tuple], jobs: int):
    """Results of ``_extract_safely`` in task order, from ``jobs`` worker processes.

    Workers are forked on Linux (:func:`forked_pool`): they inherit the imported libraries, so
    they start in ~0.5 s instead of ~3 s for fresh interpreters (joblib's loky), which is most of
    the parallel overhead on a cohort that takes a minute; and they end with this process.
    """
    from cirrbench.benchmark.common.processes import forked_pool

    if jobs == 1:
        for task in tasks:
            yield _extract_safely(*task)
        return
    jobs = (os.cpu_count() or 1) if jobs < 1 else jobs
    with forked_pool(jobs, initializer=_one_blas_thread) as pool:
        yield from pool.map(_extract_safely, *zip(*tasks))


def _one_blas_thread() -> None:
    """Worker set-up: PyRadiomics' GLCM MCC calls LAPACK (numpy eigvals), whose thread pool would
    otherwise start one thread per core in every worker and oversubscribe the machine."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def extract_features(
    records: Iterable[ScanRecord],
    params: dict[str, Any],
    jobs: int = 1,
    use_cache: bool = True,
    progress: bool = True,
    executor=None,
) -> FeatureResult:
    """Features for every record (cached where possible), extracting the rest in ``jobs`` processes,
    or on ``executor`` (a Dask cluster) when given."""
    from tqdm.auto import tqdm

    records = list(records)
    missing_images = [r for r in records if r.image is None or r.mask is None]
    if missing_images:
        raise ValueError(
            f"{len(missing_images)} scan(s) have no image (a feature-table cohort?); features cannot be extracted"
        )
    version = pyradiomics_version()
    digest = params_digest(params)
    keys = {r.scan_id: scan_key(r.image, r.mask, digest, version) for r in records}  # type: ignore[arg-type]
    values: dict[str, dict[str, float]] = {}
    todo = []
    for r in records:
        hit = _read_cache(keys[r.scan_id]) if use_cache else None
        if hit is not None:
            values[r.scan_id] = hit
        else:
            todo.append(r)
    failures: list[FeatureFailure] = []
    if todo:
        _import_radiomics()
        # Largest files first: the last tasks are then the short ones, so no core idles at the end.
        todo.sort(key=lambda r: -(r.image.stat().st_size + r.mask.stat().st_size))  # type: ignore[union-attr]
        tasks = [(str(r.image), str(r.mask), params) for r in todo]
        bar = tqdm(total=len(todo), desc="radiomics features", unit="scan", disable=not progress)
        results = (
            executor.map_ordered(_extract_safely, tasks) if executor is not None else _run_in_processes(tasks, jobs)
        )
        for record, (features, error) in zip(todo, results):
            if error is not None:
                failures.append(FeatureFailure(record.scan_id, record.image, error))
                log.error("%s", failures[-1])
            else:
                values[record.scan_id] = features
                _write_cache(keys[record.scan_id], features)
            bar.update()
        bar.close()
    ordered = [r.scan_id for r in records if r.scan_id in values]
    table = pd.DataFrame([values[s] for s in ordered], index=pd.Index(ordered, name="scan_id"))
    return FeatureResult(table, failures, extracted=len(todo) - len(failures), cached=len(records) - len(todo))


def feature_table_frame(records: Sequence[ScanRecord], table: pd.DataFrame) -> pd.DataFrame:
    """The CLI's output, a complete feature-table cohort: scan_id, patient_id, sequence, label,
    split, age, sex, site, then every feature column. Extract once where the images are, and
    benchmark anywhere with ``--data features.csv``."""
    by_id = {r.scan_id: r for r in records}
    rows = [by_id[s] for s in table.index]
    meta = pd.DataFrame(
        {
            "scan_id": table.index,
            "patient_id": [r.patient_id for r in rows],
            "sequence": [r.sequence for r in rows],
            "label": [r.label_name for r in rows],
            "split": [r.official_split or "" for r in rows],
            "age": [r.age for r in rows],
            "sex": [r.sex or "" for r in rows],
            "site": [r.site or "" for r in rows],
        }
    )
    return pd.concat([meta, table.reset_index(drop=True)], axis=1)
