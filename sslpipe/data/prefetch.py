"""Prefetch: the next batches are read and copied to the device on a thread while the current one trains.

The trainer's loop is serial: without this it reads a batch from the shards (tar parsing,
decoding, the shuffle buffer), copies it to the device, then trains on it, so the device idles
while the host reads. :class:`Prefetcher` runs the batch stream and the copy ``depth`` batches
ahead on one background thread, as ``torch.utils.data.DataLoader(pin_memory=True)`` with
workers and NVIDIA's ``data_prefetcher`` (apex ImageNet example) do; on CUDA the copy is pinned
and non-blocking on a side stream, and the trainer's stream waits for that copy's event (the
CUDA semantics note: "use the tensor on another stream" needs ``record_stream``). One thread
reads the stream in its own order, so the batches and their order are exactly the stream's: a
run trains on the same data with or without it.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

import torch

from .loader import to_device

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _tensors(x):
    return x.values() if isinstance(x, dict) else (x,)


class Prefetcher:
    """Iterate device batches of ``batches`` (numpy batches, as ``to_device`` takes them), ``depth`` ahead.

    An error of the stream is raised by the ``next`` that would have returned its batch.
    ``close`` (or leaving the ``with`` block) stops the thread.
    """

    def __init__(self, batches: Iterator, device: torch.device, depth: int = 2):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.device = device
        self._batches = batches
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self._thread = threading.Thread(target=self._fill, daemon=True, name="sslpipe-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self) -> None:
        try:
            for batch in self._batches:
                if self._stream is not None:
                    with torch.cuda.device(self.device), torch.cuda.stream(self._stream):
                        x = to_device(batch, self.device)
                        event = torch.cuda.Event()
                        event.record(self._stream)
                else:
                    x, event = to_device(batch, self.device), None
                if not self._put((x, event)):
                    return
            self._put(_END)
        except BaseException as e:  # handed to the trainer, which raises it
            self._put(_Failure(e))

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # every later next() ends too
            raise StopIteration
        if isinstance(item, _Failure):
            self._queue.put(item)
            raise item.error
        x, event = item
        if event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            for t in _tensors(x):
                t.record_stream(current)  # freed only once the trainer's stream is done with it
        return x

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a put in progress
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
