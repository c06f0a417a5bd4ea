"""``cirrbench perf``: measured speed of the suite's heavy parts, written as JSON and a plot.

Each measurement runs on a phantom (generated into the cache when needed) and records the
machine, versions and settings next to its numbers, so a figure quoted in the README can be
traced to the run that produced it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cirrbench.benchmark.common.provenance import cpu_model, git_commit, machine, package_versions  # noqa: E402
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri  # noqa: E402

if TYPE_CHECKING:
    import torch

    from cirrbench.models.batches import TrainSettings

__all__ = [
    "InputProbe",
    "write_measurement",
    "extraction_benchmark",
    "input_path_benchmark",
    "plot_scaling",
    "scaling_benchmark",
    "training_benchmark",
]


def write_measurement(out: Path, name: str, payload: dict) -> Path:
    """``out/name.json``: the measurement with the machine, versions, commit and time that made it."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        **payload,
        "machine": {**machine(), "cpu_model": cpu_model()},  # timings compare only on one CPU model
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def extraction_benchmark(root: Path, out: Path, scans: int = 48, jobs: int = 2, params_name: str = "mri") -> dict:
    """Sequential PyRadiomics loop vs the suite's parallel extraction (cold cache) vs warm cache."""
    from radiomics import featureextractor

    import cirrbench.baselines.features as features
    from cirrbench.benchmark.common.hashing import clear_memo

    features.quiet_radiomics()
    cohort = load_cirrmri(root)
    records = list(cohort.records[:scans])
    params = features.load_params(params_name)

    start = time.perf_counter()
    for record in records:  # what a researcher writes first: one extractor, one loop, library threading
        extractor = featureextractor.RadiomicsFeatureExtractor(dict(params))
        extractor.execute(str(record.image), str(record.mask))
    sequential = time.perf_counter() - start

    previous = os.environ.get("CIRRBENCH_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CIRRBENCH_CACHE"] = cache
        try:
            features._MEMO.clear()
            clear_memo()
            start = time.perf_counter()
            cold_result = features.extract_features(records, params, jobs=jobs, progress=False)
            cold = time.perf_counter() - start
            features._MEMO.clear()  # as in a new process: only the on-disk cache remains
            clear_memo()
            start = time.perf_counter()
            warm_result = features.extract_features(records, params, jobs=jobs, progress=False)
            warm = time.perf_counter() - start
        finally:
            if previous is None:
                os.environ.pop("CIRRBENCH_CACHE", None)
            else:
                os.environ["CIRRBENCH_CACHE"] = previous
    assert cold_result.extracted == len(records) and warm_result.cached == len(records)
    result: dict[str, Any] = {
        "what": "PyRadiomics extraction: sequential loop vs cirrbench parallel (cold cache) vs warm cache",
        "cohort": str(root),
        "scans": len(records),
        "params": params_name,
        "jobs": jobs,
        "seconds": {
            "sequential_loop": round(sequential, 2),
            "parallel_cold": round(cold, 2),
            "warm_cache": round(warm, 3),
        },
        "speedup_parallel_vs_loop": round(sequential / cold, 2),
        "warm_fraction_of_cold": round(warm / cold, 4),
        "targets": {"speedup_parallel_vs_loop": ">= 1.8", "warm_fraction_of_cold": "<= 0.02"},
    }
    result["meets_targets"] = result["speedup_parallel_vs_loop"] >= 1.8 and result["warm_fraction_of_cold"] <= 0.02
    write_measurement(out, "extraction", result)
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    labels = ["sequential loop", f"cirrbench, {jobs} processes\n(cold cache)", "cirrbench\n(warm cache)"]
    values = [sequential, cold, warm]
    ax.barh(labels, values, color=["0.6", "C0", "C2"])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.1f} s" if v >= 1 else f" {v:.2f} s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds for {len(records)} phantom scans ({params_name} parameters)")
    ax.set_title(
        f"PyRadiomics extraction: {result['speedup_parallel_vs_loop']}x faster, warm = {100 * result['warm_fraction_of_cold']:.1f} % of cold",
        fontsize=9,
    )
    ax.set_xlim(0, max(values) * 1.2)
    fig.tight_layout()
    fig.savefig(out / "extraction.png", dpi=130)
    plt.close(fig)
    return result


def _probe_settings(epochs: int, augment: bool):
    """The small, fixed training set-up both training probes use (no early stop within ``epochs``)."""
    from cirrbench.models.train import TrainSettings

    return TrainSettings(
        epochs=epochs, max_slices=16, lr=1e-3, scheduler="cosine", early_stopping=epochs + 1, augment=augment, amp=False
    )


def _fixed_slices(settings: TrainSettings) -> int:
    if settings.slices_per_scan is None:
        raise ValueError("the training probe samples a fixed number of slices per scan")
    return settings.slices_per_scan


def training_benchmark(
    root: Path,
    out: Path,
    scans: int = 60,
    epochs: int = 3,
    backbone: str = "resnet18",
    width: float = 0.25,
    size: int = 64,
    trials: int = 9,
    probe: InputProbe | None = None,
) -> dict:
    """Throughput of the suite's training loop vs a bare torch loop on the same cached slices, and
    the input path at the paper's size (``probe``, default :class:`InputProbe`; :func:`input_path_benchmark`).

    Both train the same slice classifier with, step for step, the same batch shapes (the suite's
    epoch ends with a smaller batch; the bare loop mirrors it) and no augmentation; the suite's
    loop also samples and stacks slices from the cache each step, which is its data time.
    Suite and bare runs alternate ``trials`` times and the overhead is the median of the paired
    ratios (a run of a few seconds on a shared 2-core machine varies by 10 % or more); threads:
    torch's default for this machine, the same for both."""
    import numpy as np
    import torch

    from cirrbench.models.networks import SliceClassifier
    from cirrbench.models.preprocessing import Preprocessing, preprocess_all
    from cirrbench.models.train import BagBuilder, Unit, train, training_batches

    cohort = load_cirrmri(root)
    records = [r for r in cohort.records if r.sequence == "T1W"][:scans]
    prep = Preprocessing(size=size)
    slices = preprocess_all(records, prep, jobs=2)
    settings = _probe_settings(epochs, augment=False)
    per_scan = _fixed_slices(settings)
    units = [Unit(r.scan_id, r.label, {"T1W": r.scan_id}) for r in records]
    step_units = [len(b) for b in training_batches(np.arange(len(units)), settings.batch_size)] * epochs
    slices_trained = sum(step_units) * per_scan

    torch.manual_seed(0)
    model = SliceClassifier(backbone, 1, 3, width)
    builder = BagBuilder(slices, ("T1W",), settings, seed=0)
    timer = _BatchTimer(builder)

    bare_model, bare_step = _bare_loop(records, slices, backbone, width, size, per_scan)

    # Warm-up of both (allocations, kernels), then alternating timed runs.
    train(model, builder, units[:8], [], 3, settings, torch.device("cpu"), seed=0)
    bare_model.train()
    for n_units in step_units[:2]:
        bare_step(n_units)
    suite_times, bare_times, data_times = [], [], []
    for _ in range(max(1, trials)):
        timer.seconds = 0.0
        start = time.perf_counter()
        train(model, builder, units, [], 3, settings, torch.device("cpu"), seed=0)
        suite_times.append(time.perf_counter() - start)
        data_times.append(timer.seconds)
        start = time.perf_counter()
        for n_units in step_units:
            bare_step(n_units)
        bare_times.append(time.perf_counter() - start)
    suite, bare, data = (float(np.median(t)) for t in (suite_times, bare_times, data_times))
    paired = np.array(suite_times) / np.array(bare_times) - 1.0  # neighbouring runs share the machine's state

    result = {
        "what": "deep training throughput: cirrbench training loop vs a bare torch loop on the same cached slices",
        "cohort": str(root),
        "scans": len(units),
        "model": f"SliceClassifier({backbone}, width {width}), {size} px, batch 8 scans x {settings.slices_per_scan} slices, no augmentation",
        "steps": len(step_units),
        "slices_trained": slices_trained,
        "torch_threads": torch.get_num_threads(),
        "trials": {"suite_s": [round(t, 2) for t in suite_times], "bare_loop_s": [round(t, 2) for t in bare_times]},
        "seconds": {"suite": round(suite, 2), "bare_loop": round(bare, 2), "suite_data": round(data, 2)},
        "slices_per_second": {"suite": round(slices_trained / suite, 1), "bare_loop": round(slices_trained / bare, 1)},
        "overhead": round(float(np.median(paired)), 3),  # median over trials of suite/bare - 1
        "overhead_quartiles": [round(float(q), 3) for q in np.percentile(paired, [25, 75])],
        "loop_data_share": round(data / suite, 3),
    }
    write_measurement(out, "training", _with_input_path(result, probe or InputProbe()))
    return result


class _BatchTimer:
    """Wraps a builder's ``batch`` so the seconds spent building batches add up in ``seconds``."""

    def __init__(self, builder) -> None:
        self.seconds = 0.0
        original = builder.batch

        def timed_batch(*args, **kwargs):
            start = time.perf_counter()
            result = original(*args, **kwargs)
            self.seconds += time.perf_counter() - start
            return result

        builder.batch = timed_batch


def _bare_loop(records, slices, backbone: str, width: float, size: int, slices_per_scan: int):
    """A bare torch loop: every liver slice preloaded as one tensor, random batches of the suite's
    shapes; (its model, ``step(n_units)``)."""
    import numpy as np
    import torch

    from cirrbench.models.networks import SliceClassifier

    pool = torch.from_numpy(
        np.concatenate(
            [np.asarray(slices[r.scan_id].volume[slices[r.scan_id].selected], dtype=np.float32) for r in records]
        )
    )[:, None]
    labels = torch.from_numpy(np.concatenate([[r.label] * len(slices[r.scan_id].selected) for r in records]))
    torch.manual_seed(0)
    bare_model = SliceClassifier(backbone, 1, 3, width)
    optimiser = torch.optim.AdamW(bare_model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(0)

    def bare_step(n_units: int) -> None:
        n = n_units * slices_per_scan
        index = torch.randint(0, len(pool), (n,), generator=generator)
        x = pool[index].reshape(n_units, slices_per_scan, 1, size, size)
        _, logits = bare_model({"T1W": x}, {"T1W": torch.ones(x.shape[:2], dtype=torch.bool)})
        loss = torch.nn.functional.cross_entropy(logits["T1W"].reshape(n, -1), labels[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return bare_model, bare_step


def _with_input_path(result: dict, probe: InputProbe) -> dict:
    """``result`` with the input-path probe's figures and the targets each is held to."""
    path = input_path_benchmark(probe)
    result["input_path"] = path
    result["augmentation_speedup"] = path["augmentation_speedup"]
    result["data_wait_share"] = path["data_wait_share"]
    result["data_wait_share_overlapped"] = path["data_wait_share_overlapped"]
    on_gpu = probe.device.startswith("cuda")
    result["targets"] = {
        "overhead": "<= 0.10",
        "augmentation_speedup": ">= 5 (batched vs per-slice, same device)",
        **({"data_wait_share": "<= 0.05 (ResNet-50, 256 px, batch 32, GPU)"} if on_gpu else {}),
    }
    result["meets_targets"] = (
        result["overhead"] <= 0.10
        and result["augmentation_speedup"] >= 5
        and (not on_gpu or result["data_wait_share"] <= 0.05)
    )
    return result


def _synthetic_slices(scans: int, depth: int, size: int, seed: int = 0) -> dict:
    """Cached-slice stand-ins of the real cohort's shape (float16 volumes), made in memory."""
    import numpy as np

    from cirrbench.models.preprocessing import ScanSlices

    rng = np.random.default_rng(seed)
    return {
        f"scan{i:03d}": ScanSlices(rng.normal(size=(depth, size, size)).astype(np.float16), np.arange(2, depth - 2))
        for i in range(scans)
    }


def _per_slice_batch(slices: dict, units: list, context: int, augment, device) -> torch.Tensor:
    """The previous input path, kept as the baseline: numpy stacking and MONAI's transforms per slice."""
    import numpy as np
    import torch

    from cirrbench.models.preprocessing import stack_context

    bag = [stack_context(slices[u.scan_ids["T1W"]].volume, u.slice_index, context) for u in units]
    stacked = np.stack([np.asarray(augment(torch.from_numpy(x))) for x in bag])
    return torch.from_numpy(stacked).to(device)


@dataclass(frozen=True)
class InputProbe:
    """What :func:`input_path_benchmark` measures: the paper's input (256 px, batch 32, 2.5D with
    one neighbour per side: 3 channels) into a full-width ResNet-50 on ``device``."""

    device: str = "cpu"
    size: int = 256  # slice side in pixels
    batch: int = 32  # slices per batch
    context: int = 1  # neighbours per side (channels: 2 * context + 1)
    backbone: str = "resnet50"
    width: float = 1.0
    batches: int = 16  # batches timed per augmentation path
    steps: int = 4  # training steps timed (after one warm-up step)
    scans: int = 24  # synthetic cached scans the batches draw from


def input_path_benchmark(probe: InputProbe | None = None) -> dict:
    """The batched device input path vs the per-slice path, and the data-wait share of training.

    ``augmentation_speedup``: slices per second of building augmented batches (gather + flips +
    rotation) batched on the probe's device over the per-slice path (numpy stacking, MONAI
    transforms one slice at a time, then a copy to the device), same device, same batch shape.
    ``data_wait_share``: the share of a training step (the probe's slice classifier, size, batch
    and channels) spent building its batch with the batched path; a GPU is synchronised before
    each clock reading so the share is not hidden by asynchronous kernels.
    """
    probe = probe or InputProbe()
    size, batch, context, batches, steps = probe.size, probe.batch, probe.context, probe.batches, probe.steps
    import numpy as np
    import torch

    from cirrbench.models.batches import BagBuilder, TrainSettings, Unit
    from cirrbench.models.networks import SliceClassifier

    dev = torch.device(probe.device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    slices = _synthetic_slices(probe.scans, 40, size)
    settings = TrainSettings(
        epochs=1, batch_size=batch, slices_per_scan=1, max_slices=batch, context=context, epoch="slices"
    )
    builder = BagBuilder(slices, ("T1W",), settings, seed=0, device=dev)
    units = builder.slice_units([Unit(s, i % 3, {"T1W": s}) for i, s in enumerate(slices)])
    rng = np.random.default_rng(0)
    chunks = [[units[i] for i in rng.choice(len(units), batch, replace=False)] for _ in range(batches + 1)]

    per_slice, batched = _augmentation_seconds(slices, chunks, context, builder, dev, sync)

    torch.manual_seed(0)
    model = SliceClassifier(probe.backbone, 2 * context + 1, 3, probe.width).to(dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; its stub omits it
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = dev.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    data_s, step_s = _synchronised_steps(model, optimiser, builder, chunks, steps, dev, amp, dtype, sync)
    overlapped, prebuilt = _overlapped_steps(model, optimiser, builder, chunks, steps, dev, amp, dtype, sync)
    n = batches * batch
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "size": size,
        "batch": batch,
        "channels": 2 * context + 1,
        "augmentation": {
            "per_slice_slices_per_second": round(n / per_slice, 1),
            "batched_slices_per_second": round(n / batched, 1),
        },
        "augmentation_speedup": round(per_slice / batched, 2),
        "training_step": {
            "model": f"SliceClassifier({probe.backbone}, width {probe.width})",
            "steps_timed": steps,
            "seconds_per_step": round(step_s / steps, 4),
            "data_seconds_per_step": round(data_s / steps, 5),
            "slices_per_second": round(steps * batch / step_s, 1),
            "autocast": str(dtype).removeprefix("torch.") if amp else "off",
            "seconds_per_step_overlapped": round(overlapped / steps, 4),
            "seconds_per_step_prebuilt_batch": round(prebuilt / steps, 4),
        },
        "data_wait_share": round(data_s / step_s, 4),
        # the training loop as it runs (no clock synchronisation between batch and step) against the
        # same steps on one batch built beforehand: what building batches adds to a step when the
        # device's queue lets the next batch be built while the last step's kernels run
        "data_wait_share_overlapped": round(max(0.0, (overlapped - prebuilt) / overlapped), 4),
    }


def _synchronised_steps(model, optimiser, builder, chunks, steps, dev, amp, dtype, sync) -> tuple[float, float]:
    """(seconds building batches, seconds of whole steps) over ``steps`` training steps, the device
    synchronised around each batch so that asynchronous kernels hide nothing; one warm-up step first."""
    data_s = step_s = 0.0
    for step in range(steps + 1):  # the first step warms up (allocations, kernel choice)
        sync()
        t0 = time.perf_counter()
        chunk = chunks[step % len(chunks)]
        b = builder.batch(chunk, training=True)
        sync()
        t1 = time.perf_counter()
        _probe_step(model, optimiser, b, chunk, dev, amp, dtype)
        sync()
        t2 = time.perf_counter()
        if step:
            data_s += t1 - t0
            step_s += t2 - t0
    return data_s, step_s


def _augmentation_seconds(slices, chunks, context, builder, dev, sync) -> tuple[float, float]:
    """Seconds to build ``chunks[1:]`` as augmented batches per slice (numpy + MONAI, then copied)
    and batched on the device (after one warm-up of each)."""
    from cirrbench.models.augment import per_slice_augmentation

    augment = per_slice_augmentation(0)
    _per_slice_batch(slices, chunks[0], context, augment, dev)
    builder.batch(chunks[0], training=True)
    sync()
    start = time.perf_counter()
    for chunk in chunks[1:]:
        _per_slice_batch(slices, chunk, context, augment, dev)
    sync()
    per_slice = time.perf_counter() - start
    start = time.perf_counter()
    for chunk in chunks[1:]:
        builder.batch(chunk, training=True)
    sync()
    return per_slice, time.perf_counter() - start


def _probe_step(model, optimiser, batch, chunk, dev, amp, dtype) -> None:
    """One training step of the input-path probe on ``batch`` (the units of ``chunk``)."""
    import torch

    target = torch.tensor([u.label for u in chunk], device=dev)
    with torch.autocast(device_type=dev.type, dtype=dtype, enabled=amp):
        _, logits = model(batch.x, batch.valid)
        loss = torch.nn.functional.cross_entropy(logits["T1W"].reshape(len(target), -1).float(), target)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def _overlapped_steps(model, optimiser, builder, chunks, steps, dev, amp, dtype, sync) -> tuple[float, float]:
    """Seconds of ``steps`` training steps with batches built as training builds them, and of the
    same steps on one batch built beforehand; the clock is synchronised at both ends only."""
    sync()
    start = time.perf_counter()
    for index in range(steps):
        chunk = chunks[index % len(chunks)]
        _probe_step(model, optimiser, builder.batch(chunk, training=True), chunk, dev, amp, dtype)
    sync()
    overlapped = time.perf_counter() - start
    fixed = builder.batch(chunks[0], training=True)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        _probe_step(model, optimiser, fixed, chunks[0], dev, amp, dtype)
    sync()
    return overlapped, time.perf_counter() - start


def _probe(kind: str, root: str) -> dict:
    """One measurement in a fresh process (so peak memory is its own): extraction or one deep epoch."""
    import resource

    import numpy as np

    cohort = load_cirrmri(root)
    start = time.perf_counter()
    if kind == "extraction":
        import cirrbench.baselines.features as features

        with tempfile.TemporaryDirectory() as cache:
            os.environ["CIRRBENCH_CACHE"] = cache
            result = features.extract_features(cohort.records, features.load_params("default"), jobs=2, progress=False)
        assert not result.failures
    else:
        import torch

        from cirrbench.models.networks import SliceClassifier
        from cirrbench.models.preprocessing import Preprocessing, preprocess_all
        from cirrbench.models.train import BagBuilder, Unit, train

        slices = preprocess_all(cohort.records, Preprocessing(size=64), jobs=2)
        start = time.perf_counter()  # one epoch, the slice cache already built
        settings = _probe_settings(1, augment=True)
        torch.manual_seed(0)
        model = SliceClassifier("resnet18", 1, 3, 0.25)
        units = [Unit(r.scan_id, r.label, {r.sequence: r.scan_id}) for r in cohort.records]
        train(
            model,
            BagBuilder(slices, cohort.sequences, settings, 0),
            units,
            [],
            3,
            settings,
            torch.device("cpu"),
            seed=0,
        )
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "scans": len(cohort),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(float(np.max([own, children])), 1),
        "main_rss_mb": round(own, 1),
    }


def scaling_benchmark(out: Path, patients: tuple[int, ...] = (30, 100, 300), scale: float = 0.5) -> dict:
    """Wall time and peak memory of extraction and of one deep epoch as the cohort grows.

    Phantoms of about 60, 200 and 600 scans (small grids, ``scale``) so the whole sweep takes a
    few minutes; the exponent is the slope of log(time) against log(scans).
    """
    import subprocess
    import sys

    import numpy as np

    from cirrbench.benchmark.execution.orchestrator import phantom_root

    rows = []
    for n in patients:
        root = phantom_root(n, 1, scale=scale, jobs=2, progress=False)
        for kind in ("extraction", "epoch"):
            code = f"import json; from cirrbench.perf.speed import _probe; print(json.dumps(_probe({kind!r}, {str(root)!r})))"
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )  # inherits CIRRBENCH_CACHE
            rows.append({"kind": kind, "patients": n, **json.loads(done.stdout.strip().splitlines()[-1])})
    result: dict = {
        "what": "cost growth: wall time and peak memory vs cohort size",
        "phantom_scale": scale,
        "rows": rows,
        "fits": {},
    }
    for kind in ("extraction", "epoch"):
        part = [r for r in rows if r["kind"] == kind]
        x = np.log([r["scans"] for r in part])
        y = np.log([r["seconds"] for r in part])
        exponent = float(np.polyfit(x, y, 1)[0])
        memory = [r["peak_rss_mb"] for r in part]
        result["fits"][kind] = {
            "time_exponent": round(exponent, 3),
            "peak_memory_ratio_max_over_min": round(max(memory) / min(memory), 3),
        }
    result["targets"] = {"time_exponent": "<= 1.1", "peak_memory_ratio_max_over_min": "<= 1.2"}
    result["meets_targets"] = all(
        f["time_exponent"] <= 1.1 and f["peak_memory_ratio_max_over_min"] <= 1.2 for f in result["fits"].values()
    )
    write_measurement(out, "scaling", result)
    plot_scaling(result, out / "scaling.png")
    return result


def plot_scaling(result: dict, path: Path) -> None:
    """Time (log-log) and peak memory against cohort size, ticks at the measured sizes."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    rows = result["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2))
    sizes = sorted({r["scans"] for r in rows})
    for ax, key, label in ((axes[0], "seconds", "wall time (s)"), (axes[1], "peak_rss_mb", "peak memory (MB)")):
        for kind, colour in (("extraction", "C0"), ("epoch", "C1")):
            part = [r for r in rows if r["kind"] == kind]
            name = (
                f"{kind} (time exponent {result['fits'][kind]['time_exponent']})"
                if key == "seconds"
                else f"{kind} (max/min {result['fits'][kind]['peak_memory_ratio_max_over_min']})"
            )
            ax.plot([r["scans"] for r in part], [r[key] for r in part], "o-", color=colour, label=name)
        ax.set_xscale("log")
        if key == "seconds":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(0, max(r[key] for r in rows) * 1.15)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("scans in the cohort")
        ax.set_ylabel(label)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(color="0.92")
    fig.suptitle(
        "Cost growth on phantoms: feature extraction (default parameters, 2 processes) and one deep epoch", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
