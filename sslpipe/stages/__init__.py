"""The study's stages, one module each, each declaring itself once (``STAGE``) in ``base.Stage`` form.

``STAGES`` is the graph in order; dvc.yaml is generated from it (``sslpipe graph``).
"""
from __future__ import annotations

from . import embed, evaluate, pretrain, report, shard

STAGES = {m.STAGE.name: m.STAGE for m in (shard, pretrain, embed, evaluate, report)}
