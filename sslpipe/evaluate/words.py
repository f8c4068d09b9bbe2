"""Word-representation evaluation: pure functions of a word-vector table [V, D] and word lists.

Intrinsic: word-similarity Spearman correlation (with the share of pairs the vocabulary
covers), analogy accuracy by 3CosAdd (Mikolov et al. 2013c) and 3CosMul (Levy & Goldberg
2014), nearest-neighbour lists, k-means NMI against categories; extrinsic: linear probes
(part of speech, semantic category) on word vectors and per token on contextual vectors;
and perplexity for language models (Bengio et al. 2003), with the unigram model as the
reference a language model must beat.  The registered metrics at the end evaluate a text
encoder's :class:`~sslpipe.evaluate.embeddings.WordEmbeddings` against the lists and tags of
its dataset's manifest, each with its uncertainty from the evaluation sample (``<key>/se``:
binomial for accuracies, a bootstrap over pairs, words or test sentences otherwise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.schema import check, in_range, positive
from .base import EvalContext, metric
from .clustering import kmeans_scores
from .probes import linear_probe
from .uncertainty import renamed, resample_counts, rng_for, summarize, with_binomial


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
    tr, te = word_split(labels, test_fraction, seed)
    return linear_probe(vectors[tr], labels[tr], vectors[te], labels[te], max_iter=max_iter, seed=seed)


def word_split(labels: np.ndarray, test_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training and test word ids of the labelled words (label >= 0), stratified: each class split alike (a single word stays in training)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(labels[labels >= 0]):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(len(members) * test_fraction)
        te.append(members[:n_test])
        tr.append(members[n_test:])
    return np.concatenate(tr), np.concatenate(te)


def token_probe(train_vectors: np.ndarray, train_labels: np.ndarray, test_vectors: np.ndarray, test_labels: np.ndarray,
                seed: int = 0, max_iter: int = 1000) -> float:
    """Linear-probe accuracy per token (contextual vectors of training sentences -> tags of test-sentence tokens).

    On one BLAS thread: on 2 busy cores a second OpenBLAS worker spins (measured 25 CPU s
    instead of 1.4 s for 10,000 tokens).
    """
    from threadpoolctl import threadpool_limits

    keep_tr, keep_te = train_labels >= 0, test_labels >= 0
    with threadpool_limits(1):
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


# --- registered metrics of word embeddings (text datasets) ---------------------------------
def _has(name: str):
    """The metric applies when the dataset's ``info`` has a non-empty ``name`` (analogies, similarity, tags)."""
    return lambda ctx: bool(ctx.info.get(name))


def word_index(info: dict) -> dict[str, int]:
    return {w: i for i, w in enumerate(info["vocab"])}


@dataclass
class AnalogyParams:
    eps: float = check(1e-3, positive, help="3CosMul's offset in the denominator (Levy & Goldberg 2014).")


@metric("analogy", Params=AnalogyParams, modality="text", applies=_has("analogies"), columns=("analogy/add", "analogy/mul"),
        keys="analogy/add, analogy/mul (every question), analogy/add/<relation or section>, analogy/coverage (share of the list in the vocabulary)",
        paper="3CosAdd: Mikolov et al. (2013c); 3CosMul: Levy & Goldberg (2014)")
def analogy(ctx: EvalContext, p: AnalogyParams) -> dict[str, float]:
    """Analogy accuracy a : b :: c : ? by 3CosAdd and 3CosMul over the word vectors, the question words excluded."""
    info, v = ctx.info, ctx.emb.word_vectors
    idx = word_index(info)
    sections = {s: np.array([[idx[w] for w in q] for q in qs]) for s, qs in info["analogies"].items()}
    q = np.concatenate(list(sections.values()))
    hit_add = analogy_predictions(v, q, "add") == q[:, 3]
    hit_mul = analogy_predictions(v, q, "mul", eps=p.eps) == q[:, 3]
    out = with_binomial("analogy/add", hit_add.mean(), len(q)) | with_binomial("analogy/mul", hit_mul.mean(), len(q))
    out["analogy/coverage"] = len(q) / max(info.get("analogy_total") or len(q), 1)
    ends = np.cumsum([len(x) for x in sections.values()])
    for s, a, b in zip(sections, np.concatenate([[0], ends[:-1]]), ends):
        out |= with_binomial(f"analogy/add/{s}", hit_add[a:b].mean(), b - a)
    return out


@metric("similarity", modality="text", applies=_has("similarity"), columns=("similarity/spearman",),
        keys="similarity/spearman, similarity/coverage (share of the pairs in the vocabulary)",
        paper="Spearman's rho of cosines vs graded scores (Finkelstein et al. 2002)")
def similarity(ctx: EvalContext, p) -> dict[str, float]:
    """Spearman correlation between the cosine of each word pair and its score (bootstrap over the pairs)."""
    from scipy.stats import spearmanr

    info, v = ctx.info, ctx.emb.word_vectors
    idx = word_index(info)
    r = similarity_spearman(v, idx, info["similarity"], total=info.get("similarity_total") or None)
    kept = [(idx[a], idx[b], float(s)) for a, b, s in info["similarity"] if a in idx and b in idx]
    reps = []
    if len(kept) >= 3:
        u = unit_rows(v)
        a, b, score = (np.array(x) for x in zip(*kept))
        cos = np.einsum("ij,ij->i", u[a], u[b])
        rng = rng_for(ctx.seed, "similarity")
        for _ in range(ctx.n_boot):
            i = rng.integers(0, len(kept), len(kept))
            reps.append(spearmanr(cos[i], score[i]).statistic)
    return summarize("similarity/spearman", r["spearman"], np.array(reps, dtype=np.float64)) | {"similarity/coverage": r["coverage"]}


@dataclass
class WordProbeParams:
    test_fraction: float = check(0.5, in_range(0.0, 1.0, lo_open=True, hi_open=True), help="share of each tag's words held out for testing.")
    max_iter: int = check(1000, positive, help="iterations of the logistic regression.")


@metric("word_probe", Params=WordProbeParams, modality="text", applies=_has("tags"), columns=("probe/pos", "probe/category"),
        keys="probe/<tag> for every word tag (pos, category): split by word", paper="linear probing of word vectors (Köhn 2015)")
def word_probe_metric(ctx: EvalContext, p: WordProbeParams) -> dict[str, float]:
    """Logistic-regression accuracy of each word tag from word vectors, tested on words it was not trained on."""
    v = ctx.emb.word_vectors
    out = {}
    for t, labels in ctx.info["tags"].items():
        labels = np.asarray(labels)
        acc = word_probe(v, labels, p.test_fraction, ctx.seed, p.max_iter)
        out |= with_binomial(f"probe/{t}", acc, len(word_split(labels, p.test_fraction, ctx.seed)[1]))
    return out


@dataclass
class TokenProbeParams:
    max_iter: int = check(1000, positive, help="iterations of the logistic regression.")


@metric("token_probe", Params=TokenProbeParams, modality="text", applies=_has("tags"), columns=("token_probe/pos",),
        keys="token_probe/<tag> for every word tag: per token, training-split tokens -> test-split tokens",
        paper="probing contextual representations per token (Tenney et al. 2019)")
def token_probe_metric(ctx: EvalContext, p: TokenProbeParams) -> dict[str, float]:
    """Logistic-regression accuracy of each tag per token from the token vectors in context (a static method's are its word vectors)."""
    e = ctx.emb
    out = {}
    for t, labels in ctx.info["tags"].items():
        labels = np.asarray(labels)
        acc = token_probe(e.train_z, labels[e.train_ids], e.test_z, labels[e.test_ids], ctx.seed, p.max_iter)
        out |= with_binomial(f"token_probe/{t}", acc, int(np.count_nonzero(labels[e.test_ids] >= 0)))
    return out


@dataclass
class WordKMeansParams:
    n_init: int = check(3, positive, help="k-means restarts.")


@metric("word_kmeans", Params=WordKMeansParams, modality="text", applies=_has("tags"), columns=("kmeans/nmi/category",),
        keys="kmeans/<nmi|ari>/<tag>: k-means (k = number of tag values) on the unit vectors of tagged words",
        paper="k-means clustering of word vectors (NMI, ARI)")
def word_kmeans(ctx: EvalContext, p: WordKMeansParams) -> dict[str, float]:
    """Does k-means on the word vectors recover each word tag?"""
    v = unit_rows(ctx.emb.word_vectors)
    out = {}
    for t, labels in ctx.info["tags"].items():
        labels = np.asarray(labels)
        keep = labels >= 0
        out |= renamed(kmeans_scores(v[keep], labels[keep], seed=ctx.seed, n_init=p.n_init, n_boot=ctx.n_boot), lambda k: f"kmeans/{k}/{t}")
    return out


@dataclass
class PerplexityParams:
    alpha: float = check(1.0, positive, help="add-alpha smoothing of the unigram reference.")


@metric("perplexity", Params=PerplexityParams, modality="text", applies=lambda ctx: getattr(ctx.method, "is_language_model", False),
        columns=("perplexity", "perplexity/unigram"),
        keys="perplexity (language models, test split), perplexity/unigram (the add-one unigram model of the training counts on the same tokens)",
        paper="Bengio et al. (2003)")
def perplexity_metric(ctx: EvalContext, p: PerplexityParams) -> dict[str, float]:
    """Test-split perplexity of a language model, and of the unigram model it must beat."""
    from ..data.textloader import load_tokens

    from ..data.text import EOS_ID

    tokens = load_tokens(ctx.shard_dir, ctx.manifest, "test")
    nll, targets = ctx.method.score(tokens, device=ctx.device)  # nll per target: every token, each </s> too
    counts = np.asarray(ctx.info["counts"], dtype=np.float64) + p.alpha
    uni = -np.log(counts / counts.sum())[targets]
    # bootstrap over test sentences (tokens of a sentence are not independent)
    sentence = np.cumsum(targets == EOS_ID) - (targets == EOS_ID)
    n_sent = int(sentence.max()) + 1 if len(sentence) else 0
    w = resample_counts(n_sent, ctx.n_boot, rng_for(ctx.seed, "perplexity"))
    per = lambda x: np.bincount(sentence, weights=x, minlength=n_sent)  # noqa: E731
    length = per(np.ones(len(targets)))
    reps = lambda x: np.exp(w @ per(x) / (w @ length))  # noqa: E731
    return (summarize("perplexity", perplexity(float(nll.sum()), len(targets)), reps(nll))
            | summarize("perplexity/unigram", perplexity(float(uni.sum()), len(targets)), reps(uni)))
