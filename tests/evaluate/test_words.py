"""Word evaluation on constructed cases with known answers, and against loop references."""
import numpy as np
import pytest

from sslpipe.evaluate import words as W


def analogy_world(noise=0.0, seed=0):
    """10 lemmas x 2 forms: vector = lemma + form offset (the planted linear structure)."""
    rng = np.random.default_rng(seed)
    lemma = rng.normal(size=(10, 16))
    offset = rng.normal(size=16)
    vec = np.concatenate([lemma, lemma + offset]) + noise * rng.normal(size=(20, 16))
    q = np.array([[i, 10 + i, j, 10 + j] for i in range(10) for j in range(10) if i != j])
    return vec, q


def brute_force_predictions(vec, q, rule):
    u = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    out = []
    for a, b, c, _ in q:
        best, arg = -np.inf, -1
        for d in range(len(vec)):
            if d in (a, b, c):
                continue
            ca, cb, cc = u[d] @ u[a], u[d] @ u[b], u[d] @ u[c]
            s = cb - ca + cc if rule == "add" else ((cb + 1) / 2) * ((cc + 1) / 2) / ((ca + 1) / 2 + 1e-3)
            if s > best:
                best, arg = s, d
        out.append(arg)
    return np.array(out)


@pytest.mark.parametrize("rule", ["add", "mul"])
def test_analogies_equal_brute_force_and_solve_planted_offsets(rule):
    vec, q = analogy_world()
    # exact offsets: 3CosAdd's target b - a + c is d itself; 3CosMul (a product of cosines) gets nearly all
    assert W.analogy_accuracy(vec, q, rule) >= (1.0 if rule == "add" else 0.95)
    noisy, _ = analogy_world(noise=1.0, seed=1)
    assert np.array_equal(W.analogy_predictions(noisy, q, rule, batch=7), brute_force_predictions(noisy, q, rule))
    assert W.analogy_accuracy(np.random.default_rng(0).normal(size=(20, 16)), q, rule) < 0.3


def test_question_words_are_excluded():
    """b - a + c is nearest to c itself when the offset is small; the standard protocol must still answer d."""
    vec = np.array([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [0.05, 1.0], [-1.0, 0.1]])
    vec[3] = [-0.05, 1.0]  # d = c + (b - a) rotated slightly: d is the best word other than c
    q = np.array([[0, 1, 2, 3]])
    assert W.analogy_accuracy(vec, q) == 1.0


def test_similarity_spearman_and_coverage():
    vec = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])
    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    pairs = [["a", "b", 9.0], ["a", "c", 5.0], ["a", "d", 1.0], ["b", "d", 2.0], ["a", "zz", 3.0]]
    r = W.similarity_spearman(vec, index, pairs)
    assert r["spearman"] == pytest.approx(1.0) and r["coverage"] == pytest.approx(0.8) and r["pairs"] == 4
    flipped = [[a, b, -s] for a, b, s in pairs]
    assert W.similarity_spearman(vec, index, flipped, total=10)["spearman"] == pytest.approx(-1.0)
    assert W.similarity_spearman(vec, index, flipped, total=10)["coverage"] == pytest.approx(0.4)
    assert np.isnan(W.similarity_spearman(vec, index, pairs[:2])["spearman"])


def test_nearest_neighbours_by_cosine():
    vec = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    nn = W.nearest_neighbours(vec, [0], k=3)
    assert [i for i, _ in nn[0]] == [1, 2, 3] and nn[0][0][1] == pytest.approx(2 / np.sqrt(4.01))
    assert [i for i, _ in W.nearest_neighbours(vec, [0], k=2, exclude={1})[0]] == [2, 3]


def test_category_nmi_and_word_probe_on_known_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    centres = rng.normal(size=(4, 8)) * 5
    vec = centres[labels] + rng.normal(size=(120, 8)) * 0.1
    with_unlabelled = np.concatenate([vec, rng.normal(size=(5, 8))])
    lab = np.concatenate([labels, -np.ones(5, int)])
    assert W.category_nmi(with_unlabelled, lab)["nmi"] == pytest.approx(1.0)
    assert W.word_probe(with_unlabelled, lab) == 1.0
    assert W.word_probe(rng.normal(size=(125, 8)), lab) < 0.6
    assert W.token_probe(vec, labels, vec, labels) == 1.0


def test_mean_by_word_equals_a_loop():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, 50)
    vecs = rng.normal(size=(50, 3))
    mean, n = W.mean_by_word(ids, vecs, 7)
    for w in range(7):
        ref = vecs[ids == w].mean(0) if (ids == w).any() else np.zeros(3)
        assert np.allclose(mean[w], ref) and n[w] == (ids == w).sum()


def test_perplexities():
    assert W.perplexity(10 * np.log(8), 10) == pytest.approx(8)
    counts = np.array([3, 1, 0, 4])
    targets = np.array([0, 3, 3, 1, 2])
    p = (counts + 1) / (counts + 1).sum()
    assert W.unigram_perplexity(counts, targets) == pytest.approx(np.exp(-np.mean(np.log(p[targets]))))
    assert W.unigram_perplexity(np.ones(5), np.arange(5), alpha=0) == pytest.approx(5)


def test_embedding_map_is_two_dimensional():
    vec = np.random.default_rng(0).normal(size=(40, 6))
    assert W.embedding_map(vec, method="pca").shape == (40, 2)
    assert W.embedding_map(vec).shape == (40, 2)
