"""Model files: loaded as data only (never code), every method round-trips, bad files are one-line errors."""
import struct
import zipfile

import pytest
import torch

from sslpipe.checkpoint import load_method, save_method
from sslpipe.train import TrainConfig
from sslpipe.core.errors import DataError
from sslpipe.methods.base import METHODS
from sslpipe.train import fit_gradient
from tests.conftest import method_inputs, tiny_method, write_crafted_torch_file


def _trained(name: str, tmp_path, **params):
    """A tiny method after two steps of the shared loop (optimizer, momentum and auxiliary state filled in)."""
    torch.manual_seed(0)
    method = tiny_method(name, **params)
    stream, fit_input, _ = method_inputs(method)
    if method.trainable:
        cfg = TrainConfig(batch_size=8, steps=4, log_every=1, checkpoint_every=1, warmup_steps=0, threads=1)
        fit_gradient(method, cfg, stream, torch.device("cpu"), resume_path=tmp_path / "resume.pt", resume_key="k", stop_after=2)
    elif method.fit_samples:
        method.fit(fit_input)
    return method


CASES = ([(m, {}) for m in METHODS.names()] + [("inpainting", {"adversarial_weight": 0.001})]
         + [("random_init", {"modality": "text"})])


@pytest.mark.parametrize("name,params", CASES, ids=[m + "".join(f"-{v}" if k == "modality" else "-adversarial" for k, v in p.items()) for m, p in CASES])
def test_every_method_saves_and_loads_as_plain_data(tmp_path, name, params):
    method = _trained(name, tmp_path, **params)
    path = tmp_path / "models" / "toy" / name / "model.pt"
    save_method(path, method, dataset="toy")
    torch.load(path, weights_only=True)  # nothing in a model file needs unpickling code
    if method.trainable:
        torch.load(tmp_path / "resume.pt", weights_only=True)  # nor in a resume checkpoint
    loaded = load_method(path)
    for (k, a), b in zip(method.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert type(loaded.ctx) is type(method.ctx) and loaded.ctx == method.ctx  # the text context (counts) too
    x = method_inputs(method)[2]
    with torch.no_grad():
        assert torch.equal(method.eval().encode(x), loaded.encode(x))


def test_a_crafted_model_file_runs_no_code(tmp_path):
    path = tmp_path / "models" / "dsprites" / "simclr" / "model.pt"
    path.parent.mkdir(parents=True)
    method = tiny_method("simclr")
    marker = tmp_path / "pwned"
    write_crafted_torch_file(path, marker, method="simclr", params={}, state_dict=method.state_dict())
    with pytest.raises(DataError) as e:
        load_method(path)
    assert not marker.exists(), "loading a model file ran code from it"
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "(exec)" in msg and "could run code" in msg
    assert "Fix:" in msg and "dvc repro -f pretrain@dsprites-simclr" in msg


def test_a_file_that_is_not_a_model_is_a_one_line_error(tmp_path):
    path = tmp_path / "models" / "dsprites" / "simclr" / "model.pt"
    path.parent.mkdir(parents=True)
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n")  # e.g. an LFS pointer
    with pytest.raises(DataError) as e:
        load_method(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "not a PyTorch" in msg and "dvc repro -f pretrain@dsprites-simclr" in msg


def _flip_tensor_byte(path):
    """Change one byte inside the first tensor record (a bit flip on disk or in transfer)."""
    data = bytearray(path.read_bytes())
    info = next(i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename and i.file_size > 8)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 3] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["bitflip", "truncated"])
def test_a_damaged_model_file_is_detected(tmp_path, damage):
    path = tmp_path / "models" / "dsprites" / "ae" / "model.pt"
    save_method(path, tiny_method("ae"))
    if damage == "bitflip":
        _flip_tensor_byte(path)  # torch.load alone returns the wrong weights silently
    else:
        path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError) as e:
        load_method(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "dvc repro -f pretrain@dsprites-ae" in msg


def test_two_saves_of_the_same_model_are_byte_identical(tmp_path):
    a, b = tmp_path / "a" / "model.pt", tmp_path / "b" / "other.pt"
    torch.manual_seed(0)
    save_method(a, tiny_method("vae"), dataset="toy")
    torch.manual_seed(0)
    save_method(b, tiny_method("vae"), dataset="toy")
    assert a.read_bytes() == b.read_bytes()


IMAGE_METHODS = [m for m in METHODS.names() if METHODS.get(m).modality in ("image", "any")]


def test_every_image_encoder_round_trips_as_an_mlflow_model(tmp_path):
    """What pretrain logs for users: the pytorch flavour pickles an ImageEncoder as the model file's
    plain data and rebuilds it on load, giving the codes the evaluate stage computes (uint8 and float input)."""
    import mlflow.pytorch

    from sslpipe.checkpoint import ImageEncoder, encode_images
    from sslpipe.tracking import MODEL_FORMAT

    for name in IMAGE_METHODS:
        torch.manual_seed(0)
        method = tiny_method(name)  # untrained weights rebuild alike; the fitted baselines need their fit (extra state)
        if not method.trainable and method.fit_samples:
            method.fit(method_inputs(method)[1])
        (tmp_path / name).mkdir()
        images = (torch.rand(5, method.ctx.channels, 32, 32) * 255).to(torch.uint8)
        mlflow.pytorch.save_model(ImageEncoder(method), str(tmp_path / name / "model"), serialization_format=MODEL_FORMAT,
                                  pip_requirements=[])  # no requirements inference (a subprocess per model)
        loaded = mlflow.pytorch.load_model(str(tmp_path / name / "model"))
        with torch.no_grad():
            codes = loaded(images).numpy()
            assert torch.equal(loaded(images), loaded(images.float() / 255)), name
        assert (codes == encode_images(method, images.numpy())).all(), name
