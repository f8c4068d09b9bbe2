"""The embed stage's file: a missing or damaged one is a one-line error with the stage to rerun."""
import numpy as np
import pytest

from sslpipe.core.errors import DataError
from sslpipe.evaluate.embeddings import Embeddings


def _emb():
    z = np.zeros((4, 2), np.float32)
    t = np.zeros((4, 1), np.int64)
    return Embeddings(z, t, z, t, ["shape"], ["shape"], [3])


def test_round_trip(tmp_path):
    path = tmp_path / "embeddings" / "dsprites" / "simclr.npz"
    _emb().save(path)
    back = Embeddings.load(path)
    assert back.target_names == ["shape"] and back.factor_sizes == [3] and back.train_z.shape == (4, 2)


def test_a_missing_embeddings_file_names_the_stage_to_run(tmp_path):
    path = tmp_path / "embeddings" / "dsprites" / "simclr.npz"
    with pytest.raises(DataError) as e:
        Embeddings.load(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "Fix: " in msg and "dvc repro embed@dsprites-simclr" in msg


@pytest.mark.parametrize("damage", ["garbage", "truncated", "incomplete"])
def test_a_damaged_embeddings_file_names_the_stage_to_rerun(tmp_path, damage):
    path = tmp_path / "embeddings" / "dsprites" / "simclr.npz"
    _emb().save(path)
    if damage == "garbage":
        path.write_bytes(b"not a zip")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-50])
    else:
        np.savez(path, train_z=np.zeros((4, 2)))  # a file of another version: fields missing
    with pytest.raises(DataError) as e:
        Embeddings.load(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "dvc repro -f embed@dsprites-simclr" in msg
