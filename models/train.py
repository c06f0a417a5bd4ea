"""One training loop for every deep runner: bags of slices in, scan and slice probabilities out.

AdamW; ReduceLROnPlateau on the validation loss (as the seed paper's released code) or cosine;
optional class weights; early stopping on a validation scan-level metric with the best weights
restored; seeded and deterministic on CPU; on CUDA mixed precision (bf16 where supported, else
fp16 with loss scaling) and channels-last memory. With a checkpoint path, the whole state
(model, optimiser, scheduler, scaler, early stopping, every random generator) is saved after each
epoch, so a killed job resumes from its last epoch and ends exactly as an uninterrupted one.
Each finished epoch is reported to ``on_epoch`` (progress lines, a growing log file).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import Tensor, nn

from cirrbench.benchmark.common.atomic import atomic_write_bytes

from .batches import BagBuilder, TrainSettings, Unit

__all__ = [
    "BagBuilder",
    "CHECKPOINT_VERSION",
    "epoch_score",
    "MONITORS",
    "predict_units",
    "train",
    "training_batches",
    "TrainSettings",
    "Unit",
]

#: Format of the per-epoch checkpoint; a checkpoint of another format is ignored (training restarts).
CHECKPOINT_VERSION = 1


def _losses(model_out, valid, labels: Tensor, weights: Tensor | None, settings: TrainSettings) -> Tensor:
    scan_logits, slice_logits = model_out
    loss = (
        settings.scan_loss * nn.functional.cross_entropy(scan_logits.float(), labels, weight=weights)
        if settings.scan_loss
        else 0.0
    )
    if settings.slice_loss and slice_logits:
        parts = []
        for seq, logits in slice_logits.items():
            mask = valid[seq]
            per_slice = labels[:, None].expand(mask.shape)
            parts.append(nn.functional.cross_entropy(logits[mask].float(), per_slice[mask], weight=weights))
        loss = loss + settings.slice_loss * torch.stack(parts).mean()
    if not isinstance(loss, Tensor):
        raise ValueError("no loss term: scan_loss and slice_loss are both 0")
    return loss


def _autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bf16 on GPUs that have it (no loss scaling needed), else fp16; None: full precision."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@torch.no_grad()
def predict_units(
    model: nn.Module,
    builder: BagBuilder,
    units: Sequence[Unit],
    device: torch.device,
    batch_size: int,
    amp: bool = False,
) -> tuple[np.ndarray, list[dict]]:
    """Scan probabilities per unit and, per unit, {sequence: (slice indices, slice probabilities)}."""
    model.eval()
    dtype = _autocast_dtype(device, amp)
    probs, slices = [], []
    for start in range(0, len(units), batch_size):
        chunk = units[start : start + batch_size]
        batch = builder.batch(chunk, training=False)
        with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            scan_logits, slice_logits = model(batch.x, batch.valid, batch.clinical)
        probs.append(torch.softmax(scan_logits.float(), dim=-1).cpu().numpy())
        counts = {seq: batch.valid[seq].sum(dim=1).cpu().numpy() for seq in slice_logits}
        slice_probs = {seq: torch.softmax(logits.float(), dim=-1).cpu().numpy() for seq, logits in slice_logits.items()}
        for i in range(len(chunk)):
            entry = {}
            for seq, p in slice_probs.items():
                n = int(counts[seq][i])
                if n:
                    entry[seq] = (batch.picks[seq][i], p[i, :n])
            slices.append(entry)
    return np.concatenate(probs), slices


def training_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches; a last batch of one example joins the previous one (batch norm needs two)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def _save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())  # a kill while saving leaves the previous epoch's


def _load_checkpoint(path: Path | None, settings_key: str) -> dict | None:
    """The saved state, or None when there is none or it belongs to other settings or code."""
    if path is None or not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != CHECKPOINT_VERSION or state.get("settings") != settings_key:
        return None
    return state


def _scheduler(optimiser: torch.optim.Optimizer, settings: TrainSettings):
    """The learning-rate schedule by name; ``none`` keeps the rate constant (an object all the same,
    so checkpoints hold one format)."""
    if settings.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, settings.epochs))
    if settings.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, patience=settings.plateau_patience)
    if settings.scheduler == "none":
        return torch.optim.lr_scheduler.ConstantLR(optimiser, factor=1.0, total_iters=0)
    raise ValueError(f"scheduler must be plateau, cosine or none, not {settings.scheduler!r}")


#: What early stopping may follow: validation loss (lower is better) or a validation metric.
MONITORS = ("accuracy", "balanced_accuracy", "loss")


def epoch_score(row: dict, monitor: str) -> float:
    """How good an epoch is by ``monitor``, higher always better, so "improved" means one thing.

    ``loss``: minus the validation loss. A metric: its validation value, ties (frequent on small
    validation parts) going to the lower validation loss by a 1e-3 weight, far below one patient's
    share of any metric.
    """
    if monitor == "loss":
        return -row["valid_loss"]
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, not {monitor!r}")
    return row[f"valid_{monitor}"] - 1e-3 * row["valid_loss"]


def _class_weights(units: Sequence[Unit], n_classes: int, device: torch.device) -> torch.Tensor:
    """Inverse class frequencies (0 for a class absent from training), as scikit-learn's "balanced"."""
    counts = np.bincount(np.array([u.label for u in units]), minlength=n_classes).astype(float)
    return torch.tensor(
        np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0),
        dtype=torch.float32,
        device=device,
    )


@dataclasses.dataclass
class _Step:
    """One optimiser step per chunk of units, with autocast and loss scaling where enabled."""

    model: nn.Module
    builder: BagBuilder
    optimiser: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    dtype: torch.dtype | None
    weights: torch.Tensor | None
    settings: TrainSettings

    def epoch(self, chunks: list[list[Unit]]) -> float:
        """Train on ``chunks`` in order; the mean training loss per unit."""
        total, seen = 0.0, 0
        for chunk in chunks:
            batch = self.builder.batch(chunk, training=True)
            target = torch.tensor([u.label for u in chunk], device=self.device)
            autocast = torch.autocast(
                device_type=self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None
            )
            with autocast:
                output = self.model(batch.x, batch.valid, batch.clinical)
                loss = _losses(output, batch.valid, target, self.weights, self.settings)
            self.optimiser.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimiser)
            self.scaler.update()
            total += float(loss.detach()) * len(chunk)
            seen += len(chunk)
        return total / max(seen, 1)


def _validation_scores(
    model: nn.Module, builder: BagBuilder, units: Sequence[Unit], device: torch.device, settings: TrainSettings
) -> dict[str, float]:
    """Loss, accuracy and balanced accuracy of the current model on the validation units."""
    probs, _ = predict_units(model, builder, units, device, settings.batch_size, settings.amp)
    y = np.array([u.label for u in units])
    pred = probs.argmax(axis=1)
    accuracy = float(np.mean(pred == y))
    return {
        "valid_loss": float(
            nn.functional.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-8)), torch.from_numpy(y))
        ),
        "valid_accuracy": accuracy,
        "valid_balanced_accuracy": float(balanced_accuracy_score(y, pred)) if len(np.unique(y)) > 1 else accuracy,
    }


def _checkpoint(state: dict, model, optimiser, scheduler, scaler, builder, order_rng, device) -> dict:
    """Everything a resumed run needs to continue as if never stopped (``state``: the loop's own)."""
    return {
        "version": CHECKPOINT_VERSION,
        **state,
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "builder": builder.state(),
        "order_rng": json.dumps(order_rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def _restore(saved: dict, model, optimiser, scheduler, scaler, builder, order_rng, device) -> None:
    model.load_state_dict(saved["model"])
    optimiser.load_state_dict(saved["optimiser"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    builder.load_state(saved["builder"])
    order_rng.bit_generator.state = json.loads(saved["order_rng"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and saved.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(saved["cuda_rng"], device)


def _prepare(
    model: nn.Module, builder: BagBuilder, units: Sequence[Unit], settings: TrainSettings, device: torch.device
) -> tuple[Sequence[Unit], int]:
    """The model on its device, and the units and units per step of the epoch mode (scans or slices)."""
    model.to(device)
    if settings.volumetric_depth is None:
        # Channels-last convolutions: faster on tensor cores, and on the CPU too (oneDNN; a
        # training step of each slice backbone at the cpu profile's size was 0-25 % faster).
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; its stub omits it
    if settings.epoch == "slices":
        if settings.volumetric_depth is not None:
            raise ValueError("epoch: slices needs a slice model; 3D models see whole volumes")
        return builder.slice_units(units), settings.batch_size * (settings.slices_per_scan or 1)
    if settings.epoch != "scans":
        raise ValueError(f"epoch must be 'scans' or 'slices', not {settings.epoch!r}")
    return units, settings.batch_size


def _show(bar, row: dict) -> None:
    accuracy = f", valid acc {row['valid_accuracy']:.3f}" if "valid_accuracy" in row else ""
    bar.set_postfix_str(f"loss {row['train_loss']:.3f}{accuracy}", refresh=False)
    bar.update()


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
    checkpoint: Path | None = None,
    on_epoch: Callable[[dict, pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Train in place; returns the per-epoch log. The best validation epoch's weights are restored.

    Args:
        checkpoint: a file for the per-epoch state; when it holds a checkpoint of these settings,
            training resumes after its last epoch (None: no checkpoints).
        on_epoch: called with each finished epoch's row and the log so far.
    """
    train_units, step_size = _prepare(model, builder, train_units, settings, device)
    weights = _class_weights(train_units, n_classes, device) if settings.class_weights else None
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = _scheduler(optimiser, settings)
    dtype = _autocast_dtype(device, settings.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    order_rng = np.random.default_rng(seed)
    best, best_state, stale, log, first_epoch, finished = -np.inf, copy.deepcopy(model.state_dict()), 0, [], 0, False
    settings_key = json.dumps(
        dataclasses.asdict(settings), sort_keys=True
    )  # a checkpoint of other settings is not resumed
    saved = _load_checkpoint(checkpoint, settings_key)
    if saved is not None:
        _restore(saved, model, optimiser, scheduler, scaler, builder, order_rng, device)
        best, best_state, stale = saved["best"], saved["best_state"], saved["stale"]
        log, first_epoch, finished = json.loads(saved["log"]), saved["epoch"], saved["finished"]
    epochs = range(first_epoch, settings.epochs)
    bar = progress(None, desc="epochs", unit="epoch", initial=first_epoch, total=settings.epochs) if progress else None
    for epoch in epochs:
        if finished:
            break
        started = time.perf_counter()
        model.train()
        order = order_rng.permutation(len(train_units))
        step = _Step(model, builder, optimiser, scaler, device, dtype, weights, settings)
        train_loss = step.epoch([[train_units[i] for i in indices] for indices in training_batches(order, step_size)])
        row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimiser.param_groups[0]["lr"]}
        if valid_units:
            row.update(_validation_scores(model, builder, valid_units, device, settings))
            score = epoch_score(row, settings.monitor)
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
        finished = stale >= settings.early_stopping or epoch + 1 == settings.epochs
        if checkpoint is not None:
            state = {"settings": settings_key, "epoch": epoch + 1, "finished": finished, "best": float(best)}
            state |= {"best_state": best_state, "stale": stale, "log": json.dumps(log)}
            _save_checkpoint(
                checkpoint, _checkpoint(state, model, optimiser, scheduler, scaler, builder, order_rng, device)
            )
        if bar is not None:
            _show(bar, row)
        if on_epoch is not None:
            on_epoch(row, pd.DataFrame(log))
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    return pd.DataFrame(log)
