import numpy as np

from sslpipe.evaluate.lowshot import labelled_subset, low_shot


def test_labelled_subset_covers_classes_and_has_the_requested_size():
    y = np.repeat(np.arange(10), 50)
    idx = labelled_subset(y, 10, np.random.default_rng(0))
    assert len(idx) == 10 == len(set(idx)) and set(y[idx]) == set(range(10))
    assert len(labelled_subset(y, 3, np.random.default_rng(0))) == 3


def test_low_shot_keys_sizes_and_efficiency(codes):
    ftr, fte = codes["factors"]
    ztr, zte = codes["disentangled"]
    out = low_shot(ztr, ftr[:, 2], zte, fte[:, 2], sizes=(10, 100, 1000, 10_000), seed=0)
    acc = {f"{k}@{n}" for k in ("lr", "gbt") for n in (10, 100, 1000)}
    assert set(out) == acc | {f"{k}/se" for k in acc} | {"efficiency"}  # 10,000 > 3,000 codes: skipped
    assert out["lr@1000"] > 0.9 and out["lr@1000"] >= out["lr@10"]
    assert out["efficiency"] == out["lr@100"] / out["lr@1000"]
    rand = low_shot(*codes["random"][:1], ftr[:, 2], codes["random"][1], fte[:, 2], sizes=(100, 1000))
    assert rand["lr@1000"] < 0.3  # 6 classes: chance is 1/6
