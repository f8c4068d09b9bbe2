"""Word-representation evaluation: pure functions of a word-vector table [V, D] and word lists.

Intrinsic: word-similarity Spearman correlation (with the share of pairs the vocabulary
covers), analogy accuracy by 3CosAdd (Mikolov et al. 2013c) and 3CosMul (Levy & Goldberg
2014), nearest-neighbour lists, k-means NMI against categories; extrinsic: linear probes
(part of speech, semantic category) on word vectors and per token on contextual vectors;
and perplexity for language models (Bengio et al. 2003), with the unigram model as the
reference a language model must beat.
"""
from __future__ import annotations

import math

import numpy as np

from .clustering import kmeans_scores
from .probes import linear_probe


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), in float64."""
    v = np.asarray(vectors, dtype=np.float64)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def similarity_spearman(vectors: np.ndarray, index: dict[str, int], pairs: list, total: int | None = None) -> dict[str, float]:
    """Spearman rank correlation between the cosine of each covered pair and its human (or planted) score.

    ``pairs``: [word1, word2, score]; pairs with a word outside ``index`` are skipped and
    ``coverage`` is the share kept of ``total`` (default: len(pairs)).  NaN below 3 pairs.
    """
    from scipy.stats import spearmanr

    kept = [(index[a], index[b], float(s)) for a, b, s in pairs if a in index and b in index]
    total = len(pairs) if total is None else total
    coverage = len(kept) / total if total else 0.0
    if len(kept) < 3:
        return {"spearman": float("nan"), "coverage": coverage, "pairs": float(len(kept))}
    u = unit_rows(vectors)
    a, b, s = (np.array(x) for x in zip(*kept))
    cos = np.einsum("ij,ij->i", u[a], u[b])
    rho = spearmanr(cos, s).statistic
    return {"spearman": float(rho) if np.isfinite(rho) else 0.0, "coverage": coverage, "pairs": float(len(kept))}


def analogy_predictions(vectors: np.ndarray, questions: np.ndarray, rule: str = "add", batch: int = 512, eps: float = 1e-3) -> np.ndarray:
    """The predicted d for each question a : b :: c : ? ([Q, 3] or [Q, 4] word ids), excluding a, b and c.

    3CosAdd: argmax_d cos(d, b) - cos(d, a) + cos(d, c) (= cos(d, b - a + c) for unit vectors).
    3CosMul: argmax_d cos'(d, b) cos'(d, c) / (cos'(d, a) + eps) with cos' = (cos + 1) / 2.
    Excluding the question words is the standard protocol (Mikolov et al.'s tool and gensim do it).
    """
    u = unit_rows(vectors)
    q = np.asarray(questions)[:, :3]
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), batch):
        a, b, c = (q[start:start + batch, k] for k in range(3))
        ca, cb, cc = u[a] @ u.T, u[b] @ u.T, u[c] @ u.T
        if rule == "add":
            score = cb - ca + cc
        elif rule == "mul":
            score = ((cb + 1) / 2) * ((cc + 1) / 2) / ((ca + 1) / 2 + eps)
        else:
            raise ValueError(f"unknown analogy rule {rule!r}; use add or mul")
        rows = np.arange(len(a))
        for k in (a, b, c):
            score[rows, k] = -np.inf
        out[start:start + batch] = score.argmax(1)
    return out


def analogy_accuracy(vectors: np.ndarray, questions: np.ndarray, rule: str = "add") -> float:
    """Share of questions [Q, 4] (a : b :: c : d) whose prediction is d; NaN with no question."""
    questions = np.asarray(questions)
    if not len(questions):
        return float("nan")
    return float(np.mean(analogy_predictions(vectors, questions, rule) == questions[:, 3]))


def nearest_neighbours(vectors: np.ndarray, queries: list[int], k: int = 5, exclude: set[int] | None = None) -> dict[int, list[tuple[int, float]]]:
    """The ``k`` most cosine-similar words of each query word (itself and ``exclude`` left out)."""
    u = unit_rows(vectors)
    out = {}
    for q in queries:
        sim = u @ u[q]
        sim[q] = -np.inf
        for e in exclude or ():
            sim[e] = -np.inf
        top = np.argsort(-sim, kind="stable")[:k]
        out[int(q)] = [(int(i), float(sim[i])) for i in top]
    return out


def category_nmi(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """k-means (k = number of categories) on the unit word vectors of labelled words (label >= 0): NMI and ARI."""
    labels = np.asarray(labels)
    keep = labels >= 0
    return kmeans_scores(unit_rows(vectors[keep]), labels[keep], seed=seed)


def word_probe(vectors: np.ndarray, labels: np.ndarray, test_fraction: float = 0.5, seed: int = 0, max_iter: int = 1000) -> float:
    """Linear-probe accuracy of a word tag on word vectors: logistic regression on a stratified half of the labelled words, tested on the rest.

    Words split, not tokens: the probe must generalise to words it has not seen.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(labels[labels >= 0]):  # stratified: each class split alike (a single word stays in training)
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(len(members) * test_fraction)
        te.append(members[:n_test])
        tr.append(members[n_test:])
    tr, te = np.concatenate(tr), np.concatenate(te)
    return linear_probe(vectors[tr], labels[tr], vectors[te], labels[te], max_iter=max_iter, seed=seed)


def token_probe(train_vectors: np.ndarray, train_labels: np.ndarray, test_vectors: np.ndarray, test_labels: np.ndarray,
                seed: int = 0, max_iter: int = 1000) -> float:
    """Linear-probe accuracy per token (contextual vectors of training sentences -> tags of test-sentence tokens)."""
    keep_tr, keep_te = train_labels >= 0, test_labels >= 0
    return linear_probe(train_vectors[keep_tr], train_labels[keep_tr], test_vectors[keep_te], test_labels[keep_te], max_iter=max_iter, seed=seed)


def mean_by_word(token_ids: np.ndarray, token_vectors: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Word vectors as the mean of a word's contextual vectors over its occurrences, and the occurrence counts (0: zero row)."""
    ids = np.asarray(token_ids).ravel()
    vecs = np.asarray(token_vectors, dtype=np.float64).reshape(len(ids), -1)
    sums = np.zeros((vocab_size, vecs.shape[1]))
    np.add.at(sums, ids, vecs)
    n = np.bincount(ids, minlength=vocab_size)
    return sums / np.maximum(n, 1)[:, None], n


def perplexity(nll_sum: float, n_tokens: int) -> float:
    """exp of the mean negative log-likelihood (natural log) per predicted token."""
    return float(math.exp(nll_sum / n_tokens)) if n_tokens else float("nan")


def unigram_perplexity(train_counts: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> float:
    """Perplexity of the add-``alpha`` unigram model of the training counts on ``targets`` (the reference every language model must beat)."""
    counts = np.asarray(train_counts, dtype=np.float64) + alpha
    logp = np.log(counts / counts.sum())
    return perplexity(float(-logp[np.asarray(targets)].sum()), len(targets))


def embedding_map(vectors: np.ndarray, seed: int = 0, method: str = "tsne") -> np.ndarray:
    """A 2-D map [V, 2] of unit word vectors: t-SNE (van der Maaten & Hinton 2008, cosine metric) or PCA."""
    u = unit_rows(vectors)
    if method == "pca" or len(u) < 10:
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(u)
    from sklearn.manifold import TSNE

    return TSNE(2, perplexity=min(30.0, (len(u) - 1) / 3), init="pca", metric="cosine", random_state=seed).fit_transform(u)
