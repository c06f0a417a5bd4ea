"""Early stopping follows the declared validation quantity: the restored epoch is the best one by
that measure (lower loss, higher accuracy), and training stops after ``early_stopping`` stale epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cirrbench.models.batches import BagBuilder, TrainSettings, Unit
from cirrbench.models.networks import SliceClassifier
from cirrbench.models.preprocessing import ScanSlices
from cirrbench.models.train import MONITORS, epoch_score, predict_units, train


def _toy(n: int = 12, depth: int = 6, size: int = 16) -> dict[str, ScanSlices]:
    rng = np.random.default_rng(1)
    return {
        f"s{i}": ScanSlices(rng.normal(size=(depth, size, size)).astype(np.float16), np.arange(1, depth - 1))
        for i in range(n)
    }


def _train(monitor: str, epochs: int, early_stopping: int):
    """A quarter-width ResNet-18 on noise (nothing to learn, so validation wanders and overfits)."""
    slices = _toy()
    settings = TrainSettings(
        epochs=epochs,
        batch_size=4,
        slices_per_scan=2,
        max_slices=4,
        lr=3e-3,
        weight_decay=0.0,
        scheduler="none",
        early_stopping=early_stopping,
        monitor=monitor,
        augment=False,
        amp=False,
    )
    units = [Unit(f"s{i}", i % 3, {"T1W": f"s{i}"}) for i in range(8)]
    valid = [Unit(f"s{i}", i % 3, {"T1W": f"s{i}"}) for i in range(8, 12)]
    torch.manual_seed(0)
    model = SliceClassifier("resnet18", 1, 3, 0.25)
    log = train(
        model, BagBuilder(slices, ("T1W",), settings, seed=0), units, valid, 3, settings, torch.device("cpu"), 0
    )
    probs, _ = predict_units(
        model, BagBuilder(slices, ("T1W",), settings, seed=0), valid, torch.device("cpu"), 4, False
    )
    truth = np.array([u.label for u in valid])
    restored_loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-8, None))))
    return log, restored_loss


def _best_by(log, monitor: str) -> int:
    """The epoch a reader would call best by ``monitor``, computed from the log alone."""
    if monitor == "loss":
        return int(log.loc[log["valid_loss"].idxmin(), "epoch"])
    value = log[f"valid_{monitor}"].to_numpy()
    candidates = log[value == value.max()]  # ties: the lower validation loss
    return int(candidates.loc[candidates["valid_loss"].idxmin(), "epoch"])


@pytest.mark.parametrize("monitor", MONITORS)
def test_the_restored_epoch_is_the_best_by_the_monitor(monitor):
    log, restored_loss = _train(monitor, epochs=8, early_stopping=100)
    assert len(log) == 8
    best = _best_by(log, monitor)
    assert int(log.loc[log["best"], "epoch"].max()) == best  # the last epoch marked best
    assert restored_loss == pytest.approx(float(log.loc[log["epoch"] == best, "valid_loss"].iloc[0]), abs=1e-5)


def test_loss_is_never_rewarded_for_rising():
    worse, better = {"valid_loss": 0.92, "valid_accuracy": 0.5}, {"valid_loss": 0.49, "valid_accuracy": 0.5}
    assert epoch_score(better, "loss") > epoch_score(worse, "loss")
    assert epoch_score(better, "accuracy") > epoch_score(worse, "accuracy")  # a tie goes to the lower loss
    with pytest.raises(ValueError, match="monitor must be one of"):
        epoch_score(better, "auc")


@pytest.mark.parametrize("monitor", MONITORS)
def test_early_stopping_fires_after_the_stated_stale_epochs(monitor):
    patience = 2
    log, _ = _train(monitor, epochs=30, early_stopping=patience)
    last_best = int(log.loc[log["best"], "epoch"].max())
    assert len(log) < 30, "training on noise never stopped early"
    assert len(log) == last_best + patience  # exactly `patience` epochs without improvement, then stop
    assert not log["best"].iloc[-patience:].any()
