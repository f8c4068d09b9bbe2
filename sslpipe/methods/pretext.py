"""Pretext tasks: a label made from the image itself, predicted by a head on the backbone.

The representation is the shared backbone's code (``encode``); the heads (and, for
colorization, the colour decoder) only serve the task.  Tile tasks (relative position,
jigsaw) cut tiles with :class:`sslpipe.augment.grids.TileGrid` and resize them to the
backbone's input size, so any backbone kind works unchanged; their representation is by
default the mean code of the 9 centred tiles (see :class:`TileTask`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import rotations
from ..augment.grids import CENTRE, NEIGHBOURS, TileGrid, chromatic_guard, extract_tiles, jigsaw_permutations, resize_tiles
from ..core.schema import check, in_range, non_negative, one_of, positive
from ..core.errors import ConfigError
from ..models.heads import mlp
from .base import METHODS, Method, MethodParams
from .parts.colour import ABQuantizer, light_ab
from .parts.decoders import image_decoder


@METHODS.register("rotation")
class Rotation(Method):
    """Predict which of 4 rotations (0, 90, 180, 270 degrees) was applied (Gidaris et al. 2018)."""

    family = "pretext"

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(120, non_negative, help="training steps of this method (overrides train.steps).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(ctx.code_dim, 4))

    def views(self, x):
        return rotations(x)[0]

    def loss(self, x):
        views, labels = rotations(x)
        logits = self.head(self.encoder(views))
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        return loss, {"accuracy": acc.item()}


def classification(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy and accuracy logs shared by the classification pretext tasks."""
    loss = F.cross_entropy(logits, labels)
    acc = (logits.argmax(1) == labels).float().mean()
    return loss, {"accuracy": acc.item()}


# --- Exemplar CNN -----------------------------------------------------------------------
@METHODS.register("exemplar")
class Exemplar(Method):
    """Exemplar CNN (Dosovitskiy et al. 2014): each seed image is its own surrogate class.

    Surrogate classes: the first ``classes`` training images the method sees are kept in a
    buffer (``seeds``, saved with the model).  The loader shuffles the stream, so they are
    a random sample of the training set, drawn once and fixed, as the paper's set of seed
    patches.  Every step draws ``batch`` seeds uniformly, distorts each with a random
    translation, rotation, scaling and colour/contrast shift (Kornia), and the network
    classifies the distorted view back to its seed's index.  While the buffer fills
    (the first ``ceil(classes / batch)`` steps) the not-yet-seen classes are masked out
    of the softmax.
    """

    family = "pretext"

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(325, non_negative, help="training steps of this method (overrides train.steps).")
        classes: int = check(512, positive, help="number of surrogate classes (seed images), e.g. 512.")
        translate: float = check(0.2, in_range(0, 1), help="max translation as a fraction of the image side.")
        degrees: float = check(20.0, non_negative, help="max rotation in degrees.")
        scale: list[float] = check([0.7, 1.4], help="scaling range [lo, hi].")
        brightness: float = check(0.4, non_negative)
        contrast: float = check(0.4, non_negative)
        saturation: float = check(0.4, non_negative, help="colour images only.")
        hue: float = check(0.1, in_range(0, 0.5), help="colour images only.")
        head_hidden: int = check(256, positive, help="hidden width of the classifier head.")

        def validate(self, key):
            if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
                raise ConfigError(f"{key}.scale", f"{self.scale!r} is not a range [lo, hi] with 0 < lo <= hi.", "use e.g. [0.7, 1.4].")

    def __init__(self, params, ctx):
        import kornia.augmentation as K

        super().__init__(params, ctx)
        p = params
        colour = ctx.channels == 3
        self.distort = K.AugmentationSequential(
            K.RandomAffine(degrees=p.degrees, translate=(p.translate, p.translate), scale=tuple(p.scale), p=1.0),
            K.ColorJitter(p.brightness, p.contrast, p.saturation if colour else 0.0, p.hue if colour else 0.0, p=1.0),
        )
        self.head = mlp(ctx.code_dim, p.head_hidden, p.classes)
        self.register_buffer("seeds", torch.zeros(p.classes, ctx.channels, ctx.resolution, ctx.resolution))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def remember(self, x: torch.Tensor) -> None:
        """Store images of ``x`` as new surrogate classes until the buffer is full."""
        n = int(self.filled)
        take = min(len(self.seeds) - n, len(x))
        if take > 0:
            self.seeds[n:n + take] = x[:take].to(self.seeds.dtype)
            self.filled.fill_(n + take)

    def surrogates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distorted seeds (after storing new seeds from ``x``) and their surrogate class labels."""
        self.remember(x)
        labels = torch.randint(0, int(self.filled), (len(x),), device=x.device)
        return self.distort(self.seeds[labels]), labels

    def views(self, x):
        return self.surrogates(x)[0]

    def loss(self, x):
        views, labels = self.surrogates(x)
        logits = self.head(self.encoder(views))
        seen = torch.arange(logits.shape[1], device=x.device) < self.filled
        logits = logits.masked_fill(~seen, float("-inf"))
        loss, logs = classification(logits, labels)
        return loss, {**logs, "classes": float(self.filled)}


# --- tile tasks -----------------------------------------------------------------------
@dataclass
class TileParams(MethodParams):
    tile: float = check(0.7, in_range(0, 1, lo_open=True), help="tile side as a fraction of the grid cell (3x3 grid; 0.7 -> 7 px tiles in 10 px cells at 32x32).")
    jitter: float = check(0.1, in_range(0, 0.5), help="max random shift of each tile as a fraction of the cell (0.1 -> 1 px at 32x32).")
    color_guard: str = check("drop", one_of("drop", "grey", "none"), help="chromatic-aberration guard on colour tiles: drop 2 of 3 channels, project to grey, or none.")
    head_hidden: int = check(256, positive, help="hidden width of the classifier head.")
    represent: str = check("tiles", one_of("tiles", "image"), help="representation: the mean code of the 9 centred tiles (what the backbone was trained on), or the backbone on the whole image.")

    def validate(self, key):
        if self.tile + 2 * self.jitter > 1:
            raise ConfigError(f"{key}.jitter", f"tile {self.tile} + 2 * jitter {self.jitter} exceeds the cell.", "lower tile or jitter so that tile + 2 * jitter <= 1.")


class TileTask(Method):
    """Shared by relative position and jigsaw: a 3x3 tile grid and a backbone applied per tile.

    The papers transfer the convolutional layers to whole images; our backbones end in
    fully connected layers at a fixed input size, and a tile (7 px at 32x32) is magnified
    about 4.6 times to that size, so on a whole image the backbone would see objects at a
    scale it was never trained on.  ``represent: tiles`` (default) therefore encodes an
    image as the mean code of its 9 centred tiles, the inputs the backbone learnt from
    (on dsprites it probes better than ``represent: image``, the backbone on the whole image).
    """

    family = "pretext"

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        cell = ctx.resolution // 3
        self.grid = TileGrid(ctx.resolution, 3, max(1, math.floor(params.tile * cell)), math.floor(params.jitter * cell))

    def tile_codes(self, tiles: torch.Tensor) -> torch.Tensor:
        """Codes of tiles [B, N, C, t, t]: [B, N * code_dim] (tiles resized to the backbone input)."""
        b, n = tiles.shape[:2]
        return self.encoder(resize_tiles(tiles, self.ctx.resolution)).reshape(b, -1)

    def encode(self, x):
        if self.params.represent == "image":
            return self.encoder(x)
        centred = self.grid.centred().to(x.device).expand(len(x), -1, -1)
        codes = self.tile_codes(extract_tiles(x, centred, self.grid.tile))
        return codes.view(len(x), self.grid.cells, -1).mean(1)


@METHODS.register("relative_patch")
class RelativePatch(TileTask):
    """Context prediction (Doersch et al. 2015): which of the 8 neighbours of the centre tile is this?

    Both tiles go through the shared backbone; a head on the two concatenated codes (late
    fusion, as the paper's pair network) classifies the neighbour's position, label ``k``
    meaning cell ``NEIGHBOURS[k]`` of the row-major 3x3 grid (0 = top-left, 7 = bottom-right).
    Shortcut guards: gaps and jitter (``tile``, ``jitter``) and chromatic aberration
    (``color_guard``).
    """

    @dataclass
    class Params(TileParams):
        steps: int | None = check(335, non_negative, help="training steps of this method (overrides train.steps).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.head = mlp(2 * ctx.code_dim, params.head_hidden, len(NEIGHBOURS))
        self.register_buffer("neighbours", torch.tensor(NEIGHBOURS), persistent=False)

    def pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(centre, neighbour) tiles [B, 2, C, t, t] and the neighbour's label in 0..7."""
        b = len(x)
        pos = self.grid.positions(b, x.device)
        labels = torch.randint(0, len(NEIGHBOURS), (b,), device=x.device)
        rows = torch.arange(b, device=x.device)
        chosen = torch.stack([pos[:, CENTRE], pos[rows, self.neighbours[labels]]], dim=1)
        tiles = extract_tiles(x, chosen, self.grid.tile)
        return chromatic_guard(tiles, self.params.color_guard), labels

    def views(self, x):
        return self.pairs(x)[0]

    def loss(self, x):
        tiles, labels = self.pairs(x)
        return classification(self.head(self.tile_codes(tiles)), labels)


@METHODS.register("jigsaw")
class Jigsaw(TileTask):
    """Jigsaw puzzles (Noroozi & Favaro 2016): which permutation of the set shuffled the 9 tiles?

    The permutation set (``permutations`` of them) is chosen greedily for a large minimum
    Hamming distance (:func:`sslpipe.augment.grids.jigsaw_permutations`).  Tiles go through
    the shared backbone independently (the paper's context-free network); a head on their
    concatenated codes predicts the permutation index.  Guards: gaps, per-tile jitter and
    chromatic aberration, as in relative_patch.
    """

    @dataclass
    class Params(TileParams):
        steps: int | None = check(240, non_negative, help="training steps of this method (overrides train.steps).")
        batch_size: int | None = check(32, positive, help="puzzles per step (x 9 tiles through the backbone); overrides train.batch_size.")
        permutations: int = check(100, positive, help="size of the permutation set (classes), e.g. 100 as in the paper.")

        def validate(self, key):
            super().validate(key)
            if self.permutations > math.factorial(9):
                raise ConfigError(f"{key}.permutations", f"{self.permutations} exceeds 9! = {math.factorial(9)}.", "use at most 362880 (the paper uses 100 to 1000).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.register_buffer("perms", jigsaw_permutations(params.permutations, self.grid.cells), persistent=False)
        self.head = mlp(self.grid.cells * ctx.code_dim, params.head_hidden, params.permutations)

    def puzzles(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffled tiles [B, 9, C, t, t] (position i shows cell ``perms[label, i]``) and the labels."""
        b = len(x)
        tiles = extract_tiles(x, self.grid.positions(b, x.device), self.grid.tile)
        labels = torch.randint(0, len(self.perms), (b,), device=x.device)
        shuffled = tiles[torch.arange(b, device=x.device)[:, None], self.perms[labels]]
        return chromatic_guard(shuffled, self.params.color_guard), labels

    def views(self, x):
        return self.puzzles(x)[0]

    def loss(self, x):
        tiles, labels = self.puzzles(x)
        return classification(self.head(self.tile_codes(tiles)), labels)


# --- colorization ---------------------------------------------------------------------
def rebalancing_weights(prior: torch.Tensor, mix: float) -> torch.Tensor:
    """Zhang et al. (2016, Eq. 4): ``w ∝ ((1 - λ) p + λ / Q)^-1``, normalized so that ``E_p[w] = 1``."""
    w = 1.0 / ((1 - mix) * prior + mix / len(prior))
    return w / (prior * w).sum()


@METHODS.register("colorization")
class Colorization(Method):
    """Colorization (Zhang et al. 2016): predict the colour (ab) of each pixel from lightness (L) alone.

    The backbone sees the L channel of CIE Lab (scaled to [0, 1]) and its code is decoded
    by a conv decoder into per-pixel colour predictions at ``1 / stride`` resolution
    (Zhang et al. predict at 1/4).  ``target: bins`` classifies over the quantized in-gamut
    ab bins with class rebalancing (``rebalance`` = the paper's lambda; the colour prior
    is the running histogram of the training pixels seen so far, a buffer saved with the
    model; the paper computes it once over ImageNet); ``target: regression`` regresses ab
    (L2, the paper's baseline).  The representation is the code of the L channel.
    """

    family = "pretext"
    needs_color = True

    @dataclass
    class Params(MethodParams):
        steps: int | None = check(230, non_negative, help="training steps of this method (overrides train.steps).")
        target: str = check("bins", one_of("bins", "regression"), help="classification over quantized ab bins, or ab regression.")
        bin_size: float = check(10.0, positive, help="ab bin width (the paper: 10 -> 313 in-gamut bins).")
        rebalance: float = check(0.5, in_range(0, 1), help="class-rebalancing lambda (0.5 in the paper; 1 = no rebalancing).")
        stride: int = check(4, one_of(1, 2, 4), help="predict colours at 1/stride resolution (the paper: 4).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.encoder = ctx.make_backbone(in_channels=1)
        self.quantizer = ABQuantizer(params.bin_size)
        out = self.quantizer.bins if params.target == "bins" else 2
        self.decoder = image_decoder(ctx, ctx.code_dim, out, ctx.resolution // params.stride)
        self.register_buffer("counts", torch.zeros(self.quantizer.bins))

    def views(self, x):
        return light_ab(x)[0]

    def loss(self, x):
        light, ab = light_ab(x)
        ab = F.avg_pool2d(ab, self.params.stride) if self.params.stride > 1 else ab
        out = self.decoder(self.encoder(light))
        if self.params.target == "regression":
            loss = F.mse_loss(out, ab / ABQuantizer.LIMIT)
            return loss, {"ab_mse": loss.item()}
        bins = self.quantizer.quantize(ab)
        with torch.no_grad():
            self.counts += torch.bincount(bins.flatten(), minlength=len(self.counts)).to(self.counts.dtype)
            weights = rebalancing_weights(self.counts / self.counts.sum(), self.params.rebalance)
        loss = F.cross_entropy(out, bins, weight=weights)
        acc = (out.argmax(1) == bins).float().mean()
        return loss, {"bin_accuracy": acc.item()}

    def backbone_input(self, x):
        return self.lab(x)[0]

    def encode(self, x):
        return self.encoder(light_ab(x)[0])
