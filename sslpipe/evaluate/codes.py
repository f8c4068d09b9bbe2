"""Codes of rendered factor combinations, each combination rendered and encoded at most once.

The sampling-based scores (BetaVAE, FactorVAE) draw factor rows with replacement from a finite
grid: at Locatello et al.'s sizes they draw 2.9 million rows from dSprites' 737,280
combinations, so most combinations come up several times.  A source's renderer is
deterministic, and an encoder in eval mode gives a code that does not depend on the batch it is
encoded in (``tests/evaluate/test_codes.py`` checks both on the study's sources and encoders),
so caching a code by its flat factor index changes no value: every score is bit-identical to
rendering and encoding each drawn row.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

CHUNK = 4096  # images rendered and encoded at once
MAX_BYTES = 1 << 29  # cached codes (float64) kept at most: the whole dSprites grid at 10 dimensions is 59 MB


class CodeCache:
    """``cache(factors [N, K]) -> codes [N, D]`` (float64), rendering and encoding only unseen combinations.

    ``sampler.render`` maps factor rows to uint8 images and ``encode`` images to codes.  Codes
    are kept sorted by flat factor index up to ``max_bytes``; past it the cache starts over
    (a later request for a dropped code renders it again, with the same result).
    """

    def __init__(self, sampler, encode: Callable[[np.ndarray], np.ndarray], max_bytes: int = MAX_BYTES, chunk: int = CHUNK):
        self.sampler, self.encode, self.max_bytes, self.chunk = sampler, encode, max_bytes, chunk
        self.sizes = tuple(int(s) for s in sampler.info().factor_sizes)
        self.keys = np.zeros(0, np.int64)  # sorted flat indices
        self.codes: np.ndarray | None = None  # [len(keys), D]
        self.encoded = 0  # combinations rendered and encoded so far

    def _render_encode(self, flat: np.ndarray) -> np.ndarray:
        rows = np.stack(np.unravel_index(flat, self.sizes), axis=1).astype(np.int64)
        return np.concatenate([np.asarray(self.encode(self.sampler.render(rows[i:i + self.chunk])), dtype=np.float64)
                               for i in range(0, len(rows), self.chunk)])

    def __call__(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(self.sizes))
        if len(factors) == 0:
            return np.zeros((0, 0 if self.codes is None else self.codes.shape[1]))
        uniq, inverse = np.unique(np.ravel_multi_index(factors.T, self.sizes), return_inverse=True)
        pos = np.minimum(np.searchsorted(self.keys, uniq), max(len(self.keys) - 1, 0))
        hit = (self.keys[pos] == uniq) if len(self.keys) else np.zeros(len(uniq), bool)
        new = self._render_encode(uniq[~hit]) if (~hit).any() else None
        self.encoded += int((~hit).sum())
        dim = (new if new is not None else self.codes).shape[1]
        out = np.empty((len(uniq), dim))
        if hit.any():
            out[hit] = self.codes[pos[hit]]
        if new is not None:
            out[~hit] = new
            self._store(uniq[~hit], new)
        return out[inverse.reshape(-1)]

    def _store(self, keys: np.ndarray, codes: np.ndarray) -> None:
        room = max(self.max_bytes // (8 * codes.shape[1]), 0)
        if len(keys) > room:
            keys, codes = keys[:room], codes[:room]
        if self.codes is None or len(self.keys) + len(keys) > room:
            self.keys, self.codes = keys.copy(), codes.copy()
            return
        keys, codes = np.concatenate([self.keys, keys]), np.concatenate([self.codes, codes])
        order = np.argsort(keys, kind="stable")
        self.keys, self.codes = keys[order], codes[order]
