"""Token streams: makers against loop references, subsampling and dynamic-window counts, deterministic batches."""
from collections import Counter

import numpy as np
import pytest

from sslpipe.core.schema import build
from sslpipe.data.grammar import GrammarCorpus, GrammarParams
from sslpipe.data.shards import write_shards
from sslpipe.data.text import EOS_ID, keep_probability
from sslpipe.data.textloader import count_examples, first_sentences, load_tokens, make_examples, text_batches

TOKENS = np.array([3, 4, 5, 6, 0, 7, 8, 0, 9, 3, 4, 5, 6, 7, 8, 0, 2, 0], dtype=np.int32)


def reference_windows(tokens, seed, window, keep=None, skip=()):
    """Loop reference: replay the maker's draws (keep draw per position, then a window per kept word)."""
    rng = np.random.default_rng(seed)
    draw = rng.random(len(tokens))
    kept, sent, s = [], [], 0
    for t, u in zip(tokens, draw):
        if t == EOS_ID:
            s += 1
            continue
        if t in skip or (keep is not None and not u < keep[t]):
            continue
        kept.append(int(t))
        sent.append(s)
    b = rng.integers(1, window + 1, size=len(kept))
    return kept, sent, b


def test_skipgram_pairs_equal_a_loop_reference():
    keep = np.array([1, 1, 0.5, 1, 0.3, 1, 1, 1, 1, 0.7])
    for seed in range(5):
        got = make_examples("skipgram", TOKENS, np.random.default_rng(seed), window=3, keep=keep, skip=(9,))
        kept, sent, b = reference_windows(TOKENS, seed, 3, keep, (9,))
        ref = [(kept[i], kept[j]) for i in range(len(kept)) for j in range(len(kept))
               if i != j and sent[i] == sent[j] and abs(i - j) <= b[i]]
        assert Counter(zip(got["center"].tolist(), got["context"].tolist())) == Counter(ref)


def test_cbow_windows_equal_a_loop_reference():
    got = make_examples("cbow", TOKENS, np.random.default_rng(3), window=2)
    kept, sent, b = reference_windows(TOKENS, 3, 2)
    rows = []
    for i in range(len(kept)):
        ctx = [kept[i + o] if 0 <= i + o < len(kept) and sent[i + o] == sent[i] and abs(o) <= b[i] else -1 for o in (-2, -1, 1, 2)]
        if max(ctx) >= 0:
            rows.append((kept[i], tuple(ctx)))
    assert [(c, tuple(x)) for c, x in zip(got["center"].tolist(), got["context"].tolist())] == rows


def test_ngram_contexts_stay_in_their_sentence():
    got = make_examples("ngram", TOKENS, None, context=2)
    assert got["target"].tolist() == TOKENS.tolist()
    assert got["context"][:6].tolist() == [[0, 0], [0, 3], [3, 4], [4, 5], [5, 6], [0, 0]]
    assert got["context"][16].tolist() == [0, 0] and got["context"][17].tolist() == [0, 2]


def test_sentence_rows_pad_and_continue_long_sentences():
    got = make_examples("sequence", TOKENS, None, seq_len=4)["tokens"].tolist()
    assert got == [[3, 4, 5, 6], [7, 8, -1, -1], [9, 3, 4, 5], [6, 7, 8, -1], [2, -1, -1, -1]]


def test_first_sentences_cut_at_a_sentence_end():
    assert first_sentences(TOKENS, 8).tolist() == TOKENS[:8].tolist()  # two whole sentences
    assert first_sentences(TOKENS, 10).tolist() == TOKENS[:8].tolist()
    assert first_sentences(TOKENS, 2).tolist() == TOKENS[:5].tolist()  # at least the first sentence
    assert first_sentences(TOKENS, 100).tolist() == TOKENS.tolist()


def test_subsampling_keeps_each_word_with_the_formula_probability():
    """Counts over a long stream: each word's kept share matches keep_probability within 4 binomial sigma."""
    rng = np.random.default_rng(0)
    counts = np.array([0, 40000, 20000, 5000, 1000, 200])
    tokens = rng.permutation(np.repeat(np.arange(6), counts)).astype(np.int32)
    tokens = np.append(tokens, 0)
    keep = keep_probability(counts, 1e-2, "paper")
    got = make_examples("cbow", tokens, np.random.default_rng(1), window=1, keep=keep)
    # every kept word with a kept neighbour is a centre; one sentence of 66k words: almost every kept word is
    kept = np.bincount(got["center"], minlength=6)
    for w in range(1, 6):
        p = keep[w]
        sd = np.sqrt(counts[w] * p * (1 - p)) + 1
        assert abs(kept[w] - counts[w] * p) < 4 * sd + 2, (w, kept[w], counts[w] * p)
    assert keep[5] == 1 and kept[5] >= counts[5] - 2


def test_dynamic_window_weights_distance_o_by_window_minus_o_plus_one():
    """With b uniform on 1..W, a pair at distance o is made with probability (W - o + 1) / W per direction."""
    tokens = np.append(np.arange(1, 20001) % 50 + 1, 0).astype(np.int32)
    got = make_examples("skipgram", tokens, np.random.default_rng(0), window=4)
    # one sentence whose word ids cycle through 50 values: a pair's distance is its id difference modulo 50
    d = (got["context"] - got["center"]) % 50
    d = np.minimum(d, 50 - d)
    n = np.bincount(d, minlength=5)[1:5]
    expected = np.array([4, 3, 2, 1]) / 4 * 2 * 20000
    assert np.all(np.abs(n - expected) < 5 * np.sqrt(expected)), (n, expected)


@pytest.fixture(scope="module")
def grammar_shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("g") / "grammar"
    src = GrammarCorpus(build(GrammarParams, {"vocab_size": 300, "n_train": 3000, "n_val": 100, "n_test": 200, "chunk_tokens": 2048, "shard_chunks": 3}, "g"), 0)
    return d, write_shards(src, d, "grammar", log=lambda *_: None)


@pytest.mark.parametrize("kind,options", [("skipgram", {"window": 3}), ("cbow", {"window": 3}), ("ngram", {"context": 3}), ("sequence", {"seq_len": 16})])
def test_batches_are_deterministic_for_the_seed_and_cover_an_epoch(grammar_shards, kind, options):
    d, m = grammar_shards
    take = lambda seed, n: [next(it) for it in [text_batches(d, m, kind, options, 128, 2, seed)] for _ in range(n)]  # noqa: E731
    a, b, c = take(1, 5), take(1, 5), take(2, 5)
    assert all(set(x) == set(y) and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b))
    assert not all(np.array_equal(x[k], y[k]) for x, y in zip(a, c) for k in x)
    assert all(len(v) == 128 and v.dtype == np.int64 for x in a for v in x.values())
    if kind in ("ngram", "sequence"):  # no randomness in the examples: an epoch is every example of the split, shuffled
        per_epoch = count_examples(d, m, kind, options, 0)
        n = per_epoch // 128
        key = "target" if kind == "ngram" else "tokens"
        got = np.concatenate([x[key] for x in take(3, n)])
        ref = make_examples(kind, load_tokens(d, m, "train"), None, **options)[key]
        assert len(ref) == per_epoch and not np.array_equal(got, ref[:len(got)])
        missing = Counter(map(_key, ref)) - Counter(map(_key, got))
        assert sum(missing.values()) == per_epoch - len(got) < 128  # all but the carried remainder


def _key(x):
    return x.tobytes() if isinstance(x, np.ndarray) else int(x)
