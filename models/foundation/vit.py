"""A Vision Transformer in DINOv2's parameter layout (ViT-S/14: 384 wide, 12 blocks, 6 heads).

The attribute names are the checkpoint's (``patch_embed.proj``, ``blocks.N.attn.qkv``,
``blocks.N.ls1.gamma``, ...), so a published DINOv2 state dict loads strictly without renaming
(its ``mask_token``, used only in pretraining, is dropped). The embedding of an image is the
normalised class token, as DINOv2's linear probes use it. Position embeddings were learnt on a
37 x 37 patch grid (518 px); other grids interpolate them bicubically with antialiasing, as timm
does: with the same weights, the class token equals timm's ``vit_small_patch14_dinov2`` (checked
at 518, 224 and 112 px).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..layers import Mlp, SelfAttention

__all__ = ["DinoViT"]


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """``forward(images (B, 3, H, W)) -> (B, dim)``: the normalised class token."""

    def __init__(
        self, dim: int = 384, depth: int = 12, heads: int = 6, patch: int = 14, grid: int = 37, mlp_ratio: float = 4.0
    ) -> None:
        super().__init__()
        self.patch, self.grid, self.out_features = patch, grid, dim
        self.patch_embed = PatchEmbed(patch, 3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def _positions(self, h: int, w: int) -> Tensor:
        """Position embeddings for an h x w patch grid (the learnt grid, interpolated)."""
        if h == w == self.grid:
            return self.pos_embed
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = int(math.isqrt(grid.shape[1]))
        grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = nn.functional.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self._positions(h, w)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]
