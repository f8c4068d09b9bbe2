"""BERT's masking of token sequences (Devlin et al. 2019, Sec. 3.1): the view a masked language model predicts from.

Each maskable token is selected with probability ``select`` (15%); a selected token is
replaced by the mask token with probability ``mask`` (80%), by a uniformly random word with
probability ``random`` (10%), and left unchanged otherwise (10%).  The model predicts the
original token at every selected position (and nowhere else), so it cannot learn that an
unmasked token is always itself.  Batched, on the tokens' device, from a torch generator.
"""
from __future__ import annotations

import torch

IGNORE = -100  # cross_entropy's ignore_index: positions that are not predicted


def bert_mask(tokens: torch.Tensor, maskable: torch.Tensor, mask_id: int, n_words: int, select: float = 0.15, mask: float = 0.8,
              random: float = 0.1, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets): masked inputs and the original ids at selected positions (IGNORE elsewhere).

    tokens: int64 [B, T]; maskable: bool [B, T] (real words, not padding); random words are
    drawn uniformly from ids 0..n_words-1.
    """
    if not 0 <= mask + random <= 1:
        raise ValueError("mask + random must be in [0, 1]")
    u = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    selected = (u < select) & maskable
    how = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    to_mask = selected & (how < mask)
    to_random = selected & (how >= mask) & (how < mask + random)
    words = torch.randint(0, n_words, tokens.shape, generator=generator, device=tokens.device)
    inputs = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(to_random, words, inputs)
    targets = torch.where(selected, tokens, torch.full_like(tokens, IGNORE))
    return inputs, targets
