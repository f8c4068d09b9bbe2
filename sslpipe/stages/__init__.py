"""The study's stages, one module each, each declaring itself once (``STAGE``) in ``base.Stage`` form.

``STAGES`` is the graph in order; dvc.yaml is generated from it (``sslpipe graph``).  The ``code``
stage comes first: it fingerprints the code the others declare (``stages/code.py``).
"""
from __future__ import annotations

from . import code, evaluate, pretrain, report, shard

_WORK = [m.STAGE for m in (shard, pretrain, evaluate, report)]
STAGES = {s.name: s for s in [code.declare(_WORK), *_WORK]}
