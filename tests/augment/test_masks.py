"""Inpainting masks cover the requested ratio; MAE token masks keep and restore the right tokens."""
import pytest
import torch
import torch.nn.functional as F

from sslpipe.augment.masks import MASKS, central_block, make_mask, random_blocks, random_region, random_token_mask


def coverage(m):
    return m.flatten(1).mean(1)


def test_central_block_is_the_centred_quarter():
    m = central_block(3, 32, 0.25)
    assert m.shape == (3, 1, 32, 32)
    assert torch.equal(coverage(m), torch.full((3,), 0.25))
    assert m[:, 0, 8:24, 8:24].all() and m[:, 0, :8].sum() == 0 and m[:, 0, :, 24:].sum() == 0


def test_random_blocks_reach_the_ratio_and_vary():
    g = torch.Generator().manual_seed(0)
    m = random_blocks(200, 32, 0.25, generator=g)
    cov = coverage(m)
    assert (cov >= 0.25).all() and (cov < 0.25 + 8 * 8 / 32**2).all()
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(m[0], m[1])
    # every mask is a union of 8x8 squares: each masked pixel lies in a fully masked 8x8 window
    full = F.avg_pool2d(m, 8, 1).eq(1).float()  # [B, 1, 25, 25]: top-left corners of fully masked windows
    covered = F.max_pool2d(F.pad(full, (7, 7, 7, 7)), 8, 1)  # [B, 1, 32, 32]: pixels inside such a window
    assert torch.equal(covered, m)


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5])
def test_random_region_has_the_exact_area(ratio):
    g = torch.Generator().manual_seed(1)
    m = random_region(50, 32, ratio, generator=g)
    assert torch.equal(m.flatten(1).sum(1), torch.full((50,), float(round(ratio * 32 * 32))))
    assert not torch.equal(m[0], m[1])


def test_make_mask_dispatches_by_name():
    assert set(MASKS.names()) == {"central", "blocks", "region"}
    assert torch.equal(make_mask("central", 2, 16, 0.25), central_block(2, 16, 0.25))


def test_token_mask_keeps_and_restores():
    g = torch.Generator().manual_seed(0)
    keep, restore, mask = random_token_mask(8, 64, 0.75, generator=g)
    assert keep.shape == (8, 16) and restore.shape == (8, 64)
    assert torch.equal(mask.sum(1), torch.full((8,), 48.0))  # masks exactly the requested ratio
    for b in range(8):
        assert (mask[b, keep[b]] == 0).all()  # kept tokens are the unmasked ones
    tokens = torch.arange(64).expand(8, -1)
    shuffled = torch.cat([tokens.gather(1, keep), tokens[mask.bool()].view(8, 48)], 1)
    # restore undoes [visible, masked]: visible tokens come back to their places
    back = shuffled.gather(1, restore)
    assert torch.equal(back.gather(1, keep), keep)
    assert torch.equal(mask, (restore >= 16).float())


def test_masks_are_deterministic_for_a_generator():
    a = random_region(4, 16, 0.25, generator=torch.Generator().manual_seed(3))
    b = random_region(4, 16, 0.25, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
