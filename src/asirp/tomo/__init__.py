"""Tomography: read scans, correct and restore projections, reconstruct, and show the volume.

>>> from asirp import tomo
>>> scan = tomo.read_scan("tooth.h5")                                   # doctest: +SKIP
>>> result = tomo.reconstruct_scan(scan, restore="richardson_lucy",     # doctest: +SKIP
...                                restore_params={"psf_sigma": 1.0})
>>> asirp.save(result.volume, "tooth_volume.nxs")                       # doctest: +SKIP

Modules: :mod:`~asirp.tomo.readers` (Data Exchange, NXtomo, TIFF + angles),
:mod:`~asirp.tomo.correct` (dark/flat, -log, zingers, rings), :mod:`~asirp.tomo.centre`
(rotation axis), :mod:`~asirp.tomo.reconstruct` (FBP, SIRT), :mod:`~asirp.tomo.restore`
(repertoire methods on projections or slices), :mod:`~asirp.tomo.noise2inverse`
(self-supervised denoiser), :mod:`~asirp.tomo.orthoslices` (figures),
:mod:`~asirp.tomo.pipeline` (the whole chain), :mod:`~asirp.tomo.cli` (``asirp tomo``).
"""

import importlib
import sys
import types
from typing import Any

#: Public names and the submodule defining each; loaded on first use (PEP 562), so that
#: building the ``asirp`` command line (which imports :mod:`asirp.tomo.cli`) stays cheap.
_EXPORTS = {
    "CentreEstimate": "centre", "find_centre": "centre",
    "flat_field": "correct", "minus_log": "correct", "normalise": "correct", "remove_rings": "correct",
    "remove_zingers": "correct", "subtract_dark": "correct",
    "Reconstruction": "pipeline", "corrected_projections": "pipeline", "reconstruct_scan": "pipeline",
    "TomoScan": "readers", "make_scan": "readers", "read_scan": "readers",
    "FourierProjector": "reconstruct", "fbp": "reconstruct", "reconstruct": "reconstruct", "sirt": "reconstruct",
    "restore_projections": "restore", "restore_slices": "restore",
}  # fmt: skip

__all__ = [
    "CentreEstimate",
    "FourierProjector",
    "Reconstruction",
    "TomoScan",
    "corrected_projections",
    "fbp",
    "find_centre",
    "flat_field",
    "make_scan",
    "minus_log",
    "normalise",
    "read_scan",
    "reconstruct",
    "reconstruct_scan",
    "remove_rings",
    "remove_zingers",
    "restore_projections",
    "restore_slices",
    "sirt",
    "subtract_dark",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, where ``reconstruct`` stays the function when its submodule loads.

    Loading a submodule sets the package attribute of its name to the module. Eager
    imports rebound ``reconstruct`` to the function afterwards
    (``from .reconstruct import reconstruct``); with lazy ones, this does it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "reconstruct" and isinstance(value, types.ModuleType):
            value = value.reconstruct
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
