"""Seeing a long training run while it runs: one line per epoch, a log file that grows, TensorBoard.

A job of 100 epochs on a GPU takes hours; its progress must be visible before it ends. Each
finished epoch is appended to ``progress.log`` and rewritten as ``training_log.csv`` in the job's
work folder (``results/predictions/.work-<key>/``, so ``tail -f`` works), logged at debug level
(``cirrbench run -v`` shows it: a run of hundreds of short jobs would drown in lines otherwise),
shown on the epoch bar of a run with one worker, and, with ``tensorboard: true``, written as
TensorBoard scalars.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text

__all__ = ["EpochReporter", "epoch_line"]


def epoch_line(row: dict, epochs: int) -> str:
    """``epoch 3/100  train loss 0.912  valid loss 0.874  valid acc 0.550  lr 1.0e-04  2.1 s  *best``"""
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    if "valid_accuracy" in row:
        parts += [f"valid loss {row['valid_loss']:.4f}", f"valid acc {row['valid_accuracy']:.3f}"]
    parts += [f"lr {row['lr']:.1e}", f"{row['seconds']:.1f} s"]
    if row.get("best"):
        parts.append("*best")
    return "  ".join(parts)


class EpochReporter:
    """The ``on_epoch`` callback of :func:`cirrbench.models.train.train`.

    Args:
        logger: where the per-epoch line goes (debug level).
        epochs: the maximum number of epochs (for "epoch k/N").
        work_dir: the job's work folder (None: log lines only).
        tensorboard: also write TensorBoard event files to ``work_dir/tensorboard``.
    """

    def __init__(self, logger: logging.Logger, epochs: int, work_dir: Path | None, tensorboard: bool = False) -> None:
        self.logger, self.epochs, self.work_dir = logger, epochs, work_dir
        self.writer = None
        if tensorboard and work_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:  # checked before any job by DeepRunner.check_params
                raise RuntimeError("tensorboard: true needs the tensorboard package (pip install tensorboard)") from exc
            self.writer = SummaryWriter(log_dir=str(work_dir / "tensorboard"))

    def __call__(self, row: dict, log: pd.DataFrame) -> None:
        line = epoch_line(row, self.epochs)
        if self.work_dir is not None:
            with open(self.work_dir / "progress.log", "a") as handle:
                handle.write(line + "\n")
            atomic_write_text(self.work_dir / "training_log.csv", log.to_csv(index=False))
        self.logger.debug(line)  # after the files: a logged epoch is on disk (console with -v)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(float(value)):
                    self.writer.add_scalar(key.replace("_", "/", 1), float(value), int(row["epoch"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
