"""Symmetry of diffraction, scattering and PDF detector frames: analysis and pixel pairing.

* :func:`analyze` -> :class:`SymmetryReport`: beam centre (geometry or sub-pixel
  search), which operations hold (inversion, n-fold rotations, mirrors, isotropy),
  scores and a Poisson chi-square test per operation, and where symmetry breaks locally.
* :class:`Pairing`: each pixel's partner measurements under chosen operations, with
  sub-pixel interpolation, explicit validity and true zeros kept as measurements.
* :func:`fit_response` -> :class:`ResponseFit`: the smooth relative detector response
  (polarisation, flat field, absorption) fitted from the pixel/partner mismatch, for
  ``Pairing.build(..., response=fit.field)`` and ``analyze(..., response=fit.field)``.

>>> from asirp import synth
>>> from asirp.symmetry import analyze
>>> report = analyze(synth.diffraction_frame("powder", shape=(128, 128), dose=5.0, seed=0).noisy)
>>> report.isotropic
True
"""

from .analysis import (
    HOLD_THRESHOLD,
    OperationScore,
    SymmetryReport,
    analyze,
    bin_counts,
    check_frame,
    frame_image,
    local_asymmetry,
    mirror_candidates,
)
from .centre import CentreEstimate, find_centre
from .operations import INVERSION, Operation, closure, mirror, parse, rotation
from .pairing import Pairing, PartnerMap, PartnerMean, Partners
from .plane import ScatteringPlane, plane_for
from .response import ResponseFit, fit_response

__all__ = [
    "HOLD_THRESHOLD",
    "INVERSION",
    "CentreEstimate",
    "Operation",
    "OperationScore",
    "Pairing",
    "PartnerMap",
    "PartnerMean",
    "Partners",
    "ResponseFit",
    "ScatteringPlane",
    "SymmetryReport",
    "analyze",
    "bin_counts",
    "check_frame",
    "closure",
    "find_centre",
    "fit_response",
    "frame_image",
    "local_asymmetry",
    "mirror",
    "mirror_candidates",
    "parse",
    "plane_for",
    "rotation",
]
