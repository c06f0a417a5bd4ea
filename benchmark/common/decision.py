"""How a row of class probabilities becomes one predicted class: the argmax, with exact ties broken
by a seeded draw keyed by the row's identity (its patient, scan and slice).

``argmax`` alone gives every tie to the lowest class: a chance row that averages a patient's two
one-hot scans would call half of its patients "mild" by position alone. The draw depends on the
row's key only, so the same patient is decided the same way in every table, figure and resample.
Rows without a tie are the argmax, unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["TIE_SEED", "decide", "row_keys"]

#: The seed of the tie-breaking draw (documented in results/README.md).
TIE_SEED = 0


def row_keys(frame: pd.DataFrame) -> list[str]:
    """Each row's identity: its patient, and its scan and slice where the rows have them."""
    parts = [frame[column].astype(str) for column in ("patient_id", "scan_id", "slice") if column in frame]
    if not parts:
        return [str(i) for i in range(len(frame))]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + "/" + part
    return keys.tolist()


def _priorities(key: str, n_classes: int) -> np.ndarray:
    """One uniform draw per class, a function of the key and the seed only."""
    blocks = -(-n_classes // 8)  # a SHA-256 digest holds eight 32-bit draws
    digest = b"".join(hashlib.sha256(f"{TIE_SEED}:{key}:{block}".encode()).digest() for block in range(blocks))
    return np.frombuffer(digest[: 4 * n_classes], dtype="<u4").astype(float)


def decide(proba: np.ndarray, keys: Sequence[str] | None = None) -> np.ndarray:
    """The predicted class per row: the most probable, exact ties broken by the seeded draw.

    Args:
        proba: rows x classes.
        keys: one identity per row (``row_keys``); None keys rows by position.
    """
    proba = np.asarray(proba, dtype=float)
    predicted = proba.argmax(axis=1) if proba.size else np.zeros(len(proba), dtype=int)
    if proba.size == 0:
        return predicted
    top = proba == proba.max(axis=1, keepdims=True)
    tied = np.flatnonzero(top.sum(axis=1) > 1)
    for row in tied:
        key = str(keys[int(row)]) if keys is not None else str(row)
        priority = np.where(top[row], _priorities(key, proba.shape[1]), -1.0)
        predicted[row] = int(priority.argmax())
    return predicted
