"""Tile grids, tile extraction, chromatic guards, jigsaw permutation sets (against a loop reference), patches."""
import itertools

import pytest
import torch

from sslpipe.augment.grids import (
    TileGrid, chromatic_guard, extract_tiles, hamming_distances, jigsaw_permutations, patchify, resize_tiles, unpatchify,
)


def test_tiles_stay_in_their_cells_with_the_stated_gap():
    g = TileGrid(32, grid=3, tile=7, jitter=1)
    assert g.cell == 10 and g.min_gap == 1
    torch.manual_seed(0)
    pos = g.positions(500)
    border = (32 - 3 * 10) // 2
    cell_r = torch.arange(9) // 3
    cell_c = torch.arange(9) % 3
    lo_r, lo_c = border + cell_r * 10, border + cell_c * 10
    assert ((pos[..., 0] >= lo_r) & (pos[..., 0] + 7 <= lo_r + 10)).all()
    assert ((pos[..., 1] >= lo_c) & (pos[..., 1] + 7 <= lo_c + 10)).all()
    # horizontal gap between left and right neighbours, over every sample
    gaps = pos[:, 1::3, 1] - (pos[:, 0::3, 1] + 7)
    assert gaps.min() >= g.min_gap and gaps.max() <= 10 - 7 + 2
    shifts = pos - g.centred()
    assert set(shifts.unique().tolist()) == {-1, 0, 1}  # jitter is used in full


def test_grid_refuses_tiles_that_do_not_fit():
    with pytest.raises(ValueError, match="exceeds the cell"):
        TileGrid(32, tile=9, jitter=1)


def test_extract_tiles_matches_slicing():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 20, 20)
    pos = torch.randint(0, 15, (3, 4, 2))
    tiles = extract_tiles(x, pos, 5)
    assert tiles.shape == (3, 4, 2, 5, 5)
    for b in range(3):
        for n in range(4):
            r, c = pos[b, n].tolist()
            assert torch.equal(tiles[b, n], x[b, :, r:r + 5, c:c + 5])


def test_resize_tiles_flattens_and_resizes():
    tiles = torch.ones(2, 9, 3, 7, 7) * 0.5
    out = resize_tiles(tiles, 32)
    assert out.shape == (18, 3, 32, 32)
    assert torch.allclose(out, torch.full_like(out, 0.5))


def test_chromatic_guard_drop_keeps_exactly_one_channel():
    torch.manual_seed(0)
    tiles = torch.rand(64, 2, 3, 7, 7)
    out = chromatic_guard(tiles, "drop")
    same = (out == tiles).flatten(3).all(-1)  # [64, 2, 3]
    assert (same.sum(-1) == 1).all()
    kept_std = (tiles * same[..., None, None]).sum(2).flatten(2).std(-1)
    dropped_std = out.masked_select(~same[..., None, None].expand_as(out)).view(64, 2, 2, -1).std(-1)
    assert torch.allclose(dropped_std, kept_std[..., None].expand_as(dropped_std) / 100, rtol=0.5)
    assert set(same.float().argmax(-1).unique().tolist()) == {0, 1, 2}


def test_chromatic_guard_grey_and_passthrough():
    tiles = torch.rand(4, 3, 5, 5)
    grey = chromatic_guard(tiles, "grey")
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert torch.allclose(grey[:, 0], 0.299 * tiles[:, 0] + 0.587 * tiles[:, 1] + 0.114 * tiles[:, 2])
    mono = torch.rand(4, 1, 5, 5)
    assert chromatic_guard(mono, "drop") is mono
    assert chromatic_guard(tiles, "none") is tiles


def greedy_reference(n: int, cells: int) -> list[tuple]:
    """The max-min Hamming greedy written as plain loops: identity first; ties -> largest sum, then lexicographic order."""
    everything = list(itertools.permutations(range(cells)))

    def dist(p, q):
        return sum(a != b for a, b in zip(p, q))

    chosen = [everything[0]]
    while len(chosen) < n:
        best, best_key = None, None
        for p in everything:
            if p in chosen:
                continue
            key = (min(dist(p, q) for q in chosen), sum(dist(p, q) for q in chosen))
            if best_key is None or key > best_key:  # strict: the first (lowest index) wins ties
                best, best_key = p, key
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("n,cells", [(10, 4), (24, 4), (30, 5)])
def test_permutation_set_equals_loop_reference(n, cells):
    perms = jigsaw_permutations(n, cells)
    assert [tuple(p) for p in perms.tolist()] == greedy_reference(n, cells)


def test_jigsaw_permutation_set_of_100():
    perms = jigsaw_permutations(100)
    assert perms.shape == (100, 9)
    assert (perms.sort(1).values == torch.arange(9)).all()  # every row is a permutation
    assert len({tuple(p) for p in perms.tolist()}) == 100  # distinct
    d = hamming_distances(perms)
    d.fill_diagonal_(9)
    # farthest-point greedy: each new permutation's distance to the earlier ones never increases ...
    firsts = torch.stack([d[k, :k].min() for k in range(1, 100)])
    assert (firsts[1:] <= firsts[:-1]).all()
    # ... and the set's minimum pairwise distance is the last one's (6 for 100 of 9 tiles;
    # at most 7 is possible: by the Singleton bound n!/(d-1)!, distance 8 allows at most 72 permutations)
    assert d.min() == firsts[-1] == 6
    assert torch.equal(jigsaw_permutations(100), perms)  # deterministic


def test_permutation_set_size_limits():
    with pytest.raises(ValueError):
        jigsaw_permutations(25, 4)
    with pytest.raises(ValueError):
        jigsaw_permutations(0)


def test_patchify_round_trip_and_order():
    x = torch.rand(2, 3, 16, 16)
    p = patchify(x, 4)
    assert p.shape == (2, 16, 48)
    # patch 5 is row 1, column 1; pixels ordered (row, col, channel)
    assert torch.equal(p[1, 5], x[1, :, 4:8, 4:8].permute(1, 2, 0).reshape(-1))
    assert torch.equal(unpatchify(p, 4, 3), x)
