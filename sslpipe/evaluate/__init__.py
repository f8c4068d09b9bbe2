"""Evaluation: pure functions on arrays (probes, geometry, disentanglement)."""
