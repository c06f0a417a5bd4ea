"""DenseNet-121 from MONAI (2D or 3D), exposing the outputs of its four dense blocks."""

from __future__ import annotations

from monai.networks.nets import DenseNet
from torch import Tensor, nn

from . import Backbone, BackboneSpec, register_backbone, scaled


class MonaiDenseNet121(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        growth = max(8, int(round(32 * spec.width)))
        init = scaled(64, spec.width)
        net = DenseNet(
            spec.spatial_dims,
            spec.in_channels,
            out_channels=1,
            init_features=init,
            growth_rate=growth,
            block_config=(6, 12, 24, 16),
        )
        self.features = net.features
        self.stage_ends = ["denseblock1", "denseblock2", "denseblock3", "norm5"]
        channels, out = init, []
        for i, layers in enumerate((6, 12, 24, 16)):
            channels += layers * growth
            out.append(channels)
            if i < 3:
                channels //= 2
        self.out_channels = out

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for name, module in self.features.named_children():
            x = module(x)
            if name in self.stage_ends:
                features.append(nn.functional.relu(x) if name == "norm5" else x)
        return features


@register_backbone("densenet121", display_name="DenseNet-121")
def densenet121(spec: BackboneSpec) -> Backbone:
    return MonaiDenseNet121(spec)
