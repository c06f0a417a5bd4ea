"""Deep runners: slice-level CNNs (one per backbone), the sequence-attention model, a 3D model.

Every runner returns per-scan probabilities and (except the 3D model) per-slice probabilities,
so the tables show slice-level accuracy (comparable with the seed paper) and patient-level
accuracy. Defaults train from scratch; ``weights`` names a local file of pretrained weights.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from benchmark.runner import Predictions, RunContext, Runner, ScanSet, register_runner

from .backbones import load_weights
from .data import Preprocessing, preprocess_all
from .networks import SequenceAttentionModel, SliceClassifier, VolumetricModel
from .train import BagBuilder, TrainSettings, Unit, predict_units, to_device, train


@dataclass(frozen=True)
class DeepParams:
    backbone: str = "resnet18"
    width: float = 1.0  # channel multiplier (1 = published widths)
    size: int = 256  # in-plane input size, as in the seed paper
    spacing_mm: float = 1.0
    context: int = 0  # 2.5D: neighbouring slices per side as extra channels
    mask_outside: bool = False
    epochs: int = 100
    batch_size: int = 8  # scans (or patients) per step
    slices_per_scan: int | None = 4  # slices sampled per scan per step (None: all)
    epoch: str = "scans"  # slice CNNs: "slices" visits every liver slice once per epoch (the released code)
    max_slices: int | None = 32  # slices per scan at prediction
    lr: float = 1e-4
    weight_decay: float = 1e-5
    scheduler: str = "plateau"
    plateau_patience: int = 5
    early_stopping: int = 20
    monitor: str = "accuracy"
    class_weights: bool = False
    augment: bool = True
    amp: bool = True
    weights: str | None = None  # local file of pretrained weights (state dict)
    # sequence-attention model only
    multiscale: bool = True
    attention: bool = True
    pooling: str = "attention"
    clinical: bool = False
    attention_maps: int = 2  # sequence-attention model: test scans per predicted stage whose attention maps are saved
    depth: int = 32  # 3D model only: slices resampled to this depth


CPU_SMOKE = {"width": 0.25, "size": 32, "spacing_mm": 2.5, "epochs": 2, "batch_size": 4, "slices_per_scan": 2, "max_slices": 4, "early_stopping": 2, "augment": False, "depth": 8}


class DeepRunner(Runner):
    Params = DeepParams
    family = "deep"
    smoke_params = CPU_SMOKE
    fuse_patients: ClassVar[bool] = False  # True: with both sequences, one example per patient

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:  # pragma: no cover
        raise NotImplementedError

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(spacing_mm=self.params.spacing_mm, size=self.params.size, mask_outside=self.params.mask_outside)

    @classmethod
    def prepare(cls, scans: ScanSet, params: DeepParams, context: RunContext) -> None:
        runner = cls(params)
        preprocess_all([r for r in scans if r.image is not None], runner.preprocessing(), jobs=max(1, context.threads), progress=context.show_progress)

    #: Epoch kinds this runner trains with (see TrainSettings.epoch); slice CNNs add "slices".
    epochs_supported: ClassVar[tuple[str, ...]] = ("scans",)

    @classmethod
    def check_params(cls, params: DeepParams) -> None:
        if params.epoch not in cls.epochs_supported:
            raise ValueError(f"epoch must be one of {list(cls.epochs_supported)}, not {params.epoch!r} ('slices' is for the cnn-* slice classifiers)")

    def settings(self) -> TrainSettings:
        p = self.params
        return TrainSettings(
            epochs=p.epochs, batch_size=p.batch_size, slices_per_scan=p.slices_per_scan, max_slices=p.max_slices, context=p.context,
            lr=p.lr, weight_decay=p.weight_decay, scheduler=p.scheduler, plateau_patience=p.plateau_patience, early_stopping=p.early_stopping,
            monitor=p.monitor, class_weights=p.class_weights, slice_loss=self.slice_loss, scan_loss=self.scan_loss, augment=p.augment, amp=p.amp,
            volumetric_depth=None, epoch=p.epoch,
        )

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

    def fit(self, train_set: ScanSet, valid: ScanSet, context: RunContext) -> "DeepRunner":
        torch.manual_seed(context.seed)
        np.random.seed(context.seed % (2**32))
        if context.device == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.set_num_threads(max(1, context.threads))
        self.labels_ = train_set.labels
        self.sequences_ = tuple(sorted(set(train_set.sequences) | set(valid.sequences)))
        records = list(train_set) + list(valid)
        self.slices_ = preprocess_all(records, self.preprocessing())
        in_channels = 2 * self.params.context + 1
        self.model_ = self.build_model(in_channels, train_set.labels.n_classes, self.sequences_)
        if self.params.weights:
            mismatched = load_weights(self.model_.backbone, self.params.weights)
            context.logger.info("loaded %s (%d keys did not match)", self.params.weights, len(mismatched))
        self.device_ = torch.device(context.device)
        builder = BagBuilder(self.slices_, self.sequences_, self.settings(), context.seed)
        self.log_ = train(self.model_, builder, self._units(train_set), self._units(valid), train_set.labels.n_classes, self.settings(), self.device_, context.seed, context.bar if context.show_progress else None)
        self.seed_ = context.seed
        return self

    def predict(self, test: ScanSet) -> Predictions:
        self.slices_.update(preprocess_all(list(test), self.preprocessing()))
        builder = BagBuilder(self.slices_, self.sequences_, self.settings(), self.seed_)
        units = self._units(test)
        probs, slices = predict_units(self.model_, builder, units, self.device_, self.params.batch_size)
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
        return predictions


class SliceCNNRunner(DeepRunner):
    """The seed paper's released protocol: a 2D network per slice, scan = mean of slice probabilities."""

    sequences = "single+both"
    epochs_supported = ("scans", "slices")

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        return SliceClassifier(self.params.backbone, in_channels, n_classes, self.params.width)


#: The seed paper's six backbones (ConvNeXt-Tiny stands in for Base on CPUs), plus two more.
SLICE_BACKBONES = ("vgg19", "resnet50", "mobilenetv3-small", "convnext-tiny", "convnext-base", "pvtv2-b2", "mambavision-t", "densenet121", "efficientnet-b0", "resnet18")
#: How papers write the backbones' names.
BACKBONE_NAMES = {
    "vgg19": "VGG-19",
    "resnet50": "ResNet-50",
    "mobilenetv3-small": "MobileNetV3-S",
    "convnext-tiny": "ConvNeXt-T",
    "convnext-base": "ConvNeXt-B",
    "pvtv2-b2": "PVTv2-B2",
    "mambavision-t": "MambaVision-T",
    "densenet121": "DenseNet-121",
    "efficientnet-b0": "EfficientNet-B0",
    "resnet18": "ResNet-18",
}

for _backbone in SLICE_BACKBONES:
    register_runner(
        type(
            f"SliceCNN_{_backbone.replace('-', '_')}",
            (SliceCNNRunner,),
            {
                "name": f"cnn-{_backbone}",
                "description": f"2D {_backbone} per slice, scan = mean of slice probabilities (seed-paper protocol)",
                "display_name": BACKBONE_NAMES[_backbone],
                "Params": dataclasses.make_dataclass(f"Params_{_backbone.replace('-', '_')}", [("backbone", str, dataclasses.field(default=_backbone))], bases=(DeepParams,), frozen=True),
                "__module__": __name__,
            },
        )
    )


@register_runner
class SequenceAttentionRunner(DeepRunner):
    """Multi-scale sequence attention (the seed paper's method), 2.5D by default, fusing T1W+T2W per patient."""

    name = "msa"
    description = "multi-scale attention-refined slice descriptors, gated-attention pooling per sequence, cross-sequence attention"
    display_name = "Multi-scale sequence attention"
    sequences = "single+both"
    fuse_patients = True
    slice_loss = 0.5
    scan_loss = 1.0
    Params = dataclasses.make_dataclass("MSAParams", [("context", int, dataclasses.field(default=1))], bases=(DeepParams,), frozen=True)
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "last-stage-only": {"multiscale": False},
        "no-attention": {"attention": False},
        "mean-pooling": {"pooling": "mean"},
        "2d": {"context": 0},
        "clinical": {"clinical": True},
    }

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        p = self.params
        return SequenceAttentionModel(p.backbone, in_channels, n_classes, p.width, sequences, multiscale=p.multiscale, attention=p.attention, pooling=p.pooling, clinical=p.clinical)

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

        spatial = [m for m in self.model_.refine[0].modules() if isinstance(m, SpatialAttention)]
        if not spatial:
            return {}
        predicted = predictions.scan_probabilities.to_numpy().argmax(axis=1)
        chosen = [i for k in range(self.labels_.n_classes) for i in np.flatnonzero(predicted == k)[: self.params.attention_maps]]
        builder = BagBuilder(self.slices_, self.sequences_, self.settings(), self.seed_)
        images, maps, ids = [], [], []
        spatial[0].record = True
        try:
            self.model_.eval()
            for index in chosen:
                record = test.records[index]
                unit = Unit(record.scan_id, 0, {record.sequence: record.scan_id})
                x, valid, clinical, _ = builder.batch([unit], training=False)
                x, valid, clinical = to_device(self.device_, x, valid, clinical)
                self.model_(x, valid, clinical)
                weights = self.model_.last_attention.get(record.sequence) if self.params.pooling == "attention" else None
                best = int(weights[0, : int(valid[record.sequence][0].sum())].argmax()) if weights is not None else 0
                # one more pass on that slice alone, so the recorded map is this slice's
                self.model_.slice_descriptors(x[record.sequence][0, best : best + 1])
                attention = torch.nn.functional.interpolate(spatial[0].last_map, size=x[record.sequence].shape[-2:], mode="bilinear", align_corners=False)
                centre = x[record.sequence].shape[2] // 2
                images.append(x[record.sequence][0, best, centre].cpu().numpy())
                maps.append(attention[0, 0].cpu().numpy())
                ids.append(record.scan_id)
        finally:
            spatial[0].record = False
        if not ids:
            return {}
        return {"attention_images": np.stack(images).astype(np.float32), "attention_maps": np.stack(maps).astype(np.float32), "attention_scan_ids": np.array(ids)}


@register_runner
class VolumetricRunner(DeepRunner):
    """3D network on the cropped liver volume (the seed paper's stated future work). No slice output."""

    name = "volumetric-3d"
    description = "3D MONAI ResNet-18 on the cropped, resampled liver volume"
    display_name = "3D ResNet-18"
    sequences = "single+both"
    slice_loss = 0.0
    scan_loss = 1.0

    def build_model(self, in_channels: int, n_classes: int, sequences: tuple[str, ...]) -> torch.nn.Module:
        return VolumetricModel(self.params.backbone, n_classes, self.params.width)

    def settings(self) -> TrainSettings:
        return dataclasses.replace(super().settings(), volumetric_depth=self.params.depth, context=0)
