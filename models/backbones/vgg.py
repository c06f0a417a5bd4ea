"""VGG-19 (with batch norm) as a compact torch module; MONAI has no VGG."""

from __future__ import annotations

import re

from torch import Tensor, nn

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled

VGG19_STAGES = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]]


class VGG19(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        blocks, channels = [], spec.in_channels
        for stage in VGG19_STAGES:
            layers: list[nn.Module] = []
            for c in stage:
                out = scaled(c, spec.width)
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                channels = out
            layers.append(nn.MaxPool2d(2))
            blocks.append(nn.Sequential(*layers))
        self.stem = blocks[0]
        self.stages = nn.ModuleList(blocks[1:])
        self.out_channels = [scaled(s[-1], spec.width) for s in VGG19_STAGES[1:]]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


#: Where each block of the reference ``features`` sequence starts, and its place here.
_BLOCK_STARTS = ((40, "stages.3"), (27, "stages.2"), (14, "stages.1"), (7, "stages.0"), (0, "stem"))


def _vgg_key(key: str) -> str | None:
    """timm/torchvision ``features.<i>.*`` (one flat sequence) -> this module's blocks; the
    classifier (``pre_logits``, ``head``, ``classifier``) is not part of the backbone."""
    match = re.fullmatch(r"features\.(\d+)\.(.+)", key)
    if match is None:
        return None
    index = int(match.group(1))
    start, prefix = next((s, p) for s, p in _BLOCK_STARTS if index >= s)
    return f"{prefix}.{index - start}.{match.group(2)}"


@register_backbone(
    "vgg19",
    display_name="VGG-19",
    reference=ReferenceWeights(timm="vgg19_bn", torchvision="vgg19_bn", key_map=_vgg_key),
)
def vgg19(spec: BackboneSpec) -> Backbone:
    return VGG19(spec)
