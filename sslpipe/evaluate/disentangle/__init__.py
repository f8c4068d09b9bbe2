"""Disentanglement metrics on codes [N, D] and integer factors [N, K]: one metric per module."""
from .dci import dci  # noqa: F401
from .mig import mig  # noqa: F401
