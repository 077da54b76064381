"""Imports every built-in method module so that its ``@register`` classes run.

Every module or subpackage of :mod:`asirp.methods` except the contract itself and
private helpers (names starting with ``_``) holds methods: a new algorithm is one new
module (or subpackage) with ``@register`` classes, found here without further edits.
"""

import importlib
import pkgutil

# Not "from .. import methods": asirp.methods is also the public listing function.
_package = importlib.import_module(__package__)
_NOT_METHODS = {"base", "builtin"}

for _module in pkgutil.iter_modules(_package.__path__):
    if not _module.name.startswith("_") and _module.name not in _NOT_METHODS:
        importlib.import_module(f"{_package.__name__}.{_module.name}")
