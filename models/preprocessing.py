"""Deep-learning input: MONAI preprocessing of each scan, an on-disk slice cache, 2D/2.5D inputs.

Each scan is loaded, brought to RAS orientation, resampled in-plane to ``spacing_mm`` (slice
spacing kept), cropped to the liver's bounding box plus a margin (``crop: none`` keeps the field of
view), normalised (by default clipped to liver percentiles and z-scored inside the liver; or over
the whole image, or a fixed window such as a CT Hounsfield window, or not at all for binary
volumes), optionally zeroed outside the liver, and resized in-plane to ``size``.
The result is cached as a float16 ``.npy`` volume keyed on the files' content and these
parameters, so training epochs read no NIfTI at all.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cirrbench.benchmark.common.atomic import atomic_write_bytes, read_cache_entry, write_cache_entry
from cirrbench.benchmark.common.hashing import memo_digest
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.data.cohort import ScanRecord

__all__ = [
    "CACHE_VERSION",
    "pick_slices",
    "preprocess_all",
    "preprocess_scan",
    "Preprocessing",
    "preprocessing_transform",
    "RAS_LABELS",
    "ScanSlices",
    "stack_context",
]

CACHE_VERSION = "1"


@dataclass(frozen=True)
class Preprocessing:
    spacing_mm: float = 1.5  # in-plane; slice spacing is kept
    margin_mm: float = 10.0
    size: int = 64  # in-plane pixels after resizing (the seed paper: 256)
    clip_percentiles: tuple[float, float] = (0.5, 99.5)
    mask_outside: bool = False  # zero the non-liver voxels
    min_liver_fraction: float = 0.2  # a slice is kept when its liver area >= this x the largest
    normalise: str = "roi-zscore"  # roi-zscore | image-zscore | window | none
    window: tuple[float, float] | None = (
        None  # for "window": intensities mapped from [low, high] to [0, 1] (CT: Hounsfield units)
    )
    crop: str = "roi"  # roi: the mask's bounding box plus a margin; none: the whole field of view

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def _normalise(data: dict, p: Preprocessing) -> dict:
    """Intensities as the modality needs them (the seed paper's MRI default: z-score in the liver).

    ``roi-zscore``: clip to percentiles of the ROI, z-score with the ROI's mean and SD (MRI has no
    absolute intensity scale); ``image-zscore``: the same over the whole image; ``window``: map
    [low, high] to [0, 1], clipped (CT in Hounsfield units); ``none``: as stored (binary shapes).
    A constant ROI under ``roi-zscore`` would become all zeros: it is warned about.
    """
    image, mask = data["image"], data["mask"] > 0.5
    low, high = p.clip_percentiles
    if p.normalise in ("roi-zscore", "image-zscore"):
        region = image[mask] if p.normalise == "roi-zscore" else image.reshape(-1)
        if region.numel() == 0:
            raise ValueError("empty liver mask after cropping")
        lo, hi = np.percentile(region.cpu().numpy(), [low, high])
        image = image.clamp(float(lo), float(hi))
        region = image[mask] if p.normalise == "roi-zscore" else image.reshape(-1)
        if float(region.std()) == 0.0:
            warnings.warn(
                f"intensities inside the {'ROI' if p.normalise == 'roi-zscore' else 'image'} are constant, so {p.normalise} makes the input all zeros; "
                "for binary or label volumes use normalise: none, for CT normalise: window",
                UserWarning,
                stacklevel=2,
            )
        image = (image - region.mean()) / region.std().clamp_min(1e-6)
    elif p.normalise == "window":
        if p.window is None:
            raise ValueError("normalise: window needs window: [low, high]")
        lo, hi = p.window
        image = ((image.clamp(float(lo), float(hi)) - lo) / max(hi - lo, 1e-6)).float()
    elif p.normalise != "none":
        raise ValueError(f"normalise {p.normalise!r}: use roi-zscore, image-zscore, window or none")
    if p.mask_outside:
        image = image * mask
    data["image"] = image
    return data


#: Axis labels of the RAS orientation, given explicitly: MONAI 1.6 warns that its default will change.
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def preprocessing_transform(p: Preprocessing):
    """The MONAI pipeline of one scan (dictionary transforms on keys image and mask)."""
    from monai.transforms import (
        Compose,
        CropForegroundd,
        EnsureChannelFirstd,
        Lambda,
        LoadImaged,
        Orientationd,
        Resized,
        Spacingd,
    )

    keys = ["image", "mask"]
    margin = int(round(p.margin_mm / p.spacing_mm))
    return Compose(
        [
            LoadImaged(keys, image_only=True),
            EnsureChannelFirstd(keys),
            Orientationd(keys, axcodes="RAS", labels=RAS_LABELS),
            Spacingd(keys, pixdim=(p.spacing_mm, p.spacing_mm, -1.0), mode=("bilinear", "nearest")),
            *(
                [CropForegroundd(keys, source_key="mask", margin=(margin, margin, 0), allow_smaller=True)]
                if p.crop == "roi"
                else []
            ),
            Lambda(lambda d: _normalise(d, p)),
            Resized(keys, spatial_size=(p.size, p.size, -1), mode=("bilinear", "nearest")),
        ]
    )


@dataclass
class ScanSlices:
    """One preprocessed scan: all slices of the liver's extent and which ones are liver slices."""

    volume: np.ndarray  # (Z, H, W) float16
    selected: np.ndarray  # indices of liver slices used for training and prediction


def _cache_paths(record: ScanRecord, p: Preprocessing) -> tuple[Path, Path]:
    key = hashlib.sha256(json.dumps([CACHE_VERSION, *map(memo_digest, record.files()), p.key()]).encode()).hexdigest()
    folder = cache_dir("slices", p.key())
    return folder / f"{key}.npy", folder / f"{key}.json"


def preprocess_scan(record: ScanRecord, p: Preprocessing) -> ScanSlices:
    """Preprocess (or read from the cache) one scan."""
    if record.image is None or record.mask is None:
        raise ValueError(f"{record.scan_id}: deep runners need images (a feature-table cohort has none)")
    volume_path, meta_path = _cache_paths(record, p)
    cached = _read_cached(volume_path, meta_path)
    if cached is not None:
        return cached
    data = preprocessing_transform(p)({"image": str(record.image), "mask": str(record.mask)})
    image = data["image"][0].numpy()  # (H, W, Z) after channel removal
    mask = data["mask"][0].numpy() > 0.5
    volume = np.moveaxis(image, -1, 0).astype(np.float16)  # (Z, H, W)
    areas = np.moveaxis(mask, -1, 0).reshape(volume.shape[0], -1).sum(axis=1)
    selected = np.flatnonzero(areas >= p.min_liver_fraction * areas.max())
    buffer = io.BytesIO()
    np.save(buffer, volume)
    atomic_write_bytes(volume_path, buffer.getvalue())
    write_cache_entry(
        meta_path, {"scan_id": record.scan_id, "selected": selected.tolist(), "shape": list(volume.shape)}
    )  # written last: marks the entry complete
    return ScanSlices(np.load(volume_path, mmap_mode="r"), selected)


def _read_cached(volume_path: Path, meta_path: Path) -> ScanSlices | None:
    """A cached scan, or None when absent or corrupt (then it is recomputed, never fatal)."""
    meta = read_cache_entry(meta_path)
    if not isinstance(meta, dict) or not volume_path.is_file():
        return None
    try:
        volume = np.load(volume_path, mmap_mode="r")
        if list(volume.shape) != list(meta["shape"]):
            raise ValueError(f"shape {volume.shape} but the entry says {meta['shape']}")
        return ScanSlices(volume, np.array(meta["selected"], dtype=int))
    except (ValueError, KeyError, TypeError, OSError) as exc:
        import logging

        logging.getLogger("cirrbench").warning("slice cache entry %s is corrupt (%s); recomputing it", volume_path, exc)
        volume_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        return None


def preprocess_all(
    records: Sequence[ScanRecord], p: Preprocessing, jobs: int = 1, progress: bool = False
) -> dict[str, ScanSlices]:
    """Every scan's slices; missing cache entries are computed in ``jobs`` processes first."""
    from joblib import delayed
    from tqdm.auto import tqdm

    from cirrbench.benchmark.common.processes import worker_pool

    missing = [r for r in records if not all(path.is_file() for path in _cache_paths(r, p))]
    if missing:
        tasks = (delayed(preprocess_scan)(r, p) for r in missing)
        for _ in tqdm(
            worker_pool(jobs, "generator")(tasks),
            total=len(missing),
            desc="slice cache",
            unit="scan",
            disable=not progress,
        ):
            pass
    return {r.scan_id: preprocess_scan(r, p) for r in records}


def stack_context(volume: np.ndarray, index: int, context: int) -> np.ndarray:
    """Slice ``index`` with ``context`` neighbours on each side as channels (2.5D); edges repeat."""
    picks = np.clip(np.arange(index - context, index + context + 1), 0, volume.shape[0] - 1)
    return np.asarray(volume[picks], dtype=np.float32)


def pick_slices(selected: np.ndarray, count: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """``count`` liver slices: random (training, with ``rng``) or evenly spaced (prediction)."""
    if count is None or len(selected) <= count:
        return selected
    if rng is not None:
        return np.sort(rng.choice(selected, size=count, replace=False))
    return selected[np.linspace(0, len(selected) - 1, count).round().astype(int)]
