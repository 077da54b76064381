"""The benchmark suites shipped with asirp; importing this package registers them.

Every module of this package whose name ends in ``_suite`` is imported, and its
functions decorated with :func:`asirp.bench.register_suite` register themselves: a
new suite is one new module. Keep heavy or optional imports (torch, a reconstruction
library) inside the suite function, so that one missing library does not hide every
other suite from ``asirp bench --list``.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name.endswith("_suite"):
        importlib.import_module(f"{__name__}.{_module.name}")
