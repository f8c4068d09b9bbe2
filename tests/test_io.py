"""Atomic outputs: ordinary permissions, a blocked path is a clear error before anything is written."""
import os
import stat

import pytest
import torch

from sslpipe.core.errors import DataError
from sslpipe.core.io import atomic_dir, atomic_path, check_output_paths, load_torch, save_npz, save_torch, write_json


@pytest.fixture
def umask():
    def set_(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_
    os.umask(old)


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)],
                         ids=["umask022", "umask002", "umask077"])
def test_outputs_get_the_permissions_of_ordinary_files(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_json(tmp_path / "m.json", {"a": 1})
    save_torch(tmp_path / "model.pt", {"w": torch.ones(2)})
    save_npz(tmp_path / "e.npz", z=torch.zeros(2).numpy())
    with atomic_dir(tmp_path / "shards") as d:
        (d / "train-00000.tar").write_bytes(b"x")
    for name in ("m.json", "model.pt", "e.npz"):
        assert _mode(tmp_path / name) == file_mode, name
    assert _mode(tmp_path / "shards") == dir_mode


def test_replacing_an_output_keeps_ordinary_permissions(tmp_path, umask):
    umask(0o022)
    for _ in range(2):
        write_json(tmp_path / "m.json", {"a": 1})
        with atomic_dir(tmp_path / "shards") as d:
            (d / "x").write_text("1")
    assert _mode(tmp_path / "m.json") == 0o644 and _mode(tmp_path / "shards") == 0o755


@pytest.mark.parametrize("writer", ["file", "dir"])
def test_a_file_in_the_way_of_an_output_is_named_before_anything_is_written(tmp_path, writer):
    (tmp_path / "models").write_text("stray file")  # e.g. a file named like an output directory
    out = tmp_path / "models" / "dsprites" / "simclr" / ("model.pt" if writer == "file" else "shards")
    ran = []
    with pytest.raises(DataError) as e:
        with (atomic_path if writer == "file" else atomic_dir)(out):
            ran.append(True)
    msg = str(e.value)
    assert not ran and "\n" not in msg and f"{tmp_path / 'models'} is a file" in msg and "Fix:" in msg
    assert sorted(os.listdir(tmp_path)) == ["models"]


def test_an_output_file_blocked_by_a_directory_is_named(tmp_path):
    (tmp_path / "m.json").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        write_json(tmp_path / "m.json", {})
    with pytest.raises(DataError, match="is a directory"):
        check_output_paths(tmp_path / "m.json")


def test_output_paths_can_be_checked_before_the_work(tmp_path):
    (tmp_path / "logs").write_text("")
    check_output_paths(tmp_path / "models" / "a" / "model.pt", tmp_path / "metrics.json")  # creatable: fine
    with pytest.raises(DataError, match="logs is a file"):
        check_output_paths(tmp_path / "models" / "model.pt", tmp_path / "logs" / "a" / "train.csv")
    assert not (tmp_path / "models").exists()


def test_save_torch_writes_the_same_bytes_whatever_the_file_name(tmp_path):
    obj = {"w": torch.arange(6.0).reshape(2, 3), "meta": {"name": "x", "sizes": [1, 2]}}
    save_torch(tmp_path / "a.pt", obj)
    save_torch(tmp_path / "sub" / "b.pt", obj)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "b.pt").read_bytes()
    assert torch.equal(load_torch(tmp_path / "a.pt", fix="rerun.")["w"], obj["w"])


def test_load_torch_names_a_missing_file_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"missing.*Fix: rerun it\.$"):
        load_torch(tmp_path / "nope.pt", fix="rerun it.")
