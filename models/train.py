"""One training loop for every deep runner: bags of slices in, scan and slice probabilities out.

AdamW; ReduceLROnPlateau on the validation loss (as the seed paper's released code) or cosine;
optional class weights; early stopping on a validation scan-level metric with the best weights
restored; seeded and deterministic on CPU; mixed precision on CUDA; a per-epoch log.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import Tensor, nn

from .data import ScanSlices, augmentation, pick_slices, stack_context

__all__ = ["BagBuilder", "predict_units", "to_device", "train", "training_batches", "TrainSettings", "Unit"]


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
    epochs: int
    batch_size: int
    slices_per_scan: int | None  # training bag size (None: every liver slice)
    max_slices: int | None  # prediction bag size
    context: int  # neighbours per side for 2.5D (0: 2D)
    lr: float
    weight_decay: float
    scheduler: str  # plateau | cosine
    plateau_patience: int
    early_stopping: int  # epochs without improvement
    monitor: str  # balanced_accuracy | accuracy
    class_weights: bool
    slice_loss: float  # weight of the per-slice loss (1 for slice classifiers)
    scan_loss: float
    augment: bool
    amp: bool
    volumetric_depth: int | None = None  # for 3D models: slices resampled to this depth
    # "scans": an epoch visits every training scan once with a bag of slices_per_scan sampled slices
    # (batch_size scans per step). "slices": an epoch visits every liver slice of every training
    # scan once, batch_size x slices_per_scan slices per step (the seed paper's released code).
    epoch: str = "scans"


class BagBuilder:
    """Turns units into batched tensors, sampling and augmenting slices when training."""

    def __init__(
        self, slices: dict[str, ScanSlices], sequences: Sequence[str], settings: TrainSettings, seed: int
    ) -> None:
        self.slices, self.sequences, self.settings = slices, tuple(sequences), settings
        self.rng = np.random.default_rng(seed)
        self.augment = augmentation(seed) if settings.augment else None

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

    def _bag(self, scan_id: str | None, training: bool, slice_index: int | None = None) -> tuple[np.ndarray, list[int]]:
        s = self.settings
        channels = 2 * s.context + 1
        if scan_id is None:
            return np.zeros((0, channels, 1, 1), dtype=np.float32), []
        item = self.slices[scan_id]
        if s.volumetric_depth is not None:
            picks = item.selected[np.linspace(0, len(item.selected) - 1, s.volumetric_depth).round().astype(int)]
            return np.asarray(item.volume[picks], dtype=np.float32)[None], list(picks)
        if training and slice_index is not None:
            picks = np.array([slice_index])
        else:
            count = s.slices_per_scan if training else s.max_slices
            picks = pick_slices(item.selected, count, self.rng if training else None)
        bag = np.stack([stack_context(item.volume, int(k), s.context) for k in picks])
        if training and self.augment is not None:
            bag = np.stack([np.asarray(self.augment(torch.from_numpy(x))) for x in bag])
        return bag, [int(k) for k in picks]

    def batch(
        self, units: Sequence[Unit], training: bool
    ) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor, dict[str, list[list[int]]]]:
        x, valid, picks = {}, {}, {}
        for seq in self.sequences:
            bags = [self._bag(u.scan_ids.get(seq), training, u.slice_index) for u in units]
            n = max(1, max(len(b) for b, _ in bags))
            shape = next((b.shape[1:] for b, _ in bags if len(b)), None)
            if shape is None:
                continue  # no unit of this batch has the sequence
            data = np.zeros((len(units), n, *shape), dtype=np.float32)
            mask = np.zeros((len(units), n), dtype=bool)
            for i, (bag, _) in enumerate(bags):
                data[i, : len(bag)] = bag
                mask[i, : len(bag)] = True
            x[seq], valid[seq] = torch.from_numpy(data), torch.from_numpy(mask)
            picks[seq] = [p for _, p in bags]
        clinical = torch.tensor([u.clinical for u in units], dtype=torch.float32)
        return x, valid, clinical, picks


def to_device(device: torch.device, *tensors):
    return [{k: v.to(device) for k, v in t.items()} if isinstance(t, dict) else t.to(device) for t in tensors]


def _losses(model_out, valid, labels: Tensor, weights: Tensor | None, settings: TrainSettings) -> Tensor:
    scan_logits, slice_logits = model_out
    loss = (
        settings.scan_loss * nn.functional.cross_entropy(scan_logits, labels, weight=weights)
        if settings.scan_loss
        else 0.0
    )
    if settings.slice_loss and slice_logits:
        parts = []
        for seq, logits in slice_logits.items():
            mask = valid[seq]
            per_slice = labels[:, None].expand(mask.shape)
            parts.append(nn.functional.cross_entropy(logits[mask], per_slice[mask], weight=weights))
        loss = loss + settings.slice_loss * torch.stack(parts).mean()
    return loss


@torch.no_grad()
def predict_units(
    model: nn.Module, builder: BagBuilder, units: Sequence[Unit], device: torch.device, batch_size: int
) -> tuple[np.ndarray, list[dict]]:
    """Scan probabilities per unit and, per unit, {sequence: (slice indices, slice probabilities)}."""
    model.eval()
    probs, slices = [], []
    for start in range(0, len(units), batch_size):
        chunk = units[start : start + batch_size]
        x, valid, clinical, picks = builder.batch(chunk, training=False)
        x, valid, clinical = to_device(device, x, valid, clinical)
        scan_logits, slice_logits = model(x, valid, clinical)
        probs.append(torch.softmax(scan_logits.float(), dim=-1).cpu().numpy())
        for i in range(len(chunk)):
            entry = {}
            for seq, logits in slice_logits.items():
                n = int(valid[seq][i].sum())
                if n:
                    entry[seq] = (picks[seq][i], torch.softmax(logits[i, :n].float(), dim=-1).cpu().numpy())
            slices.append(entry)
    return np.concatenate(probs), slices


def training_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches; a last batch of one example joins the previous one (batch norm needs two)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def train(
    model: nn.Module,
    builder: BagBuilder,
    train_units: Sequence[Unit],
    valid_units: Sequence[Unit],
    n_classes: int,
    settings: TrainSettings,
    device: torch.device,
    seed: int,
    progress: Callable | None = None,
) -> pd.DataFrame:
    """Train in place; returns the per-epoch log. The best validation epoch's weights are restored."""
    model.to(device)
    step_size = settings.batch_size
    if settings.epoch == "slices":
        if settings.volumetric_depth is not None:
            raise ValueError("epoch: slices needs a slice model; 3D models see whole volumes")
        train_units = builder.slice_units(train_units)
        step_size = settings.batch_size * (settings.slices_per_scan or 1)
    elif settings.epoch != "scans":
        raise ValueError(f"epoch must be 'scans' or 'slices', not {settings.epoch!r}")
    labels = np.array([u.label for u in train_units])
    weights = None
    if settings.class_weights:
        counts = np.bincount(labels, minlength=n_classes).astype(float)
        weights = torch.tensor(
            np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0),
            dtype=torch.float32,
            device=device,
        )
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.scheduler == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, settings.epochs))
    else:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, patience=settings.plateau_patience)
    use_amp = settings.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    order_rng = np.random.default_rng(seed)
    best, best_state, stale, log = -np.inf, copy.deepcopy(model.state_dict()), 0, []
    epochs = range(settings.epochs)
    for epoch in progress(epochs, desc="epochs", unit="epoch") if progress else epochs:
        started = time.perf_counter()
        model.train()
        order = order_rng.permutation(len(train_units))
        total, seen = 0.0, 0
        for indices in training_batches(order, step_size):
            chunk = [train_units[i] for i in indices]
            x, valid, clinical, _ = builder.batch(chunk, training=True)
            target = torch.tensor([u.label for u in chunk], device=device)
            x, valid, clinical = to_device(device, x, valid, clinical)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss = _losses(model(x, valid, clinical), valid, target, weights, settings)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach()) * len(chunk)
            seen += len(chunk)
        row = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), "lr": optimiser.param_groups[0]["lr"]}
        if valid_units:
            probs, _ = predict_units(model, builder, valid_units, device, settings.batch_size)
            y = np.array([u.label for u in valid_units])
            row["valid_loss"] = float(
                nn.functional.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-8)), torch.from_numpy(y))
            )
            pred = probs.argmax(axis=1)
            row["valid_accuracy"] = float(np.mean(pred == y))
            row["valid_balanced_accuracy"] = (
                float(balanced_accuracy_score(y, pred)) if len(np.unique(y)) > 1 else row["valid_accuracy"]
            )
            score = row[f"valid_{settings.monitor}"] - 1e-3 * row["valid_loss"]  # ties: lower loss wins
        else:
            row["valid_loss"], score = row["train_loss"], -row["train_loss"]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(row["valid_loss"])
        else:
            scheduler.step()
        row["seconds"] = time.perf_counter() - started
        improved = score > best
        row["best"] = bool(improved)
        log.append(row)
        if improved:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.early_stopping:
                break
    model.load_state_dict(best_state)
    return pd.DataFrame(log)
