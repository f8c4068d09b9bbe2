"""The tiny ViT backbone: registry and signature, token pieces MAE uses, position embeddings, decoder."""
import pytest
import torch

from sslpipe.models.backbones import BackboneConfig
from sslpipe.models.backbones import BACKBONES, build_backbone
from sslpipe.models.vit import MaskedTokenDecoder, TinyViT, sincos_position_embedding


def tiny(channels=1, res=16, code_dim=6):
    torch.manual_seed(0)
    return TinyViT(channels, res, 8, 2, code_dim).eval()


def test_registered_with_the_conv_signature():
    assert BACKBONES.get("vit") is TinyViT
    m = build_backbone(BackboneConfig(kind="vit", width=8, depth=2, code_dim=5), 3, 32)
    assert isinstance(m, TinyViT) and m.patch_size == 4 and m.num_patches == 64 and m.dim == 16
    assert m(torch.rand(4, 3, 32, 32)).shape == (4, 5)


def test_forward_is_pooled_encoding_of_all_tokens():
    m = tiny()
    x = torch.rand(3, 1, 16, 16)
    tokens = m.embed(x)
    assert tokens.shape == (3, 64, 16)
    with torch.no_grad():
        assert torch.allclose(m(x), m.pool(m.encode_tokens(tokens)), atol=1e-6)


def test_encode_tokens_takes_any_subset_and_is_permutation_equivariant():
    m = tiny()
    tokens = m.embed(torch.rand(2, 1, 16, 16))
    perm = torch.randperm(64)[:20]
    with torch.no_grad():
        sub = m.encode_tokens(tokens[:, perm])
        again = m.encode_tokens(tokens[:, perm.flip(0)])
    assert sub.shape == (2, 20, 16)
    assert torch.allclose(sub.flip(1), again, atol=1e-5)  # positions live in the embedding only


def test_patch_embedding_is_local():
    m = tiny()
    x = torch.rand(1, 1, 16, 16)
    y = x.clone()
    y[:, :, 2:4, 4:6] += 1  # patch side 2: only patch (1, 2) changes
    changed = (m.embed(x) - m.embed(y)).abs().sum(-1)[0] > 0
    assert changed.nonzero().flatten().tolist() == [1 * 8 + 2]


def test_sincos_position_embedding():
    pe = sincos_position_embedding(8, 16)
    assert pe.shape == (64, 16) and pe.abs().max() <= 1
    assert torch.allclose(pe[0], torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 4 + [1.0] * 4))
    assert torch.equal(pe[3, :8], pe[0, :8]) and torch.equal(pe[3, 8:], pe[11, 8:])  # first half: row; second: column
    assert torch.cdist(pe, pe).fill_diagonal_(1).min() > 0.1  # every position distinct
    with pytest.raises(ValueError):
        sincos_position_embedding(8, 10)


def test_resolution_must_fit_the_patch_grid():
    with pytest.raises(ValueError, match="multiple of 8"):
        TinyViT(1, 20, 8, 1, 4)


def test_decoder_puts_tokens_back_in_place():
    torch.manual_seed(0)
    dec = MaskedTokenDecoder(enc_dim=16, dim=8, depth=1, grid=8, patch_dim=4).eval()
    visible = torch.rand(2, 16, 16)
    shuffle = torch.stack([torch.randperm(64) for _ in range(2)])
    restore = shuffle.argsort(1)
    out = dec(visible, restore)
    assert out.shape == (2, 64, 4)
    # with blocks removed, each output depends on its own token only: masked places all equal
    dec.blocks = torch.nn.ModuleList()
    out = dec(visible, restore)
    masked = restore >= 16
    for b in range(2):
        rows = out[b, masked[b]] - dec.out(dec.norm(dec.mask_token[0, 0] + dec.pos_embed[0, masked[b]]))
        assert rows.abs().max() < 1e-5
        kept = shuffle[b, :16]
        assert torch.allclose(out[b, kept], dec.out(dec.norm(dec.proj(visible[b]) + dec.pos_embed[0, kept])), atol=1e-5)
