"""The repertoire of restoration methods (see :mod:`asirp.methods.base` for the contract).

The names below load :mod:`asirp.methods.base` (numpy, pydantic) on first use
(PEP 562), so that importing a method family's command line (``asirp.methods.sr.cli``)
while the ``asirp`` parser is built stays cheap.
"""

import importlib
from typing import Any

__all__ = ["Method", "Output", "Params", "get_method", "register", "registry"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
