"""The foundation family: a frozen encoder embeds each scan, a classical head stages it.

The heads are the radiomics runners' (logistic regression, XGBoost) with everything that makes
them fair: fitted on the training and validation patients, tuned by inner patient-grouped CV,
out-of-fold predictions for model choice, sigmoid calibration of the trees, balanced class
weights. The embeddings take the place of the PyRadiomics features; test scans are embedded
without their labels (the encoder is frozen and label-free), and the head never sees them
before ``predict``. ``weights: random`` keeps the architecture and freezes a random
initialisation: the control that shows what pretraining adds, named "random init" in every row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from cirrbench.baselines.learners import LogisticRegressionRunner, XGBoostRunner
from cirrbench.baselines.radiomics_runner import HeadParams, RadiomicsRunner
from cirrbench.benchmark.runners.contract import RunContext, ScanSet
from cirrbench.benchmark.runners.params import param
from cirrbench.benchmark.runners.registry import register_runner

from .embeddings import EmbeddingSettings, embed_scans
from .encoders import Encoder, WeightsMissingError, encoder_spec, resolve_weights

__all__ = ["FoundationLogRegRunner", "FoundationParams", "FoundationRunner", "FoundationXGBoostRunner"]

AUTO = "auto"
PUBLISHED = ""  # the published file under $CIRRBENCH_WEIGHTS


@dataclass(frozen=True)
class FoundationParams(HeadParams):
    """What the foundation runners add to the radiomics runners' head: the encoder and its input."""

    encoder: str = param(
        "dinov2-vits14",
        "the frozen encoder: dinov2-vits14, radimagenet-resnet50, medicalnet-resnet10/18/50, or a TorchScript file mapping an image tensor to a vector",
    )
    weights: str = param(
        "",
        "its checkpoint: empty for the published file under $CIRRBENCH_WEIGHTS (an error when absent), a path, random (the untrained architecture: a control), or auto (the published file when present, else random; the row then says random init)",
    )
    view: str = param(
        "auto",
        "what a TorchScript encoder sees: slices (each liver slice, embeddings averaged) or volume (auto: slices)",
        choices=("auto", "slices", "volume"),
    )
    slices: int = param(16, "liver slices embedded per scan (slice encoders), spread evenly over the liver", minimum=1)
    size: int = param(0, "input pixels in-plane (0: the encoder's own)", minimum=0)
    batch_size: int = param(32, "images per forward pass when embedding", minimum=1)


class FoundationRunner(RadiomicsRunner):
    """A head on frozen embeddings (mixed in before a radiomics learner, whose classifier it uses)."""

    Params: ClassVar[type] = FoundationParams
    variants: ClassVar[dict[str, dict[str, Any]]] = {"random-init": {"weights": "random"}}
    family = "foundation"
    needs_images = True
    torch_kernels = True  # the embeddings come from torch's float kernels
    version = "1"
    smoke_params: ClassVar[dict[str, Any]] = {
        "weights": "random",
        "slices": 2,
        "size": 28,
        "tuning_iterations": 0,
        "permutation_repeats": 1,
        "select_k": 10,
    }

    @classmethod
    def encoder(cls, params: FoundationParams) -> Encoder:
        spec = encoder_spec(params.encoder)
        return spec if params.view == "auto" else dataclasses.replace(spec, view=params.view)

    @classmethod
    def make_params(cls, overrides: dict[str, Any] | None = None, variant: str = "default") -> Any:
        """``weights: auto`` becomes what it resolves to on this machine (the published file's
        name under ``$CIRRBENCH_WEIGHTS``, or random), so the job's key and row name say which ran."""
        params = super().make_params(overrides, variant)
        if params.weights != AUTO:
            return params
        if cls.encoder(params).script is not None:  # TorchScript: the weights are in the file
            return dataclasses.replace(params, weights=PUBLISHED)
        try:
            found = resolve_weights(cls.encoder(params), PUBLISHED)
        except WeightsMissingError:
            found = None
        return dataclasses.replace(params, weights=PUBLISHED if found is not None else "random")

    @classmethod
    def check_params(cls, params: FoundationParams) -> None:
        if params.weights == AUTO:
            return  # resolved by make_params
        try:
            resolve_weights(cls.encoder(params), params.weights)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None

    @classmethod
    def qualifier(cls, params: Any) -> str:
        encoder = cls.encoder(params)
        return encoder.display + (", random init" if params.weights == "random" else "")

    @classmethod
    def _settings(cls, params: FoundationParams, device: str) -> EmbeddingSettings:
        encoder = cls.encoder(params)
        weights = resolve_weights(encoder, params.weights)
        return EmbeddingSettings(encoder, weights, params.slices, params.size, params.batch_size, device)

    @classmethod
    def prepare(cls, scans: ScanSet, params: Any, context: RunContext) -> None:
        """Embed every scan once (label-free), so the jobs of every split read the cache."""
        embed_scans(scans.records, cls._settings(params, context.device), context.progress, jobs=context.threads)

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> FoundationRunner:
        self.device_ = context.device
        super().fit(train, valid, context)
        return self

    def _raw_features(self, scans: ScanSet) -> pd.DataFrame:
        return embed_scans(scans.records, self._settings(self.params, getattr(self, "device_", "cpu")))

    def _feature_columns(self, raw: pd.DataFrame) -> list[str]:
        return list(raw.columns)


@register_runner
class FoundationLogRegRunner(FoundationRunner, LogisticRegressionRunner):
    name = "foundation-logreg"
    description = "frozen encoder embeddings + L2 logistic regression (linear probe), tuned by inner patient-grouped CV"
    display_name = "Logistic regression on frozen encoder"


@register_runner
class FoundationXGBoostRunner(FoundationRunner, XGBoostRunner):
    name = "foundation-xgboost"
    description = "frozen encoder embeddings + XGBoost, tuned by inner patient-grouped CV"
    display_name = "XGBoost on frozen encoder"
