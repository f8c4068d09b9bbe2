"""The untrained baseline every method is compared with."""
from __future__ import annotations

from .base import METHODS, Method


@METHODS.register("random_init")
class RandomInit(Method):
    """The shared backbone at its seeded random initialization, never trained.

    A strong baseline on small images: random conv features already separate simple
    shapes (the probes must beat it for a method to have learnt anything).
    """

    family = "baseline"
    trainable = False
