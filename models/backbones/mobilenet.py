"""MobileNetV3-Small (Howard et al. 2019) as a compact torch module.

Parameter names and shapes are timm's ``mobilenetv3_small_100`` (its ``forward_features``: the
stem, five stages of blocks and the 1x1 convolution to 576 channels), so ImageNet checkpoints load
with an identity key map (tested against the fixture of timm's state dict).
"""

from __future__ import annotations

from torch import Tensor, nn

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions

# per stage, per block: kernel, expansion, out, squeeze-excite, activation, stride (the paper's table 2)
SMALL = [
    [(3, 16, 16, True, "relu", 2)],
    [(3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1)],
    [(5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1)],
    [(5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1)],
    [(5, 288, 96, True, "hswish", 2), (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1)],
]
FEATURE_STAGES = (0, 1, 3, 5)  # stages whose outputs are the four feature maps (strides 4, 8, 16, 32)


def _activation(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.Hardswish()


def _divisible(value: float, divisor: int = 8) -> int:
    """timm's ``make_divisible``: the nearest multiple of ``divisor``, never 10 % below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = _divisible(channels * 0.25)
        self.conv_reduce = nn.Conv2d(channels, hidden, 1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(x.mean(dim=(2, 3), keepdim=True)))))


def _conv_bn(
    cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1
) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """A bias-free 'same' convolution and its batch norm (each block's unit; names stay the caller's)."""
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)


def _squeeze_excite(channels: int, used: bool) -> nn.Module:
    return SqueezeExcite(channels) if used else nn.Identity()


class DepthwiseSeparable(nn.Module):
    """The first block: depthwise convolution, squeeze-excite, pointwise projection."""

    def __init__(self, cin: int, kernel: int, cout: int, se: bool, act: str, stride: int) -> None:
        super().__init__()
        self.conv_dw, self.bn1 = _conv_bn(cin, cin, kernel, stride, groups=cin)
        self.act, self.se = _activation(act), _squeeze_excite(cin, se)
        self.conv_pw, self.bn2 = _conv_bn(cin, cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv_pw(self.se(self.act(self.bn1(self.conv_dw(x))))))
        return x + y if self.residual else y


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, kernel: int, hidden: int, cout: int, se: bool, act: str, stride: int) -> None:
        super().__init__()
        self.conv_pw, self.bn1 = _conv_bn(cin, hidden)
        self.conv_dw, self.bn2 = _conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.act, self.se = _activation(act), _squeeze_excite(hidden, se)
        self.conv_pwl, self.bn3 = _conv_bn(hidden, cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.bn1(self.conv_pw(x)))
        y = self.se(self.act(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.residual else y


class ConvBnAct(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv, self.bn1 = _conv_bn(cin, cout)
        self.act = nn.Hardswish()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn1(self.conv(x)))


class MobileNetV3Small(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        stem = scaled(16, spec.width)
        self.conv_stem = nn.Conv2d(spec.in_channels, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.Hardswish()
        stages, cin, widths = [], stem, []
        for index, stage in enumerate(SMALL):
            blocks: list[nn.Module] = []
            for k, e, c, se, act, s in stage:
                cout = scaled(c, spec.width)
                if index == 0:
                    blocks.append(DepthwiseSeparable(cin, k, cout, se, act, s))
                else:
                    blocks.append(InvertedResidual(cin, k, scaled(e, spec.width), cout, se, act, s))
                cin = cout
            stages.append(nn.Sequential(*blocks))
            widths.append(cin)
        head = scaled(576, spec.width)
        stages.append(nn.Sequential(ConvBnAct(cin, head)))
        widths.append(head)
        self.blocks = nn.Sequential(*stages)
        self.out_channels = [widths[i] for i in FEATURE_STAGES]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.act1(self.bn1(self.conv_stem(x)))
        features = []
        for index, stage in enumerate(self.blocks):
            x = stage(x)
            if index in FEATURE_STAGES:
                features.append(x)
        return features


@register_backbone(
    "mobilenetv3-small",
    display_name="MobileNetV3-S",
    reference=ReferenceWeights(
        timm="mobilenetv3_small_100",
        key_map=substitutions(r"(conv_head|classifier)\."),
        torchvision=None,
    ),
)
def mobilenetv3_small(spec: BackboneSpec) -> Backbone:
    return MobileNetV3Small(spec)
