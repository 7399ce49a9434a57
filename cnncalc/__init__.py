"""cnncalc: shapes, parameters, MACs and receptive fields of convolutional networks.

>>> import cnncalc
>>> a = cnncalc.analyse(cnncalc.load("vgg16"))
>>> a.totals()["params"]
138357544

The names below are imported on first use, so that ``import cnncalc`` (and the command line's
start) costs almost nothing until a name is needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {"Analysis": "analysis", "LayerRecord": "analysis", "analyse": "analysis",
        "CheckFailed": "errors", "CnnCalcError": "errors", "load": "readers", "loads": "spec"}

if TYPE_CHECKING:
    from .analysis import Analysis, LayerRecord, analyse
    from .errors import CheckFailed, CnnCalcError
    from .readers import load
    from .spec import loads


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)


__all__ = ["Analysis", "CheckFailed", "CnnCalcError", "LayerRecord", "analyse", "load", "loads",
           "__version__"]
