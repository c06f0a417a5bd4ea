"""ResNet-18 / ResNet-50 from MONAI (2D or 3D), exposing the four residual stages."""

from __future__ import annotations

from torch import Tensor

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions


class MonaiResNet(Backbone):
    def __init__(self, spec: BackboneSpec, block: str, layers: list[int]) -> None:
        from monai.networks.nets import ResNet

        super().__init__()
        planes = [scaled(c, spec.width) for c in (64, 128, 256, 512)]
        self.net = ResNet(
            block,
            layers,
            planes,
            spatial_dims=spec.spatial_dims,
            n_input_channels=spec.in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            feed_forward=False,
            bias_downsample=False,  # as torchvision and timm: ImageNet checkpoints load by name
        )
        expansion = 4 if block == "bottleneck" else 1
        self.out_channels = [p * expansion for p in planes]

    def forward(self, x: Tensor) -> list[Tensor]:
        n = self.net
        x = n.act(n.bn1(n.conv1(x)))
        if not n.no_max_pool:
            x = n.maxpool(x)
        features = []
        for layer in (n.layer1, n.layer2, n.layer3, n.layer4):
            x = layer(x)
            features.append(x)
        return features


def _reference(name: str) -> ReferenceWeights:
    """timm's and torchvision's ResNets share MONAI's parameter names, below ``net.``."""
    return ReferenceWeights(timm=name, torchvision=name, key_map=substitutions(r"fc\.", (r"^", "net.")))


@register_backbone("resnet18", display_name="ResNet-18", reference=_reference("resnet18"), spatial_dims=(2, 3))
def resnet18(spec: BackboneSpec) -> Backbone:
    return MonaiResNet(spec, "basic", [2, 2, 2, 2])


@register_backbone("resnet50", display_name="ResNet-50", reference=_reference("resnet50"), spatial_dims=(2, 3))
def resnet50(spec: BackboneSpec) -> Backbone:
    return MonaiResNet(spec, "bottleneck", [3, 4, 6, 3])
