"""The code cache: each factor combination rendered and encoded once, every score bit-identical."""
import numpy as np
import torch

from sslpipe.core.schema import build
from sslpipe.data.dsprites import DSprites, DSpritesParams
from sslpipe.evaluate.base import EvalContext
from sslpipe.evaluate.codes import CodeCache
from sslpipe.evaluate.disentangle.sampling import beta_vae_score, factor_vae_score

from .conftest import ToySampler

W = np.array([[0.3, -1.0], [2.0, 0.5], [-0.7, 0.1]])


def toy_encode(x):
    return np.tanh(np.asarray(x, float) @ W)


def test_cache_returns_every_rows_code_and_encodes_each_combination_once():
    rng = np.random.default_rng(0)
    f = ToySampler().sample_factors(2000, rng)  # 120 combinations: most rows repeat
    cache = CodeCache(ToySampler(), toy_encode, chunk=7)
    assert np.array_equal(cache(f), toy_encode(f))
    assert cache.encoded == len(np.unique(f, axis=0))
    more = ToySampler().sample_factors(300, rng)
    assert np.array_equal(cache(more), toy_encode(more)) and cache.encoded == len(np.unique(np.concatenate([f, more]), axis=0))
    small = CodeCache(ToySampler(), toy_encode, max_bytes=8 * 2 * 10)  # room for 10 codes: it starts over, values unchanged
    assert np.array_equal(small(f), toy_encode(f)) and np.array_equal(small(more), toy_encode(more))


class SmallGridDSprites(DSprites):
    """dSprites drawn from 3 x 6 x 4 x 2 x 2 of its combinations, so that draws repeat often."""

    def sample_factors(self, n, rng):
        return super().sample_factors(n, rng) % np.array([3, 6, 4, 2, 2])


def test_sampling_scores_through_the_cache_are_bit_identical_to_encoding_every_row():
    from sslpipe.checkpoint import encode_images
    from sslpipe.methods.base import METHODS, MethodContext
    from sslpipe.models.backbones import BackboneConfig

    torch.manual_seed(0)
    source = SmallGridDSprites(build(DSprites.Params, {"resolution": 16}, "data.dsprites"), 0)
    cls = METHODS.get("random_init")
    method = cls(build(cls.Params, {}, "methods.random_init"), MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=4))).eval()

    def encode(images):
        return encode_images(method, images)

    def every_row(f):  # rendering and encoding each drawn row, in draw order, 4096 at a time
        return np.concatenate([np.asarray(encode(source.render(f[i:i + 4096])), np.float64) for i in range(0, len(f), 4096)])

    ctx = EvalContext(None, 0, "shape", sampler=source, encode=encode)
    kw = dict(batch_size=8, n_train=60, n_eval=40, seed=3)
    assert beta_vae_score(source, ctx.encode_factors, **kw) == beta_vae_score(source, every_row, **kw)
    assert factor_vae_score(source, ctx.encode_factors, n_var_est=200, **kw) == factor_vae_score(source, every_row, n_var_est=200, **kw)
    drawn = (60 + 40) * 2 * 8 + 200 + (60 + 40) * 8
    assert ctx._codes.encoded <= 3 * 6 * 4 * 2 * 2 < drawn  # each combination rendered and encoded at most once
