"""Backbones: feature extractors returning one feature map per stage (shallow to deep).

Built from MONAI's networks where MONAI has them (ResNet, DenseNet-121, EfficientNet-B0) and as
compact torch modules where it does not (VGG-19, MobileNetV3-Small, ConvNeXt, PVTv2-B2,
MambaVision-T). ``width`` scales channel counts (1.0 = the published architecture; the CPU profile
uses less). torchvision and timm are never needed. Pretrained weights load from a local file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn


class Backbone(nn.Module):
    """``forward(x)`` returns a list of stage feature maps; ``out_channels`` gives their widths."""

    out_channels: list[int]


@dataclass(frozen=True)
class BackboneSpec:
    in_channels: int = 3
    width: float = 1.0
    spatial_dims: int = 2


_BUILDERS: dict[str, Callable[[BackboneSpec], Backbone]] = {}


def register_backbone(name: str):
    def decorate(builder: Callable[[BackboneSpec], Backbone]):
        _BUILDERS[name] = builder
        return builder

    return decorate


def available_backbones() -> list[str]:
    _load()
    return sorted(_BUILDERS)


def build_backbone(name: str, spec: BackboneSpec) -> Backbone:
    _load()
    if name not in _BUILDERS:
        raise KeyError(f"unknown backbone {name!r}; available: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](spec)


def scaled(channels: int, width: float, minimum: int = 8, multiple: int = 8) -> int:
    """Channels times ``width``, rounded to a multiple of 8 (hardware-friendly), at least ``minimum``."""
    return max(minimum, int(round(channels * width / multiple)) * multiple)


def load_weights(module: nn.Module, path: str | Path) -> list[str]:
    """Load a local state dict safely (``weights_only``); returns the keys that did not match."""
    state = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    result = module.load_state_dict(state, strict=False)
    return list(result.missing_keys) + list(result.unexpected_keys)


def _load() -> None:
    from . import convnext, densenet, efficientnet, mambavision, mobilenet, pvt, resnet, vgg  # noqa: F401
