"""Deep runners: slice-level CNNs (one per backbone), the sequence-attention model, a 3D model.

Every runner returns per-scan probabilities and (except the 3D model) per-slice probabilities,
so the tables show slice-level accuracy (comparable with the seed paper) and patient-level
accuracy. Defaults train from scratch; ``pretrained: imagenet`` or a file loads backbone weights.
"""

from __future__ import annotations

import dataclasses
import io
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import numpy as np
import pandas as pd
import torch

from cirrbench.benchmark.common.kernels import deterministic_algorithms
from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
from cirrbench.benchmark.runners.params import param
from cirrbench.benchmark.runners.registry import register_runner

from .backbones import (
    available_backbones,
    builds_in,
    has_fixed_width,
    on_backbone_registered,
    reference_for,
)
from .batches import BagBuilder, TrainSettings, Unit
from .epoch_log import EpochReporter
from .networks import SequenceAttentionModel, SliceClassifier, VolumetricModel
from .preprocessing import Preprocessing, preprocess_all
from .pretrained import IMAGENET_MEAN, IMAGENET_STD, load_pretrained
from .train import predict_units, train

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "CPU_SMOKE",
    "DeepParams",
    "DeepRunner",
    "SequenceAttentionParams",
    "SequenceAttentionRunner",
    "SliceCNNRunner",
    "SliceParams",
    "VolumetricParams",
    "VolumetricRunner",
]

_Settings = TypeVar("_Settings", bound="DataclassInstance")


def same_named(settings: type[_Settings], params: Any, **given: Any) -> _Settings:
    """``settings`` (a dataclass) from the runner's parameters of the same names: a parameter feeds
    the setting it names, ``given`` the rest; settings neither names keep their defaults.

    Args:
        settings: the dataclass to build (``Preprocessing``, ``TrainSettings``).
        params: the runner's parameters (a dataclass instance).
        given: values the runner computes rather than declares; they win over a same-named parameter.

    Returns:
        The settings instance.
    """
    names = {f.name for f in dataclasses.fields(settings)}
    unknown = set(given) - names
    if unknown:
        raise TypeError(f"{settings.__name__} has no field(s) {sorted(unknown)}")
    from_params = {f.name: getattr(params, f.name) for f in dataclasses.fields(params) if f.name in names}
    return settings(**{**from_params, **given})


@dataclass(frozen=True)
class DeepParams:
    """What every deep runner uses; the sequence-attention and 3D models add their own below."""

    backbone: str = param(
        "resnet18",
        "2D (or 3D) feature extractor: a registered backbone (`cirrbench runners` lists the cnn-<backbone> runners)",
    )
    width: float = param(
        1.0,
        "channel multiplier (1 = the published widths; the cpu profile uses 0.25); EfficientNet-B0, whose architecture fixes its width, takes only 1",
        above=0,
        maximum=4,
    )
    size: int = param(256, "in-plane input size in pixels, as in the seed paper", minimum=16, maximum=1024)
    spacing_mm: float = param(1.0, "in-plane resampling before cropping (mm)", above=0)
    mask_outside: bool = param(False, "zero the voxels outside the liver mask")
    normalise: str = param(
        "roi-zscore",
        "intensities: z-score in the ROI (MRI), over the image, a fixed window (CT), or none (binary volumes)",
        choices=("roi-zscore", "image-zscore", "window", "none"),
    )
    window: tuple[float, float] | None = param(
        None, "for normalise: window, the [low, high] mapped to [0, 1] (e.g. [-100, 200] HU)"
    )
    crop: str = param(
        "roi", "crop to the mask's bounding box plus a margin, or keep the whole field of view", choices=("roi", "none")
    )
    epochs: int = param(100, "maximum training epochs", minimum=1)
    batch_size: int = param(8, "scans (or patients) per step", minimum=1)
    slices_per_scan: int | None = param(4, "slices sampled per scan per step (null: all)", minimum=1)
    epoch: str = param(
        "scans",
        "scans: every training scan once per epoch; slices: every liver slice once (slice CNNs, the released code)",
        choices=("scans", "slices"),
    )
    max_slices: int | None = param(32, "slices per scan at prediction (null: all)", minimum=1)
    lr: float = param(1e-4, "AdamW learning rate", above=0, maximum=1)
    weight_decay: float = param(1e-5, "AdamW weight decay", minimum=0)
    scheduler: str = param("plateau", "learning-rate schedule", choices=("plateau", "cosine", "none"))
    plateau_patience: int = param(5, "epochs without validation improvement before the learning rate drops", minimum=1)
    early_stopping: int = param(
        20, "epochs without validation improvement before training stops (best weights restored)", minimum=1
    )
    monitor: str = param(
        "accuracy", "validation quantity early stopping follows", choices=("accuracy", "balanced_accuracy", "loss")
    )
    class_weights: bool = param(False, "weight the loss by inverse class frequency")
    augment: bool = param(True, "the seed paper's flips (p 0.3) and rotations (up to 10 degrees)")
    amp: bool = param(True, "mixed precision on CUDA (ignored on CPU)")
    pretrained: str = param(
        "none",
        "backbone weights: imagenet (timm, torchvision or MONAI), none (from scratch), or a local state-dict file",
    )
    weights_strict: bool = param(True, "refuse pretrained weights whose keys or shapes do not match the backbone")
    compile: bool = param(False, "torch.compile the network (worth it for long GPU runs; needs a C compiler)")
    save_weights: bool = param(False, "keep the best weights with the job (outputs/best_weights.pt)")
    tensorboard: bool = param(False, "write TensorBoard event files (needs the tensorboard package)")


@dataclass(frozen=True)
class SliceParams(DeepParams):
    context: int = param(0, "2.5D: neighbouring slices per side as extra channels", minimum=0, maximum=5)


@dataclass(frozen=True)
class SequenceAttentionParams(SliceParams):
    context: int = param(1, "2.5D: neighbouring slices per side as extra channels", minimum=0, maximum=5)
    multiscale: bool = param(True, "descriptors from three backbone stages (false: the last stage only)")
    attention: bool = param(True, "CBAM refinement of each stage's feature map")
    pooling: str = param("attention", "how slice descriptors become a scan descriptor", choices=("attention", "mean"))
    clinical: bool = param(False, "append age and sex to the patient descriptor")
    attention_maps: int = param(2, "test scans per predicted stage whose attention maps are saved", minimum=0)


@dataclass(frozen=True)
class VolumetricParams(DeepParams):
    depth: int = param(32, "slices the cropped liver volume is resampled to", minimum=4)


CPU_SMOKE = {
    "width": 0.25,
    "size": 32,
    "spacing_mm": 2.5,
    "epochs": 1,
    "batch_size": 4,
    "slices_per_scan": 2,
    "max_slices": 4,
    "early_stopping": 2,
    "augment": False,
}


class DeepRunner(Runner):
    Params: ClassVar[type[DeepParams]] = SliceParams
    family = "deep"
    #: 2: batches gathered on the device with batched augmentation (its own random stream);
    #: 3: MobileNetV3-S, PVTv2-B2 and MambaVision-T rebuilt as their reference implementations,
    #: ResNet downsampling without bias (the architectures changed, so finished jobs rerun);
    #: 4: slice models train channels-last on the CPU too (sums in another order: other bytes)
    version = "4"
    needs_images = True
    torch_kernels = True
    uses_validation = "early-stopping"
    smoke_params = CPU_SMOKE
    fuse_patients: ClassVar[bool] = False  # True: with both sequences, one example per patient

    @abstractmethod
    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        """The network for these inputs: each deep runner's one job."""

    def preprocessing(self) -> Preprocessing:
        window = tuple(self.params.window) if self.params.window else None
        return same_named(Preprocessing, self.params, window=window)

    @classmethod
    def prepare(cls, scans: ScanSet, params: DeepParams, context: RunContext) -> None:
        runner = cls(params)
        preprocess_all(
            [r for r in scans if r.image is not None],
            runner.preprocessing(),
            jobs=max(1, context.threads),
            progress=context.show_progress,
        )

    #: Liver slices per scan assumed by cost estimates (CirrMRI600+: about 40,000 slices over 628
    #: scans, the liver on about 70 % of them).
    LIVER_SLICES_PER_SCAN: ClassVar[float] = 45.0

    @classmethod
    def training_cost(cls, params: DeepParams, train: ScanSet, valid: ScanSet, test: ScanSet) -> float:
        """Upper bound (every epoch runs, no early stop) of the slice visits of one job."""
        liver = cls.LIVER_SLICES_PER_SCAN
        predicted = min(params.max_slices or liver, liver)
        bag = liver if params.epoch == "slices" else min(params.slices_per_scan or liver, liver)
        per_epoch = len(train) * bag  # a fused patient's bag holds each of its scans' slices
        channels = 2 * getattr(params, "context", 0) + 1
        inference = (len(valid) * params.epochs + len(test)) * predicted / 3.0
        return (params.epochs * per_epoch + inference) * (channels / 3.0 if channels > 3 else 1.0)

    @classmethod
    def qualifier(cls, params: DeepParams) -> str:
        """Tables say how the backbone started: a pretrained row is not a from-scratch row."""
        if params.pretrained == "none":
            return "from scratch"
        return "ImageNet-pretrained" if params.pretrained == "imagenet" else "pretrained: own checkpoint"

    #: Epoch kinds this runner trains with (see TrainSettings.epoch); slice CNNs add "slices".
    epochs_supported: ClassVar[tuple[str, ...]] = ("scans",)

    @classmethod
    def check_params(cls, params: DeepParams) -> None:
        if params.backbone not in available_backbones():
            raise ValueError(
                f"backbone: {params.backbone!r} is not a registered backbone; available: {', '.join(available_backbones())}"
            )
        if params.width != 1.0 and has_fixed_width(params.backbone):
            raise ValueError(
                f"width: {params.width} would not change {params.backbone} (its architecture fixes its width); "
                "set width: 1.0 or choose a backbone whose width scales"
            )
        if params.normalise == "window" and not (
            params.window and len(params.window) == 2 and params.window[0] < params.window[1]
        ):
            raise ValueError(f"normalise: window needs window: [low, high] with low < high, got {params.window!r}")
        if params.window is not None and params.normalise != "window":
            raise ValueError(
                f"window: {list(params.window)} is only used with normalise: window (normalise is {params.normalise!r})"
            )
        if params.pretrained not in ("none", "imagenet"):
            from pathlib import Path

            if not Path(params.pretrained).expanduser().is_file():
                raise ValueError(
                    f"pretrained: {params.pretrained!r} is neither imagenet, none nor an existing file; give the path of a state-dict checkpoint"
                )
        elif params.pretrained == "imagenet" and reference_for(params.backbone) is None:
            raise ValueError(
                f"pretrained: imagenet has no reference checkpoint for backbone {params.backbone!r} yet; "
                "give a checkpoint file (pretrained: PATH) or pretrained: none"
            )
        if params.tensorboard:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise ValueError(
                    "tensorboard: true needs the tensorboard package: pip install tensorboard (or set it false)"
                )
        if params.epoch not in cls.epochs_supported:
            raise ValueError(
                f"epoch must be one of {list(cls.epochs_supported)}, not {params.epoch!r} ('slices' is for the cnn-* slice classifiers)"
            )

    def settings(self) -> TrainSettings:
        return same_named(
            TrainSettings,
            self.params,
            slice_loss=self.slice_loss,
            scan_loss=self.scan_loss,
            volumetric_depth=None,
            input_standardise=self.input_standardise(),
        )

    def input_standardise(self) -> tuple[float, float] | None:
        """ImageNet statistics for a pretrained backbone whose inputs are intensities in [0, 1]
        (``normalise: window`` or ``none``); z-scored inputs (the MRI default) already have mean 0
        and SD 1, the scale ImageNet normalisation produces, and are left as they are."""
        p = self.params
        if p.pretrained == "none" or p.normalise not in ("window", "none"):
            return None
        return (sum(IMAGENET_MEAN) / 3, sum(IMAGENET_STD) / 3)

    slice_loss: ClassVar[float] = 1.0
    scan_loss: ClassVar[float] = 0.0

    def _units(self, scans: ScanSet) -> list[Unit]:
        def clinical(r) -> tuple[float, float]:
            return ((r.age or 60.0) / 100.0, 1.0 if r.sex == "M" else 0.0)

        labels = [r.label for r in scans] if scans.has_labels else [0] * len(scans)
        if self.fuse_patients and len(scans.sequences) > 1:
            grouped: dict[str, dict] = {}
            for r, y in zip(scans, labels):
                entry = grouped.setdefault(r.patient_id, {"label": y, "scans": {}, "clinical": clinical(r)})
                entry["scans"][r.sequence] = r.scan_id
            return [Unit(p, e["label"], e["scans"], e["clinical"]) for p, e in grouped.items()]
        return [Unit(r.scan_id, y, {r.sequence: r.scan_id}, clinical(r)) for r, y in zip(scans, labels)]

    def fit(self, train_set: ScanSet, valid: ScanSet, context: RunContext) -> DeepRunner:
        torch.manual_seed(context.seed)
        np.random.seed(context.seed % (2**32))
        if context.device == "cpu":
            deterministic_algorithms(compiling=self.params.compile)
            torch.set_num_threads(max(1, context.threads))
        self.labels_ = train_set.labels
        self.sequences_ = tuple(sorted(set(train_set.sequences) | set(valid.sequences)))
        records = list(train_set) + list(valid)
        self.slices_ = preprocess_all(records, self.preprocessing())
        in_channels = 2 * getattr(self.params, "context", 0) + 1
        self.model_ = self.build_model(in_channels, train_set.labels.n_classes, self.sequences_)
        if self.params.pretrained != "none":
            source, mismatched = load_pretrained(
                self.model_.get_submodule("backbone"),
                self.params.backbone,
                self.params.pretrained,
                strict=self.params.weights_strict,
            )
            context.logger.info(
                "backbone weights from %s"
                + (f" ({len(mismatched)} keys did not fit; weights_strict: false)" if mismatched else ""),
                source,
            )
        self.device_ = torch.device(context.device)
        builder = BagBuilder(self.slices_, self.sequences_, self.settings(), context.seed, self.device_)
        model = cast(torch.nn.Module, torch.compile(self.model_)) if self.params.compile else self.model_
        work = context.work_dir
        if work is not None:
            work.mkdir(parents=True, exist_ok=True)
        reporter = EpochReporter(context.logger, self.params.epochs, work, self.params.tensorboard)
        try:
            self.log_ = train(
                model,
                builder,
                self._units(train_set),
                self._units(valid),
                train_set.labels.n_classes,
                self.settings(),
                self.device_,
                context.seed,
                context.bar if context.show_progress else None,
                checkpoint=work / "checkpoint.pt" if work is not None else None,
                on_epoch=reporter,
            )
        finally:
            reporter.close()
        self.seed_ = context.seed
        self.tensorboard_dir_ = work / "tensorboard" if work is not None and self.params.tensorboard else None
        return self

    def _builder(self, scans: ScanSet) -> BagBuilder:
        """A builder whose device pool holds these scans only."""
        self.slices_.update(preprocess_all(list(scans), self.preprocessing()))
        own = {scan_id: self.slices_[scan_id] for scan_id in scans.scan_ids}
        return BagBuilder(own, self.sequences_, self.settings(), self.seed_, self.device_)

    def predict(self, test: ScanSet) -> Predictions:
        builder = self._builder(test)
        units = self._units(test)
        probs, slices = predict_units(
            self.model_, builder, units, self.device_, self.params.batch_size, self.params.amp
        )
        by_scan: dict[str, np.ndarray] = {}
        rows = []
        for unit, p, entry in zip(units, probs, slices):
            for seq, scan_id in unit.scan_ids.items():
                by_scan[scan_id] = p
                if seq in entry:
                    for index, sp in zip(*entry[seq]):
                        rows.append([scan_id, int(index), *sp.tolist()])
        predictions = Predictions.from_array(test.scan_ids, np.stack([by_scan[s] for s in test.scan_ids]), self.labels_)
        if rows:
            predictions.slice_probabilities = pd.DataFrame(rows, columns=["scan_id", "slice", *self.labels_.names])
        predictions.extras["training_log"] = self.log_
        if self.params.save_weights:
            buffer = io.BytesIO()
            torch.save({k: v.cpu() for k, v in self.model_.state_dict().items()}, buffer)
            predictions.files["best_weights.pt"] = buffer.getvalue()
        if self.tensorboard_dir_ is not None and self.tensorboard_dir_.is_dir():
            for path in sorted(self.tensorboard_dir_.iterdir()):
                predictions.files[f"tensorboard/{path.name}"] = path.read_bytes()
        return predictions


class SliceCNNRunner(DeepRunner):
    """The seed paper's released protocol: a 2D network per slice, scan = mean of slice probabilities."""

    inputs = "single+both"
    epochs_supported = ("scans", "slices")

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        return SliceClassifier(self.params.backbone, in_channels, n_classes, self.params.width)


def _register_slice_runner(backbone: str, display_name: str) -> None:
    """``cnn-<backbone>``: the seed paper's released protocol with this backbone (every registered
    backbone gets one, built-in or from a plugin)."""
    register_runner(
        type(
            f"SliceCNN_{backbone.replace('-', '_')}",
            (SliceCNNRunner,),
            {
                "name": f"cnn-{backbone}",
                "description": f"2D {backbone} per slice, scan = mean of slice probabilities (seed-paper protocol)",
                "display_name": display_name,
                "smoke_params": {**CPU_SMOKE, "width": 1.0} if has_fixed_width(backbone) else CPU_SMOKE,
                "Params": dataclasses.make_dataclass(
                    f"Params_{backbone.replace('-', '_')}",
                    [
                        (
                            "backbone",
                            str,
                            param(backbone, "2D feature extractor (this runner's backbone)", choices=(backbone,)),
                        )
                    ],
                    bases=(SliceParams,),
                    frozen=True,
                ),
                "__module__": __name__,
            },
        )
    )


on_backbone_registered(_register_slice_runner)


@register_runner
class SequenceAttentionRunner(DeepRunner):
    """Multi-scale sequence attention (the seed paper's method), 2.5D by default, fusing T1W+T2W per patient."""

    name = "msa"
    description = "multi-scale attention-refined slice descriptors, gated-attention pooling per sequence, cross-sequence attention"
    display_name = "Multi-scale sequence attention"
    inputs = "single+both"
    fuse_patients = True
    slice_loss = 0.5
    scan_loss = 1.0
    Params = SequenceAttentionParams
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "last-stage-only": {"multiscale": False},
        "no-attention": {"attention": False},
        "mean-pooling": {"pooling": "mean"},
        "2d": {"context": 0},
        "clinical": {"clinical": True},
    }

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        p = self.params
        return SequenceAttentionModel(
            p.backbone,
            in_channels,
            n_classes,
            p.width,
            sequences,
            multiscale=p.multiscale,
            attention=p.attention,
            pooling=p.pooling,
            clinical=p.clinical,
        )

    def settings(self) -> TrainSettings:
        settings = super().settings()
        if self.params.pooling == "mean":
            return dataclasses.replace(settings, slice_loss=1.0, scan_loss=0.0)
        return settings

    def predict(self, test: ScanSet) -> Predictions:
        predictions = super().predict(test)
        if self.params.attention and self.params.attention_maps > 0:
            predictions.arrays.update(self._attention_maps(test, predictions))
        return predictions

    @torch.no_grad()
    def _attention_maps(self, test: ScanSet, predictions: Predictions) -> dict[str, np.ndarray]:
        """For a few test scans per predicted stage: the most attended slice and the spatial
        attention of the shallowest refined stage, upsampled to the slice (no test label used)."""
        from .attention import SpatialAttention

        model = cast(SequenceAttentionModel, self.model_)
        spatial = [m for m in model.refine[0].modules() if isinstance(m, SpatialAttention)]
        if not spatial:
            return {}
        predicted = predictions.scan_probabilities.to_numpy().argmax(axis=1)
        chosen = [
            i
            for k in range(self.labels_.n_classes)
            for i in np.flatnonzero(predicted == k)[: self.params.attention_maps]
        ]
        builder = self._builder(test)
        images, maps, ids = [], [], []
        spatial[0].record = True
        try:
            model.eval()
            for index in chosen:
                record = test.records[index]
                unit = Unit(record.scan_id, 0, {record.sequence: record.scan_id})
                batch = builder.batch([unit], training=False)
                x, valid = batch.x, batch.valid
                model(x, valid, batch.clinical)
                weights = model.last_attention.get(record.sequence) if self.params.pooling == "attention" else None
                best = int(weights[0, : int(valid[record.sequence][0].sum())].argmax()) if weights is not None else 0
                # one more pass on that slice alone, so the recorded map is this slice's
                model.slice_descriptors(x[record.sequence][0, best : best + 1])
                last_map = spatial[0].last_map
                if last_map is None:
                    raise RuntimeError("the spatial attention recorded no map")
                attention = torch.nn.functional.interpolate(
                    last_map, size=x[record.sequence].shape[-2:], mode="bilinear", align_corners=False
                )
                centre = x[record.sequence].shape[2] // 2
                images.append(x[record.sequence][0, best, centre].cpu().numpy())
                maps.append(attention[0, 0].cpu().numpy())
                ids.append(record.scan_id)
        finally:
            spatial[0].record = False
        if not ids:
            return {}
        return {
            "attention_images": np.stack(images).astype(np.float32),
            "attention_maps": np.stack(maps).astype(np.float32),
            "attention_scan_ids": np.array(ids),
        }


@register_runner
class VolumetricRunner(DeepRunner):
    """3D network on the cropped liver volume (the seed paper's stated future work). No slice output."""

    name = "volumetric-3d"
    description = "3D MONAI ResNet-18 on the cropped, resampled liver volume"
    display_name = "3D ResNet-18"
    inputs = "single+both"
    slice_loss = 0.0
    scan_loss = 1.0
    Params = VolumetricParams
    smoke_params = {**{k: v for k, v in CPU_SMOKE.items() if k not in ("slices_per_scan", "max_slices")}, "depth": 8}

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        return VolumetricModel(self.params.backbone, n_classes, self.params.width)

    @classmethod
    def training_cost(cls, params: DeepParams, train: ScanSet, valid: ScanSet, test: ScanSet) -> float:
        """A volume of ``depth`` slices counts as ``depth`` slice visits (3D convolutions cost more:
        a lower bound for this model)."""
        params = _volumetric(params)
        return float(params.depth * (params.epochs * len(train) + (params.epochs * len(valid) + len(test)) / 3.0))

    @classmethod
    def check_params(cls, params: DeepParams) -> None:
        super().check_params(params)
        params = _volumetric(params)
        if params.pretrained == "imagenet":
            raise ValueError("pretrained: imagenet holds 2D filters; the 3D model takes none or a 3D checkpoint file")
        defaults = VolumetricParams()
        for name in ("slices_per_scan", "max_slices"):  # slice bags: a 3D model sees the whole volume
            if getattr(params, name) != getattr(defaults, name):
                raise ValueError(
                    f"{name}: {getattr(params, name)} has no effect on {cls.name} (it sees the whole volume, "
                    f"resampled to depth: {params.depth} slices); leave it out"
                )
        if not builds_in(params.backbone, 3):  # declared at registration: building one costs seconds of imports
            three_d = ", ".join(name for name in available_backbones() if builds_in(name, 3))
            raise ValueError(
                f"backbone: {params.backbone} is 2D only; {cls.name} needs a backbone that builds in 3D: {three_d}"
            )

    def settings(self) -> TrainSettings:
        return dataclasses.replace(super().settings(), volumetric_depth=self.params.depth, context=0)


def _volumetric(params: DeepParams) -> VolumetricParams:
    if not isinstance(params, VolumetricParams):
        raise TypeError(f"the 3D runner takes VolumetricParams, not {type(params).__name__}")
    return params
