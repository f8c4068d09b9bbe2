"""Non-contrastive methods: two views, no negatives; collapse is avoided by asymmetry or by regularizing statistics.

BYOL and SimSiam break the symmetry with a predictor and a stop-gradient (BYOL also with a
momentum target network); Barlow Twins and VICReg regularize the embedding's batch
statistics.  The representation evaluated downstream is the backbone output (D = code_dim).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.schema import check, in_range, non_negative, positive
from ..losses import barlow_twins_loss, negative_cosine, vicreg_terms
from ..models.heads import mlp
from .base import METHODS, budget_steps
from .parts.twoview import TwoViewMethod, TwoViewParams


class _Predicted(TwoViewMethod):
    """Online projector + predictor; subclasses choose the targets."""

    family = "non_contrastive"

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.predictor = mlp(params.proj_dim, params.pred_hidden, params.proj_dim)


@METHODS.register("byol")
class BYOL(_Predicted):
    """BYOL (Grill et al. 2020): an online network predicts a momentum target network's projection of the other view.

    :math:`L = \\sum_{\\text{both views}} \\|\\bar q_\\theta(z_\\theta) - \\bar z'_\\xi\\|^2 = \\sum 2 - 2\\cos`;
    the target :math:`\\xi \\leftarrow \\tau \\xi + (1-\\tau)\\theta` after every step (``Method.momentum_pair``),
    with a constant :math:`\\tau` (the paper anneals it to 1; short runs do not need it).
    """

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(155)
        pred_hidden: int = check(128, positive, help="hidden width of the predictor MLP.")
        momentum: float = check(0.99, in_range(0, 1), help="target-network momentum tau (BYOL: 0.996).")

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.target_encoder = self.momentum_pair(self.encoder)
        self.target_projector = self.momentum_pair(self.projector)

    def loss(self, x):
        views = self.views(x)
        p1, p2 = self.predictor(self.embed(views)).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_encoder(views)).chunk(2)
        loss = 4 + 2 * (negative_cosine(p1, t2) + negative_cosine(p2, t1))
        return loss, {"positive_cosine": 1 - loss.item() / 4}


@METHODS.register("simsiam")
class SimSiam(_Predicted):
    """SimSiam (Chen & He 2021): :math:`L = \\tfrac12 \\mathcal{D}(p_1, \\mathrm{sg}(z_2)) + \\tfrac12 \\mathcal{D}(p_2, \\mathrm{sg}(z_1))`.

    No momentum network: the stop-gradient alone prevents collapse; the projector ends in BN
    and the predictor is a bottleneck (``pred_hidden`` < ``proj_dim``), as in the paper.
    """

    projector_last_bn = True

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(185)
        pred_hidden: int = check(32, positive, help="predictor bottleneck width (SimSiam: proj_dim / 4).")

    def loss(self, x):
        z1, z2 = self.embed(self.views(x)).chunk(2)
        p1, p2 = self.predictor(torch.cat([z1, z2])).chunk(2)
        loss = (negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2
        with torch.no_grad():
            std = F.normalize(z1, dim=1).std(0).mean().item()  # ~1/sqrt(d) when healthy, 0 when collapsed
        return loss, {"output_std": std}


@METHODS.register("barlow_twins")
class BarlowTwins(TwoViewMethod):
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' embeddings pushed to the identity."""

    family = "non_contrastive"

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(225)
        lambd: float = check(0.02, positive, help="off-diagonal weight (paper: 0.005 at 8192 dims; about 1/proj_dim).")
        proj_dim: int = check(128, positive)

    def objective(self, z1, z2):
        return barlow_twins_loss(z1, z2, self.params.lambd)


@METHODS.register("vicreg")
class VICReg(TwoViewMethod):
    """VICReg (Bardes, Ponce & LeCun 2022): invariance + variance + covariance terms."""

    family = "non_contrastive"

    @dataclass
    class Params(TwoViewParams):
        steps: int | None = budget_steps(205)
        sim_coeff: float = check(25.0, non_negative, help="invariance weight lambda (paper: 25).")
        std_coeff: float = check(25.0, non_negative, help="variance weight mu (paper: 25).")
        cov_coeff: float = check(1.0, non_negative, help="covariance weight nu (paper: 1).")
        proj_dim: int = check(128, positive)

    def loss(self, x):
        z1, z2 = self.embed(self.views(x)).chunk(2)
        inv, var, cov = vicreg_terms(z1, z2)
        p = self.params
        loss = p.sim_coeff * inv + p.std_coeff * var + p.cov_coeff * cov
        return loss, {"invariance": inv.item(), "variance": var.item(), "covariance": cov.item()}
