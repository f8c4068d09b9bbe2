"""Contrastive and metric-learning losses: pure functions of embeddings."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    r"""NT-Xent / InfoNCE over a batch of positive pairs (Oord et al. 2018; Chen et al. 2020).

    With :math:`u = [z_1; z_2]` L2-normalized and :math:`s_{ij} = u_i^\top u_j / \tau`,
    :math:`\ell_i = -s_{i,p(i)} + \log \sum_{k \ne i} e^{s_{ik}}` where :math:`p(i)` is the
    other view of sample :math:`i`; the loss is the mean over all :math:`2N` anchors.
    """
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = u @ u.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=u.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(u.device)
    return F.cross_entropy(sim, targets)

