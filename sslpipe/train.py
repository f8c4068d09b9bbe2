"""The one training loop shared by every method.

Device-agnostic (CPU here; CUDA with AMP, pinned memory and non-blocking copies where
present), warm-up + cosine schedule, and a resumable checkpoint written atomically every
``checkpoint_every`` steps: model, optimizer, scheduler, AMP scaler, step and RNG
states.  The data stream is a deterministic function of the seed, so a resumed run
replays it to the batch it stopped at and ends bit-identical to an uninterrupted run on CPU.
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from .core.schema import check, non_negative, one_of, positive
from .data.loader import to_device
from .core.io import save_torch
from .methods.base import Method


@dataclass
class TrainConfig:
    batch_size: int = check(256, positive, help="use a batch size of at least 1.")
    steps: int = check(450, non_negative, help="default steps of every method (methods.<name>.steps overrides); the generative family uses it.")
    step_scale: float = check(1.0, positive, help="multiplies every method's steps (smoke preset: 0.03; paper preset: 1000).")
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


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
) -> TrainResult:
    """Train ``method`` for ``cfg.steps`` steps on the batch stream; resume from ``resume_path`` if its key matches.

    ``stop_after`` stops early after that many steps (leaving the resume checkpoint), which
    is how tests simulate a killed run.
    """
    method.to(device).train()
    opt = make_optimizer(method.optim_parameters(), cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start = 0
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location=device, weights_only=False)
        if state.get("key") == resume_key:
            method.load_state_dict(state["model"])
            method.load_extra_state(state["extra"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            start = state["step"]
            for _ in range(start):  # replay the deterministic stream to where the run stopped
                next(batches)
            _set_rng_state(state["rng"])
            print(f"resumed from step {start} ({resume_path})", file=sys.stderr)

    def checkpoint(step: int) -> None:
        if resume_path is not None:
            save_torch(resume_path, {
                "key": resume_key, "step": step, "model": method.state_dict(), "extra": method.extra_state(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                "rng": _rng_state(device),
            })

    loss_value, seen, t0 = float("nan"), 0, time.perf_counter()
    t_log, seen_log = t0, 0
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    bar = tqdm(range(start, end), desc=f"{method.name}", file=sys.stderr, mininterval=2.0, disable=None)
    for step in bar:
        x = to_device(next(batches), device)
        with torch.autocast(device.type, enabled=use_amp):
            loss, logs = method.loss(x)
        if not torch.isfinite(loss):
            from .core.errors import SslpipeError

            raise SslpipeError(f"{method.name}: loss became {loss.item()} at step {step}. Fix: lower the learning rate (train.lr or methods.{method.name}.lr).")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        method.on_step_end(step)
        loss_value = loss.item()
        seen += x.shape[0]
        seen_log += x.shape[0]
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            now = time.perf_counter()
            rate = seen_log / max(now - t_log, 1e-9)
            t_log, seen_log = now, 0
            bar.set_postfix(loss=f"{loss_value:.4f}")
            if on_log:
                on_log(done, {"loss": loss_value, "lr": opt.param_groups[0]["lr"], "images_per_s": rate, **logs})
        if done % cfg.checkpoint_every == 0 and done < end:
            checkpoint(done)
    bar.close()
    if stop_after is not None and end < cfg.steps:
        checkpoint(end)
    seconds = time.perf_counter() - t0
    return TrainResult(end, start, loss_value, seen / max(seconds, 1e-9), seconds)
