r"""Contrastive, metric-learning and non-contrastive losses: pure functions of embeddings.

Pair-based losses (``contrastive_loss``, ``triplet_loss``, ``lifted_structured_loss``) take a
batch of embeddings with integer ``labels`` (equal label = positive pair: in self-supervised
use, the two views of one image share a label) and optional extra ``negatives`` (e.g. a memory
bank, Wu et al. 2018) that are compared with every anchor but are never anchors themselves.
Distances are Euclidean on the embeddings as given; normalize them first if the margin is
meant on the unit sphere.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "nt_xent",
    "info_nce",
    "contrastive_loss",
    "triplet_loss",
    "TRIPLET_MINING",
    "lifted_structured_loss",
    "npair_loss",
    "negative_cosine",
    "barlow_twins_loss",
    "vicreg_loss",
    "vicreg_terms",
    "alignment",
    "uniformity",
]


# --- helpers ----------------------------------------------------------------------
def _squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """All squared Euclidean distances [len(x), len(y)], by one matrix product (memory-light)."""
    return (x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None, :] - 2 * x @ y.T).clamp(min=0)


def _safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """sqrt with a finite gradient at 0 (coincident points)."""
    return d2.clamp(min=1e-12).sqrt()


def _references(embeddings: torch.Tensor, labels: torch.Tensor, negatives: torch.Tensor | None):
    """Squared distances anchor x reference and the positive / negative masks.

    References are the batch followed by the extra ``negatives`` (labels no anchor has);
    an anchor is never its own positive.
    """
    n = embeddings.shape[0]
    refs, ref_labels = embeddings, labels
    if negatives is not None and negatives.numel():
        refs = torch.cat([embeddings, negatives.to(embeddings.dtype)])
        extra = labels.min() - 1 - torch.arange(negatives.shape[0], device=labels.device)
        ref_labels = torch.cat([labels, extra])
    same = labels[:, None] == ref_labels[None, :]
    pos = same.clone()
    pos[:, :n].fill_diagonal_(False)
    return _squared_distances(embeddings, refs), pos, ~same


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


# --- InfoNCE family ---------------------------------------------------------------
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


def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    negative_keys: torch.Tensor | None = None,
    temperature: float = 0.1,
    normalize: bool = True,
) -> torch.Tensor:
    r"""InfoNCE (Oord et al. 2018), the form MoCo (He et al. 2020) and CPC use.

    :math:`\ell_i = -\log \frac{e^{q_i^\top k_i^+/\tau}}{e^{q_i^\top k_i^+/\tau} + \sum_j e^{q_i^\top k_j^-/\tau}}`,
    averaged over queries.  ``query`` and ``positive_key`` are ``[..., N, D]``.
    ``negative_keys``: ``None`` = the other queries' positive keys (in-batch negatives; leading
    dims are independent problems), ``[M, D]`` shared by all queries (MoCo's queue), or
    ``[N, M, D]`` per query.  ``normalize`` L2-normalizes everything (cosine similarity).
    """
    if normalize:
        query, positive_key = F.normalize(query, dim=-1), F.normalize(positive_key, dim=-1)
        negative_keys = None if negative_keys is None else F.normalize(negative_keys, dim=-1)
    if negative_keys is None:
        logits = query @ positive_key.transpose(-1, -2) / temperature
        targets = torch.arange(query.shape[-2], device=query.device).expand(logits.shape[:-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    pos = (query * positive_key).sum(-1, keepdim=True)
    if negative_keys.dim() == 2:
        neg = query @ negative_keys.T
    else:
        neg = torch.einsum("nd,nmd->nm", query, negative_keys)
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=query.device))


# --- metric learning on pairs -----------------------------------------------------
def contrastive_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Contrastive pair loss (Chopra, Hadsell & LeCun 2005; Hadsell, Chopra & LeCun 2006).

    For every ordered pair :math:`(i, j)`, :math:`i \ne j`, with distance :math:`d_{ij}`:
    positives cost :math:`d_{ij}^2`, negatives :math:`\max(0, m - d_{ij})^2`.  Negatives far
    outnumber positives in a batch, so each kind is averaged on its own and the two means are
    summed: :math:`L = \operatorname{mean}_P d^2 + \operatorname{mean}_N [m - d]_+^2`.
    """
    d2, pos, neg = _references(embeddings, labels, negatives)
    return _masked_mean(d2, pos) + _masked_mean(F.relu(margin - _safe_sqrt(d2)).pow(2), neg)


TRIPLET_MINING = ("all", "hard", "semi_hard")


def triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.2,
    mining: str = "all",
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Triplet loss (Schroff, Kalenichenko & Philbin 2015, FaceNet) with in-batch mining.

    :math:`\ell(a, p, n) = \max(0, \|f_a - f_p\|^2 - \|f_a - f_n\|^2 + \alpha)` over anchor-positive
    pairs :math:`(a, p)` and negatives :math:`n`:

    - ``all``: the mean over every valid triplet;
    - ``hard``: per (a, p) the hardest negative, :math:`\arg\min_n \|f_a - f_n\|^2`;
    - ``semi_hard``: per (a, p) the closest negative farther than the positive
      (:math:`\|f_a-f_p\|^2 < \|f_a-f_n\|^2`, FaceNet Sec. 3.2), or the farthest negative if
      there is none (as TensorFlow Addons' ``triplet_semihard_loss``).

    ``hard`` and ``semi_hard`` average over the (a, p) pairs.
    """
    if mining not in TRIPLET_MINING:
        raise ValueError(f"mining must be one of {TRIPLET_MINING}, got {mining!r}")
    d2, pos, neg = _references(embeddings, labels, negatives)
    a, p = pos.nonzero(as_tuple=True)  # anchor-positive pairs
    d_ap = d2[a, p][:, None]  # [K, 1]
    d_an, is_neg = d2[a], neg[a]  # [K, refs]
    if mining == "all":
        return _masked_mean(F.relu(d_ap - d_an + margin), is_neg)
    big = torch.finfo(d2.dtype).max
    hardest = d_an.masked_fill(~is_neg, big).min(dim=1, keepdim=True).values
    if mining == "hard":
        chosen = hardest
    else:
        farther = is_neg & (d_an > d_ap)
        closest_farther = d_an.masked_fill(~farther, big).min(dim=1, keepdim=True).values
        farthest = d_an.masked_fill(~is_neg, -big).max(dim=1, keepdim=True).values
        chosen = torch.where(farther.any(dim=1, keepdim=True), closest_farther, farthest)
    return F.relu(d_ap - chosen + margin).mean() if len(a) else d2.sum() * 0


def lifted_structured_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 1.0,
    smooth: bool = True,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Lifted structured embedding loss (Song, Xiang, Jegelka & Savarese 2016) over all batch pairs.

    For each positive pair :math:`(i, j) \in P` (unordered) with Euclidean distance :math:`D_{ij}`,
    :math:`J_{ij} = D_{ij} + \log\big(\sum_{(i,k) \in N} e^{\alpha - D_{ik}} + \sum_{(j,l) \in N} e^{\alpha - D_{jl}}\big)`
    (the smooth relaxation, Eq. 4; ``smooth=False`` uses the hard
    :math:`\max(\max_k \alpha - D_{ik}, \max_l \alpha - D_{jl})`, Eq. 3), and
    :math:`L = \frac{1}{2|P|} \sum_{(i,j) \in P} \max(0, J_{ij})^2`.
    """
    n = len(labels)
    d2, pos, neg = _references(embeddings, labels, negatives)
    dist = _safe_sqrt(d2)
    slack = (margin - dist).masked_fill(~neg, float("-inf"))  # [n, refs]
    i, j = torch.triu_indices(n, n, offset=1, device=embeddings.device)
    keep = pos[i, j]
    i, j = i[keep], j[keep]
    both = torch.cat([slack[i], slack[j]], dim=1)
    hardest = torch.logsumexp(both, dim=1) if smooth else both.max(dim=1).values
    return F.relu(dist[i, j] + hardest).pow(2).sum() / (2 * max(len(i), 1))


def npair_loss(
    anchors: torch.Tensor, positives: torch.Tensor, l2_reg: float = 0.0, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Multi-class N-pair loss (Sohn 2016): one positive and N-1 negatives per anchor.

    :math:`L = \frac1N \sum_i \log\big(1 + \sum_{j \ne i} e^{f_i^\top f_j^+ - f_i^\top f_i^+}\big)`,
    a softmax cross-entropy over inner products with the positives of the batch (extra
    ``negatives`` add columns), plus :math:`\lambda \frac1N \sum_i (\|f_i\|^2 + \|f_i^+\|^2)`
    (Sohn's embedding-norm regularizer, ``l2_reg``) since the embeddings are not normalized.
    """
    keys = positives if negatives is None else torch.cat([positives, negatives.to(positives.dtype)])
    logits = anchors @ keys.T
    loss = F.cross_entropy(logits, torch.arange(len(anchors), device=anchors.device))
    if l2_reg:
        loss = loss + l2_reg * (anchors.pow(2).sum(1) + positives.pow(2).sum(1)).mean()
    return loss


# --- non-contrastive --------------------------------------------------------------
def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""Negative cosine similarity with a stop-gradient on the target (SimSiam, Chen & He 2021).

    :math:`\mathcal{D}(p, z) = -\frac{p}{\|p\|} \cdot \frac{\mathrm{sg}(z)}{\|\mathrm{sg}(z)\|}`, batch mean.
    BYOL's (Grill et al. 2020) :math:`\|\bar p - \bar z\|^2 = 2 + 2\mathcal{D}` has the same minimizer.
    """
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


def _standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    r"""Barlow Twins redundancy reduction (Zbontar et al. 2021).

    With each dimension standardized over the batch, :math:`C_{ij} = \frac1N \sum_b z^1_{bi} z^2_{bj}`
    and :math:`L = \sum_i (1 - C_{ii})^2 + \lambda \sum_i \sum_{j \ne i} C_{ij}^2`.
    """
    c = _standardize(z1).T @ _standardize(z2) / z1.shape[0]
    on_diag = (1 - torch.diagonal(c)).pow(2).sum()
    off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on_diag + lambd * off_diag


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4):
    r"""The three VICReg terms (Bardes, Ponce & LeCun 2022): invariance, variance, covariance.

    :math:`s = \frac1{ND}\sum \|z^1 - z^2\|^2`; :math:`v(Z) = \frac1D \sum_j \max(0, \gamma - \sqrt{\mathrm{Var}(z_{\cdot j}) + \epsilon})`;
    :math:`c(Z) = \frac1D \sum_{i \ne j} \mathrm{Cov}(Z)_{ij}^2`; returns :math:`(s, v(Z^1)+v(Z^2), c(Z^1)+c(Z^2))`.
    """
    d = z1.shape[1]
    invariance = F.mse_loss(z1, z2)

    def variance(z):
        return F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean()

    def covariance(z):
        zc = z - z.mean(0)
        cov = zc.T @ zc / (z.shape[0] - 1)
        return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d

    return invariance, variance(z1) + variance(z2), covariance(z1) + covariance(z2)


def vicreg_loss(
    z1: torch.Tensor, z2: torch.Tensor, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0
) -> torch.Tensor:
    r"""VICReg (Bardes et al. 2022): :math:`\lambda s(Z^1,Z^2) + \mu [v(Z^1)+v(Z^2)] + \nu [c(Z^1)+c(Z^2)]`, see :func:`vicreg_terms`."""
    inv, var, cov = vicreg_terms(z1, z2)
    return sim_coeff * inv + std_coeff * var + cov_coeff * cov


# --- alignment and uniformity -----------------------------------------------------
def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): :math:`\mathbb{E}\,\|\bar f(x) - \bar f(y)\|_2^\alpha`.

    Inputs are L2-normalized here (:math:`\bar f`); 0 when every pair coincides, at most :math:`2^\alpha`.
    """
    return (F.normalize(x, dim=-1) - F.normalize(y, dim=-1)).norm(dim=1).pow(alpha).mean()


def uniformity(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    r"""Uniformity (Wang & Isola 2020): :math:`\log \mathbb{E}_{i<j}\, e^{-t \|\bar f(x_i) - \bar f(x_j)\|_2^2}`.

    Over distinct pairs of L2-normalized inputs; lower is more uniform, 0 when all points coincide.
    """
    return torch.pdist(F.normalize(x, dim=-1)).pow(2).mul(-t).exp().mean().log()
