"""One embedding per scan from a frozen encoder, cached like the radiomics features.

Scans go through the deep runners' preprocessing and slice cache (RAS, liver crop, z-score
inside the liver, resized to the encoder's input). A ``slices`` encoder sees ``slices`` liver
slices spread evenly over the liver, each repeated to 3 channels; their embeddings are averaged.
A ``volume`` encoder sees ``depth`` liver slices as one 3D input. Each scan's vector is cached
under the hash of the encoder, its weights file, the preprocessing and the scan's files, so a
second job (or a rerun) reads it instead of running the network; scans are embedded in batches
on the job's device, with a progress bar.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cirrbench.benchmark.common.atomic import atomic_write_bytes
from cirrbench.benchmark.common.hashing import file_digest, memo_digest
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.data.cohort import ScanRecord

from ..preprocessing import Preprocessing, ScanSlices, preprocess_all
from .encoders import Encoder, frozen_encoder

__all__ = ["EMBEDDING_VERSION", "EmbeddingSettings", "embed_scans"]

EMBEDDING_VERSION = "1"


@dataclass(frozen=True)
class EmbeddingSettings:
    encoder: Encoder
    weights: Path | None  # None: random init (or weights inside a TorchScript file)
    slices: int = 16
    size: int = 0  # 0: the encoder's own input size
    batch_size: int = 32
    device: str = "cpu"

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(size=self.size or self.encoder.size)

    def key(self) -> str:
        """The hash of everything an embedding depends on except the scan."""
        if self.encoder.script is not None:  # a TorchScript file: its weights are inside it
            weights = "script:" + file_digest(self.encoder.script)
        else:
            weights = file_digest(self.weights) if self.weights is not None else "random"
        parts = [EMBEDDING_VERSION, self.encoder.name, self.encoder.view, self.encoder.depth, weights]
        parts += [self.slices, self.preprocessing.key()]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def _cache_path(record: ScanRecord, settings_key: str) -> Path:
    image, mask = record.files()
    scan = hashlib.sha256(f"{memo_digest(image)}:{memo_digest(mask)}".encode()).hexdigest()[:20]
    return cache_dir("embeddings", settings_key) / f"{scan}.npy"


def _evenly(indices: np.ndarray, count: int) -> np.ndarray:
    if len(indices) == 0:
        raise ValueError("no liver slice to embed")
    return indices[np.linspace(0, len(indices) - 1, min(count, len(indices))).round().astype(int)]


def _inputs(scan: ScanSlices, settings: EmbeddingSettings) -> torch.Tensor:
    """The encoder's input for one scan: (slices, 3, H, W), or (1, 1, depth, H, W) for a volume."""
    if settings.encoder.view == "volume":
        picked = scan.volume[_evenly(scan.selected, settings.encoder.depth)]
        return torch.from_numpy(picked.astype(np.float32))[None, None]
    picked = scan.volume[_evenly(scan.selected, settings.slices)].astype(np.float32)
    return torch.from_numpy(picked)[:, None].expand(-1, 3, -1, -1).contiguous()


@torch.no_grad()
def _embed(network: torch.nn.Module, inputs: torch.Tensor, settings: EmbeddingSettings) -> np.ndarray:
    """One vector: the mean of the per-slice (or the one volume) embeddings, in batches."""
    device = torch.device(settings.device)
    parts = []
    for start in range(0, len(inputs), settings.batch_size):
        batch = inputs[start : start + settings.batch_size]
        parts.append(network(batch.to(device)).float().reshape(len(batch), -1))
    return torch.cat(parts).mean(dim=0).cpu().numpy().astype(np.float32)


def _save(path: Path, vector: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, vector, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def embed_scans(
    records: Sequence[ScanRecord],
    settings: EmbeddingSettings,
    progress: Callable | None = None,
    jobs: int = 1,
) -> pd.DataFrame:
    """Rows: scan ids; columns ``emb_0000`` ...: each scan's embedding, from the cache when there."""
    key = settings.key()
    paths = {r.scan_id: _cache_path(r, key) for r in records}
    missing = [r for r in records if not paths[r.scan_id].is_file()]
    if missing:
        slices = preprocess_all(missing, settings.preprocessing, jobs=jobs)
        network = frozen_encoder(settings.encoder, settings.weights).to(torch.device(settings.device))
        todo = progress(missing, desc="embeddings", unit="scan") if progress is not None else missing
        for record in todo:
            _save(paths[record.scan_id], _embed(network, _inputs(slices[record.scan_id], settings), settings))
    vectors = [np.load(paths[r.scan_id], allow_pickle=False) for r in records]
    columns = [f"emb_{i:04d}" for i in range(len(vectors[0]))] if vectors else []
    frame = pd.DataFrame(np.stack(vectors) if vectors else np.zeros((0, 0)), index=[r.scan_id for r in records])
    frame.columns = columns
    frame.index.name = "scan_id"
    return frame
