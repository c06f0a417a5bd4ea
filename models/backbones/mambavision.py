"""MambaVision-T (Hatamizadeh & Kautz 2024) with a pure-torch selective scan (no CUDA kernels).

Stages 1-2 are residual conv blocks; stages 3-4 mix MambaVision mixer blocks (first half) and
self-attention blocks (second half). The selective scan is the reference recurrence
``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t,  y_t = C_t h_t + D x_t``, computed step by step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import Backbone, BackboneSpec, register_backbone


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
        self.in_proj = nn.Linear(dim, inner)
        self.x_proj = nn.Linear(inner // 2, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner // 2)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(inner // 2, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(inner // 2))
        self.conv_x = nn.Conv1d(inner // 2, inner // 2, d_conv, padding=d_conv // 2, groups=inner // 2)
        self.conv_z = nn.Conv1d(inner // 2, inner // 2, d_conv, padding=d_conv // 2, groups=inner // 2)
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, tokens: Tensor) -> Tensor:
        x, z = self.in_proj(tokens).transpose(1, 2).chunk(2, dim=1)  # (b, inner/2, L) each
        x = nn.functional.silu(self.conv_x(x))
        z = nn.functional.silu(self.conv_z(z))
        params = self.x_proj(x.transpose(1, 2))  # (b, L, r + 2n)
        dt, B, C = params.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = nn.functional.softplus(self.dt_proj(dt)).transpose(1, 2)
        y = selective_scan(x, dt, -torch.exp(self.A_log.float()), B.transpose(1, 2), C.transpose(1, 2), self.D)
        return self.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class MixerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, use_attention: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mixer = Attention(dim, heads) if use_attention else MambaVisionMixer(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ConvBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1),
            nn.BatchNorm2d(dim),
            nn.GELU(),
            nn.Conv2d(dim, dim, 3, padding=1),
            nn.BatchNorm2d(dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class MambaVision(Backbone):
    def __init__(self, spec: BackboneSpec, dims=(80, 160, 320, 640), depths=(1, 3, 8, 4), heads=(2, 4, 8, 16)) -> None:
        super().__init__()
        if spec.spatial_dims != 2:
            raise ValueError("mambavision is 2D only")
        heads = [max(1, int(round(h * min(1.0, spec.width * 2)))) for h in heads]
        dims = [max(8 * h, int(round(d * spec.width / (8 * h))) * 8 * h) for d, h in zip(dims, heads)]
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, dims[0], 3, 2, 1),
            nn.BatchNorm2d(dims[0]),
            nn.ReLU(),
            nn.Conv2d(dims[0], dims[0], 3, 2, 1),
            nn.BatchNorm2d(dims[0]),
            nn.ReLU(),
        )
        self.stages = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, (d, n, h) in enumerate(zip(dims, depths, heads)):
            if i < 2:
                self.stages.append(nn.Sequential(*[ConvBlock(d) for _ in range(n)]))
            else:
                self.stages.append(nn.ModuleList([MixerBlock(d, h, use_attention=j >= n // 2) for j in range(n)]))
            self.downsample.append(
                nn.Sequential(nn.Conv2d(d, dims[i + 1], 3, 2, 1), nn.BatchNorm2d(dims[i + 1]))
                if i < 3
                else nn.Identity()
            )
        self.out_channels = list(dims)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for i, (stage, down) in enumerate(zip(self.stages, self.downsample)):
            if i < 2:
                x = stage(x)
            else:
                b, c, h, w = x.shape
                tokens = x.flatten(2).transpose(1, 2)
                for block in stage:
                    tokens = block(tokens)
                x = tokens.transpose(1, 2).reshape(b, c, h, w)
            features.append(x)
            x = down(x)
        return features


@register_backbone("mambavision-t", display_name="MambaVision-T")
def mambavision_t(spec: BackboneSpec) -> Backbone:
    return MambaVision(spec)
