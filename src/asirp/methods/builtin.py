"""Imports every built-in method module so that its ``@register`` classes run.

Every module or subpackage of :mod:`asirp.methods` except the contract itself and
private helpers (names starting with ``_``) holds methods: a new algorithm is one new
module (or subpackage) with ``@register`` classes, found here without further edits.
A subpackage either registers its methods when imported, or names the modules that
do in ``METHOD_MODULES``: then importing the package itself stays cheap, as it must
for a family whose package also holds a command line (``asirp train``), imported
whenever the ``asirp`` parser is built.
"""

import importlib
import pkgutil

# Not "from .. import methods": asirp.methods is also the public listing function.
_package = importlib.import_module(__package__)
_NOT_METHODS = {"base", "builtin"}

for _module in pkgutil.iter_modules(_package.__path__):
    if not _module.name.startswith("_") and _module.name not in _NOT_METHODS:
        _family = importlib.import_module(f"{_package.__name__}.{_module.name}")
        for _name in getattr(_family, "METHOD_MODULES", ()):
            importlib.import_module(f"{_family.__name__}.{_name}")
