"""DenseNet-121 from MONAI (2D or 3D), exposing the outputs of its four dense blocks."""

from __future__ import annotations

from torch import Tensor, nn

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions


class MonaiDenseNet121(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        from monai.networks.nets import DenseNet

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


def _monai_imagenet() -> dict:
    """MONAI's own loader (it downloads torchvision's checkpoint and renames it)."""
    from monai.networks.nets import DenseNet121

    net = DenseNet121(spatial_dims=2, in_channels=3, out_channels=1000, pretrained=True)
    return {k: v for k, v in net.state_dict().items() if k.startswith("features.")}


@register_backbone(
    "densenet121",
    display_name="DenseNet-121",
    reference=ReferenceWeights(
        timm="densenet121",
        torchvision="densenet121",
        key_map=substitutions(r"classifier\.", (r"(denselayer\d+)\.", r"\1.layers.")),
        monai=_monai_imagenet,
    ),
    spatial_dims=(2, 3),
)
def densenet121(spec: BackboneSpec) -> Backbone:
    return MonaiDenseNet121(spec)
