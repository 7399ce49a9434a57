"""cnncalc: shapes, parameters, MACs and receptive fields of convolutional networks.

>>> import cnncalc
>>> a = cnncalc.analyse(cnncalc.load("vgg16"))
>>> a.totals()["params"]
138357544
"""

__version__ = "0.1.0"

from .analysis import Analysis, LayerRecord, analyse  # noqa: E402
from .errors import CheckFailed, CnnCalcError  # noqa: E402
from .spec import load, loads  # noqa: E402

__all__ = ["Analysis", "CheckFailed", "CnnCalcError", "LayerRecord", "analyse", "load", "loads",
           "__version__"]
