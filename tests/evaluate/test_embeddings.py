"""The evaluate stage's embeddings file: a missing or damaged one is a one-line error with the stage to rerun."""
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
    assert "\n" not in msg and str(path) in msg and "Fix: " in msg and "dvc repro evaluate@dsprites-simclr" in msg


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
    assert "\n" not in msg and str(path) in msg and "dvc repro -f evaluate@dsprites-simclr" in msg


def test_word_embeddings_round_trip_and_either_kind_loads_by_its_file(tmp_path):
    from sslpipe.evaluate.embeddings import WordEmbeddings, load_embeddings

    rng = np.random.default_rng(0)
    w = WordEmbeddings(rng.normal(size=(7, 3)).astype(np.float32), np.arange(7), np.array([1, 2]), np.ones((2, 3), np.float32),
                       np.array([3]), np.zeros((1, 3), np.float32))
    w.save(tmp_path / "embeddings" / "grammar" / "skipgram.npz")
    back = load_embeddings(tmp_path / "embeddings" / "grammar" / "skipgram.npz")
    assert isinstance(back, WordEmbeddings) and back.modality == "text"
    assert all(np.array_equal(getattr(w, k), getattr(back, k)) for k in ("word_vectors", "word_occurrences", "train_ids", "train_z", "test_ids", "test_z"))
    _emb().save(tmp_path / "img.npz")
    assert "modality" not in np.load(tmp_path / "img.npz").files  # image files are as before
    assert isinstance(load_embeddings(tmp_path / "img.npz"), Embeddings)
    with pytest.raises(DataError, match=r"unreadable embeddings .*it holds text embeddings, not image.*Fix: "):
        Embeddings.load(tmp_path / "embeddings" / "grammar" / "skipgram.npz")  # a text file is not image embeddings
