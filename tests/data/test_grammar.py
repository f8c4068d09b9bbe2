"""The planted grammar corpus: deterministic, Zipf lemma frequencies, every analogy answerable, tags and grades consistent."""
import numpy as np
import pytest

from sslpipe.core.errors import ConfigError
from sslpipe.core.schema import build
from sslpipe.data.grammar import CATEGORIES, POS, RELATIONS, GrammarCorpus, GrammarParams
from sslpipe.data.text import EOS_ID

SMALL = {"vocab_size": 400, "n_train": 6000, "n_val": 200, "n_test": 500}


def corpus(seed=0, **kw):
    return GrammarCorpus(build(GrammarParams, {**SMALL, **kw}, "data.grammar"), seed)


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b, c = corpus(0), corpus(0), corpus(1)
    for s in ("train", "val", "test"):
        assert np.array_equal(a.split(s).tokens, b.split(s).tokens)
    assert a.info() == b.info()
    assert not np.array_equal(a.split("train").tokens, c.split("train").tokens)


def test_splits_are_whole_sentences_of_known_words():
    src = corpus()
    info = src.info()
    for s, n in (("train", 6000), ("val", 200), ("test", 500)):
        t = src.split(s).tokens
        assert t.dtype == np.int32 and t[-1] == EOS_ID and src.split(s).sentences == n
        assert t.min() >= 0 and t.max() < len(info.vocab)
    assert info.vocab[0] == "</s>" and len(set(info.vocab)) == len(info.vocab)
    assert abs(len(info.vocab) - 400) <= 2
    counts = np.array(info.counts)
    assert np.array_equal(counts, np.bincount(src.split("train").tokens, minlength=len(counts)))
    assert np.all(np.diff(counts[1:]) <= 0), "ids are in decreasing training frequency"


def test_every_word_has_its_part_of_speech_and_nouns_their_category():
    info = corpus().info()
    pos, cat = np.array(info.tags["pos"]), np.array(info.tags["category"])
    assert info.tag_names == {"pos": list(POS), "category": list(CATEGORIES)}
    assert pos[0] == -1 and np.all(pos[1:] >= 0)
    assert np.all(cat[cat >= 0] < len(CATEGORIES))
    nouns = np.isin(pos, [POS.index("NOUN"), POS.index("PROPN")]) & (cat >= 0)
    assert set(cat[nouns]) == set(range(len(CATEGORIES))), "every category has words"
    assert np.all(cat[np.isin(pos, [POS.index("VERB"), POS.index("ADJ")])] == -1)


@pytest.mark.parametrize("zipf", [0.6, 1.0, 1.4])
def test_noun_frequencies_follow_the_configured_zipf_law(zipf):
    """Lemma weights are rank^-s over all content lemmas, and a noun lemma's count grows as its weight.

    Within a category (the share of slots a category gets is its own), log count on log
    weight has slope 1; foods, which countries also draw as signatures, are left out.
    """
    src = corpus(zipf=zipf, n_train=20000)
    g, info = src.grammar, src.info()
    weights = np.concatenate([g.w_noun, g.w_person, g.w_geo, g.w_verb, g.w_adj])
    ranks = np.argsort(np.argsort(-weights, kind="stable"), kind="stable") + 1
    assert np.allclose(np.sort(weights)[::-1], np.arange(1, len(weights) + 1, dtype=float) ** -zipf)
    assert np.allclose(weights, ranks.astype(float) ** -zipf)
    idx = {w: i for i, w in enumerate(info.vocab)}
    counts = np.array(info.counts)
    lemma = np.array([sum(counts[idx[g.lex.words[f]]] for f in forms) for forms in g.noun_forms])
    keep = g.noun_cat != CATEGORIES.index("food")
    x, y, c = np.log(g.w_noun[keep]), np.log(lemma[keep]), g.noun_cat[keep]
    for k in np.unique(c):  # per-category intercepts
        x[c == k] -= x[c == k].mean()
        y[c == k] -= y[c == k].mean()
    slope = (x * y).sum() / (x * x).sum()
    assert abs(slope - 1) < 0.05, slope


def test_every_planted_analogy_is_answerable_from_the_vocabulary():
    src = corpus()
    info = src.info()
    vocab = {w: i for i, w in enumerate(info.vocab)}
    counts = np.array(info.counts)
    assert set(info.analogies) == set(RELATIONS) and info.analogy_total == sum(map(len, info.analogies.values()))
    for rel, questions in info.analogies.items():
        pairs = {tuple(p) for p in info.relations[rel]}
        assert len(questions) == min(400, len(pairs) * (len(pairs) - 1))
        for a, b, c, d in questions:
            assert (a, b) in pairs and (c, d) in pairs and a != c
            assert all(w in vocab and counts[vocab[w]] > 0 for w in (a, b, c, d))


def test_relations_can_be_switched_off():
    info = corpus(relations=["country_capital"]).info()
    assert set(info.analogies) == {"country_capital"}
    assert not any(w.endswith("ess") for w in info.vocab[60:])


def test_similarity_list_is_graded_by_the_planted_structure():
    info = corpus().info()
    cat = np.array(info.tags["category"])
    pos = np.array(info.tags["pos"])
    idx = {w: i for i, w in enumerate(info.vocab)}
    forms = {tuple(p) for ps in info.relations.values() for p in ps}
    grades = {}
    for a, b, s in info.similarity:
        grades.setdefault(s, []).append((idx[a], idx[b]))
        assert a in idx and b in idx and a != b
    assert sorted(grades) == [0.0, 1.0, 2.0, 3.0] and all(len(v) == 100 for v in grades.values())
    assert all((info.vocab[a], info.vocab[b]) in forms for a, b in grades[3.0])
    assert all(cat[a] == cat[b] >= 0 for a, b in grades[2.0])
    assert all(cat[a] != cat[b] and min(cat[a], cat[b]) >= 0 for a, b in grades[1.0])
    assert all(pos[b] in (POS.index("VERB"), POS.index("ADJ")) for _, b in grades[0.0])


def test_bad_relation_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"data.grammar.relations.*unknown relation.*Fix: use any of"):
        build(GrammarParams, {"relations": ["colour_shade"]}, "data.grammar")


def test_default_corpus_is_fast_and_uses_every_word():
    import time

    t = time.perf_counter()
    src = GrammarCorpus(GrammarParams(), 0)
    info = src.info()
    assert time.perf_counter() - t < 5
    assert min(info.counts) > 0, "every word of the default vocabulary occurs in training"
