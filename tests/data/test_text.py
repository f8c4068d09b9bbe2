"""Text sources: tokenizer, vocabulary, subsampling formula, local files, gensim's bundled corpus, token shards."""
import numpy as np
import pytest

from sslpipe.core.errors import ConfigError
from sslpipe.core.schema import build
from sslpipe.data.shards import read_manifest, verify_shards, write_shards
from sslpipe.data.sources import SOURCES
from sslpipe.data.text import (EOS_ID, build_vocab, keep_probability, read_analogies, read_similarity, sentence_chunks,
                               sentences, split_sentences, tokenize)
from sslpipe.data.textloader import load_tokens


def test_tokenizer_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("Don't STOP: e-mail 3 dogs_cats, café!") == ["don't", "stop", "e", "mail", "3", "dogs", "cats", "café"]
    assert list(sentences("One two. Three!\nfour five six", max_len=2)) == [["one", "two"], ["three"], ["four", "five"], ["six"]]


def test_vocabulary_by_min_count_and_max_vocab_with_unk():
    sents = [["b", "a", "c"], ["a", "b", "a", "d"], ["a"]]
    v = build_vocab(sents, min_count=2)
    assert v.words == ["</s>", "<unk>", "a", "b"] and v.counts.tolist() == [3, 2, 4, 2] and v.unk_id == 1
    assert v.encode(["a", "zzz", "b"]).tolist() == [2, 1, 3, EOS_ID]
    v2 = build_vocab(sents, min_count=1, max_vocab=2)
    assert v2.words == ["</s>", "<unk>", "a", "b"]
    v3 = build_vocab(sents, min_count=1)
    assert v3.unk_id is None and v3.words == ["</s>", "a", "b", "c", "d"]  # ties alphabetical


def test_keep_probability_formulas():
    counts = np.array([0, 1000, 100, 1])
    f = counts / counts.sum()
    t = 1e-2
    paper = keep_probability(counts, t, "paper")
    assert np.allclose(paper[1:], np.minimum(1, np.sqrt(t / f[1:])))
    c_code = keep_probability(counts, t, "word2vec")
    assert np.allclose(c_code[1:], np.minimum(1, (np.sqrt(f[1:] / t) + 1) * t / f[1:]))
    assert paper[0] == 1 and np.all(keep_probability(counts, 0.0) == 1)
    assert paper[1] < paper[2] <= paper[3] == 1


def test_sentence_chunks_hold_whole_sentences():
    tokens = np.array([5, 6, 0, 7, 0, 8, 8, 8, 8, 8, 0, 9, 0], dtype=np.int32)
    bounds = sentence_chunks(tokens, 4)
    assert bounds == [(0, 3), (3, 5), (5, 11), (11, 13)]  # the 6-token sentence is a chunk alone
    assert [s.tolist() for s in split_sentences(tokens)] == [[5, 6], [7], [8] * 5, [9]]


def test_standard_list_readers(tmp_path):
    (tmp_path / "q.txt").write_text(": capital-world\nAthens Greece Baghdad Iraq\n: family\nboy girl brother sister\n")
    (tmp_path / "s.tsv").write_text("# comment\nWord 1\tWord 2\tHuman (mean)\ntiger\tcat\t7.35\nbook paper 7.46\n")
    assert read_analogies(tmp_path / "q.txt") == {"capital-world": [["athens", "greece", "baghdad", "iraq"]], "family": [["boy", "girl", "brother", "sister"]]}
    assert read_similarity(tmp_path / "s.tsv") == [["tiger", "cat", 7.35], ["book", "paper", 7.46]]


def make_textfiles(tmp_path, **kw):
    d = tmp_path / "corpus"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "rare"]
    for k in range(3):
        text = "\n".join(" ".join(rng.choice(words[:4], 6)) + "." for _ in range(60))
        (d / f"part{k}.txt").write_text(text + (" rare." if k == 0 else ""))
    cls = SOURCES.get("textfiles")
    return cls(build(cls.Params, {"path": str(d / "*.txt"), "min_count": 2, "chunk_tokens": 64, "shard_chunks": 4, **kw}, "data.textfiles"), 0)


def test_textfiles_source_shards_round_trip(tmp_path):
    src = make_textfiles(tmp_path)
    info = src.info()
    assert info.vocab[:2] == ["</s>", "<unk>"] and "rare" not in info.vocab
    m = write_shards(src, tmp_path / "shards", "textfiles", log=lambda *_: None)
    assert m["modality"] == "text" and "image_shape" not in m and m["info"]["vocab"] == info.vocab
    verify_shards(tmp_path / "shards")
    for split in ("train", "val", "test"):
        ref = src.split(split)
        got = load_tokens(tmp_path / "shards", read_manifest(tmp_path / "shards"), split)
        assert np.array_equal(got, ref.tokens) and m["splits"][split]["count"] == len(ref.tokens)
        assert m["splits"][split]["sentences"] == ref.sentences
    assert len(m["splits"]["train"]["shards"]) > 1
    again = write_shards(make_textfiles(tmp_path / "b"), tmp_path / "shards2", "textfiles", log=lambda *_: None)
    assert [s["sha256"] for s in again["splits"]["train"]["shards"]] == [s["sha256"] for s in m["splits"]["train"]["shards"]]


def test_textfiles_bad_path_names_the_key(tmp_path):
    cls = SOURCES.get("textfiles")
    with pytest.raises(ConfigError, match=r"data.textfiles.path.*matches no text file"):
        build(cls.Params, {"path": str(tmp_path / "none*.txt")}, "data.textfiles")
    with pytest.raises(ConfigError, match=r"data.textfiles.path: is empty"):
        build(cls.Params, {}, "data.textfiles")


def test_gensim_lee_corpus_is_a_real_corpus_without_download():
    cls = SOURCES.get("lee_news")
    src = cls(build(cls.Params, {}, "data.lee_news"), 0)
    info = src.info()
    assert 50000 < len(src.split("train").tokens) < 80000 and src.split("test").sentences > 50
    assert {"the", "australia", "government"} <= set(info.vocab)
    assert 0 < sum(map(len, info.analogies.values())) < info.analogy_total == 19544
    assert 0 < len(info.similarity) < info.similarity_total == 353


def test_text_methods_and_image_sources_refuse_each_other():
    from sslpipe.methods.base import METHODS

    grammar, dsprites = SOURCES.get("grammar"), SOURCES.get("dsprites")
    assert "text data" in METHODS.get("skipgram").incompatible(dsprites, dsprites.Params())
    assert "image data" in METHODS.get("simclr").incompatible(grammar, grammar.Params())
    assert METHODS.get("random_init").incompatible(grammar, grammar.Params()) is None
