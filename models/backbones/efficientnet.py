"""EfficientNet-B0 from MONAI (feature pyramid variant); its width is fixed by the architecture."""

from __future__ import annotations

from monai.networks.nets import EfficientNetBNFeatures
from torch import Tensor

from . import Backbone, BackboneSpec, register_backbone


class MonaiEfficientNetB0(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.net = EfficientNetBNFeatures(
            "efficientnet-b0", pretrained=False, spatial_dims=spec.spatial_dims, in_channels=spec.in_channels
        )
        for unused in ("_conv_head", "_bn1", "_fc"):  # the classification head: never used by the feature pyramid
            setattr(self.net, unused, None)
        self.out_channels = [24, 40, 112, 320]

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.net(x))[1:]  # the four deepest of five pyramid levels


@register_backbone("efficientnet-b0", display_name="EfficientNet-B0")
def efficientnet_b0(spec: BackboneSpec) -> Backbone:
    return MonaiEfficientNetB0(spec)
