"""asirp: Adaptable Synchrotron Image Restoration Pipeline.

Restore noisy, blurred synchrotron X-ray images (micro-XRF maps, diffraction,
scattering and PDF detector frames, tomography projections) with a method chosen
from a repertoire, and record exactly what was done (NeXus NXprocess provenance).

>>> import asirp
>>> frame = asirp.open("scan.h5")                      # doctest: +SKIP
>>> restored = asirp.restore(frame, method="auto")     # doctest: +SKIP
>>> asirp.save(restored, "scan_restored.nxs")          # doctest: +SKIP
"""

# Nothing heavy is imported here: ``import asirp`` and the ``asirp`` command line answer
# at once, and each public name below loads its module (numpy, h5py, torch users...) on
# first use (PEP 562). The subpackage asirp.methods is imported before the function
# methods is bound: importing a subpackage sets the package attribute of its name, so
# a later first import of asirp.methods would hide the function.
from . import methods as _methods_package  # noqa: F401
from ._version import __version__
from .api import explain, methods, restore
from .errors import AsirpError, InputError, OutputError, ParameterError

__all__ = [
    "KINDS",
    "AsirpError",
    "Frame",
    "Geometry",
    "HistoryStep",
    "InputError",
    "Method",
    "Output",
    "OutputError",
    "ParameterError",
    "Params",
    "PixelSize",
    "__version__",
    "analysis",
    "explain",
    "methods",
    "open",
    "register",
    "restore",
    "save",
    "stack",
    "synth",
]

#: Public names defined elsewhere: name -> (module, attribute), imported on first use.
_LAZY_ATTRIBUTES = {
    "KINDS": ("asirp.kinds", "KINDS"),
    "Frame": ("asirp.frame", "Frame"),
    "stack": ("asirp.frame", "stack"),
    "Geometry": ("asirp.geometry", "Geometry"),
    "HistoryStep": ("asirp.history", "HistoryStep"),
    "Method": ("asirp.methods.base", "Method"),
    "Output": ("asirp.methods.base", "Output"),
    "Params": ("asirp.methods.base", "Params"),
    "register": ("asirp.methods.base", "register"),
    "PixelSize": ("asirp.units", "PixelSize"),
    "open": ("asirp.io", "open"),
    "save": ("asirp.io", "save"),
}
_LAZY_MODULES = {"analysis", "synth", "io", "bench", "psf", "samples", "report", "xrf", "tomo", "pipeline", "online", "feedback", "symmetry"}


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY_ATTRIBUTES:
        module, attribute = _LAZY_ATTRIBUTES[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"asirp.{name}")
    raise AttributeError(f"module 'asirp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES) | _LAZY_MODULES)
