"""The deep input path and long training: batched augmentation with the reference distribution,
the device slice pool, kill-and-resume with identical predictions, progress that grows, kept weights."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import deep_runners_for_tests  # noqa: F401  (registers test-deep-killer)
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

from cirrbench.cli import main
from cirrbench.models.augment import (
    FLIP_PROBABILITY,
    MAX_ROTATION_DEG,
    AugmentationDraws,
    BatchedAugmentation,
    per_slice_augmentation,
)
from cirrbench.models.batches import BagBuilder, SlicePool, TrainSettings, Unit
from cirrbench.models.epoch_log import epoch_line
from cirrbench.models.networks import SliceClassifier
from cirrbench.models.preprocessing import ScanSlices, stack_context
from cirrbench.models.train import predict_units, train

TESTS = Path(__file__).parent


def test_batched_draws_have_the_reference_distribution():
    """Flip rates and angles of the batched path against MONAI's per-slice transforms' own draws.
    Each transform draws through its own ``randomize``, the numbers applying it would draw (the next
    test compares what is done with given draws), without rotating 4000 images."""
    draws = BatchedAugmentation(torch.Generator().manual_seed(0)).draw(4000)
    reference = per_slice_augmentation(seed=0)
    flip_rows, flip_columns, angles = [], [], []
    for _ in range(4000):
        for transform in reference.transforms:
            transform.randomize(None)
        flip_rows.append(reference.transforms[0]._do_transform)
        flip_columns.append(reference.transforms[1]._do_transform)
        angles.append(reference.transforms[2].x)
    for ours, theirs in ((draws.flip_rows, flip_rows), (draws.flip_columns, flip_columns)):
        assert abs(float(ours.double().mean()) - FLIP_PROBABILITY) < 0.03
        assert abs(float(np.mean(theirs)) - FLIP_PROBABILITY) < 0.03
    limit = math.radians(MAX_ROTATION_DEG)
    assert float(draws.angles.abs().max()) <= limit and float(draws.angles.abs().max()) > 0.99 * limit
    assert stats.ks_2samp(draws.angles.numpy(), np.array(angles)).pvalue > 0.01  # same angle distribution


@pytest.mark.parametrize("angle", [0.0, 0.12, -0.17])
@pytest.mark.parametrize("flips", [(False, False), (True, False), (False, True), (True, True)])
def test_batched_augmentation_equals_monai_for_the_same_draws(angle, flips):
    from monai.transforms import Flip, Rotate

    image = torch.rand(1, 2, 24, 30)  # two channels (2.5D), a non-square slice
    image[..., 6:14, 4:11] += 2.0
    draws = AugmentationDraws(
        torch.tensor([flips[0]]), torch.tensor([flips[1]]), torch.tensor([angle], dtype=torch.float64)
    )
    ours = BatchedAugmentation.apply(image, draws)[0]
    expected = image[0]
    if flips[0]:
        expected = Flip(spatial_axis=0)(expected)
    if flips[1]:
        expected = Flip(spatial_axis=1)(expected)
    expected = Rotate(angle=angle, keep_size=True, padding_mode="zeros", align_corners=False)(expected)
    assert torch.allclose(ours, torch.as_tensor(expected), atol=1e-4)


def _slices(n: int = 4, depth: int = 9, size: int = 16) -> dict[str, ScanSlices]:
    rng = np.random.default_rng(0)
    return {
        f"s{i}": ScanSlices(rng.normal(size=(depth, size, size)).astype(np.float16), np.arange(2, 2 + 3 + i))
        for i in range(n)
    }


@pytest.mark.parametrize("context", [0, 1, 2])
def test_the_pool_gathers_what_stack_context_stacks(context):
    slices = _slices()
    pool = SlicePool(slices, torch.device("cpu"))
    for scan_id, item in slices.items():
        picks = np.array([0, 3, item.volume.shape[0] - 1])  # both edges repeat
        got = pool.gather(pool.rows(scan_id, picks, context)).numpy()
        expected = np.stack([stack_context(item.volume, int(k), context) for k in picks])
        assert np.array_equal(got, expected)


def _settings(**overrides) -> TrainSettings:
    base = dict(epochs=5, batch_size=2, slices_per_scan=2, max_slices=4, context=1, lr=1e-3, weight_decay=0.0)
    return TrainSettings(**{**base, "plateau_patience": 1, "early_stopping": 3, "amp": False, **overrides})


def test_padding_stays_zero_and_bags_hold_their_slices():
    slices = _slices()
    builder = BagBuilder(slices, ("T1W", "T2W"), _settings(slices_per_scan=None), seed=0)
    units = [Unit("a", 0, {"T1W": "s0"}), Unit("b", 1, {"T1W": "s3", "T2W": "s1"})]
    batch = builder.batch(units, training=True)
    assert batch.x["T1W"].shape == (2, 6, 3, 16, 16)  # s3 has 6 liver slices, 3 channels (2.5D)
    assert batch.valid["T1W"].sum(dim=1).tolist() == [3, 6]
    assert float(batch.x["T1W"][0, 3:].abs().sum()) == 0.0  # s0's padding
    assert batch.valid["T2W"].tolist()[0] == [False] * 4 and float(batch.x["T2W"][0].abs().sum()) == 0.0
    assert batch.picks["T1W"] == [[2, 3, 4], [2, 3, 4, 5, 6, 7]]


def _run(checkpoint: Path | None, stop_after: int | None = None):
    """Train on four toy scans (augmented, with validation and early stopping) and predict."""
    slices = _slices(n=6)
    units = [Unit(f"s{i}", i % 3, {"T1W": f"s{i}"}) for i in range(4)]
    valid = [Unit(f"s{i}", i % 3, {"T1W": f"s{i}"}) for i in (4, 5)]
    torch.manual_seed(0)
    model = SliceClassifier("resnet18", 3, 3, 0.25)
    builder = BagBuilder(slices, ("T1W",), _settings(), seed=0)

    def stop(row, log):
        if stop_after is not None and row["epoch"] == stop_after:
            raise KeyboardInterrupt  # the job dies here; the checkpoint of this epoch is on disk

    log = train(
        model, builder, units, valid, 3, _settings(), torch.device("cpu"), 0, checkpoint=checkpoint, on_epoch=stop
    )
    probs, _ = predict_units(model, BagBuilder(slices, ("T1W",), _settings(), seed=0), valid, torch.device("cpu"), 2)
    return log, probs


def test_a_killed_training_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    torch.use_deterministic_algorithms(True, warn_only=True)
    uninterrupted_log, uninterrupted = _run(None)
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint, stop_after=2)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2  # loads without unpickling code
    resumed_log, resumed = _run(checkpoint)
    assert np.array_equal(resumed, uninterrupted)
    columns = ["epoch", "train_loss", "valid_loss", "valid_accuracy", "best"]
    pd.testing.assert_frame_equal(resumed_log[columns], uninterrupted_log[columns])
    again_log, again = _run(checkpoint)  # a finished checkpoint: no epoch trains again
    assert np.array_equal(again, uninterrupted) and len(again_log) == len(uninterrupted_log)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint, stop_after=1)
    state = torch.load(checkpoint, weights_only=True)
    state["settings"] = state["settings"].replace('"lr": 0.001', '"lr": 0.01')
    torch.save(state, checkpoint)
    log, _ = _run(checkpoint)
    assert log["epoch"].iloc[0] == 1  # started over


def test_epoch_line_says_what_a_researcher_watches():
    line = epoch_line(
        {
            "epoch": 3,
            "train_loss": 0.91234,
            "valid_loss": 0.8,
            "valid_accuracy": 0.55,
            "lr": 1e-4,
            "seconds": 2.06,
            "best": True,
        },
        100,
    )
    assert line == "epoch 3/100  train loss 0.9123  valid loss 0.8000  valid acc 0.550  lr 1.0e-04  2.1 s  *best"


def _deep_config(root: Path, tmp: Path, out_name: str, runner: str = "test-deep-killer", **params) -> Path:
    raw = {
        "name": "resume",
        "reference": None,
        "data": {"root": str(root)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "metrics": {"bootstrap": 20},
        "runners": [
            {
                "name": runner,
                "params": {
                    "width": 0.25,
                    "size": 32,
                    "spacing_mm": 2.5,
                    "epochs": 4,
                    "batch_size": 4,
                    "slices_per_scan": 2,
                    "max_slices": 4,
                    "early_stopping": 10,
                    **params,
                },
            }
        ],
    }
    path = tmp / f"{out_name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_killed_deep_job_resumes_from_its_last_epoch(tiny_phantom, tmp_path):
    kill, epochs = tmp_path / "kill", tmp_path / "epochs.txt"
    path = _deep_config(tiny_phantom, tmp_path, "a", kill_file=str(kill), epochs_file=str(epochs), save_weights=True)
    out = tmp_path / "results"
    kill.touch()
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import deep_runners_for_tests; from cirrbench.cli import main; sys.exit(main(['run', {str(path)!r}, '--out', {str(out)!r}, '--jobs', '1', '-q']))"
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 137, killed.stderr
    (work,) = (out / "predictions").glob(".work-*")
    assert (work / "checkpoint.pt").is_file() and len((work / "progress.log").read_text().splitlines()) == 2
    assert len(pd.read_csv(work / "training_log.csv")) == 2  # the log grows epoch by epoch
    assert main(["run", str(path), "--out", str(out), "--jobs", "1", "-q"]) == 0
    assert epochs.read_text().split() == ["1/4", "2/4", "3/4", "4/4"]  # epochs 3 and 4 only in the second run
    assert not list((out / "predictions").glob(".work-*"))  # done: nothing left to resume
    (job,) = [p for p in (out / "predictions").iterdir() if p.is_dir() and not p.name.startswith(".")]
    state = torch.load(job / "outputs" / "best_weights.pt", weights_only=True)
    assert any(k.startswith("backbone.") for k in state)

    fresh = tmp_path / "fresh"  # the same job never interrupted
    assert main(["run", str(path), "--out", str(fresh), "--jobs", "1", "-q"]) == 0
    (twin,) = [p for p in (fresh / "predictions").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert twin.name == job.name
    assert (twin / "predictions.csv").read_bytes() == (job / "predictions.csv").read_bytes()
    assert json.loads((job / "job.json").read_text())["status"] == "ok"


def test_the_input_path_probe_reports_both_paths_and_the_wait_share():
    from cirrbench.perf.speed import InputProbe, input_path_benchmark

    result = input_path_benchmark(
        InputProbe(size=32, batch=4, backbone="resnet18", width=0.25, batches=2, steps=1, scans=3)
    )
    assert result["augmentation"]["per_slice_slices_per_second"] > 0
    assert result["augmentation"]["batched_slices_per_second"] > 0
    assert result["augmentation_speedup"] > 0 and 0 < result["data_wait_share"] < 1
    assert result["channels"] == 3 and result["device"].startswith("cpu")
    assert 0 <= result["data_wait_share_overlapped"] < 1
    step = result["training_step"]
    assert step["seconds_per_step_overlapped"] > 0 and step["seconds_per_step_prebuilt_batch"] > 0


def _dry_run_hours(root: Path, tmp: Path, capsys, slices_per_second: float) -> dict[str, float]:
    out = tmp / "results"
    (out / "perf").mkdir(parents=True, exist_ok=True)
    probe = {"size": 32, "device": "test", "training_step": {"slices_per_second": slices_per_second, "model": "m"}}
    (out / "perf" / "training.json").write_text(json.dumps({"input_path": probe}))
    path = tmp / "cost.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "cost",
                "data": {"root": str(root)},
                "inputs": ["T1W"],
                "protocols": ["official"],
                "runners": ["majority", {"name": "cnn-resnet18", "params": {"size": 64, "epochs": 3}}],
            }
        )
    )
    assert main(["run", str(path), "--out", str(out), "--dry-run", "-q"]) == 0
    text = capsys.readouterr().out
    assert f"at {slices_per_second:g} slices/s of m at 32 px on test" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.split()}
    assert len(rows["majority"]) == 3  # no slice cost: no estimate
    return {name: float(rows[name][3]) for name in ("cnn-resnet18", "total")}


def test_dry_run_estimates_hours_from_the_measured_throughput(tiny_phantom, tmp_path, capsys):
    from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
    from cirrbench.benchmark.runners.contract import ScanSet
    from cirrbench.models.deep_runners import DeepRunner

    slow = _dry_run_hours(tiny_phantom, tmp_path, capsys, 0.01)
    fast = _dry_run_hours(tiny_phantom, tmp_path, capsys, 0.02)
    assert slow["cnn-resnet18"] > 1 and slow["total"] == slow["cnn-resnet18"]
    assert fast["cnn-resnet18"] == pytest.approx(slow["cnn-resnet18"] / 2, abs=0.06)

    cohort = load_cirrmri(tiny_phantom)
    records = [r for r in cohort.records if r.sequence == "T1W"]
    train, valid, test = (ScanSet(tuple(part), cohort.labels) for part in (records[:6], records[6:8], records[8:10]))
    params = get_runner_params("cnn-resnet18", {"epochs": 3, "slices_per_scan": 4, "max_slices": 32})
    liver = DeepRunner.LIVER_SLICES_PER_SCAN
    assert DeepRunner.training_cost(params, train, valid, test) == pytest.approx(3 * 6 * 4 + (2 * 3 + 2) * 32 / 3)
    slices = get_runner_params("cnn-resnet18", {"epochs": 3, "epoch": "slices", "max_slices": 32})
    assert DeepRunner.training_cost(slices, train, valid, test) == pytest.approx(3 * 6 * liver + (2 * 3 + 2) * 32 / 3)


def get_runner_params(name: str, overrides: dict):
    from cirrbench.benchmark.runners.registry import get_runner

    return get_runner(name).make_params(overrides)


def test_tensorboard_event_files_are_kept_with_the_job(tiny_phantom, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install -e .[tensorboard])")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = _deep_config(tiny_phantom, tmp_path, "tb", runner="cnn-resnet18", tensorboard=True, epochs=3)
    out = tmp_path / "results"
    assert main(["run", str(path), "--out", str(out), "--jobs", "1", "-q"]) == 0
    (job,) = [p for p in (out / "predictions").iterdir() if p.is_dir() and not p.name.startswith(".")]
    events = EventAccumulator(str(job / "outputs" / "tensorboard"))
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"]
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
