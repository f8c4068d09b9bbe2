"""Held-out accuracy of the video pretext tasks' own heads (frame order, arrow of time).

Pure functions of a scoring function and clips, so they are tested with oracles: a task
head that learnt its task scores well above 0.5 on held-out clips; one that did not, or a
dataset whose dynamics hide the answer (reversible motion for the arrow of time), scores
about 0.5.  :func:`task_metrics` applies every task whose head a method has.
"""
from __future__ import annotations

import numpy as np
import torch

from ..augment.video import gather_frames, order_tuples


def _batches(clips: torch.Tensor, batch_size: int):
    for start in range(0, len(clips), batch_size):
        yield clips[start:start + batch_size]


@torch.no_grad()
def arrow_of_time_accuracy(logit_fn, clips: torch.Tensor, batch_size: int = 64) -> float:
    """Accuracy of 'forwards' logits on every clip played forwards (> 0) and backwards (<= 0): balanced, chance 0.5."""
    right = []
    for c in _batches(clips, batch_size):
        right.append((logit_fn(c) > 0).float())
        right.append((logit_fn(c.flip(1)) <= 0).float())
    return float(torch.cat(right).mean())


@torch.no_grad()
def frame_order_accuracy(logit_fn, clips: torch.Tensor, seed: int = 0, negatives: float = 0.5, motion_threshold: float = 0.0,
                         batch_size: int = 64) -> float:
    """Accuracy of 'in order' logits on tuples drawn as in training (seeded; ``negatives`` of them shuffled)."""
    g = torch.Generator(device=clips.device).manual_seed(seed)
    right = []
    for c in _batches(clips, batch_size):
        idx, labels, valid = order_tuples(c, negatives, motion_threshold, generator=g)
        pred = (logit_fn(gather_frames(c, idx)) > 0).float()
        right.append((pred == labels)[valid].float())
    right = torch.cat(right)
    return float(right.mean()) if len(right) else float("nan")


#: metric key -> (the method's head that scores it, the accuracy function)
TASKS = {
    "task/arrow_of_time": ("clip_logits", arrow_of_time_accuracy),
    "task/frame_order": ("tuple_logits", frame_order_accuracy),
}


def task_metrics(method, clips: np.ndarray, device: torch.device | str = "cpu") -> dict[str, float]:
    """Held-out task accuracy of every task head ``method`` has, on uint8 clips [N, T, C, R, R]."""
    x = torch.from_numpy(clips).to(device).float().div_(255.0)
    was = method.training
    method.eval()
    out = {key: fn(getattr(method, head), x) for key, (head, fn) in TASKS.items() if hasattr(method, head)}
    method.train(was)
    return out
