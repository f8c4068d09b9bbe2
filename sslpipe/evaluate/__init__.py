"""The evaluation suite: registered metrics (``METRICS`` in ``base``) over one evaluation context.

Importing the package registers every metric module below; this order is the evaluation
order and the order of the report's columns.
"""
from . import probes, lowshot, clustering, geometry  # noqa: F401,E401
from .disentangle import mig, dci, sap, modularity, sampling  # noqa: F401,E401
from . import interpolation  # noqa: F401,E402
from . import words  # noqa: F401,E402
from . import video  # noqa: F401,E402
