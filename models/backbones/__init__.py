"""Backbones: feature extractors returning one feature map per stage (shallow to deep).

Built from MONAI's networks where MONAI has them (ResNet, DenseNet-121, EfficientNet-B0) and as
compact torch modules where it does not (VGG-19, MobileNetV3-Small, ConvNeXt, PVTv2-B2,
MambaVision-T). ``width`` scales channel counts (1.0 = the published architecture; the CPU profile
uses less). torchvision and timm are never needed; ImageNet weights load by name (``pretrained.py``).
A MONAI network's module imports MONAI when it builds one: importing MONAI takes about 2 s, which a
process that lists the runners, checks a config or trains another backbone does not need.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cirrbench.benchmark.common.registry import Registry


class Backbone(nn.Module):
    """``forward(x)`` returns a list of stage feature maps; ``out_channels`` gives their widths."""

    out_channels: list[int]


@dataclass(frozen=True)
class BackboneSpec:
    in_channels: int = 3
    width: float = 1.0
    spatial_dims: int = 2

    def scaled_heads(self, heads: int) -> int:
        """Attention heads for this width: half widths keep every head, narrower ones fewer (at least one)."""
        return max(1, int(round(heads * min(1.0, self.width * 2))))


@dataclass(frozen=True)
class BackboneEntry:
    """A registered backbone: its builder and what the runners and weight loader ask of it."""

    builder: Callable[[BackboneSpec], Backbone]
    display_name: str
    reference: ReferenceWeights | None = None
    fixed_width: bool = False
    spatial_dims: tuple[int, ...] = (2,)


#: One module per backbone, listed here: each registers its builders when imported.
BUILTIN_MODULES = tuple(
    f"cirrbench.models.backbones.{name}"
    for name in ("convnext", "densenet", "efficientnet", "mambavision", "mobilenet", "pvt", "resnet", "vgg")
)
_BACKBONES: Registry[BackboneEntry] = Registry(
    "backbone", builtins=BUILTIN_MODULES, defined_by=lambda entry: entry.builder
)
_LISTENERS: list[Callable[[str, str], None]] = []


def register_backbone(
    name: str,
    display_name: str | None = None,
    reference: ReferenceWeights | None = None,
    fixed_width: bool = False,
    spatial_dims: tuple[int, ...] = (2,),
):
    """Decorator of ``builder(spec) -> Backbone``: a backbone usable by name, and a ``cnn-<name>``
    slice runner for it. One file in this folder (listed in ``BUILTIN_MODULES``) or a plugin file adds one.

    Args:
        name: the name in ``backbone:`` parameters and in the runner ``cnn-<name>``.
        display_name: how papers write it ("VGG-19"); default: the name.
        reference: its ImageNet checkpoint and key map, for ``pretrained: imagenet`` (see
            ``models/pretrained.py``); None: from scratch or a local file in the module's names.
        fixed_width: the builder ignores ``spec.width`` (the architecture fixes it); a runner
            then refuses any width but 1, so a config never claims a width that did not run.
        spatial_dims: the dimensions its builder builds, ``(2,)`` or ``(2, 3)``: the 3D runner takes
            only backbones that list 3, and checks a config by this declaration instead of
            building the network (MONAI and torch's compiler cost seconds to import).
            ``tests/test_models.py`` builds every backbone in every dimension it declares.

    Returns:
        The decorator (it returns the builder unchanged).
    """

    def decorate(builder: Callable[[BackboneSpec], Backbone]):
        entry = _BACKBONES.register(
            name, BackboneEntry(builder, display_name or name, reference, fixed_width, tuple(spatial_dims))
        )
        for listener in _LISTENERS:
            listener(name, entry.display_name)
        return builder

    return decorate


def on_backbone_registered(listener: Callable[[str, str], None]) -> None:
    """Call ``listener(name, display_name)`` for every backbone, now and when one registers later."""
    entries = _BACKBONES.entries()
    _LISTENERS.append(listener)
    for name in sorted(entries):
        listener(name, entries[name].display_name)


def unregister_backbone(name: str) -> None:
    """Forget a backbone (tests and interactive sessions); its cnn-<name> runner stays registered
    until it is unregistered too. Unknown names are ignored."""
    _BACKBONES.unregister(name)


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


def has_fixed_width(name: str) -> bool:
    """Whether the backbone ignores ``width`` (registered with ``fixed_width=True``)."""
    return name in _BACKBONES and _BACKBONES.get(name).fixed_width


def builds_in(name: str, spatial_dims: int) -> bool:
    """Whether the backbone is registered as building in ``spatial_dims`` (2 or 3) dimensions."""
    return name in _BACKBONES and spatial_dims in _BACKBONES.get(name).spatial_dims


def build_backbone(name: str, spec: BackboneSpec) -> Backbone:
    entry = _BACKBONES.get(name)
    if spec.spatial_dims not in entry.spatial_dims:
        raise ValueError(f"{name} is {'/'.join(f'{d}D' for d in entry.spatial_dims)} only")
    return entry.builder(spec)


def scaled(channels: int, width: float, minimum: int = 8, multiple: int = 8) -> int:
    """Channels times ``width``, rounded to a multiple of 8 (hardware-friendly), at least ``minimum``."""
    return max(minimum, int(round(channels * width / multiple)) * multiple)


@dataclass(frozen=True)
class ReferenceWeights:
    """Where a backbone's ImageNet weights come from and how their names map to the module's.

    Args:
        timm: the timm model name whose state dict the key map is written against.
        key_map: reference key -> own key, or None for keys outside the backbone (classifier head).
        torchvision: torchvision's model name when its parameter names equal timm's, else None.
        monai: a loader returning the state dict in the module's own names (MONAI's pretrained nets).
        package: a module to import before timm can build the model (it registers it with timm).
    """

    timm: str
    key_map: Callable[[str], str | None]
    torchvision: str | None = None
    monai: Callable[[], dict[str, torch.Tensor]] | None = None
    package: str | None = None


def reference_for(backbone: str) -> ReferenceWeights | None:
    """The backbone's declared ImageNet reference checkpoint, if any."""
    return _BACKBONES.get(backbone).reference if backbone in _BACKBONES else None


def substitutions(drop: str | None, *rules: tuple[str, str]) -> Callable[[str], str | None]:
    """A key map of regular-expression substitutions applied in order; keys matching ``drop`` are
    outside the backbone."""

    def key_map(key: str) -> str | None:
        if drop and re.match(drop, key):
            return None
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        return key

    return key_map


class WeightsMismatchError(ValueError):
    """A weights file that does not fit the network: its missing, unexpected and mis-shaped keys."""


def load_state(module: nn.Module, state: dict[str, torch.Tensor], strict: bool = True, origin: str = "") -> list[str]:
    """Load ``state`` into ``module``; returns the keys that did not fit.

    With ``strict``, missing, unexpected or mis-shaped keys are an error listing them (a silent
    partial load would train from scratch while claiming pretrained weights); without, the
    matching tensors are loaded and the others returned.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if strict and (missing or unexpected or shapes):

        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        parts = [
            f"{len(missing)} missing ({few(missing)})" if missing else "",
            f"{len(unexpected)} unexpected ({few(unexpected)})" if unexpected else "",
        ]
        parts.append(
            f"{len(shapes)} with other shapes ({', '.join(f'{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}' for k in shapes[:3])})"
            if shapes
            else ""
        )
        raise WeightsMismatchError(
            f"{origin}: does not fit the network: "
            + "; ".join(p for p in parts if p)
            + "; use a checkpoint of this backbone, or weights_strict: false to load what matches"
        )
    module.load_state_dict({k: v for k, v in state.items() if k in own and k not in shapes}, strict=False)
    return missing + unexpected + shapes
