"""The results folder: one module owns its layout, so execution, report and prune never guess paths.

Layout::

    predictions/<key>/predictions.csv        per-scan test probabilities (one row per test scan)
    predictions/<key>/model_choice.csv       held-out per-scan probabilities for choosing among methods
                                             without test data: on the validation part, or out-of-fold
                                             on train + valid for runners that train on both
    predictions/<key>/slices.csv             per-slice test probabilities (deep runners)
    predictions/<key>/perturbed.csv          test probabilities of each perturbed copy of the test scans
                                             (robustness jobs: the clean columns plus perturbation, level)
    predictions/<key>/extra_<name>.csv       runner extras (training log, feature importance)
    predictions/index.csv                    which job each folder holds (runner, variant, input, split, seed)
    predictions/<key>/arrays.npz             runner arrays (attention maps)
    predictions/<key>/outputs/               files a runner keeps with its job (best weights, TensorBoard events)
    predictions/<key>/job.json               the job, its counts, versions; its presence = done
    predictions/.work-<key>/                 a running job's own folder (per-epoch checkpoint, training log
                                             as it grows); kept when the job fails or is killed, so the
                                             next attempt resumes; removed once the job is done
    failures/<key>.json                      traceback of the last failed attempt
    manifest.json                            the experiment that the folder's reports describe
    splits/ tables/ figures/ metrics/        split files and the report's outputs

A job folder appears only by renaming a finished staging folder into place, so a kill at any
moment loses no finished job and leaves no half-written one. Replacing a finished job (``--force``)
swaps the new folder in only once it is complete: the old results survive a kill mid-job.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.paths import inside

__all__ = ["ResultsStore", "PREDICTIONS", "FAILURES", "MANIFEST", "OUTPUTS", "PERTURBED_PREDICTIONS", "WORK"]

PREDICTIONS = "predictions"
FAILURES = "failures"
MANIFEST = "manifest.json"
PARTIAL = ".partial-"
RETIRED = ".retired-"
WORK = ".work-"
OUTPUTS = "outputs"

TEST_PREDICTIONS = "predictions.csv"
MODEL_CHOICE = "model_choice.csv"
SLICES = "slices.csv"
PERTURBED_PREDICTIONS = "perturbed.csv"
ARRAYS = "arrays.npz"
JOB_RECORD = "job.json"
INDEX = "index.csv"
#: The columns of ``predictions/index.csv``: which job each hashed folder holds.
INDEX_COLUMNS = ("folder", "runner", "alias", "variant", "input", "protocol", "split_id", "seed_index", "seed", "label")


class _Entry:
    """A file or folder of the results folder, read as ``store.<attribute>`` (a Path)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, store: ResultsStore | None, owner: type | None = None) -> Path:
        if store is None:
            raise AttributeError(f"{self.name}: ask a ResultsStore, not the class")
        return inside(store.root, self.name)  # a folder linked out of the results folder is refused


class ResultsStore:
    """Reads and writes one results folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ---- folders ------------------------------------------------------------------------------
    predictions_dir = _Entry(PREDICTIONS)
    failures_dir = _Entry(FAILURES)
    tables_dir = _Entry("tables")
    figures_dir = _Entry("figures")
    metrics_dir = _Entry("metrics")
    splits_dir = _Entry("splits")
    manifest_path = _Entry(MANIFEST)

    def job_dir(self, key: str) -> Path:
        return self.predictions_dir / key

    def work_dir(self, key: str) -> Path:
        """The folder a job may use while it runs; it survives failures and kills (resumable work)."""
        return self.predictions_dir / f"{WORK}{key}"

    def clear_work(self, key: str) -> None:
        shutil.rmtree(self.work_dir(key), ignore_errors=True)

    def failure_path(self, key: str) -> Path:
        return self.failures_dir / f"{key}.json"

    # ---- jobs ---------------------------------------------------------------------------------
    def is_done(self, key: str) -> bool:
        return (self.job_dir(key) / JOB_RECORD).is_file()

    def job_keys(self) -> list[str]:
        """Keys of every finished job folder, sorted."""
        if not self.predictions_dir.is_dir():
            return []
        return sorted(
            p.parent.name for p in self.predictions_dir.glob(f"*/{JOB_RECORD}") if not p.parent.name.startswith(".")
        )

    def write_job(
        self, key: str, files: dict[str, str], binary: dict[str, bytes] | None = None, replace: bool = False
    ) -> Path:
        """Write a job's files into a staging folder, then rename it into place in one step.

        ``files`` are text files; ``job.json`` among them is written last (it marks the job done).
        With ``replace``, an existing finished folder is swapped out only after the new one is
        complete; without it, a folder another worker finished first is kept.
        """
        target = self.job_dir(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f"{PARTIAL}{key}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for name, data in (binary or {}).items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
            ordered = sorted(files, key=lambda name: name == JOB_RECORD)
            for name in ordered:
                with open(staging / name, "w") as handle:
                    handle.write(files[name])
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if target.exists():
            if not replace:  # another worker finished the same job first
                shutil.rmtree(staging, ignore_errors=True)
                return target
            retired = target.parent / f"{RETIRED}{key}-{os.getpid()}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
            return target
        os.replace(staging, target)
        return target

    def write_failure(self, key: str, payload: dict[str, Any]) -> Path:
        return atomic_write_text(self.failure_path(key), json.dumps(payload, indent=2, default=str))

    def clear_failure(self, key: str) -> None:
        self.failure_path(key).unlink(missing_ok=True)

    def clean_partials(self) -> None:
        """Remove staging folders of killed runs; a retired folder whose replacement never
        arrived is put back (a kill between the two renames of a replacement)."""
        folder = self.predictions_dir
        if not folder.is_dir():
            return
        for stale in folder.glob(f"{PARTIAL}*"):
            shutil.rmtree(stale, ignore_errors=True)
        for retired in folder.glob(f"{RETIRED}*"):
            key = retired.name[len(RETIRED) :].rsplit("-", 1)[0]
            if not self.job_dir(key).exists():
                os.replace(retired, self.job_dir(key))
            else:
                shutil.rmtree(retired, ignore_errors=True)

    # ---- reading ------------------------------------------------------------------------------
    def job_record(self, key: str) -> dict[str, Any]:
        record = json.loads((self.job_dir(key) / JOB_RECORD).read_text())
        if "input" not in record and "sequence" in record:  # written before "sequence" became "input"
            record["input"] = record.pop("sequence")
        return record

    def write_index(self, current: list[str] | None = None) -> Path | None:
        """``predictions/index.csv``: one row per finished job folder (the folders are named by
        hashes), with ``current`` = whether the latest run's manifest lists it. Rewritten only
        when its content changes, so a warm rerun leaves it untouched."""
        if not self.predictions_dir.is_dir():
            return None
        listed = set(current or [])
        rows = []
        for key in self.job_keys():
            record = self.job_record(key)
            rows.append({**{c: record.get(c, "") for c in INDEX_COLUMNS}, "folder": key, "current": key in listed})
        frame = pd.DataFrame(rows, columns=[*INDEX_COLUMNS, "current"])
        frame = frame.sort_values(["protocol", "runner", "alias", "variant", "input", "split_id", "seed_index"])
        text = frame.to_csv(index=False)
        path = self.predictions_dir / INDEX
        if path.is_file() and path.read_text() == text:
            return path
        return atomic_write_text(path, text)

    def load_predictions(self, keys: list[str] | None = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """Test predictions of the finished jobs (all, or those in ``keys``), with a ``job_key``
        column, and their job records in the same order: the order of the jobs' labels (runner,
        variant, input, split, seed), not of their folders' names. Those are hashes that hold the
        cohort fingerprint, so the same scans copied or regenerated give other names, and a sum
        over seeds taken in their order changed in the last digits of the metrics files."""
        wanted = self.job_keys() if keys is None else [k for k in set(keys) if self.is_done(k)]
        found = {key: self.job_record(key) for key in wanted}
        ordered = sorted(wanted, key=lambda k: (str(found[k].get("label", "")), k))
        frames, records = [], [found[key] for key in ordered]
        for key in ordered:
            frame = self._read_csv(self.job_dir(key) / TEST_PREDICTIONS)
            frame["job_key"] = key
            frames.append(frame)
        if not frames:
            return pd.DataFrame(), []
        return pd.concat(frames, ignore_index=True), records

    def load_model_choice(self, key: str) -> pd.DataFrame | None:
        path = self.job_dir(key) / MODEL_CHOICE
        return self._read_csv(path) if path.is_file() else None

    def load_perturbed(self, key: str) -> pd.DataFrame | None:
        """A robustness job's predictions of the perturbed test scans (None for other jobs)."""
        path = self.job_dir(key) / PERTURBED_PREDICTIONS
        return self._read_csv(path) if path.is_file() else None

    def load_slices(self, key: str) -> pd.DataFrame | None:
        path = self.job_dir(key) / SLICES
        return pd.read_csv(path, dtype={"scan_id": str}) if path.is_file() else None

    def load_extra(self, key: str, name: str) -> pd.DataFrame | None:
        path = self.job_dir(key) / f"extra_{name}.csv"
        return pd.read_csv(path) if path.is_file() else None

    def load_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.job_dir(key) / ARRAYS
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}

    def read_manifest(self) -> dict[str, Any] | None:
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.is_file() else None

    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        return atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    @staticmethod
    def arrays_bytes(arrays: dict[str, np.ndarray]) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as the allow_pickle flag
        return buffer.getvalue()

    @staticmethod
    def _read_csv(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"scan_id": str, "patient_id": str})
