r"""Word-prediction losses of the word2vec family and their exact references (pure functions of tensors).

Given a hidden vector h (skip-gram: the centre word's input vector; CBOW: the mean of the
context words' input vectors) and a target word w (a context word; CBOW: the centre word):

* full softmax, the model both approximate: -log p(w | h) = -h.v'_w + log sum_u exp(h.v'_u).
* negative sampling (Mikolov et al. 2013b, eq. 4): -log s(h.v'_w) - sum_{k=1..K} log s(-h.v'_{n_k}),
  n_k drawn from the noise distribution P_n(u) ~ count(u)^0.75.  Its expectation over the
  noise is :func:`expected_negative_sampling_loss`; at its optimum h.v'_w = PMI(w, h) - log K
  (Levy & Goldberg 2014).
* hierarchical softmax (Morin & Bengio 2005; Mikolov et al. 2013b, eq. 3): p(w | h) is the
  product over the inner nodes n on the root-to-w path of a Huffman tree of
  s((1 - 2 code_n) h.v'_n), with code_n the branch bit word2vec's C code uses (0 = left: s(+x)).
  The probabilities of all V words sum to 1 by construction; frequent words get short codes.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "noise_distribution",
    "sample_negatives",
    "negative_sampling_loss",
    "expected_negative_sampling_loss",
    "full_softmax_loss",
    "HuffmanTree",
    "huffman_tree",
    "hierarchical_softmax_loss",
    "hierarchical_softmax_log_probs",
]


def noise_distribution(counts, power: float = 0.75, exclude=()) -> torch.Tensor:
    """P_n(w) proportional to count(w)^power (0.75 in Mikolov et al. 2013b); ``exclude`` ids get probability 0."""
    c = torch.as_tensor(np.asarray(counts), dtype=torch.float64).clamp(min=0) ** power
    for i in exclude:
        if i is not None:
            c[i] = 0.0
    if c.sum() <= 0:
        raise ValueError("the noise distribution needs at least one word with a positive count")
    return (c / c.sum()).float()


def sample_negatives(noise: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Word ids of ``shape`` drawn i.i.d. from ``noise`` (with replacement), as word2vec's unigram table does."""
    n = int(np.prod(shape))
    return torch.multinomial(noise, n, replacement=True, generator=generator).view(shape)


def negative_sampling_loss(h: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of -log s(h.t) - sum_k log s(-h.n_k).

    h, target: [B, D]; negatives: [B, K, D] (output vectors of the sampled noise words);
    ``weight`` [B] optional per-example weights (the mean is weighted).
    """
    pos = F.logsigmoid((h * target).sum(-1))
    neg = F.logsigmoid(-torch.einsum("bd,bkd->bk", h, negatives)).sum(-1)
    loss = -(pos + neg)
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum().clamp(min=1e-12)


def expected_negative_sampling_loss(h: torch.Tensor, target: torch.Tensor, output: torch.Tensor, noise: torch.Tensor, k: int) -> torch.Tensor:
    """The negative-sampling loss with its noise term in closed form: -log s(h.t) - K sum_u P_n(u) log s(-h.v'_u).

    The exact expectation of :func:`negative_sampling_loss` over K i.i.d. noise words (output: [V, D]).
    """
    pos = F.logsigmoid((h * target).sum(-1))
    neg = (F.logsigmoid(-h @ output.T) * noise[None]).sum(-1) * k
    return -(pos + neg).mean()


def full_softmax_loss(h: torch.Tensor, target_ids: torch.Tensor, output: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Mean -log p(w | h) under the softmax over the whole vocabulary (output: [V, D])."""
    logits = h @ output.T
    if bias is not None:
        logits = logits + bias
    return F.cross_entropy(logits, target_ids)


@dataclass
class HuffmanTree:
    """Per word: its code bits and the inner nodes on its root-to-leaf path (padded), as word2vec's ``CreateBinaryTree``.

    codes, points: int64 [V, L] (L = the longest code); lengths: int64 [V].  Inner nodes are
    numbered 0..V-2, the root is V-2.
    """

    codes: np.ndarray
    points: np.ndarray
    lengths: np.ndarray

    @property
    def n_inner(self) -> int:
        return len(self.lengths) - 1

    def tensors(self, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(torch.as_tensor(a, device=device) for a in (self.codes, self.points, self.lengths))


def huffman_tree(counts) -> HuffmanTree:
    """The Huffman tree of word counts: repeatedly merge the two least frequent nodes (ties: the older node first).

    The first of the two merged nodes gets code bit 0, the second 1 (word2vec's convention).
    Words with count 0 get the smallest weight, so every word has a leaf.
    """
    counts = np.asarray(counts, dtype=np.float64)
    v = len(counts)
    if v < 2:
        raise ValueError("a Huffman tree needs at least 2 words")
    heap = [(max(c, 0.0), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * v - 1, dtype=np.int64)
    bit = np.zeros(2 * v - 1, dtype=np.int64)
    for node in range(v, 2 * v - 1):
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a], bit[a] = node, 0
        parent[b], bit[b] = node, 1
        heapq.heappush(heap, (c1 + c2, node))
    root = 2 * v - 2
    paths = []
    for w in range(v):
        codes, points, node = [], [], w
        while node != root:
            codes.append(bit[node])
            node = parent[node]
            points.append(node - v)  # inner node index
        paths.append((codes[::-1], points[::-1]))
    longest = max(len(c) for c, _ in paths)
    codes = np.zeros((v, longest), dtype=np.int64)
    points = np.zeros((v, longest), dtype=np.int64)
    lengths = np.zeros(v, dtype=np.int64)
    for w, (c, p) in enumerate(paths):
        codes[w, :len(c)], points[w, :len(p)], lengths[w] = c, p, len(c)
    return HuffmanTree(codes, points, lengths)


def _path_log_prob(h: torch.Tensor, nodes: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum over a path of log s((1 - 2 code) h.v'_node); h [B, D], nodes [B, L, D], codes/mask [B, L]."""
    logits = torch.einsum("bd,bld->bl", h, nodes)
    return (F.logsigmoid((1 - 2 * codes).to(h.dtype) * logits) * mask).sum(-1)


def hierarchical_softmax_loss(h: torch.Tensor, target_ids: torch.Tensor, inner: torch.Tensor, codes: torch.Tensor, points: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean -log p(w | h) under the hierarchical softmax (inner: [V-1, D] node vectors; tree tensors from :class:`HuffmanTree`)."""
    c, p = codes[target_ids], points[target_ids]
    mask = (torch.arange(c.shape[1], device=h.device)[None] < lengths[target_ids][:, None]).to(h.dtype)
    return -_path_log_prob(h, inner[p], c, mask).mean()


def hierarchical_softmax_log_probs(h: torch.Tensor, inner: torch.Tensor, codes: torch.Tensor, points: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """log p(w | h) for every word: [B, V] (a reference; costs B x V x L)."""
    v, length = codes.shape
    mask = (torch.arange(length, device=h.device)[None] < lengths[:, None]).to(h.dtype)  # [V, L]
    logits = torch.einsum("bd,vld->bvl", h, inner[points])
    return (F.logsigmoid((1 - 2 * codes).to(h.dtype)[None] * logits) * mask[None]).sum(-1)
