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

from .centre import CentreEstimate, find_centre
from .correct import flat_field, minus_log, normalize, remove_rings, remove_zingers, subtract_dark
from .pipeline import Reconstruction, corrected_projections, reconstruct_scan
from .readers import TomoScan, make_scan, read_scan
from .reconstruct import FourierProjector, fbp, reconstruct, sirt
from .restore import restore_projections, restore_slices

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
    "normalize",
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
