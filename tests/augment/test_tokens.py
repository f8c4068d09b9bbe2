"""BERT's masking rule on counts: 15% selected, of those 80% [MASK], 10% random, 10% unchanged; padding never."""
import numpy as np
import torch

from sslpipe.augment.tokens import IGNORE, bert_mask


def test_masking_selects_15_percent_and_splits_80_10_10():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 1000, (400, 256), generator=g)
    maskable = torch.ones_like(tokens, dtype=torch.bool)
    maskable[:, 200:] = False  # padding
    inputs, targets = bert_mask(tokens, maskable, mask_id=1000, n_words=1000, generator=g)
    sel = targets != IGNORE
    n, n_sel = int(maskable.sum()), int(sel.sum())
    assert not sel[:, 200:].any() and torch.equal(inputs[:, 200:], tokens[:, 200:])
    assert abs(n_sel - 0.15 * n) < 4 * np.sqrt(n * 0.15 * 0.85)
    assert torch.equal(targets[sel], tokens[sel]) and torch.equal(inputs[~sel], tokens[~sel])
    masked = int((inputs[sel] == 1000).sum())
    changed = int(((inputs[sel] != 1000) & (inputs[sel] != tokens[sel])).sum())
    unchanged = n_sel - masked - changed
    # a random word equals the original with probability 1/1000: expected unchanged share 0.1 + 0.1/1000
    for got, p in ((masked, 0.8), (changed, 0.1 * 0.999), (unchanged, 0.1 + 0.1 / 1000)):
        assert abs(got - p * n_sel) < 4 * np.sqrt(n_sel * p * (1 - p)), (got, p * n_sel)
    assert inputs.max() <= 1000


def test_masking_is_reproducible_from_the_generator():
    t = torch.randint(0, 50, (8, 16), generator=torch.Generator().manual_seed(1))
    m = torch.ones_like(t, dtype=torch.bool)
    a = bert_mask(t, m, 50, 50, generator=torch.Generator().manual_seed(2))
    b = bert_mask(t, m, 50, 50, generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
