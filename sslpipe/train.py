"""The one training loop shared by every method.

Device-agnostic (CPU here; CUDA with AMP, pinned memory and non-blocking copies where
present), warm-up + cosine schedule, and a resumable checkpoint written atomically every
``checkpoint_every`` steps: model, optimizer, scheduler, AMP scaler, step, RNG states and
the rows logged so far, as tensors and plain data only (read back without unpickling code).
The data stream is a deterministic function of the seed, so a resumed run replays it to the
batch it stopped at and ends bit-identical to an uninterrupted run on CPU; the logged rows
before the stop are handed to ``on_log`` again, so the caller sees the whole training curve.
A resume file that cannot be used (damaged, refused, from another model) is reported and
training starts from step 0: it never blocks a rerun.
"""
from __future__ import annotations

import copy
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from .core.schema import check, non_negative, one_of, positive
from .data.loader import batch_len, to_device
from .data.prefetch import Prefetcher
from .core.errors import DataError
from .core.io import load_torch, save_torch
from .core.runtime import check_device
from .methods.base import Method


@dataclass
class TrainConfig:
    batch_size: int = check(256, positive, help="use a batch size of at least 1.")
    steps: int = check(450, non_negative, help="default steps of every method (methods.<name>.steps overrides); the generative family uses it.")
    step_scale: float = check(1.0, positive, help="multiplies every method's steps (smoke preset: 0.03; paper preset: 1000); methods trained for epochs (text) are sized by their data instead.")
    lr: float = check(1e-3, positive, help="use a positive learning rate such as 0.001.")
    weight_decay: float = check(0.0, non_negative)
    optimizer: str = check("adam", one_of("adam", "adamw", "sgd"))
    schedule: str = check("cosine", one_of("cosine", "constant"))
    warmup_steps: int = check(10, non_negative)
    shuffle_buffer: int = check(8, positive, help="number of stored record chunks mixed for shuffling.")
    log_every: int = check(10, positive)
    checkpoint_every: int = check(100, positive)
    amp: bool = check(True, help="mixed precision on CUDA; ignored on CPU.")
    threads: int = check(2, non_negative, help="CPU threads (0 = torch default).")
    device: str = check("auto", one_of("auto", "cpu", "cuda", "mps"))
    system_metrics: bool = check(True, help="log the CPU, memory, disk and network use (and GPU where present) of the pretrain runs that train or fit to MLflow as system/* metrics.")

    def validate(self, key: str) -> None:
        check_device(self.device, f"{key}.device")  # a device the machine lacks fails at validation


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    opts = {
        "adam": lambda: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
        "adamw": lambda: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
        "sgd": lambda: torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay),
    }
    return opts[cfg.optimizer]()


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up for ``warmup_steps``, then constant or cosine decay to 0 at ``steps``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant" or cfg.steps <= cfg.warmup_steps:
        return 1.0
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    final_loss: float
    images_per_s: float
    seconds: float
    #: every logged row of the run as (step, logs), those before a resume included
    history: list[tuple[int, dict]] = field(default_factory=list)
    #: how many of them came from the resume checkpoint (handed to ``on_log`` again first)
    replayed: int = 0
    #: seconds the loop waited for its batches after the first (reading the shards and the copy, or the prefetcher's queue)
    data_wait_seconds: float = 0.0
    #: seconds until the first batch was there (the shuffle buffer filling once per run)
    first_batch_seconds: float = 0.0

    @property
    def data_wait_fraction(self) -> float:
        """The share of the loop's time spent waiting for batches after the first (under 0.05: the data path keeps up)."""
        return self.data_wait_seconds / max(self.seconds, 1e-9)


def _rng_state(device: torch.device) -> dict:
    """Every RNG state as tensors and plain values (a weights-only load reads them back)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _parse_rng(state: dict) -> dict:
    """The stored RNG states in the types the generators take (raises on a malformed state)."""
    name, keys, pos, has_gauss, gauss = state["numpy"]
    version, internal, gauss_next = state["python"]
    if state["torch"].dtype != torch.uint8:
        raise TypeError("the torch RNG state is not a byte tensor")
    return {"torch": state["torch"], "numpy": (str(name), keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)),
            "python": (version, tuple(internal), gauss_next), **({"cuda": state["cuda"]} if "cuda" in state else {})}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(value):
    """A logged value as a plain number where it is one (numpy and 0-d tensor scalars included)."""
    if isinstance(value, (np.generic, torch.Tensor)) and np.size(value) == 1:
        return value.item()
    return value


def _resume(path: Path, key: str, method: Method, opt, sched, scaler):
    """Load the checkpoint at ``path`` into the training objects: (step, history, rng), or None with the objects untouched.

    None when there is no file, it belongs to another key, or it cannot be used (damaged,
    refused by the data-only loader, or not fitting this model): then a warning says so and
    training starts from step 0, overwriting the file at the next checkpoint.
    """
    if not path.exists():
        return None
    try:
        state = load_torch(path, fix="none needed.")  # on the CPU: RNG states must be CPU tensors
    except DataError as e:
        print(f"warning: ignoring the resume file {path} ({str(e).split('. Fix:')[0].removeprefix(f'{path}: ')}); "
              "training from step 0", file=sys.stderr)
        return None
    if not isinstance(state, dict) or state.get("key") != key:
        print(f"note: the resume file {path} was written for other parameters or data; training from step 0", file=sys.stderr)
        return None
    fresh = copy.deepcopy((method.state_dict(), method.extra_state(), opt.state_dict(), sched.state_dict(), scaler.state_dict()))
    try:
        step, rng = int(state["step"]), _parse_rng(state["rng"])
        history = [(int(s), dict(logs)) for s, logs in state.get("history", [])]
        method.load_state_dict(state["model"])
        method.load_extra_state(state["extra"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
        model, extra, o, s, sc = fresh
        method.load_state_dict(model)
        method.load_extra_state(extra)
        opt.load_state_dict(o)
        sched.load_state_dict(s)
        scaler.load_state_dict(sc)
        problem = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        print(f"warning: ignoring the resume file {path} (it does not fit this model: {problem}); training from step 0", file=sys.stderr)
        return None
    return step, history, rng


def fit_gradient(
    method: Method,
    cfg: TrainConfig,
    batches: Iterator[np.ndarray],
    device: torch.device,
    *,
    resume_path: Path | None = None,
    resume_key: str = "",
    on_log: Callable[[int, dict], None] | None = None,
    stop_after: int | None = None,
    prefetch: bool | None = None,
) -> TrainResult:
    """Train ``method`` for ``cfg.steps`` steps on the batch stream; resume from ``resume_path`` if its key matches.

    ``on_log(step, logs)`` gets a row every ``log_every`` steps and at the last step.  After
    a resume it first gets the rows logged before the stop again (same steps, same values,
    in order), so whatever it writes holds the whole curve; ``TrainResult.history`` is that
    whole curve and ``TrainResult.replayed`` the number of rows that were replayed.
    ``stop_after`` stops early after that many steps (leaving the resume checkpoint, as a
    kill after that step would), which is how tests simulate a killed run.
    ``prefetch`` reads and copies the next batches on a thread while a step trains
    (:mod:`sslpipe.data.prefetch`; default: on CUDA, where the device would otherwise idle while
    the host reads); the batches are the same either way.  ``TrainResult.data_wait_seconds`` is
    the time the loop spent waiting for its batches after the first (``first_batch_seconds``:
    the shuffle buffer filling, paid once per run, before any step it could overlap).
    """
    method.to(device).train()
    opt = make_optimizer(method.optim_parameters(), cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start, history = 0, []
    resumed = _resume(resume_path, resume_key, method, opt, sched, scaler) if resume_path is not None else None
    if resumed is not None:
        start, history, rng = resumed
        for _ in range(start):  # replay the deterministic stream to where the run stopped
            next(batches)
        _set_rng_state(rng)
        for step, logs in history:  # the curve before the stop, as it was logged then
            if on_log:
                on_log(step, logs)
        print(f"resumed from step {start} ({resume_path})", file=sys.stderr)
    replayed = len(history)

    def checkpoint(step: int) -> None:
        if resume_path is not None:
            save_torch(resume_path, {
                "key": resume_key, "step": step, "model": method.state_dict(), "extra": method.extra_state(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                "rng": _rng_state(device), "history": [[s, {k: _plain(v) for k, v in logs.items()}] for s, logs in history],
            })

    loss_value, seen, t0, waited, first_wait = float("nan"), 0, time.perf_counter(), 0.0, 0.0
    t_log, seen_log = t0, 0
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    prefetcher = Prefetcher(batches, device) if (device.type == "cuda" if prefetch is None else prefetch) and end > start else None
    fetch = prefetcher.__next__ if prefetcher is not None else lambda: to_device(next(batches), device)
    bar = tqdm(range(start, end), desc=f"{method.name}", file=sys.stderr, mininterval=2.0, disable=None)
    try:
        for step in bar:
            t_wait = time.perf_counter()
            x = fetch()
            if step == start:
                first_wait = time.perf_counter() - t_wait
            else:
                waited += time.perf_counter() - t_wait
            with torch.autocast(device.type, enabled=use_amp):
                loss, logs = method.loss(x)
            loss_value = loss.item()  # the step's one host-device synchronisation
            if not math.isfinite(loss_value):
                from .core.errors import SslpipeError

                raise SslpipeError(f"{method.name}: loss became {loss_value} at step {step}. Fix: lower the learning rate (train.lr or methods.{method.name}.lr).")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            method.on_step_end(step)
            seen += batch_len(x)
            seen_log += batch_len(x)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.perf_counter()
                rate = seen_log / max(now - t_log, 1e-9)
                t_log, seen_log = now, 0
                bar.set_postfix(loss=f"{loss_value:.4f}")
                row = {"loss": loss_value, "lr": opt.param_groups[0]["lr"], "images_per_s": rate, **logs}
                history.append((done, row))
                if on_log:
                    on_log(done, row)
            if done % cfg.checkpoint_every == 0 and done < end:
                checkpoint(done)
    finally:
        bar.close()
        if prefetcher is not None:
            prefetcher.close()
    if stop_after is not None and end < cfg.steps:
        checkpoint(end)
    seconds = time.perf_counter() - t0
    return TrainResult(end, start, loss_value, seen / max(seconds, 1e-9), seconds, history, replayed, waited, first_wait)
