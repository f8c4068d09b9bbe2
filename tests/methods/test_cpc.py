"""CPC: patch codes see only their patch, the context only rows above, the loss goes down."""
import pytest
import torch

from sslpipe.models.backbones import BackboneConfig
from sslpipe.core.errors import ConfigError
import torch.nn.functional as F

from sslpipe.methods.cpc import PatchEncoder, RowCausalConv
from tests.methods.test_contrastive import assert_learns, make, shapes

SMALL = BackboneConfig(width=8, depth=2, code_dim=6)



def patch_grid(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Overlapping patches [B, G, G, C, size, size] of images [B, C, R, R] (G = (R - size) / stride + 1)."""
    b, c, r, _ = x.shape
    g = (r - size) // stride + 1
    cols = F.unfold(x, size, stride=stride)  # [B, C*size*size, G*G]
    return cols.transpose(1, 2).reshape(b, g, g, c, size, size)


def test_patch_grid_cuts_overlapping_patches():
    x = torch.arange(2 * 16 * 16, dtype=torch.float32).view(2, 1, 16, 16)
    p = patch_grid(x, 8, 4)
    assert p.shape == (2, 3, 3, 1, 8, 8)
    assert torch.equal(p[1, 2, 1, 0], x[1, 0, 8:16, 4:12])


@pytest.mark.parametrize("patch", [4, 8])
def test_patch_codes_equal_encoding_each_patch_alone(patch):
    torch.manual_seed(0)
    enc = PatchEncoder(1, patch, 8, 5)
    x = torch.rand(2, 1, 16, 16)
    codes = enc.codes(x)
    crops = patch_grid(x, patch, patch // 2)
    g = crops.shape[1]
    assert codes.shape == (2, 5, g, g)
    for i, j in [(0, 0), (1, 2), (g - 1, g - 1)]:
        alone = enc.codes(crops[:, i, j])  # one patch is a 1x1 grid
        assert torch.allclose(alone[:, :, 0, 0], codes[:, :, i, j], atol=1e-5)
    assert torch.allclose(enc(x), codes.mean(dim=(2, 3)))


def test_context_at_a_row_ignores_the_rows_below():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(RowCausalConv(3, 4, 3), torch.nn.ReLU(), RowCausalConv(4, 4, 3))
    z = torch.randn(1, 3, 6, 6)
    changed = z.clone()
    changed[:, :, 4:] = torch.randn(1, 3, 2, 6)  # rows 4 and 5
    a, b = conv(z), conv(changed)
    assert a.shape == z.shape[:1] + (4, 6, 6)
    assert torch.equal(a[:, :, :4], b[:, :, :4]) and not torch.allclose(a[:, :, 4:], b[:, :, 4:])


def test_cpc_encodes_to_code_dim_and_learns():
    m = make("cpc", SMALL, 16, patch_size=4)
    x = shapes(8)
    loss, logs = m.loss(x)
    assert torch.isfinite(loss) and set(logs) == {"loss_step1", "loss_step2"}
    assert m.views(x).shape == x.shape
    m.eval()
    assert m.encode(x).shape == (8, SMALL.code_dim)
    assert_learns(make("cpc", SMALL, 16, patch_size=4), shapes(32))


@pytest.mark.parametrize("params, key", [({"patch_size": 6}, "patch_size"), ({"patch_size": 8, "steps_ahead": 3}, "steps_ahead")])
def test_cpc_refuses_grids_it_cannot_use(params, key):
    with pytest.raises(ConfigError, match=key):
        make("cpc", SMALL, 16, **params)
