"""asirp: Adaptable Synchrotron Image Restoration Pipeline.

Restore noisy, blurred synchrotron X-ray images (micro-XRF maps, diffraction,
scattering and PDF detector frames, tomography projections) with a method chosen
from a repertoire, and record exactly what was done (NeXus NXprocess provenance).

>>> import asirp
>>> frame = asirp.open("scan.h5")                      # doctest: +SKIP
>>> restored = asirp.restore(frame, method="auto")     # doctest: +SKIP
>>> asirp.save(restored, "scan_restored.nxs")          # doctest: +SKIP
"""

__version__ = "0.1.0"

from .api import explain, methods, restore  # noqa: E402
from .errors import AsirpError, InputError, OutputError, ParameterError  # noqa: E402
from .frame import KINDS, Frame, stack  # noqa: E402
from .geometry import Geometry  # noqa: E402
from .history import HistoryStep  # noqa: E402
from .methods.base import Method, Output, Params, register  # noqa: E402
from .units import PixelSize  # noqa: E402

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
    "analysis",
    "explain",
    "methods",
    "open",
    "register",
    "restore",
    "save",
    "stack",
    "synth",
    "__version__",
]

_LAZY_FUNCTIONS = {"open": ("asirp.io", "open"), "save": ("asirp.io", "save")}
_LAZY_MODULES = {"analysis", "synth", "io", "bench", "psf", "samples", "report", "xrf", "tomo", "pipeline", "online", "feedback", "symmetry"}


def __getattr__(name: str):  # PEP 562: heavy modules (h5py, pyFAI, torch users) load on first use
    import importlib

    if name in _LAZY_FUNCTIONS:
        module, attribute = _LAZY_FUNCTIONS[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"asirp.{name}")
    raise AttributeError(f"module 'asirp' has no attribute {name!r}")
