"""MobileNetV3-Small (Howard et al. 2019) as a compact torch module."""

from __future__ import annotations

from torch import Tensor, nn

from . import Backbone, BackboneSpec, register_backbone, scaled

# kernel, expansion, out, squeeze-excite, activation, stride  (the paper's table 2)
SMALL = [
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
]
STAGE_ENDS = (0, 2, 7, 10)  # block indices closing each of the four stages


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, kernel: int, hidden: int, cout: int, se: bool, act: str, stride: int) -> None:
        super().__init__()
        activation = nn.ReLU if act == "relu" else nn.Hardswish
        layers: list[nn.Module] = []
        if hidden != cin:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), activation()]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            activation(),
        ]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3Small(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        if spec.spatial_dims != 2:
            raise ValueError("mobilenetv3-small is 2D only")
        stem = scaled(16, spec.width)
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.Hardswish()
        )
        blocks, cin, self.out_channels = [], stem, []
        for i, (k, e, c, se, act, s) in enumerate(SMALL):
            cout = scaled(c, spec.width)
            blocks.append(InvertedResidual(cin, k, scaled(e, spec.width), cout, se, act, s))
            cin = cout
            if i in STAGE_ENDS:
                self.out_channels.append(cout)
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in STAGE_ENDS:
                features.append(x)
        return features


@register_backbone("mobilenetv3-small", display_name="MobileNetV3-S")
def mobilenetv3_small(spec: BackboneSpec) -> Backbone:
    return MobileNetV3Small(spec)
