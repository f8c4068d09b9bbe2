"""Stream token shards into training batches: word pairs, context windows, n-gram contexts or sentences.

The same WebDataset path as images (``iter_records``): each record is a chunk of whole
sentences; an *example maker* (registered by kind) turns a chunk into examples with a
seeded numpy generator (subsampling, dynamic windows), a buffer of ``shuffle_buffer``
chunks is shuffled, and fixed-size batches (dicts of int64 arrays) are emitted.  Shard
order is permuted per epoch from the same generator, so the stream is a deterministic
function of the seed and a resumed run replays it exactly.

Kinds (what each method's ``stream`` asks for):

* ``skipgram``: (center, context) pairs (Mikolov et al. 2013a): frequent-word subsampling
  first (discarded words do not count in the window, as in word2vec's C code), then a
  dynamic window: each centre draws b uniformly from 1..window and pairs with the words at
  distance <= b in its sentence.  ``</s>`` and ``<unk>`` are skipped.
* ``cbow``: the same windows as one example per centre: ``context`` [n, 2 window] (-1 = none).
* ``ngram``: every token of every sentence (its ``</s>`` included) as ``target`` with the
  ``context`` previous tokens of its sentence, padded with ``</s>`` at the sentence start.
* ``sequence``: each sentence (without ``</s>``) as a row of ``seq_len`` tokens, -1 padded;
  longer sentences continue on further rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import DataError
from ..core.registry import Registry
from .loader import iter_records
from .shards import shard_urls
from .text import EOS_ID

TOKEN_ENTRIES = ("tokens.npy",)
EXAMPLES: Registry = Registry("example kind")


def _sentence_ids(tokens: np.ndarray) -> np.ndarray:
    """The sentence index of every position (a sentence's </s> belongs to it)."""
    eos = tokens == EOS_ID
    return np.cumsum(eos) - eos


def _kept_words(tokens: np.ndarray, rng: np.random.Generator, keep: np.ndarray | None, skip: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The words that survive subsampling (``keep`` [V] probabilities) and their sentence ids; ``</s>`` and ``skip`` ids removed."""
    sid = _sentence_ids(tokens)
    mask = ~np.isin(tokens, (EOS_ID,) + tuple(skip))
    draw = rng.random(len(tokens))  # one draw per position, used or not: the stream does not depend on ``keep``'s zeros
    if keep is not None:
        mask &= draw < keep[tokens]
    return tokens[mask].astype(np.int64), sid[mask]


@EXAMPLES.register("skipgram")
def skipgram_pairs(tokens: np.ndarray, rng: np.random.Generator, window: int = 5, keep: np.ndarray | None = None, skip: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    tok, sid = _kept_words(tokens, rng, keep, skip)
    n = len(tok)
    b = rng.integers(1, window + 1, size=n)
    centers, contexts = [], []
    for o in range(1, window + 1):
        if o >= n:
            break
        same = sid[:n - o] == sid[o:]
        fwd = same & (o <= b[:n - o])  # centre i, context i + o
        bwd = same & (o <= b[o:])  # centre i + o, context i
        centers += [tok[:n - o][fwd], tok[o:][bwd]]
        contexts += [tok[o:][fwd], tok[:n - o][bwd]]
    if not centers:
        return {"center": np.zeros(0, np.int64), "context": np.zeros(0, np.int64)}
    return {"center": np.concatenate(centers), "context": np.concatenate(contexts)}


@EXAMPLES.register("cbow")
def cbow_windows(tokens: np.ndarray, rng: np.random.Generator, window: int = 5, keep: np.ndarray | None = None, skip: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    tok, sid = _kept_words(tokens, rng, keep, skip)
    n = len(tok)
    b = rng.integers(1, window + 1, size=n)
    ctx = np.full((n, 2 * window), -1, dtype=np.int64)
    idx = np.arange(n)
    for o in range(1, window + 1):
        for col, pos in ((window - o, idx - o), (window + o - 1, idx + o)):
            ok = (pos >= 0) & (pos < n) & (o <= b)
            ok[ok] &= sid[pos[ok]] == sid[idx[ok]]
            ctx[ok, col] = tok[pos[ok]]
    has = (ctx >= 0).any(1)
    return {"center": tok[has], "context": ctx[has]}


@EXAMPLES.register("ngram")
def ngram_contexts(tokens: np.ndarray, rng: np.random.Generator, context: int = 4) -> dict[str, np.ndarray]:
    tok = tokens.astype(np.int64)
    n = len(tok)
    idx = np.arange(n)
    last_eos = np.maximum.accumulate(np.where(tok == EOS_ID, idx, -1))
    start = np.concatenate([[0], last_eos[:-1] + 1])  # first position of each position's sentence
    ctx = np.full((n, context), EOS_ID, dtype=np.int64)
    for o in range(1, context + 1):
        pos = idx - o
        ok = pos >= start
        ctx[ok, context - o] = tok[pos[ok]]
    return {"context": ctx, "target": tok}


@EXAMPLES.register("sequence")
def sentence_rows(tokens: np.ndarray, rng: np.random.Generator, seq_len: int = 32) -> dict[str, np.ndarray]:
    tok = tokens.astype(np.int64)
    sid = _sentence_ids(tok)
    words = tok != EOS_ID
    tok, sid = tok[words], sid[words]
    if not len(tok):
        return {"tokens": np.zeros((0, seq_len), np.int64)}
    first = np.concatenate([[0], np.flatnonzero(np.diff(sid)) + 1])
    pos = np.arange(len(tok)) - np.repeat(first, np.diff(np.concatenate([first, [len(tok)]])))
    row_of_sentence = np.concatenate([[0], np.cumsum((np.diff(np.concatenate([first, [len(tok)]])) + seq_len - 1) // seq_len)])
    row = row_of_sentence[np.searchsorted(first, np.arange(len(tok)), side="right") - 1] + pos // seq_len
    out = np.full((row_of_sentence[-1], seq_len), -1, dtype=np.int64)
    out[row, pos % seq_len] = tok
    return {"tokens": out}


def make_examples(kind: str, tokens: np.ndarray, rng: np.random.Generator, **options) -> dict[str, np.ndarray]:
    return EXAMPLES.get(kind)(tokens, rng, **options)


def load_tokens(shard_dir: str | Path, manifest: dict, split: str, limit: int | None = None) -> np.ndarray:
    """The token stream of a split (whole records, in stored order) up to at least ``limit`` tokens."""
    parts, n = [], 0
    for (tokens,) in iter_records(shard_urls(shard_dir, manifest, split), TOKEN_ENTRIES):
        parts.append(tokens)
        n += len(tokens)
        if limit is not None and n >= limit:
            break
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def text_batches(shard_dir: str | Path, manifest: dict, kind: str, options: dict, batch_size: int, shuffle_buffer: int, seed: int,
                 split: str = "train") -> Iterator[dict[str, np.ndarray]]:
    """An endless, shuffled stream of example batches (dicts of [batch_size, ...] int64 arrays) from a split's token shards."""
    urls = shard_urls(shard_dir, manifest, split)
    if not urls:
        raise DataError(f"split {split} of {Path(shard_dir).name} has no token shard. Fix: rebuild the shards with more text.")
    rng = np.random.default_rng(seed)
    carry: dict | None = None
    produced = False
    while True:  # epochs
        order = [urls[i] for i in rng.permutation(len(urls))]
        buffer: list[dict] = []
        for (tokens,) in iter_records(order, TOKEN_ENTRIES):
            ex = make_examples(kind, tokens, rng, **options)
            if len(next(iter(ex.values()))):
                buffer.append(ex)
            if len(buffer) < shuffle_buffer:
                continue
            carry, n = yield from _emit(buffer, carry, batch_size, rng)
            produced |= n > 0
            buffer = []
        if buffer:
            carry, n = yield from _emit(buffer, carry, batch_size, rng)
            produced |= n > 0
        if not produced and carry is None:
            raise DataError(f"split {split} of {Path(shard_dir).name} yields no {kind} example. Fix: check the corpus and the method's window/subsampling.")


def _emit(buffer, carry, batch_size, rng):
    pool = _concat(([carry] if carry is not None else []) + buffer)
    total = len(next(iter(pool.values())))
    perm = rng.permutation(total)
    pool = {k: v[perm] for k, v in pool.items()}
    n_full = total // batch_size * batch_size
    for start in range(0, n_full, batch_size):
        yield {k: v[start:start + batch_size] for k, v in pool.items()}
    rest = {k: v[n_full:] for k, v in pool.items()} if n_full < total else None
    return rest, n_full


def count_examples(shard_dir: str | Path, manifest: dict, kind: str, options: dict, seed: int, split: str = "train") -> int:
    """Examples in one pass over a split (one draw of the subsampling and windows): converts epochs to steps."""
    rng = np.random.default_rng(seed)
    return sum(len(next(iter(make_examples(kind, t, rng, **options).values())))
               for (t,) in iter_records(shard_urls(shard_dir, manifest, split), TOKEN_ENTRIES))


def first_sentences(tokens: np.ndarray, limit: int) -> np.ndarray:
    """The whole sentences among the first ``limit`` tokens (at least the first sentence)."""
    ends = np.flatnonzero(tokens[:limit] == EOS_ID)
    if len(ends):
        return tokens[:ends[-1] + 1]
    first = np.flatnonzero(tokens == EOS_ID)
    return tokens[:first[0] + 1] if len(first) else tokens[:0]
