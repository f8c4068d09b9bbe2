"""Text sources: token-id corpora with their vocabulary, word tags and evaluation lists.

A text source is a :class:`DataSource` with ``modality = "text"``.  Its splits are int32
token-id streams of whole sentences, each ended by the sentence-end token ``</s>`` (id 0,
as in word2vec's C code, where a newline becomes ``</s>``); its :class:`TextInfo` (stored
in the shard manifest) holds the vocabulary in id order, the training-split counts, the
word tags (part of speech, semantic category; -1 = unknown), the analogy questions and the
graded similarity list that the word evaluation reads.

Tokenizer (:func:`tokenize`): Unicode text is lower-cased and split into runs of letters
and digits (an apostrophe inside a word is kept: ``don't``); every other character
separates tokens.  Sentences end at ``.``, ``!``, ``?`` and at line ends, and are cut into
pieces of at most ``max_sentence_len`` tokens (text8 and similar dumps have no
punctuation).  Vocabulary (:func:`build_vocab`): training-split words with at least
``min_count`` occurrences, the ``max_vocab`` most frequent (ties broken alphabetically),
ids in decreasing frequency after ``</s>``; other words become ``<unk>`` (id 1), which the
word2vec family skips as word2vec's C code and gensim skip unknown words, and the language
models predict as one word, as on WikiText.
"""
from __future__ import annotations

import glob as globlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np

from ..core.errors import ConfigError
from ..core.schema import check, in_range, one_of, positive
from ..core.errors import DataError
from .sources import SOURCES, SPLITS, DataSource

EOS, UNK = "</s>", "<unk>"
EOS_ID = 0
TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
SENTENCE_END_RE = re.compile(r"[.!?]+|\n")


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters/digits (an inner apostrophe kept), in order."""
    return TOKEN_RE.findall(text.lower())


def sentences(text: str, max_len: int = 1000) -> Iterable[list[str]]:
    """Tokenized sentences of ``text`` (ends at . ! ? and line ends), cut to at most ``max_len`` tokens."""
    for piece in SENTENCE_END_RE.split(text):
        words = tokenize(piece)
        for start in range(0, len(words), max_len):
            yield words[start:start + max_len]


@dataclass
class Vocab:
    words: list[str]  # id -> word; words[0] == "</s>"
    counts: np.ndarray  # int64 [V]: training-split counts (</s> counts sentence ends)
    unk_id: int | None = None

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentence: list[str]) -> np.ndarray:
        """Token ids of one sentence with its ``</s>``; unknown words -> ``<unk>`` (or dropped if there is none)."""
        if self.unk_id is None:
            ids = [self.index[w] for w in sentence if w in self.index]
        else:
            ids = [self.index.get(w, self.unk_id) for w in sentence]
        return np.asarray(ids + [EOS_ID], dtype=np.int32)


def build_vocab(train_sentences: list[list[str]], min_count: int = 5, max_vocab: int | None = None) -> Vocab:
    """``</s>``, ``<unk>`` (only if some word is left out), then words by decreasing count (ties: alphabetical)."""
    counts = Counter(w for s in train_sentences for w in s)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    left_out = sum(counts.values()) - sum(counts[w] for w in kept)
    words = [EOS] + ([UNK] if left_out else []) + kept
    c = [len(train_sentences)] + ([left_out] if left_out else []) + [counts[w] for w in kept]
    return Vocab(words, np.asarray(c, dtype=np.int64), 1 if left_out else None)


def keep_probability(counts: np.ndarray, t: float, formula: str = "paper") -> np.ndarray:
    """Probability of keeping each word under frequent-word subsampling (Mikolov et al. 2013b, Sec. 2.3).

    ``paper``: a word of corpus frequency f is discarded with probability 1 - sqrt(t / f), so
    kept with min(1, sqrt(t / f)) (the paper's formula).  ``word2vec``: the released C code's
    (and gensim's) variant, kept with min(1, (sqrt(f / t) + 1) t / f).  Both leave words
    rarer than t alone and damp frequent ones; ``t <= 0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if t <= 0:
        return np.ones_like(counts)
    f = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if formula == "paper":
            p = np.sqrt(t / f)
        elif formula == "word2vec":
            p = (np.sqrt(f / t) + 1.0) * t / f
        else:
            raise ValueError(f"unknown subsampling formula {formula!r}; use paper or word2vec")
    return np.where(f > 0, np.minimum(p, 1.0), 1.0)


@dataclass
class TextInfo:
    """What downstream stages need to know about a text source (stored in manifest.json)."""

    vocab: list[str]
    counts: list[int]
    unk_id: int | None = None
    tags: dict[str, list[int]] = field(default_factory=dict)  # tag name -> per word id (-1 = none)
    tag_names: dict[str, list[str]] = field(default_factory=dict)
    analogies: dict[str, list[list[str]]] = field(default_factory=dict)  # section -> [a, b, c, d] (a:b :: c:d)
    analogy_total: int = 0  # questions before dropping those with a word outside the vocabulary
    similarity: list[list] = field(default_factory=list)  # [word1, word2, score]
    similarity_total: int = 0
    relations: dict[str, list[list[str]]] = field(default_factory=dict)  # relation -> its word pairs (planted corpora)


@dataclass
class TokenSplit:
    tokens: np.ndarray  # int32 [N]: whole sentences, each ended by </s> (id 0)

    @property
    def sentences(self) -> int:
        return int(np.count_nonzero(self.tokens == EOS_ID))


@dataclass
class TextParams:
    chunk_tokens: int = check(16384, positive, help="tokens per WebDataset record (whole sentences; one .npy per record).")
    shard_chunks: int = check(40, positive, help="records per tar shard.")


class TextSource(DataSource):
    """A source of token-id splits: ``split(name)`` returns a :class:`TokenSplit`, ``info()`` a :class:`TextInfo`."""

    modality: ClassVar[str] = "text"
    Params: ClassVar[type] = TextParams

    @classmethod
    def channels(cls, params) -> int:
        return 0

    def info(self) -> TextInfo:
        raise NotImplementedError

    def split(self, name: str) -> TokenSplit:
        raise NotImplementedError

    def split_sizes(self) -> dict[str, int]:
        return {s: len(self.split(s).tokens) for s in SPLITS}

    def records(self, split: str):
        """(record entries, token count) per WebDataset record: whole sentences up to ``chunk_tokens`` tokens."""
        tokens = self.split(split).tokens
        if tokens.dtype != np.int32 or tokens.ndim != 1 or (len(tokens) and tokens[-1] != EOS_ID):
            raise DataError(f"dataset {self.name!r}: split {split} must be int32 [N] sentences ended by </s>, got {tokens.dtype} {tokens.shape}")
        for start, stop in sentence_chunks(tokens, self.params.chunk_tokens):
            yield {"tokens.npy": tokens[start:stop]}, stop - start

    def manifest_fields(self) -> dict:
        import dataclasses

        return {"modality": self.modality, "info": dataclasses.asdict(self.info())}

    def split_summary(self, split: str) -> dict:
        return {"sentences": self.split(split).sentences}


def sentence_chunks(tokens: np.ndarray, chunk_tokens: int) -> list[tuple[int, int]]:
    """[start, stop) bounds of consecutive runs of whole sentences of at most ``chunk_tokens`` tokens (a longer sentence is a run alone)."""
    ends = np.flatnonzero(tokens == EOS_ID) + 1
    bounds, start = [], 0
    while start < len(tokens):
        # the last sentence end within start + chunk_tokens, or the first one after start
        i = np.searchsorted(ends, start + chunk_tokens, side="right") - 1
        stop = int(ends[i]) if i >= 0 and ends[i] > start else int(ends[np.searchsorted(ends, start, side="right")])
        bounds.append((start, stop))
        start = stop
    return bounds


def split_sentences(tokens: np.ndarray) -> list[np.ndarray]:
    """The sentences of a token stream, each without its ``</s>``."""
    ends = np.flatnonzero(tokens == EOS_ID)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [tokens[a:b] for a, b in zip(starts, ends)]


# --- evaluation lists in the standard formats ------------------------------------------
def read_analogies(path: str | Path) -> dict[str, list[list[str]]]:
    """Mikolov et al.'s questions-words.txt format: ``: section`` lines, then ``a b c d`` (a:b :: c:d), lower-cased."""
    out: dict[str, list[list[str]]] = {}
    section = "analogy"
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if len(words) == 4:
            out.setdefault(section, []).append(words)
    return out


def read_similarity(path: str | Path) -> list[list]:
    """Word-pair similarity files (WordSim-353, SimLex-999): ``word1 word2 score`` per line, tab or space separated, ``#`` comments."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = re.split(r"\t| +", line.strip())
        try:
            out.append([parts[0].lower(), parts[1].lower(), float(parts[2])])
        except (IndexError, ValueError):
            continue  # a header line
    return out


def restrict_to_vocab(analogies: dict[str, list[list[str]]], similarity: list[list], vocab: Vocab) -> tuple[dict, int, list, int]:
    """Questions and pairs whose words are all in the vocabulary (``<unk>`` never counts), with the totals before."""
    known = set(vocab.words) - {EOS, UNK}
    kept = {s: [q for q in qs if all(w in known for w in q)] for s, qs in analogies.items()}
    kept = {s: qs for s, qs in kept.items() if qs}
    sims = [p for p in similarity if p[0] in known and p[1] in known]
    return kept, sum(len(q) for q in analogies.values()), sims, len(similarity)


# --- local plain-text files -------------------------------------------------------------
@dataclass
class TextFilesParams(TextParams):
    path: str = check("", help="a local text file, a directory of .txt files, or a glob such as 'corpus/*.txt' (nothing is downloaded).")
    encoding: str = check("utf-8", help="the files' text encoding (bytes that do not decode are replaced).")
    min_count: int = check(5, positive, help="words rarer than this in the training split become <unk>.")
    max_vocab: int | None = check(None, positive, help="keep at most this many most frequent words (empty: no limit).")
    max_sentence_len: int = check(1000, positive, help="longer sentences are cut (text without punctuation, e.g. text8).")
    val_fraction: float = check(0.05, in_range(0.0, 0.5, hi_open=True), help="share of sentences (taken from the end, before the test share) held out for validation.")
    test_fraction: float = check(0.1, in_range(0.0, 0.5, lo_open=True, hi_open=True), help="share of sentences (the last ones) held out for testing.")
    analogies: str = check("", help="optional analogy file in questions-words.txt format.")
    similarity: str = check("", help="optional word-pair similarity file (word1 word2 score per line).")

    def validate(self, key: str) -> None:
        text_files(self.path, key)
        for name in ("analogies", "similarity"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_file():
                raise ConfigError(f"{key}.{name}", f"{value!r} is not a file.", "give the path of an existing file or leave it empty.")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"{key}.test_fraction", "val_fraction + test_fraction leaves no training text.", "lower them (e.g. 0.05 and 0.1).")


def text_files(path: str, key: str = "data.textfiles") -> list[Path]:
    """The files behind ``path`` (a file, a directory's ``*.txt`` files, or a glob), sorted."""
    fix = "set it to a local text file, a folder of .txt files or a glob such as 'corpus/*.txt'."
    if not path:
        raise ConfigError(f"{key}.path", "is empty.", fix)
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.txt") if f.is_file())
    else:
        files = sorted(Path(f) for f in globlib.glob(str(p), recursive=True) if Path(f).is_file())
    if not files:
        raise ConfigError(f"{key}.path", f"{path!r} matches no text file.", fix)
    return files


class CorpusSource(TextSource):
    """Sentences read from text, split in order into train / val / test, tokenized with a vocabulary."""

    Params = TextFilesParams

    def __init__(self, params, seed: int):
        super().__init__(params, seed)
        self._built: tuple[dict[str, np.ndarray], TextInfo] | None = None

    def read_sentences(self) -> list[list[str]]:
        p = self.params
        out: list[list[str]] = []
        for f in text_files(p.path):
            try:
                text = f.read_text(encoding=p.encoding, errors="replace")
            except (OSError, LookupError) as e:
                raise DataError(f"cannot read text file {f} ({e}). Fix: check the file and data.<dataset>.encoding.") from None
            out += [s for s in sentences(text, p.max_sentence_len) if s]
        return out

    def evaluation_lists(self) -> tuple[dict, list]:
        p = self.params
        analogies = read_analogies(Path(p.analogies).expanduser()) if p.analogies else {}
        similarity = read_similarity(Path(p.similarity).expanduser()) if p.similarity else []
        return analogies, similarity

    def _build(self):
        if self._built is None:
            p = self.params
            sents = self.read_sentences()
            n = len(sents)
            n_test = max(1, int(round(n * p.test_fraction)))
            n_val = int(round(n * p.val_fraction))
            if n - n_test - n_val < 1:
                raise DataError(f"dataset {self.name!r}: {n} sentence(s) under {p.path!r} leave none for training. Fix: add text or lower val_fraction/test_fraction.")
            parts = {"train": sents[:n - n_test - n_val], "val": sents[n - n_test - n_val:n - n_test], "test": sents[n - n_test:]}
            vocab = build_vocab(parts["train"], p.min_count, p.max_vocab)
            if len(vocab) - 1 - (vocab.unk_id is not None) < 2:
                raise DataError(f"dataset {self.name!r}: fewer than 2 words occur {p.min_count}+ times. Fix: lower data.<dataset>.min_count or add text.")
            tokens = {s: np.concatenate([vocab.encode(x) for x in part]) if part else np.zeros(0, np.int32) for s, part in parts.items()}
            analogies, similarity = self.evaluation_lists()
            kept, a_total, sims, s_total = restrict_to_vocab(analogies, similarity, vocab)
            info = TextInfo(vocab.words, vocab.counts.tolist(), vocab.unk_id, analogies=kept, analogy_total=a_total, similarity=sims, similarity_total=s_total)
            self._built = tokens, info
        return self._built

    def info(self) -> TextInfo:
        return self._build()[1]

    def split(self, name: str) -> TokenSplit:
        return TokenSplit(self._build()[0][name])


@SOURCES.register("textfiles")
class TextFiles(CorpusSource):
    """A user's local plain-text files (a file, a folder of .txt files or a glob; e.g. text8 or WikiText downloaded by the user)."""


def gensim_data(name: str) -> Path:
    """A file of the test data that the gensim package installs (no download)."""
    try:
        from gensim.test.utils import datapath
    except ImportError:  # pragma: no cover - gensim is a pinned dependency
        raise DataError("gensim is not installed, so its bundled corpus is missing. Fix: pip install the project (it pins gensim).") from None
    return Path(datapath(name))


@dataclass
class LeeParams(TextParams):
    """The Lee news corpus as gensim installs it: ``lee_background.cor`` (300 news texts) and ``lee.cor`` (50 more)."""

    min_count: int = check(2, positive, help="words rarer than this in the training split become <unk>.")
    max_vocab: int | None = check(None, positive)
    max_sentence_len: int = check(1000, positive)
    val_fraction: float = check(0.5, in_range(0.0, 1.0, hi_open=True), help="share of lee.cor's sentences held out for validation (the rest is the test split).")
    similarity_file: str = check("wordsim353.tsv", one_of("wordsim353.tsv", "simlex999.txt"), help="gensim's bundled similarity list.")
    chunk_tokens: int = check(4096, positive)


@SOURCES.register("lee_news")
class LeeNews(CorpusSource):
    """A real corpus without download: the Lee news texts (Lee et al. 2005) that gensim ships for its tests.

    Train: ``lee_background.cor`` (about 60k tokens); val and test: ``lee.cor`` (the 50
    documents of Lee et al.'s similarity study), halved in order.  Analogies: Mikolov et al.'s
    ``questions-words.txt``; similarity: WordSim-353 (Finkelstein et al. 2002) or SimLex-999
    (Hill et al. 2015), all as gensim installs them; the corpus covers few of their words
    (coverage is reported with every score).
    """

    Params = LeeParams

    def read_parts(self) -> tuple[list[list[str]], list[list[str]]]:
        p = self.params
        read = lambda name: [s for s in sentences(gensim_data(name).read_text(encoding="latin-1"), p.max_sentence_len) if s]  # noqa: E731
        return read("lee_background.cor"), read("lee.cor")

    def evaluation_lists(self):
        return read_analogies(gensim_data("questions-words.txt")), read_similarity(gensim_data(self.params.similarity_file))

    def _build(self):
        if self._built is None:
            p = self.params
            train, held = self.read_parts()
            n_val = int(round(len(held) * p.val_fraction))
            parts = {"train": train, "val": held[:n_val], "test": held[n_val:]}
            vocab = build_vocab(train, p.min_count, p.max_vocab)
            tokens = {s: np.concatenate([vocab.encode(x) for x in part]) if part else np.zeros(0, np.int32) for s, part in parts.items()}
            kept, a_total, sims, s_total = restrict_to_vocab(*self.evaluation_lists(), vocab)
            self._built = tokens, TextInfo(vocab.words, vocab.counts.tolist(), vocab.unk_id, analogies=kept, analogy_total=a_total, similarity=sims, similarity_total=s_total)
        return self._built
