"""Pure loss functions of tensors; each documents its formula and cites its paper.

One module per family; everything is re-exported here (``from sslpipe.losses import nt_xent``).
"""
from .contrastive import *  # noqa: F401,F403
from .vae import *  # noqa: F401,F403
from .video import *  # noqa: F401,F403
from .word2vec import *  # noqa: F401,F403
