"""The untrained baseline every method is compared with."""
from __future__ import annotations

from .base import METHODS, Method, TextContext
from .language import RandomWordsParams, RandomWordTable


@METHODS.register("random_init")
class RandomInit(Method):
    """The shared backbone at its seeded random initialization, never trained.

    A strong baseline on small images: random conv features already separate simple
    shapes (the probes must beat it for a method to have learnt anything).  On a text
    dataset (a :class:`TextContext`) it is a random word-vector table
    (:class:`~sslpipe.methods.language.RandomWordTable`).
    """

    family = "baseline"
    trainable = False
    modality = "any"
    Params = RandomWordsParams

    def __new__(cls, params, ctx):
        if isinstance(ctx, TextContext):
            return RandomWordTable(params, ctx)
        return super().__new__(cls)
