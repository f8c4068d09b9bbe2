"""Disentanglement metrics on codes [N, D] and integer factors [N, K]: one metric per module.

Definitions and defaults follow Locatello et al. (ICML 2019); see docs/evaluation.md.
"""
