"""The input path of every deep runner: cached slices -> batches of bags on the training device.

The scans a job uses are loaded once into one float16 tensor on the training device
(:class:`SlicePool`); a batch is one gather by index from it, 2.5D neighbours included, and the
augmentation transforms the whole batch in one call (:mod:`.augment`). What stays in Python is
choosing which slices of each scan (a few integers per unit), so the device, not the host,
sets the pace of training.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .augment import BatchedAugmentation
from .preprocessing import ScanSlices, pick_slices

__all__ = ["Batch", "BagBuilder", "SlicePool", "TrainSettings", "Unit"]


@dataclass(frozen=True)
class Unit:
    """What the model sees as one example: a scan, or a patient with several sequences."""

    key: str
    label: int
    scan_ids: dict[str, str]  # sequence -> scan id
    clinical: tuple[float, float] = (0.0, 0.0)
    slice_index: int | None = None  # training on one given slice (slice epochs) instead of a sampled bag


@dataclass(frozen=True)
class TrainSettings:
    """How one network trains; the defaults are the deep runners' (the seed paper's released code)."""

    epochs: int = 100
    batch_size: int = 8
    slices_per_scan: int | None = 4  # training bag size (None: every liver slice)
    max_slices: int | None = 32  # prediction bag size
    context: int = 0  # neighbours per side for 2.5D (0: 2D)
    lr: float = 1e-4
    weight_decay: float = 1e-5
    scheduler: str = "plateau"  # plateau | cosine | none (constant rate)
    plateau_patience: int = 5
    early_stopping: int = 20  # epochs without improvement
    monitor: str = "accuracy"  # accuracy | balanced_accuracy | loss (models.train.MONITORS)
    class_weights: bool = False
    slice_loss: float = 1.0  # weight of the per-slice loss (1 for slice classifiers)
    scan_loss: float = 0.0
    augment: bool = True
    amp: bool = True
    volumetric_depth: int | None = None  # for 3D models: slices resampled to this depth
    # "scans": an epoch visits every training scan once with a bag of slices_per_scan sampled slices
    # (batch_size scans per step). "slices": an epoch visits every liver slice of every training
    # scan once, batch_size x slices_per_scan slices per step (the seed paper's released code).
    epoch: str = "scans"
    # (mean, sd) subtracted and divided after augmentation: ImageNet's statistics (averaged over RGB:
    # the channels are slices, not colours) for pretrained backbones fed intensities in [0, 1]
    input_standardise: tuple[float, float] | None = None


class SlicePool:
    """Every slice of the given scans in one float16 tensor on ``device``.

    Args:
        slices: the preprocessed scans (all of one in-plane size).
        device: where the tensor lives (the training device).
    """

    def __init__(self, slices: dict[str, ScanSlices], device: torch.device) -> None:
        self.device = device
        self.offsets: dict[str, int] = {}
        self.depths: dict[str, int] = {}
        volumes, offset = [], 0
        for scan_id, item in slices.items():
            self.offsets[scan_id], self.depths[scan_id] = offset, int(item.volume.shape[0])
            volumes.append(np.asarray(item.volume, dtype=np.float16))
            offset += self.depths[scan_id]
        stacked = np.concatenate(volumes) if volumes else np.zeros((0, 1, 1), dtype=np.float16)
        self.data = torch.from_numpy(stacked).to(device)

    def rows(self, scan_id: str, picks: np.ndarray, context: int) -> np.ndarray:
        """Rows of the pool for each pick with ``context`` neighbours per side (edges repeat):
        shape (len(picks), 2 * context + 1)."""
        neighbours = np.asarray(picks)[:, None] + np.arange(-context, context + 1)[None, :]
        return self.offsets[scan_id] + np.clip(neighbours, 0, self.depths[scan_id] - 1)

    def gather(self, rows: np.ndarray) -> Tensor:
        """The slices at ``rows`` (any shape of row indices), float32, on the device."""
        index = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)).to(self.device)
        return self.data[index].float()


@dataclass
class Batch:
    """One batch: per sequence the bags (B, N, C, H, W) and their valid-slice mask (B, N)."""

    x: dict[str, Tensor]
    valid: dict[str, Tensor]
    clinical: Tensor
    picks: dict[str, list[list[int]]]  # per sequence, per unit: the slice indices in the bag


class BagBuilder:
    """Turns units into batches on the training device, sampling and augmenting when training.

    Args:
        slices: the preprocessed scans this builder may be asked for.
        sequences: the model's sequences, in its order.
        settings: bag sizes, 2.5D context, augmentation.
        seed: seeds slice sampling and augmentation (both checkpointable, see ``state``).
        device: the training device; the pool of slices is put there once.
    """

    def __init__(
        self,
        slices: dict[str, ScanSlices],
        sequences: Sequence[str],
        settings: TrainSettings,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.slices, self.sequences, self.settings = slices, tuple(sequences), settings
        self.device = torch.device(device)
        self.pool = SlicePool(slices, self.device)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed % (2**63))
        self.augment = BatchedAugmentation(self.generator) if settings.augment else None

    def state(self) -> dict:
        """The random state of sampling and augmentation (for checkpoints)."""
        return {"rng": json.dumps(self.rng.bit_generator.state), "generator": self.generator.get_state()}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.generator.set_state(state["generator"])

    def slice_units(self, units: Sequence[Unit]) -> list[Unit]:
        """One training unit per liver slice of each (single-sequence) unit, for slice epochs."""
        expanded = []
        for unit in units:
            if len(unit.scan_ids) != 1:
                raise ValueError(
                    "epoch: slices trains a slice classifier on single scans; a unit fusing several sequences has no single slice to pin"
                )
            (scan_id,) = unit.scan_ids.values()
            expanded += [dataclasses.replace(unit, slice_index=int(k)) for k in self.slices[scan_id].selected]
        return expanded

    def _picks(self, scan_id: str, training: bool, slice_index: int | None) -> np.ndarray:
        s = self.settings
        selected = self.slices[scan_id].selected
        if s.volumetric_depth is not None:
            return selected[np.linspace(0, len(selected) - 1, s.volumetric_depth).round().astype(int)]
        if training and slice_index is not None:
            return np.array([slice_index])
        count = s.slices_per_scan if training else s.max_slices
        return pick_slices(selected, count, self.rng if training else None)

    def batch(self, units: Sequence[Unit], training: bool) -> Batch:
        s = self.settings
        volumetric = s.volumetric_depth is not None
        x, valid, picks = {}, {}, {}
        for seq in self.sequences:
            chosen = [
                self._picks(u.scan_ids[seq], training, u.slice_index) if seq in u.scan_ids else None for u in units
            ]
            if all(c is None for c in chosen):
                continue  # no unit of this batch has the sequence
            bag = 1 if volumetric else max(len(c) for c in chosen if c is not None)
            channels = s.volumetric_depth if s.volumetric_depth is not None else 2 * s.context + 1
            rows = np.zeros((len(units), bag, channels), dtype=np.int64)
            mask = np.zeros((len(units), bag), dtype=bool)
            for i, (unit, c) in enumerate(zip(units, chosen)):
                if c is None:
                    continue
                scan_id = unit.scan_ids[seq]
                if volumetric:  # the whole resampled volume is one instance whose channels are its slices
                    rows[i, 0] = self.pool.rows(scan_id, c, 0)[:, 0]
                    mask[i, 0] = True
                else:
                    rows[i, : len(c)] = self.pool.rows(scan_id, c, s.context)
                    mask[i, : len(c)] = True
            valid_mask = torch.from_numpy(mask).to(self.device)
            data = self.pool.gather(rows)
            if training and self.augment is not None and not volumetric:
                data = self.augment(data.reshape(-1, *data.shape[2:])).reshape(data.shape)
            if s.input_standardise is not None:
                mean, sd = s.input_standardise
                data = (data - mean) / sd
            if not mask.all():
                data = data * valid_mask[..., None, None, None]  # padding is zeros
            x[seq], valid[seq] = data, valid_mask
            picks[seq] = [[int(k) for k in c] if c is not None else [] for c in chosen]
        clinical = torch.tensor([u.clinical for u in units], dtype=torch.float32, device=self.device)
        return Batch(x, valid, clinical, picks)
