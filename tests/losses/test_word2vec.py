"""word2vec losses against brute-force references: noise counts, exact expectations, optima, Huffman tree, HS probabilities."""
import heapq

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslpipe.losses.word2vec import (expected_negative_sampling_loss, full_softmax_loss, hierarchical_softmax_log_probs,
                                     hierarchical_softmax_loss, huffman_tree, negative_sampling_loss, noise_distribution,
                                     sample_negatives)

THREADS = torch.get_num_threads()


def setup_module():
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # tiny tensors: one thread avoids OpenMP overhead


def teardown_module():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(THREADS)


def test_negatives_are_drawn_from_unigram_to_the_three_quarters():
    counts = np.array([0, 1000, 300, 50, 7, 1])
    noise = noise_distribution(counts, 0.75, exclude=(0,))
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    assert torch.allclose(noise.double(), torch.as_tensor(expected), atol=1e-6)
    n = 200_000
    got = np.bincount(sample_negatives(noise, (n // 10, 10), torch.Generator().manual_seed(0)).ravel().numpy(), minlength=6)
    chi2 = ((got[1:] - n * expected[1:]) ** 2 / (n * expected[1:])).sum()
    assert got[0] == 0 and chi2 < 20.5  # 4 degrees of freedom: p ~ 0.0004


def test_negative_sampling_loss_equals_the_formula_by_loops():
    g = torch.Generator().manual_seed(0)
    h, t, n = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 5, 3, generator=g)
    ref = np.mean([-np.log(1 / (1 + np.exp(-float(h[b] @ t[b])))) - sum(np.log(1 / (1 + np.exp(float(h[b] @ n[b, k])))) for k in range(5)) for b in range(4)])
    assert negative_sampling_loss(h, t, n).item() == pytest.approx(ref, rel=1e-9)


def test_sampled_loss_agrees_with_its_exact_expectation_over_the_vocabulary():
    g = torch.Generator().manual_seed(1)
    v, d, k = 7, 4, 5
    out = torch.randn(v, d, generator=g)
    h, target = torch.randn(3, d, generator=g), torch.tensor([1, 4, 6])
    noise = noise_distribution(np.array([50, 20, 9, 5, 3, 2, 1]))
    chunks, per_chunk = 40, 2000  # each chunk: the batch loss averaged over per_chunk independent draws
    neg = sample_negatives(noise, (chunks, per_chunk * 3, k), g)
    rep = lambda x: x.repeat(per_chunk, *[1] * (x.dim() - 1))  # noqa: E731
    samples = torch.stack([negative_sampling_loss(rep(h), rep(out[target]), out[neg[i]]) for i in range(chunks)])
    exact = expected_negative_sampling_loss(h, out[target], out, noise.double(), k)
    assert samples.mean().item() == pytest.approx(exact.item(), abs=4 * samples.std().item() / np.sqrt(chunks))
    assert samples.std().item() > 0


def test_negative_sampling_and_full_softmax_agree_at_their_optima():
    """Tiny vocabulary, known p(w, c): the softmax optimum is p(c | w); negative sampling's is PMI - log k
    (Levy & Goldberg 2014), so adding log(k q(c)) and normalising over c recovers the same p(c | w)."""
    rng = np.random.default_rng(0)
    v, k = 5, 3
    joint = rng.dirichlet(np.ones(v * v)).reshape(v, v)
    pw, pc = joint.sum(1), joint.sum(0)
    q = torch.as_tensor(pc)  # noise = the context marginal
    w_ids, c_ids = np.meshgrid(np.arange(v), np.arange(v), indexing="ij")
    w_ids, c_ids = torch.as_tensor(w_ids.ravel()), torch.as_tensor(c_ids.ravel())
    weight = torch.as_tensor(joint.ravel())

    def fit(loss_fn):
        inp = torch.randn(v, v, requires_grad=True, generator=torch.Generator().manual_seed(0))
        out = torch.randn(v, v, requires_grad=True, generator=torch.Generator().manual_seed(1))
        opt = torch.optim.LBFGS([inp, out], max_iter=2000, tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn(inp, out)
            loss.backward()
            return loss

        opt.step(closure)
        return (inp @ out.T).detach()

    def sgns(inp, out):  # E_{(w,c)}[-log s(w.c)] + k E_w E_{n~q}[-log s(-w.n)]
        pos = -(F.logsigmoid((inp[w_ids] * out[c_ids]).sum(1)) * weight).sum()
        neg = -(k * torch.as_tensor(pw)[:, None] * q[None] * F.logsigmoid(-inp @ out.T)).sum()
        return pos + neg

    def softmax(inp, out):
        return (F.cross_entropy(inp[w_ids] @ out.T, c_ids, reduction="none") * weight).sum()

    s_ns, s_sm = fit(sgns), fit(softmax)
    pmi = np.log(joint / (pw[:, None] * pc[None]))
    assert np.allclose(s_ns.numpy(), pmi - np.log(k), atol=1e-3)
    cond = joint / pw[:, None]
    assert np.allclose(torch.softmax(s_sm, 1).numpy(), cond, atol=1e-4)
    assert np.allclose(torch.softmax(s_ns + torch.log(k * q)[None], 1).numpy(), cond, atol=1e-3)
    # and the expectation form used above is expected_negative_sampling_loss for a single (w, c)
    h, t = torch.randn(1, 2), torch.randn(1, 2)
    o = torch.randn(v, 2)
    ref = -F.logsigmoid((h * t).sum()) - k * (q * F.logsigmoid(-(o @ h[0]))).sum()
    assert expected_negative_sampling_loss(h, t, o, q, k).item() == pytest.approx(ref.item())


def test_full_softmax_loss_is_the_cross_entropy_by_loops():
    g = torch.Generator().manual_seed(2)
    h, out, y = torch.randn(3, 4, generator=g), torch.randn(6, 4, generator=g), torch.tensor([0, 5, 2])
    ref = np.mean([-(float(h[b] @ out[y[b]]) - np.log(sum(np.exp(float(h[b] @ out[u])) for u in range(6)))) for b in range(3)])
    assert full_softmax_loss(h, y, out).item() == pytest.approx(ref)


def huffman_cost(counts):
    """Total weighted code length of an optimal prefix code = the sum of every merge's weight."""
    heap = list(map(float, counts))
    heapq.heapify(heap)
    cost = 0.0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


@pytest.mark.parametrize("counts", [[5, 9, 12, 13, 16, 45], [1, 1], [100, 1, 1, 1, 1, 1, 1, 1, 50, 7, 3]])
def test_huffman_codes_are_prefix_free_and_optimal(counts):
    tree = huffman_tree(counts)
    codes = ["".join(map(str, tree.codes[w, :tree.lengths[w]])) for w in range(len(counts))]
    assert all(not b.startswith(a) for a in codes for b in codes if a is not b)
    assert sum(c * len(code) for c, code in zip(counts, codes)) == huffman_cost(counts)
    assert all(tree.points[w, 0] == len(counts) - 2 for w in range(len(counts)))  # every path starts at the root
    assert tree.points.max() <= len(counts) - 2


def test_hierarchical_softmax_is_a_distribution_and_matches_its_path_product():
    counts = [40, 1, 7, 7, 3, 22, 9, 2]
    tree = huffman_tree(counts)
    codes, points, lengths = tree.tensors()
    g = torch.Generator().manual_seed(3)
    inner = torch.randn(tree.n_inner, 5, generator=g)
    h = torch.randn(4, 5, generator=g)
    logp = hierarchical_softmax_log_probs(h, inner, codes, points, lengths)
    assert torch.allclose(logp.exp().sum(1), torch.ones(4))
    for b in range(4):
        for w in range(len(counts)):
            p = 1.0
            for step in range(int(lengths[w])):
                s = 1 / (1 + np.exp(-float(h[b] @ inner[points[w, step]])))
                p *= s if codes[w, step] == 0 else 1 - s
            assert logp[b, w].exp().item() == pytest.approx(p)
    y = torch.tensor([0, 3, 7, 1])
    assert hierarchical_softmax_loss(h, y, inner, codes, points, lengths).item() == pytest.approx(-logp[torch.arange(4), y].mean().item())
