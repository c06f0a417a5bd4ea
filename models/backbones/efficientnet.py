"""EfficientNet-B0 from MONAI (feature pyramid variant); its width is fixed by the architecture."""

from __future__ import annotations

import re

from torch import Tensor

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone

#: Blocks per stage of EfficientNet-B0: MONAI numbers blocks globally within each stage
#: (``_blocks.<stage>.<index over all blocks>``), timm per stage (``blocks.<stage>.<index>``).
_STAGE_STARTS = (0, 1, 3, 5, 8, 11, 15)
#: timm's layer names -> MONAI's, in a depthwise-separable first stage and in inverted residuals
_FIRST_STAGE = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
_LATER_STAGES = {
    "conv_pw": "_expand_conv",
    "bn1": "_bn0",
    "conv_dw": "_depthwise_conv",
    "bn2": "_bn1",
    "conv_pwl": "_project_conv",
    "bn3": "_bn2",
}
_SQUEEZE_EXCITE = {"se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand"}


def _timm_key(key: str) -> str | None:
    """timm ``tf_efficientnet_b0`` names (the TensorFlow weights with their "same" padding, as
    MONAI's network pads) -> this module's (MONAI's ``EfficientNetBNFeatures`` below ``net.``)."""
    if re.match(r"(conv_head|bn2|classifier)\.", key):
        return None  # the classification head
    if match := re.fullmatch(r"(conv_stem|bn1)\.(\w+)", key):
        return f"net.{'_conv_stem' if match.group(1) == 'conv_stem' else '_bn0'}.{match.group(2)}"
    match = re.fullmatch(r"blocks\.(\d+)\.(\d+)\.(se\.conv_reduce|se\.conv_expand|\w+)\.(\w+)", key)
    if match is None:
        raise KeyError(f"unexpected tf_efficientnet_b0 key {key!r}")
    stage, index, layer, leaf = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
    names = {**(_FIRST_STAGE if stage == 0 else _LATER_STAGES), **_SQUEEZE_EXCITE}
    return f"net._blocks.{stage}.{_STAGE_STARTS[stage] + index}.{names[layer]}.{leaf}"


class MonaiEfficientNetB0(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        from monai.networks.nets import EfficientNetBNFeatures

        super().__init__()
        self.net = EfficientNetBNFeatures(
            "efficientnet-b0", pretrained=False, spatial_dims=spec.spatial_dims, in_channels=spec.in_channels
        )
        for unused in ("_conv_head", "_bn1", "_fc"):  # the classification head: never used by the feature pyramid
            setattr(self.net, unused, None)
        self.out_channels = [24, 40, 112, 320]

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.net(x))[1:]  # the four deepest of five pyramid levels


def _monai_imagenet() -> dict:
    """MONAI's own loader (the TensorFlow-ported weights it downloads), head removed."""
    from monai.networks.nets import EfficientNetBNFeatures

    net = EfficientNetBNFeatures("efficientnet-b0", pretrained=True, spatial_dims=2, in_channels=3)
    head = ("_conv_head.", "_bn1.", "_fc.")
    return {f"net.{k}": v for k, v in net.state_dict().items() if not k.startswith(head)}


@register_backbone(
    "efficientnet-b0",
    display_name="EfficientNet-B0",
    reference=ReferenceWeights(timm="tf_efficientnet_b0", key_map=_timm_key, monai=_monai_imagenet),
    fixed_width=True,
    spatial_dims=(2, 3),
)
def efficientnet_b0(spec: BackboneSpec) -> Backbone:
    return MonaiEfficientNetB0(spec)
