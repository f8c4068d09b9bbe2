r"""Losses of the video pretext tasks: pure functions of embeddings.

- :func:`temporal_triplet_loss`: Wang & Gupta (2015), a ranking loss on tracked patches.
- :func:`color_attention`, :func:`colorization_loss`: Vondrick et al. (2018), colour copied from
  reference frames by attention over locations.
- :func:`walk_transitions`, :func:`cycle_walk_loss`: Jabri et al. (2020), a random walk over
  patch graphs of consecutive frames that must return to its start.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["temporal_triplet_loss", "color_attention", "colorization_loss", "walk_transitions", "cycle_walk_loss"]


def temporal_triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, margin: float = 0.5, hard_k: int = 1) -> torch.Tensor:
    r"""Triplet ranking loss with hard-negative mining (Wang & Gupta 2015, Eq. 3).

    Row ``i`` of ``anchor`` / ``positive`` [N, D] is a patch of a moving object and the patch
    where it is later; every row of another pair is a negative (another clip).  With the
    cosine distance :math:`D(a, b) = 1 - \cos(a, b)` each patch of a pair is an anchor with
    the other as its positive, and the loss per anchor is
    :math:`\max(0, D(x, x^+) - D(x, x^-) + M)` averaged over its ``hard_k`` negatives of
    highest loss (the paper's hard-negative mining); the result is the mean over both
    directions of every pair.
    """
    n = anchor.shape[0]
    z = F.normalize(torch.cat([anchor, positive]), dim=1)  # [2N, D]: rows i and i + N are a pair
    dist = 1 - z @ z.T
    pair = torch.arange(2 * n, device=z.device).remainder(n)
    d_pos = dist[torch.arange(2 * n, device=z.device), (torch.arange(2 * n, device=z.device) + n) % (2 * n)]
    hinge = (d_pos[:, None] - dist + margin).clamp(min=0)
    same = pair[:, None] == pair[None, :]
    hinge = hinge.masked_fill(same, float("-inf"))
    k = min(hard_k, 2 * n - 2)
    return hinge.topk(k, dim=1).values.mean()


def color_attention(target: torch.Tensor, reference: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    r"""Attention of target locations over reference locations (Vondrick et al. 2018, Eq. 1).

    ``target`` [B, N, D], ``reference`` [B, M, D] per-location embeddings;
    :math:`A_{ij} = \exp(f_i^\top f_j / T) / \sum_k \exp(f_i^\top f_k / T)` over the reference
    locations :math:`j, k`: [B, N, M].
    """
    return torch.softmax(target @ reference.transpose(1, 2) / temperature, dim=-1)


def colorization_loss(target: torch.Tensor, reference: torch.Tensor, ref_colors: torch.Tensor, target_colors: torch.Tensor,
                      n_colors: int, temperature: float = 1.0, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Colour a grey target by pointing to reference locations (Vondrick et al. 2018, Eq. 2-3).

    The predicted colour distribution of target location :math:`i` is
    :math:`\hat y_i = \sum_j A_{ij} c_j` with :math:`c_j` the one-hot quantized colour of
    reference location :math:`j` (``ref_colors`` [B, M] in ``0..n_colors-1``); the loss is the
    cross-entropy :math:`-\log \hat y_{i, c_i}` against the target's quantized colours
    ``target_colors`` [B, N], averaged, or with ``weights`` [B, N] the weighted mean
    :math:`\sum w \ell / \sum w` (a probability is floored at 1e-8, so a colour that no
    reference location has costs about 18.4 instead of infinity).  Returns (loss, predicted distributions [B, N, Q]).
    The model can only lower it by matching each target location to reference locations of
    the same colour, i.e. by tracking.
    """
    att = color_attention(target, reference, temperature)
    pred = att @ F.one_hot(ref_colors, n_colors).to(att.dtype)
    nll = -pred.gather(2, target_colors[..., None]).squeeze(2).clamp(min=1e-8).log()
    if weights is None:
        return nll.mean(), pred
    return (nll * weights).sum() / weights.sum(), pred


def walk_transitions(a: torch.Tensor, b: torch.Tensor, temperature: float, drop: torch.Tensor | None = None) -> torch.Tensor:
    r"""Row-stochastic transitions from the nodes of ``a`` [B, N, D] to those of ``b`` [B, M, D].

    :math:`A = \mathrm{softmax}_{\text{row}}(a b^\top / \tau)`; ``drop`` [B, N, M] (bool) removes
    those edges before the softmax (edge dropout, Jabri et al. 2020, Sec. 3.3).
    """
    logits = a @ b.transpose(1, 2) / temperature
    if drop is not None:
        logits = logits.masked_fill(drop, -1e20)
    return torch.softmax(logits, dim=-1)


def cycle_walk_loss(nodes: torch.Tensor, temperature: float = 0.07, edge_dropout: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Contrastive random walk over palindromes (Jabri et al. 2020, Eq. 4-5).

    ``nodes`` [B, T, N, D]: L2-normalized embeddings of N patches in each of T frames.  For
    every :math:`k = 1..T-1` the walk goes forward from frame 0 to frame k and back:
    :math:`\bar A_k = A_{0,1} \cdots A_{k-1,k} A_{k,k-1} \cdots A_{1,0}`; its target is to
    return to the start node, so the loss is :math:`-\frac1N \sum_i \log (\bar A_k)_{ii}`,
    averaged over k and the batch.  Each transition drops an edge with probability
    ``edge_dropout``, which pushes the walk to use several paths (the paper's edge dropout).
    """
    b, t, n, _ = nodes.shape

    def drop(shape):
        if edge_dropout <= 0:
            return None
        return torch.rand(shape, generator=generator, device=nodes.device) < edge_dropout

    fwd = [walk_transitions(nodes[:, i], nodes[:, i + 1], temperature, drop((b, n, n))) for i in range(t - 1)]
    bwd = [walk_transitions(nodes[:, i + 1], nodes[:, i], temperature, drop((b, n, n))) for i in range(t - 1)]
    eye = torch.arange(n, device=nodes.device)
    losses, out = [], None
    for k in range(1, t):
        out = fwd[0] if out is None else out @ fwd[k - 1]  # 0 -> k
        walk = out
        for i in range(k - 1, -1, -1):  # k -> 0
            walk = walk @ bwd[i]
        losses.append(-walk[:, eye, eye].clamp(min=1e-20).log().mean())
    return torch.stack(losses).mean()
