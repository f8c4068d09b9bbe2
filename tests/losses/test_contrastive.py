"""Each loss against a plain loop over pairs / triplets, its gradient sign, and its limits."""
import math

import pytest
import torch
import torch.nn.functional as F

from sslpipe.losses import (
    alignment,
    barlow_twins_loss,
    contrastive_loss,
    info_nce,
    lifted_structured_loss,
    negative_cosine,
    npair_loss,
    nt_xent,
    triplet_loss,
    uniformity,
    vicreg_loss,
    vicreg_terms,
)



@pytest.fixture(autouse=True)
def float64():
    """The loop references are compared to 1e-5: run this module in double precision."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def two_views(n=6, d=5, seed=0):
    """Embeddings of n images, two views each, labelled by image."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2 * n, d, generator=g)
    return z, torch.arange(n).repeat(2)


def dist(a, b):
    return torch.sqrt(((a - b) ** 2).sum())


# --- loop references ---------------------------------------------------------------
def loop_contrastive(z, y, m):
    pos, neg = [], []
    for i in range(len(z)):
        for j in range(len(z)):
            if i == j:
                continue
            d = dist(z[i], z[j])
            (pos if y[i] == y[j] else neg).append(d**2 if y[i] == y[j] else max(0.0, m - d) ** 2)
    return sum(pos) / len(pos) + sum(neg) / len(neg)


def loop_triplet(z, y, m, mining, extra=None):
    refs = list(z) + ([] if extra is None else list(extra))
    ref_y = list(y.tolist()) + [None] * (0 if extra is None else len(extra))
    terms = []
    for a in range(len(z)):
        for p in range(len(z)):
            if a == p or y[a] != y[p]:
                continue
            d_ap = dist(z[a], z[p]) ** 2
            d_ns = [dist(z[a], r) ** 2 for r, yr in zip(refs, ref_y) if yr != y[a]]
            if mining == "all":
                terms += [max(0.0, d_ap - d_an + m) for d_an in d_ns]
            elif mining == "hard":
                terms.append(max(0.0, d_ap - min(d_ns) + m))
            else:
                farther = [d for d in d_ns if d > d_ap]
                d_an = min(farther) if farther else max(d_ns)
                terms.append(max(0.0, d_ap - d_an + m))
    return sum(terms) / len(terms)


def loop_lifted(z, y, m, smooth, extra=None):
    refs = list(z) + ([] if extra is None else list(extra))
    ref_y = list(y.tolist()) + [None] * (0 if extra is None else len(extra))
    total, pairs = 0.0, 0
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            if y[i] != y[j]:
                continue
            slack = [m - dist(z[i], r) for r, yr in zip(refs, ref_y) if yr != y[i]]
            slack += [m - dist(z[j], r) for r, yr in zip(refs, ref_y) if yr != y[j]]
            hard = torch.log(sum(torch.exp(s) for s in slack)) if smooth else max(slack)
            total += max(0.0, dist(z[i], z[j]) + hard) ** 2
            pairs += 1
    return total / (2 * pairs)


def loop_npair(f, fp):
    n = len(f)
    return sum(torch.log(1 + sum(torch.exp(f[i] @ fp[j] - f[i] @ fp[i]) for j in range(n) if j != i)) for i in range(n)) / n


def loop_info_nce(q, k, negs, t):
    q, k, negs = F.normalize(q, dim=-1), F.normalize(k, dim=-1), F.normalize(negs, dim=-1)
    total = 0.0
    for i in range(len(q)):
        pos = torch.exp(q[i] @ k[i] / t)
        neg = sum(torch.exp(q[i] @ nk / t) for nk in (negs if negs.dim() == 2 else negs[i]))
        total += -torch.log(pos / (pos + neg))
    return total / len(q)


def loop_nt_xent(z1, z2, t):
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        denom = sum(torch.exp(u[i] @ u[k] / t) for k in range(2 * n) if k != i)
        total += -torch.log(torch.exp(u[i] @ u[p] / t) / denom)
    return total / (2 * n)


def loop_barlow(z1, z2, lambd):
    n, d = z1.shape
    a = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + 1e-5)
    b = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + 1e-5)
    total = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[k, i] * b[k, j] for k in range(n)) / n
            total += (1 - c) ** 2 if i == j else lambd * c**2
    return total


def loop_vicreg(z1, z2):
    n, d = z1.shape
    inv = sum(((z1[k] - z2[k]) ** 2).sum() for k in range(n)) / (n * d)

    def var(z):
        return sum(max(0.0, 1 - math.sqrt(z[:, j].var().item() + 1e-4)) for j in range(d)) / d

    def cov(z):
        m = z.mean(0)
        total = 0.0
        for i in range(d):
            for j in range(d):
                if i != j:
                    c = sum((z[k, i] - m[i]) * (z[k, j] - m[j]) for k in range(n)) / (n - 1)
                    total += c**2
        return total / d

    return inv, var(z1) + var(z2), cov(z1) + cov(z2)


# --- equality with the loops ----------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_contrastive_matches_loop(seed):
    z, y = two_views(seed=seed)
    assert contrastive_loss(z, y, margin=3.0).item() == pytest.approx(loop_contrastive(z, y, 3.0).item(), abs=1e-5)


@pytest.mark.parametrize("mining", ["all", "hard", "semi_hard"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_matches_loop(mining, seed):
    z, y = two_views(seed=seed)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 2])  # also classes with 3 members
    assert triplet_loss(z, y, 1.0, mining).item() == pytest.approx(loop_triplet(z, y, 1.0, mining).item(), abs=1e-5)
    extra = torch.randn(4, z.shape[1], generator=torch.Generator().manual_seed(seed + 10))
    got = triplet_loss(z, y, 1.0, mining, negatives=extra).item()
    assert got == pytest.approx(loop_triplet(z, y, 1.0, mining, extra).item(), abs=1e-5)


@pytest.mark.parametrize("smooth", [True, False])
def test_lifted_matches_loop(smooth):
    z, y = two_views(n=5, d=4)
    want = loop_lifted(z, y, 1.0, smooth)
    assert lifted_structured_loss(z, y, 1.0, smooth).item() == pytest.approx(float(want), abs=1e-5)
    extra = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))
    want = loop_lifted(z, y, 1.0, smooth, extra)
    assert lifted_structured_loss(z, y, 1.0, smooth, negatives=extra).item() == pytest.approx(float(want), abs=1e-5)


def test_npair_matches_loop():
    z, _ = two_views(n=7, d=4)
    f, fp = z[:7], z[7:]
    assert npair_loss(f, fp).item() == pytest.approx(loop_npair(f, fp).item(), abs=1e-5)
    reg = 0.1 * (f.pow(2).sum() + fp.pow(2).sum()) / 7
    assert npair_loss(f, fp, l2_reg=0.1).item() == pytest.approx((loop_npair(f, fp) + reg).item(), abs=1e-5)


def test_info_nce_matches_loop_for_shared_per_query_and_in_batch_negatives():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    queue, per_query = torch.randn(7, 4, generator=g), torch.randn(5, 3, 4, generator=g)
    assert info_nce(q, k, queue, 0.2).item() == pytest.approx(loop_info_nce(q, k, queue, 0.2).item(), abs=1e-5)
    assert info_nce(q, k, per_query, 0.2).item() == pytest.approx(loop_info_nce(q, k, per_query, 0.2).item(), abs=1e-5)
    in_batch = torch.stack([torch.cat([k[:i], k[i + 1:]]) for i in range(5)])
    assert info_nce(q, k, None, 0.2).item() == pytest.approx(loop_info_nce(q, k, in_batch, 0.2).item(), abs=1e-5)
    # leading dimensions are independent problems
    q2, k2 = torch.stack([q, k]), torch.stack([k, q])
    both = (info_nce(q, k, None, 0.2) + info_nce(k, q, None, 0.2)) / 2
    assert info_nce(q2, k2, None, 0.2).item() == pytest.approx(both.item(), abs=1e-6)


def test_nt_xent_matches_loop():
    z, _ = two_views(n=5)
    assert nt_xent(z[:5], z[5:], 0.5).item() == pytest.approx(loop_nt_xent(z[:5], z[5:], 0.5).item(), abs=1e-5)


def test_barlow_twins_matches_loop():
    z, _ = two_views(n=8, d=4)
    assert barlow_twins_loss(z[:8], z[8:], 0.05).item() == pytest.approx(loop_barlow(z[:8], z[8:], 0.05).item(), abs=1e-5)


def test_vicreg_terms_match_loop():
    z, _ = two_views(n=8, d=4)
    z = z * 0.5  # some dimensions below the target std of 1, so the hinge is active
    for got, want in zip(vicreg_terms(z[:8], z[8:]), loop_vicreg(z[:8], z[8:])):
        assert float(got) == pytest.approx(float(want), abs=1e-5)
    inv, var, cov = loop_vicreg(z[:8], z[8:])
    assert vicreg_loss(z[:8], z[8:]).item() == pytest.approx(float(25 * inv + 25 * var + cov), abs=1e-5)


def test_alignment_and_uniformity_match_loops():
    z, _ = two_views(n=6)
    x, y = F.normalize(z[:6], dim=1), F.normalize(z[6:], dim=1)
    align = sum(dist(x[i], y[i]) ** 2 for i in range(6)) / 6
    assert alignment(z[:6], z[6:]).item() == pytest.approx(align.item(), abs=1e-5)
    pairs = [torch.exp(-2 * dist(x[i], x[j]) ** 2) for i in range(6) for j in range(i + 1, 6)]
    assert uniformity(z[:6]).item() == pytest.approx(math.log(sum(pairs) / len(pairs)), abs=1e-5)


def test_negative_cosine_value_and_stop_gradient():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    z = torch.tensor([[1.0, 1.0], [0.0, -1.0]], requires_grad=True)
    loss = negative_cosine(p, z)
    assert loss.item() == pytest.approx(-(1 / math.sqrt(2) - 1) / 2)
    loss.backward()
    assert z.grad is None  # stop-gradient on the target branch
    assert p.grad is not None


# --- gradient signs on a toy pair ---------------------------------------------------------
def _grad_on_distance(loss_fn, d0=0.5):
    """d loss / d (distance between x0 and its positive x1), others fixed far away."""
    t = torch.tensor(d0, requires_grad=True)
    loss = loss_fn(t)
    (g,) = torch.autograd.grad(loss, t)
    return g.item()


def toy(t, neg_at=3.0):
    """Two views of image 0 at distance t on the x-axis, image 1 (two views) at distance neg_at."""
    t, neg_at = torch.as_tensor(t), torch.as_tensor(neg_at)
    zero = torch.zeros(())
    z = torch.stack([torch.zeros(2), torch.stack([t, zero]), torch.stack([zero, neg_at]), torch.stack([zero + 0.1, neg_at])])
    return z, torch.tensor([0, 0, 1, 1])


@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda t: contrastive_loss(*toy(t), margin=1.0),
        lambda t: triplet_loss(*toy(t, 1.0), margin=1.0),
        lambda t: triplet_loss(*toy(t, 1.0), margin=1.0, mining="hard"),
        lambda t: triplet_loss(*toy(t, 1.0), margin=1.0, mining="semi_hard"),
        lambda t: lifted_structured_loss(*toy(t, 1.0), margin=1.0),
        lambda t: alignment(toy(t)[0][:1] + torch.tensor([0.0, 1.0]), toy(t)[0][1:2] + torch.tensor([0.0, 1.0])),
    ],
    ids=["contrastive", "triplet_all", "triplet_hard", "triplet_semi_hard", "lifted", "alignment"],
)
def test_positive_pair_is_pulled_together(loss_fn):
    assert _grad_on_distance(loss_fn) > 0  # the loss grows with the positive distance


def test_negatives_are_pushed_apart():
    def grad_neg(fn, at):
        t = torch.tensor(at, requires_grad=True)
        (g,) = torch.autograd.grad(fn(t), t)
        return g.item()

    assert grad_neg(lambda t: contrastive_loss(*toy(torch.tensor(0.1), t), margin=1.0), 0.5) < 0
    assert grad_neg(lambda t: triplet_loss(*toy(torch.tensor(0.1), t), margin=1.0, mining="hard"), 0.5) < 0
    assert grad_neg(lambda t: lifted_structured_loss(*toy(torch.tensor(0.1), t), margin=1.0), 0.5) < 0
    q = torch.tensor([[1.0, 0.0]])
    # InfoNCE: raising a negative's similarity raises the loss
    assert grad_neg(lambda t: info_nce(q, q, torch.stack([torch.cos(t), torch.sin(t)])[None], 0.5), 1.0) < 0


def test_info_nce_and_npair_reward_positive_similarity():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    def f(theta):
        pos = torch.stack([torch.stack([torch.cos(theta), torch.sin(theta)]), torch.tensor([0.0, 1.0])])
        return info_nce(a, pos, None, 0.5) + npair_loss(a, pos)
    t = torch.tensor(0.3, requires_grad=True)
    (g,) = torch.autograd.grad(f(t), t)
    assert g.item() > 0  # rotating the positive away from its anchor costs


# --- limits -------------------------------------------------------------------------------
def test_nt_xent_identical_views_orthogonal_negatives_reach_the_minimum():
    n = 4
    z = torch.eye(n)  # orthogonal images, identical views
    t = 0.05
    # the only non-zero similarity besides the positive is... none: minimum log(1 + (2n-2) e^{-1/t})
    want = math.log(1 + (2 * n - 2) * math.exp(-1 / t))
    assert nt_xent(z, z, t).item() == pytest.approx(want, rel=1e-6)
    assert nt_xent(z, z, t).item() < 1e-6
    assert nt_xent(z, z, t) < nt_xent(z, torch.roll(z, 1, 0), t)


def test_triplet_zero_when_margin_is_satisfied():
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    for mining in ("all", "hard", "semi_hard"):
        assert triplet_loss(z, y, margin=1.0, mining=mining).item() == 0.0
    assert triplet_loss(z, y, margin=100.0).item() > 0


def test_contrastive_zero_when_positives_coincide_and_negatives_beyond_margin():
    z = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert contrastive_loss(z, y, margin=2.0).item() == pytest.approx(0.0, abs=1e-10)
    assert contrastive_loss(z, y, margin=4.0).item() == pytest.approx(1.0)  # (4 - 3)^2 for every negative


def test_lifted_hard_form_is_zero_beyond_margin_and_smooth_bounds_it():
    z = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert lifted_structured_loss(z, y, margin=1.0, smooth=False).item() == pytest.approx(0.0, abs=1e-5)
    # log-sum-exp >= max: the smooth form is an upper bound
    z, y = two_views()
    assert lifted_structured_loss(z, y, 1.0, smooth=True) >= lifted_structured_loss(z, y, 1.0, smooth=False)


def test_barlow_twins_zero_for_identical_decorrelated_views():
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # standardized, uncorrelated
    assert barlow_twins_loss(z, z).item() == pytest.approx(0.0, abs=1e-4)
    assert barlow_twins_loss(z, -z).item() == pytest.approx(8.0, abs=1e-3)  # C = -I


def test_vicreg_collapse_is_penalized_and_good_solution_is_cheap():
    collapsed = torch.zeros(16, 4)
    inv, var, cov = vicreg_terms(collapsed, collapsed)
    assert inv == 0 and cov == 0 and var.item() == pytest.approx(2 * (1 - math.sqrt(1e-4)))
    z = torch.tensor([[s1, s2, s3, s4] for s1 in (-2, 2) for s2 in (-2, 2) for s3 in (-2, 2) for s4 in (-2, 2)], dtype=torch.float64)
    assert vicreg_loss(z, z).item() == pytest.approx(0.0, abs=1e-8)


def test_uniformity_limits_and_alignment_range():
    same = torch.ones(5, 3)
    assert uniformity(same).item() == pytest.approx(0.0, abs=1e-9)  # everything in one point: the maximum
    spread = torch.cat([torch.eye(3), -torch.eye(3)])  # the octahedron: far more uniform
    assert uniformity(spread) < -1.0
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    assert alignment(x, x).item() == pytest.approx(0.0, abs=1e-12)
    assert alignment(x, -x).item() == pytest.approx(4.0)  # antipodal: the maximum 2^2


def test_memory_negatives_only_add_negatives():
    z, y = two_views()
    far = torch.full((3, z.shape[1]), 100.0)  # far-away memory entries change nothing
    assert contrastive_loss(z, y, 1.0, negatives=far) <= contrastive_loss(z, y, 1.0)
    assert triplet_loss(z, y, 1.0, "hard", negatives=far).item() == pytest.approx(triplet_loss(z, y, 1.0, "hard").item())
    near = z[:1] + 1e-3  # a memory entry next to an anchor makes the loss bigger
    assert triplet_loss(z, y, 1.0, "hard", negatives=near) > triplet_loss(z, y, 1.0, "hard")
    assert npair_loss(z[:6], z[6:], negatives=near) > npair_loss(z[:6], z[6:])
