"""A tiny Vision Transformer (Dosovitskiy et al. 2021) backbone and MAE's light decoder (He et al. 2021).

Registered as backbone ``vit`` with the conv backbone's signature ``(in_channels,
resolution, width, depth, code_dim)``: an 8x8 grid of patches (patch side
``resolution // 8``), token size ``2 * width``, ``depth`` pre-norm transformer blocks, fixed
2-D sine-cosine position embeddings, and the code is the mean-pooled final tokens
projected to ``code_dim`` (MAE's linear-probe recipe uses the mean token, not a CLS token).

MAE needs the pieces separately: :meth:`TinyViT.embed` (patch embedding + positions of
all tokens), :meth:`TinyViT.encode_tokens` (the transformer on any subset of tokens) and
:meth:`TinyViT.pool` (tokens -> code).
"""
from __future__ import annotations

import torch
from torch import nn

from .backbones import BACKBONES

GRID = 8  # patches per side


def sincos_position_embedding(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings [grid*grid, dim] (MAE's ``get_2d_sincos_pos_embed``).

    Half the channels encode the row, half the column, each with sin/cos at geometric
    frequencies ``1 / 10000^(2i/d)``.
    """
    if dim % 4:
        raise ValueError(f"position embedding size {dim} must be a multiple of 4")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="ij")

    def encode(pos):
        angles = pos.reshape(-1, 1) * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([encode(rows), encode(cols)], dim=1).float()


def transformer_blocks(dim: int, depth: int, heads: int, mlp_ratio: float = 2.0) -> nn.ModuleList:
    """Pre-norm transformer blocks (no dropout: CPU runs stay deterministic and small data needs none)."""
    return nn.ModuleList(
        nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        for _ in range(depth)
    )


def heads_for(dim: int) -> int:
    """Attention heads: one per 32 channels (at least one), dividing ``dim``."""
    h = max(1, dim // 32)
    while dim % h:
        h -= 1
    return h


@BACKBONES.register("vit")
class TinyViT(nn.Module):
    """ViT encoder for small images: patches -> tokens -> transformer -> mean pool -> code."""

    def __init__(self, in_channels: int, resolution: int, width: int, depth: int, code_dim: int):
        super().__init__()
        if resolution % GRID or resolution < GRID:
            raise ValueError(f"resolution {resolution} must be a multiple of {GRID} for the {GRID}x{GRID} patch grid")
        self.in_channels = in_channels
        self.patch_size = resolution // GRID
        self.grid = GRID
        self.num_patches = GRID * GRID
        self.dim = 2 * width
        self.patch_embed = nn.Conv2d(in_channels, self.dim, self.patch_size, self.patch_size)
        self.register_buffer("pos_embed", sincos_position_embedding(GRID, self.dim)[None], persistent=False)
        self.blocks = transformer_blocks(self.dim, depth, heads_for(self.dim))
        self.norm = nn.LayerNorm(self.dim)
        self.head = nn.Linear(self.dim, code_dim)
        self.code_dim = code_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with their position embeddings: [B, num_patches, dim], row-major patches."""
        return self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The transformer on any subset of (already embedded) tokens [B, n, dim] -> [B, n, dim]."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean-pooled encoded tokens projected to the code: [B, code_dim]."""
        return self.head(tokens.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.encode_tokens(self.embed(x)))

    def spatial(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        """Per-location features [B, dim, R / stride, R / stride]: the encoded patch tokens on their grid, resized."""
        tokens = self.encode_tokens(self.embed(x))
        grid = tokens.transpose(1, 2).reshape(len(x), self.dim, self.grid, self.grid)
        size = x.shape[-1] // stride
        return grid if size == self.grid else torch.nn.functional.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)


class MaskedTokenDecoder(nn.Module):
    """MAE's light decoder (He et al. 2021, Sec. 3): visible tokens + mask tokens -> pixels of every patch.

    Projects the encoded visible tokens to ``dim``, puts a shared learned mask token at
    every masked position (``restore`` unshuffles them), adds position embeddings, runs
    ``depth`` transformer blocks and predicts each patch's ``patch_dim`` pixel values.
    """

    def __init__(self, enc_dim: int, dim: int, depth: int, grid: int, patch_dim: int):
        super().__init__()
        self.proj = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("pos_embed", sincos_position_embedding(grid, dim)[None], persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads_for(dim))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, patch_dim)

    def forward(self, visible: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        b, n_keep, _ = visible.shape
        n = restore.shape[1]
        t = self.proj(visible)
        t = torch.cat([t, self.mask_token.expand(b, n - n_keep, -1)], dim=1)
        t = t.gather(1, restore[..., None].expand(-1, -1, t.shape[-1])) + self.pos_embed
        for block in self.blocks:
            t = block(t)
        return self.out(self.norm(t))
