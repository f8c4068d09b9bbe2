"""What the stages do differently for each kind of data, one class per modality.

A shard manifest names its modality (``modality: text``, ``modality: video``; image manifests predate the field
and name none).  The stages ask :func:`modality_of` for the manifest's :class:`Modality` and
call the same steps for every dataset: the method's context, its training configuration and
stream, a fitted baseline's input, the embeddings writer, the evaluation context and the
figures.  Adding a modality is one module here, registered with ``@MODALITIES.register``.
"""
from .base import MODALITIES, Modality, modality_of  # noqa: F401
from . import image, text, video  # noqa: F401,E402  (registers each modality)
