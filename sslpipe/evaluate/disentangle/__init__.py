"""Disentanglement metrics on codes [N, D] and integer factors [N, K]: one metric per module.

Definitions and defaults follow Locatello et al. (ICML 2019); see docs/evaluation.md.
"""
from .dci import dci  # noqa: F401
from .mig import mig  # noqa: F401
from .modularity import modularity_explicitness  # noqa: F401
from .sampling import beta_vae_score, factor_vae_score  # noqa: F401
from .sap import sap  # noqa: F401
