"""Backbones (shared encoders) and heads (projectors, predictors, decoders)."""
from . import backbones, vit  # noqa: F401  (registers every backbone kind, e.g. "vit")
