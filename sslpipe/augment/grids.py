"""Patch grids: tiles of a 3x3 grid (relative position, jigsaw), permutation sets, ViT patches.

Context-prediction tasks cut an image into a ``grid x grid`` array of cells and take one
tile per cell.  Doersch et al. (2015, Sec. 3) and Noroozi & Favaro (2016, Sec. 3.2) guard
against shortcuts with a gap between tiles and a random jitter of each tile inside its
cell (so edges and lines do not continue across tiles), and against chromatic
aberration by dropping colour channels or projecting to grey (:func:`chromatic_guard`).

At 32x32 a 3x3 grid has 10-pixel cells; ``TileGrid(32, tile=7, jitter=1)`` keeps a
gap of at least 1 pixel (3 on average) between neighbouring tiles, the same
tile : cell proportions as the papers (96 : 144 pixels in Doersch et al.).
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: Cells of a 3x3 grid around the centre, row-major: label k means cell NEIGHBOURS[k].
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
CENTRE = 4


@dataclass(frozen=True)
class TileGrid:
    """Geometry of ``grid x grid`` tiles of side ``tile`` cut from a ``resolution`` square image.

    Cells have side ``resolution // grid`` (the leftover pixels split evenly as a border);
    each tile is centred in its cell and moved by an independent random integer jitter in
    ``[-jitter, jitter]`` per axis.  ``tile + 2 * jitter <= cell`` keeps every tile in its
    cell, so tiles never overlap and the gap between neighbours is at least
    ``cell - tile - 2 * jitter`` pixels.
    """

    resolution: int
    grid: int = 3
    tile: int = 7
    jitter: int = 1

    def __post_init__(self):
        if self.tile < 1 or self.jitter < 0:
            raise ValueError(f"tile must be >= 1 and jitter >= 0, got tile={self.tile}, jitter={self.jitter}")
        if self.tile + 2 * self.jitter > self.cell:
            raise ValueError(
                f"tile {self.tile} + 2 * jitter {self.jitter} exceeds the cell size {self.cell} "
                f"({self.grid}x{self.grid} grid on {self.resolution} pixels)"
            )

    @property
    def cell(self) -> int:
        return self.resolution // self.grid

    @property
    def cells(self) -> int:
        return self.grid * self.grid

    @property
    def min_gap(self) -> int:
        return self.cell - self.tile - 2 * self.jitter

    def centred(self) -> torch.Tensor:
        """Top-left (row, col) of every cell's centred tile: [cells, 2], row-major cells."""
        border = (self.resolution - self.grid * self.cell) // 2
        start = border + torch.arange(self.grid) * self.cell + (self.cell - self.tile) // 2
        rows, cols = torch.meshgrid(start, start, indexing="ij")
        return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)

    def positions(self, batch: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Jittered top-left corners [batch, cells, 2] (integers, on ``device``)."""
        base = self.centred().to(device)
        if self.jitter == 0:
            return base.expand(batch, -1, -1).clone()
        shift = torch.randint(-self.jitter, self.jitter + 1, (batch, self.cells, 2), generator=generator, device=device)
        return base + shift


def extract_tiles(x: torch.Tensor, positions: torch.Tensor, tile: int) -> torch.Tensor:
    """Square tiles of side ``tile`` at top-left ``positions`` [B, N, 2]: returns [B, N, C, tile, tile]."""
    b, n = positions.shape[:2]
    offs = torch.arange(tile, device=x.device)
    rows = positions[..., 0, None] + offs  # [B, N, t]
    cols = positions[..., 1, None] + offs
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    # x[b, :, r, c] with advanced indices around the channel slice puts channels last
    tiles = x.permute(0, 2, 3, 1)[batch, rows[..., :, None], cols[..., None, :]]  # [B, N, t, t, C]
    return tiles.permute(0, 1, 4, 2, 3)


def resize_tiles(tiles: torch.Tensor, size: int) -> torch.Tensor:
    """[B, N, C, t, t] tiles -> [B * N, C, size, size] (bilinear), the backbone's input size."""
    b, n, c, t, _ = tiles.shape
    flat = tiles.reshape(b * n, c, t, t)
    if t == size:
        return flat
    return F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)


def chromatic_guard(tiles: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Remove chromatic aberration cues from colour tiles [..., 3, H, W] (Doersch et al. 2015, Sec. 4).

    ``drop``: keep one random colour channel per tile and replace the other two with
    Gaussian noise of 1/100 the kept channel's standard deviation (the paper's
    "colour dropping"); ``grey``: project every tile to grey (kept as 3 channels);
    ``none`` or grey input: unchanged.
    """
    if mode == "none" or tiles.shape[-3] != 3:
        return tiles
    if mode == "grey":
        w = torch.tensor([0.299, 0.587, 0.114], device=tiles.device, dtype=tiles.dtype).view(3, 1, 1)
        return (tiles * w).sum(-3, keepdim=True).expand_as(tiles).clone()
    if mode != "drop":
        raise ValueError(f"unknown chromatic guard {mode!r}")
    lead = tiles.shape[:-3]
    keep = torch.randint(0, 3, lead, generator=generator, device=tiles.device)
    kept = F.one_hot(keep, 3).to(tiles.dtype)[..., :, None, None]  # [..., 3, 1, 1]
    channel = (tiles * kept).sum(-3, keepdim=True)
    std = channel.flatten(-3).std(-1)[..., None, None, None]
    noise = torch.randn(tiles.shape, generator=generator, device=tiles.device, dtype=tiles.dtype) * std / 100 + channel.mean((-2, -1), keepdim=True)
    return kept * tiles + (1 - kept) * noise


# --- jigsaw permutation sets (Noroozi & Favaro 2016) ----------------------------------
@functools.lru_cache(maxsize=8)
def _permutation_set(n: int, cells: int) -> np.ndarray:
    everything = np.array(list(itertools.permutations(range(cells))), dtype=np.int8)
    chosen = [0]  # the identity (lexicographically first): deterministic start
    min_dist = (everything != everything[0]).sum(1).astype(np.int16)
    sum_dist = min_dist.astype(np.int64)
    min_dist[0] = -1
    for _ in range(n - 1):
        best = min_dist.max()
        if best <= 0:
            break
        ties = np.flatnonzero(min_dist == best)
        j = int(ties[np.argmax(sum_dist[ties])])  # then Noroozi's criterion; then lowest index
        chosen.append(j)
        d = (everything != everything[j]).sum(1)
        np.minimum(min_dist, d, out=min_dist, where=min_dist >= 0)
        sum_dist += d
        min_dist[j] = -1
    return everything[chosen].astype(np.int64)


def jigsaw_permutations(n: int, cells: int = 9) -> torch.Tensor:
    """``n`` permutations of ``cells`` tiles chosen greedily for a large minimum Hamming distance.

    Noroozi & Favaro (2016, Algorithm 1) grow the set one permutation at a time, each the
    one farthest from those chosen so far.  We use the max-min form of that greedy
    (farthest-point sampling): the next permutation maximizes its minimum Hamming distance
    to the chosen ones; ties go to the largest summed distance (the paper's criterion),
    then the lowest lexicographic index.  Starting from the identity instead of a random
    permutation makes the set deterministic.  Returns [n, cells] (int64); row ``k`` lists,
    for each position of the shuffled puzzle, which original cell is shown there.
    """
    if n < 1:
        raise ValueError("a permutation set needs at least one permutation")
    total = int(np.prod(np.arange(1, cells + 1)))
    if n > total:
        raise ValueError(f"asked for {n} permutations of {cells} cells; only {total} exist")
    return torch.from_numpy(_permutation_set(n, cells).copy())


def hamming_distances(perms: torch.Tensor) -> torch.Tensor:
    """Pairwise Hamming distances [n, n] between permutations [n, cells]."""
    return (perms[:, None, :] != perms[None, :, :]).sum(-1)


# --- ViT patches ------------------------------------------------------------------
def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, C, R, R] -> [B, (R/p)^2, p*p*C] row-major patches, pixels ordered (row, col, channel) as in MAE."""
    b, c, h, w = x.shape
    g, q = h // patch, w // patch
    x = x.reshape(b, c, g, patch, q, patch).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, g * q, patch * patch * c)


def unpatchify(tokens: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify` for square images."""
    b, n, _ = tokens.shape
    g = int(round(n**0.5))
    x = tokens.reshape(b, g, g, patch, patch, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, channels, g * patch, g * patch)
