"""Video losses against loop references and known cases."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslpipe.losses import color_attention, colorization_loss, cycle_walk_loss, temporal_triplet_loss, walk_transitions


def _cos_dist(a, b):
    return 1 - float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("hard_k", [1, 3])
def test_temporal_triplet_matches_a_loop_with_both_anchor_directions(hard_k):
    g = torch.Generator().manual_seed(0)
    a, p = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    margin = 0.5
    A, P = a.numpy(), p.numpy()
    per_anchor = []
    for i in range(5):
        for x, pos in ((A[i], P[i]), (P[i], A[i])):  # both patches of a pair anchor in turn
            d_pos = _cos_dist(x, pos)
            hinges = [max(0.0, d_pos - _cos_dist(x, neg) + margin) for j in range(5) if j != i for neg in (A[j], P[j])]
            per_anchor.append(np.mean(sorted(hinges, reverse=True)[:hard_k]))
    assert math.isclose(temporal_triplet_loss(a, p, margin, hard_k).item(), np.mean(per_anchor), rel_tol=1e-5)


def test_temporal_triplet_is_zero_when_pairs_match_and_clips_differ():
    a = torch.eye(4) * 3
    assert temporal_triplet_loss(a, a.clone(), margin=0.5).item() == 0.0  # d_pos 0, every negative at distance 1
    assert temporal_triplet_loss(a, a.roll(1, 0), margin=0.5).item() > 0.5


def test_color_attention_and_loss_match_a_loop():
    g = torch.Generator().manual_seed(1)
    tgt, ref = torch.randn(2, 6, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    rc = torch.tensor([[0, 1, 2, 3, 1], [3, 2, 1, 0, 0]])  # every colour is in the reference
    tc = torch.randint(0, 4, (2, 6), generator=g)
    T = 0.7
    att = color_attention(tgt, ref, T)
    loss, pred = colorization_loss(tgt, ref, rc, tc, 4, T)
    total = []
    for b in range(2):
        for i in range(6):
            logits = np.array([float(tgt[b, i] @ ref[b, j]) / T for j in range(5)])
            w = np.exp(logits - logits.max())
            w /= w.sum()
            assert np.allclose(att[b, i].numpy(), w, atol=1e-6)
            colour = np.zeros(4)
            for j in range(5):
                colour[int(rc[b, j])] += w[j]
            assert np.allclose(pred[b, i].numpy(), colour, atol=1e-6)
            total.append(-np.log(colour[int(tc[b, i])]))
    assert math.isclose(loss.item(), np.mean(total), rel_tol=1e-5)
    w = torch.rand(2, 6, generator=g)
    weighted, _ = colorization_loss(tgt, ref, rc, tc, 4, T, weights=w)
    assert math.isclose(weighted.item(), float((w.flatten().numpy() * np.array(total)).sum() / w.sum()), rel_tol=1e-5)


def test_colorization_is_perfect_when_embeddings_identify_locations():
    emb = torch.eye(6)[None] * 10  # each location is its own node; the target is the reference
    colors = torch.tensor([[0, 1, 2, 0, 1, 2]])
    loss, pred = colorization_loss(emb, emb, colors, colors, 3, temperature=0.1)
    assert loss.item() < 1e-6 and torch.equal(pred.argmax(-1), colors)
    loss_wrong, _ = colorization_loss(emb, emb, colors, colors.roll(1, 1), 3, temperature=0.1)
    assert loss_wrong.item() > 10


def _loop_cycle_loss(nodes, temperature):
    x = nodes.double().numpy()
    b, t, n, _ = x.shape

    def trans(u, v):
        s = u @ v.T / temperature
        e = np.exp(s - s.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    losses = []
    for k in range(1, t):
        per = []
        for s in range(b):
            walk = np.eye(n)
            for i in range(k):
                walk = walk @ trans(x[s, i], x[s, i + 1])
            for i in range(k, 0, -1):
                walk = walk @ trans(x[s, i], x[s, i - 1])
            per.extend(-np.log(np.diag(walk)))
        losses.append(np.mean(per))
    return np.mean(losses)


def test_cycle_walk_matches_a_loop_over_palindromes():
    g = torch.Generator().manual_seed(2)
    nodes = F.normalize(torch.randn(3, 4, 5, 6, generator=g), dim=-1)
    assert math.isclose(cycle_walk_loss(nodes, 0.3).item(), _loop_cycle_loss(nodes, 0.3), rel_tol=1e-5)


def test_cycle_walk_returns_home_when_nodes_keep_their_identity():
    same = torch.eye(5).expand(2, 4, 5, 5)
    assert cycle_walk_loss(same, temperature=0.05).item() < 1e-6
    shuffled = F.normalize(torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert cycle_walk_loss(shuffled, temperature=0.05).item() > 0.1


def test_edge_dropout_removes_edges():
    a = F.normalize(torch.randn(1, 4, 3), dim=-1)
    drop = torch.zeros(1, 4, 4, dtype=torch.bool)
    drop[0, :, 0] = True
    p = walk_transitions(a, a, 0.1, drop)
    assert torch.all(p[0, :, 0] < 1e-12) and torch.allclose(p.sum(-1), torch.ones(1, 4))
    nodes = torch.eye(5).expand(1, 3, 5, 5)
    dropped = cycle_walk_loss(nodes, 0.05, edge_dropout=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(dropped) and dropped.item() > 0.1  # the direct edges are gone half the time
