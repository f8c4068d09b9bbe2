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


# --- the registered text metrics on one constructed encoder -------------------------------
def text_context(method=None, **info):
    """An EvalContext over the planted analogy world: 20 words, two tags, lists from ``analogy_world``."""
    from sslpipe.evaluate.base import EvalContext
    from sslpipe.evaluate.embeddings import WordEmbeddings

    vec, q = analogy_world()
    words = [f"w{i}" for i in range(20)]
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, 400)
    z = vec[ids].astype(np.float32)
    emb = WordEmbeddings(vec.astype(np.float32), np.bincount(ids, minlength=20), ids[:200], z[:200], ids[200:], z[200:])
    base = {"vocab": words, "counts": [10] * 20, "tags": {"form": [0] * 10 + [1] * 10}, "tag_names": {"form": ["lemma", "plural"]},
            "analogies": {"plural": [[words[i] for i in x] for x in q]}, "analogy_total": 2 * len(q),
            "similarity": [[words[i], words[10 + i], 1.0] for i in range(10)] + [[words[i], words[(i + 1) % 10], 0.0] for i in range(10)],
            "similarity_total": 20}
    return EvalContext(emb, 0, "", manifest={"info": base | info}, method=method)


def test_text_metrics_read_the_word_vectors_and_the_manifest_lists():
    from sslpipe.evaluate.base import METRICS

    ctx = text_context()
    a = METRICS.get("analogy")(ctx)
    assert a["analogy/add"] == 1.0 and a["analogy/add/plural"] == 1.0 and a["analogy/coverage"] == 0.5
    assert a["analogy/mul"] == pytest.approx(W.analogy_accuracy(ctx.emb.word_vectors, analogy_world()[1], "mul"))
    s = METRICS.get("similarity")(ctx)
    assert s["similarity/coverage"] == 1.0 and s["similarity/spearman"] > 0.5  # a lemma's forms are closer than two lemmas
    assert METRICS.get("word_probe")(ctx)["probe/form"] == 1.0  # the offset is linear
    t = METRICS.get("token_probe")(ctx)["token_probe/form"]
    assert t == W.token_probe(ctx.emb.train_z, ctx.emb.train_ids >= 10, ctx.emb.test_z, ctx.emb.test_ids >= 10)
    assert {"kmeans/nmi/form", "kmeans/ari/form", "kmeans/nmi/form/se"} <= set(METRICS.get("word_kmeans")(ctx))
    assert a["analogy/add/se"] == 0.0 and 0 < a["analogy/mul/se"] < 0.05  # binomial: sqrt(p (1 - p) / questions)
    assert s["similarity/spearman/ci_low"] <= s["similarity/spearman"] <= s["similarity/spearman/ci_high"] and s["similarity/spearman/se"] > 0


def test_text_metrics_run_only_on_text_and_only_where_their_inputs_exist():
    from sslpipe.core.schema import build
    from sslpipe.evaluate.config import EvaluateConfig
    from sslpipe.evaluate.embeddings import Embeddings
    from sslpipe.evaluate.suite import evaluate_encoder

    cfg = build(EvaluateConfig, {"metrics": {"lowshot": {"sizes": [10]}}}, "evaluate")
    ctx = text_context(analogies={}, similarity=[])
    out = evaluate_encoder(ctx.emb, cfg, 0, manifest=ctx.manifest)
    assert {k.split("/")[0] for k in out} == {"probe", "token_probe", "kmeans"}  # no lists: no analogy or similarity; no LM: no perplexity
    assert all(f"{k}/se" in out for k in ("probe/form", "token_probe/form", "kmeans/nmi/form"))  # every score with its uncertainty
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, (40, 1))
    img = evaluate_encoder(Embeddings(z, y, z, y, ["shape"]), cfg, 0)
    assert "linear/shape" in img and not any(k.startswith(("analogy", "probe/", "token_probe", "perplexity")) for k in img)


def test_perplexity_metric_scores_the_test_split_against_the_unigram_model(tmp_path):
    import torch

    from sslpipe.core.schema import build
    from sslpipe.data.grammar import GrammarCorpus, GrammarParams
    from sslpipe.data.shards import write_shards
    from sslpipe.data.textloader import load_tokens
    from sslpipe.evaluate.base import EvalContext, METRICS
    from sslpipe.evaluate.embeddings import WordEmbeddings
    from sslpipe.methods.base import METHODS
    from sslpipe.methods.base import TextContext

    src = GrammarCorpus(build(GrammarParams, {"vocab_size": 200, "n_train": 300, "n_val": 10, "n_test": 50, "chunk_tokens": 256}, "g"), 0)
    m = write_shards(src, tmp_path / "g", "grammar", log=lambda *_: None)
    torch.manual_seed(0)
    lm = METHODS.get("ngram_lm")(build(METHODS.get("ngram_lm").Params, {"context": 2}, "m"), TextContext.from_info(m["info"])).eval()
    v = len(m["info"]["vocab"])
    emb = WordEmbeddings(np.zeros((v, 2), np.float32), np.zeros(v, np.int64), *[np.zeros(0, np.int64), np.zeros((0, 2), np.float32)] * 2)
    out = METRICS.get("perplexity")(EvalContext(emb, 0, "", method=lm, shard_dir=tmp_path / "g", manifest=m))
    test = load_tokens(tmp_path / "g", m, "test")
    nll = 0.0  # a loop over every token of every test sentence: the previous 2 words of its sentence, </s> before the start
    with torch.no_grad():
        for s in np.split(test, np.flatnonzero(test == 0)[:-1] + 1):
            for i, w in enumerate(s):
                ctx = [0, 0] + list(s[:i])
                logp = torch.log_softmax(lm.logits(torch.tensor([ctx[-2:]])), 1)[0]
                nll -= logp[w].item()
    assert out["perplexity"] == pytest.approx(np.exp(nll / len(test)), rel=1e-5)
    assert out["perplexity/unigram"] == pytest.approx(W.unigram_perplexity(np.array(m["info"]["counts"]), test))
    assert out["perplexity/ci_low"] < out["perplexity"] < out["perplexity/ci_high"] and out["perplexity/se"] > 0  # bootstrap over test sentences
