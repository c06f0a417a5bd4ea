"""ConvNeXt (Liu et al. 2022): Tiny for CPUs, Base as in the seed paper."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.mlp(self.norm(y))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(Backbone):
    def __init__(self, spec: BackboneSpec, depths: list[int], dims: list[int]) -> None:
        super().__init__()
        dims = [scaled(d, spec.width) for d in dims]
        self.downsample = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(spec.in_channels, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))]
        )
        for i in range(3):
            self.downsample.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(
            [nn.Sequential(*[ConvNeXtBlock(d) for _ in range(n)]) for d, n in zip(dims, depths)]
        )
        self.out_channels = dims

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))
            features.append(x)
        return features


def _reference(name: str) -> ReferenceWeights:
    """timm's ConvNeXt names -> this module's (torchvision's names differ: timm only)."""
    return ReferenceWeights(
        timm=name,
        key_map=substitutions(
            r"head\.",
            (r"^stem\.(\d)\.", r"downsample.0.\1."),
            (r"^stages\.(\d)\.downsample\.(\d)\.", r"downsample.\1.\2."),
            (r"^stages\.(\d)\.blocks\.(\d+)\.", r"stages.\1.\2."),
            (r"\.conv_dw\.", ".dwconv."),
            (r"\.mlp\.fc1\.", ".mlp.0."),
            (r"\.mlp\.fc2\.", ".mlp.2."),
        ),
    )


@register_backbone("convnext-tiny", display_name="ConvNeXt-T", reference=_reference("convnext_tiny"))
def convnext_tiny(spec: BackboneSpec) -> Backbone:
    return ConvNeXt(spec, [3, 3, 9, 3], [96, 192, 384, 768])


@register_backbone("convnext-base", display_name="ConvNeXt-B", reference=_reference("convnext_base"))
def convnext_base(spec: BackboneSpec) -> Backbone:
    return ConvNeXt(spec, [3, 3, 27, 3], [128, 256, 512, 1024])
