"""MambaVision-T (Hatamizadeh & Kautz 2024) with a pure-torch selective scan (no CUDA kernels).

A port of NVlabs' reference (``mambavision`` 1.2.0, ``mamba_vision_T``): the same modules, names
and shapes, so its ImageNet checkpoint loads with an identity key map (tested against a fixture
of its state dict) and, given the same weights, gives the reference's features. Levels 1-2 are
residual conv blocks; levels 3-4 run MambaVision mixer blocks (first half) and self-attention
blocks (second half) inside windows. The selective scan is the reference recurrence
``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t,  y_t = C_t h_t + D x_t``, computed step by step; as in
the reference, ``dt`` carries the ``dt_proj`` bias twice (once in the projection, once as the
scan's delta bias). One deviation: a feature map smaller than the window is one window instead of
being zero-padded up to it (CPU-sized inputs would otherwise scan mostly padding).
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from ..layers import Mlp, SelfAttention
from . import Backbone, BackboneSpec, ReferenceWeights, register_backbone, scaled, substitutions


def selective_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:
    """x, dt: (b, d, L); A: (d, n); B, C: (b, n, L); D: (d,). Returns (b, d, L)."""
    b, d, length = x.shape
    h = x.new_zeros(b, d, A.shape[1])
    outputs = []
    for t in range(length):
        decay = torch.exp(dt[:, :, t, None] * A[None])  # (b, d, n)
        h = decay * h + (dt[:, :, t, None] * B[:, None, :, t]) * x[:, :, t, None]
        outputs.append((h * C[:, None, :, t]).sum(-1))
    return torch.stack(outputs, dim=-1) + x * D[None, :, None]


class MambaVisionMixer(nn.Module):
    def __init__(self, dim: int, d_state: int = 8, d_conv: int = 3, expand: int = 1) -> None:
        super().__init__()
        inner = expand * dim
        self.inner, self.d_state = inner, d_state
        self.dt_rank = math.ceil(dim / 16)
        self.in_proj = nn.Linear(dim, inner, bias=False)
        self.x_proj = nn.Linear(inner // 2, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner // 2)
        dt = torch.exp(torch.rand(inner // 2) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1 of dt in [0.001, 0.1]
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(inner // 2, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(inner // 2))
        self.out_proj = nn.Linear(inner, dim, bias=False)
        self.conv1d_x = nn.Conv1d(inner // 2, inner // 2, d_conv, padding="same", groups=inner // 2, bias=False)
        self.conv1d_z = nn.Conv1d(inner // 2, inner // 2, d_conv, padding="same", groups=inner // 2, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:
        x, z = self.in_proj(tokens).transpose(1, 2).chunk(2, dim=1)  # (b, inner/2, L) each
        x = nn.functional.silu(self.conv1d_x(x))
        z = nn.functional.silu(self.conv1d_z(z))
        params = self.x_proj(x.transpose(1, 2))  # (b, L, r + 2n)
        dt, B, C = params.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = nn.functional.softplus(self.dt_proj(dt) + self.dt_proj.bias).transpose(1, 2)
        y = selective_scan(x, dt, -torch.exp(self.A_log.float()), B.transpose(1, 2), C.transpose(1, 2), self.D)
        return self.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, use_attention: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = SelfAttention(dim, heads) if use_attention else MambaVisionMixer(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ConvBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim)
        self.act1 = nn.GELU(approximate="tanh")
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))


class Downsample(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.reduction(x)


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, in_dim: int, dim: int) -> None:
        super().__init__()
        self.conv_down = nn.Sequential(
            nn.Conv2d(in_channels, in_dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4),
            nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_down(x)


def _transformer_blocks(depth: int) -> range:
    """The reference's choice: attention in the second half of a level (odd depths: after the middle)."""
    return range(depth // 2 + 1, depth) if depth % 2 else range(depth // 2, depth)


class Level(nn.Module):
    """One level: its blocks (windowed for the mixer levels) and the downsampling that follows."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, conv: bool, downsample: bool) -> None:
        super().__init__()
        self.conv, self.window = conv, window
        if conv:
            self.blocks = nn.ModuleList([ConvBlock(dim) for _ in range(depth)])
        else:
            attention = _transformer_blocks(depth)
            self.blocks = nn.ModuleList([Block(dim, heads, i in attention) for i in range(depth)])
        self.downsample = Downsample(dim) if downsample else None

    def mix(self, x: Tensor) -> Tensor:
        """The level's blocks (before its downsampling)."""
        if self.conv:
            for block in self.blocks:
                x = block(x)
            return x
        b, c, h, w = x.shape
        window = min(self.window, max(h, w))
        pad_b, pad_r = (window - h % window) % window, (window - w % window) % window
        if pad_b or pad_r:
            x = nn.functional.pad(x, (0, pad_r, 0, pad_b))
        hp, wp = x.shape[-2:]
        tokens = (
            x.view(b, c, hp // window, window, wp // window, window)
            .permute(0, 2, 4, 3, 5, 1)
            .reshape(-1, window * window, c)
        )
        for block in self.blocks:
            tokens = block(tokens)
        x = tokens.reshape(b, hp // window, wp // window, window, window, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, hp, wp)[:, :, :h, :w].contiguous()


# per level: blocks, heads, window (MambaVision-T); the stem gives IN_DIM then DIM channels, levels double them
LEVELS = [(1, 2, 8), (3, 4, 8), (8, 8, 14), (4, 16, 7)]
DIM, IN_DIM = 80, 32


class MambaVision(Backbone):
    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        heads = [spec.scaled_heads(h) for _, h, _ in LEVELS]
        dim = scaled(DIM, spec.width, minimum=8 * heads[0], multiple=8 * heads[0])  # whole heads of 8k channels
        dims = [dim * 2**i for i in range(4)]  # each level doubles the width, as the reference
        self.patch_embed = PatchEmbed(spec.in_channels, scaled(IN_DIM, spec.width), dim)
        self.levels = nn.ModuleList(
            [
                Level(d, n, h, w, conv=i < 2, downsample=i < 3)
                for i, (d, h, (n, _, w)) in enumerate(zip(dims, heads, LEVELS))
            ]
        )
        self.norm = nn.BatchNorm2d(dims[-1])
        self.out_channels = list(dims)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.patch_embed(x)
        features = []
        for level in cast(list[Level], self.levels):
            x = level.mix(x)
            features.append(x)
            if level.downsample is not None:
                x = level.downsample(x)
        features[-1] = self.norm(features[-1])  # the reference's last normalisation
        return features


@register_backbone(
    "mambavision-t",
    display_name="MambaVision-T",
    reference=ReferenceWeights(timm="mamba_vision_T", key_map=substitutions(r"head\."), package="mambavision"),
)
def mambavision_t(spec: BackboneSpec) -> Backbone:
    return MambaVision(spec)
