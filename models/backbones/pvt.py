"""PVTv2-B2 (Wang et al. 2022): overlapping patch embedding, spatial-reduction attention, Mix-FFN.

Parameter names and shapes follow timm's ``pvt_v2_b2`` up to the key map below (tested).
"""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn

from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions


class MixFFN(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = self.fc1(x)
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class SRAttention(nn.Module):
    """Multi-head attention whose keys and values come from a spatially reduced map (ratio ``sr``)."""

    def __init__(self, dim: int, heads: int, sr: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.sr = nn.Conv2d(dim, dim, sr, sr) if sr > 1 else None
        self.norm = nn.LayerNorm(dim) if sr > 1 else None

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, c // self.heads).transpose(1, 2)
        source = x
        if self.sr is not None and self.norm is not None and h >= self.sr.stride[0] and w >= self.sr.stride[0]:
            source = self.norm(self.sr(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2))
        k, v = self.kv(source).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class PatchEmbed(nn.Module):
    """Overlapping patch embedding: a strided convolution, then a LayerNorm over the channels."""

    def __init__(self, cin: int, dim: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, kernel, stride, kernel // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class PVTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, sr: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SRAttention(dim, heads, sr)
        self.mlp = MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


# per stage: width, blocks, heads, spatial reduction of keys/values, MLP ratio (PVTv2-B2)
B2 = [(64, 3, 1, 8, 8), (128, 4, 2, 4, 8), (320, 6, 5, 2, 4), (512, 3, 8, 1, 4)]


class PVTv2(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.embeds, self.stages, self.norms = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin, self.out_channels = spec.in_channels, []
        for i, (d, n, h, sr, r) in enumerate(B2):
            h = spec.scaled_heads(h)
            d = scaled(d, spec.width, minimum=8 * h, multiple=8 * h)  # whole heads of a multiple of 8
            k, s = (7, 4) if i == 0 else (3, 2)
            self.embeds.append(PatchEmbed(cin, d, k, s))
            self.stages.append(nn.ModuleList([PVTBlock(d, h, sr, r) for _ in range(n)]))
            self.norms.append(nn.LayerNorm(d))
            self.out_channels.append(d)
            cin = d

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for embed, blocks, norm in zip(self.embeds, self.stages, self.norms):
            x = embed(x)
            b, c, h, w = x.shape
            tokens = x.flatten(2).transpose(1, 2)
            for block in cast(nn.ModuleList, blocks):
                tokens = block(tokens, h, w)
            x = norm(tokens).transpose(1, 2).reshape(b, c, h, w)
            features.append(x)
        return features


@register_backbone(
    "pvtv2-b2",
    display_name="PVTv2-B2",
    reference=ReferenceWeights(
        timm="pvt_v2_b2",
        key_map=substitutions(
            r"head\.",
            (r"^patch_embed\.", "embeds.0."),
            (r"^stages\.(\d)\.downsample\.", r"embeds.\1."),
            (r"^stages\.(\d)\.norm\.", r"norms.\1."),
            (r"^stages\.(\d)\.blocks\.(\d+)\.", r"stages.\1.\2."),
        ),
    ),
)
def pvtv2_b2(spec: BackboneSpec) -> Backbone:
    return PVTv2(spec)
