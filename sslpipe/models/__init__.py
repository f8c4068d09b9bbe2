"""Backbones (shared encoders) and heads (projectors, predictors, decoders)."""
