"""The study's stages, one module each, each declaring itself once (``STAGE``) in ``base.Stage`` form.

``STAGES`` is the graph in order; dvc.yaml is generated from it (``sslpipe graph``).  The ``code``
stage comes first: it fingerprints the code the others declare (``stages/code.py``); the
``params`` stage writes the parameter values each stage declares (``stages/params.py``).
"""
from __future__ import annotations

from . import code, evaluate, params, pretrain, report, shard

_WORK = [m.STAGE for m in (shard, pretrain, evaluate, report)]
_PARAMS = params.declare(_WORK)
STAGES = {s.name: s for s in [code.declare([_PARAMS, *_WORK]), _PARAMS, *_WORK]}
