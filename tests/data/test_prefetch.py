"""The prefetcher hands the trainer the stream's own batches, in order, and stops cleanly."""
import threading
import time

import numpy as np
import pytest
import torch

from sslpipe.data.loader import to_device
from sslpipe.data.prefetch import Prefetcher

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batches(n=None, fail_at=None, read=None):
    rng = np.random.default_rng(0)
    i = 0
    while n is None or i < n:
        if i == fail_at:
            raise OSError("shard 3 is truncated")
        if read is not None:
            read.append(i)
        yield rng.integers(0, 256, size=(4, 1, 8, 8), dtype=np.uint8)
        i += 1


@pytest.mark.parametrize("device", DEVICES)
def test_the_prefetched_batches_are_the_streams_own_in_order(device):
    device = torch.device(device)
    expected = [to_device(b, device) for b in _batches(7)]
    with Prefetcher(_batches(7), device, depth=3) as got:
        out = list(got)
        with pytest.raises(StopIteration):  # an ended stream stays ended
            next(got)
    assert len(out) == 7
    for a, b in zip(out, expected):
        assert a.device.type == device.type and a.dtype == torch.float32 and torch.equal(a, b)


def test_token_batches_arrive_as_int64_tensors():
    def tokens():
        for i in range(3):
            yield {"ids": np.full((2, 5), i, dtype=np.int32)}

    with Prefetcher(tokens(), torch.device("cpu")) as got:
        out = list(got)
    assert [int(b["ids"][0, 0]) for b in out] == [0, 1, 2] and out[0]["ids"].dtype == torch.int64


def test_an_error_of_the_stream_is_raised_after_the_batches_before_it():
    with Prefetcher(_batches(fail_at=3), torch.device("cpu")) as got:
        for _ in range(3):
            next(got)
        with pytest.raises(OSError, match="shard 3 is truncated"):
            next(got)
        with pytest.raises(OSError):  # and again, not a hang
            next(got)


def test_it_reads_at_most_depth_ahead_and_close_stops_the_thread():
    read: list[int] = []
    p = Prefetcher(_batches(read=read), torch.device("cpu"), depth=2)
    next(p)
    time.sleep(0.3)
    # one handed out, two queued, one held by the blocked put
    assert len(read) <= 4
    p.close()
    assert not p._thread.is_alive()
    assert not any(t.name == "sslpipe-prefetch" and t.is_alive() for t in threading.enumerate())


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(_batches(1), torch.device("cpu"), depth=0)
