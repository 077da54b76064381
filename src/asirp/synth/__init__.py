"""Synthetic ground truth for tests and benchmarks: seeded, deterministic, physically grounded.

Every generator returns a :class:`SynthResult`: the ``truth`` a perfect restoration
would return, the noise-free ``blurred`` measurement, the ``noisy`` one a detector
records, the blur kernel ``psf`` and a ``meta`` dict of every parameter and derived
fact. The same seed always gives the same arrays.

* :func:`mesh_grid_map`: Cu Kα micro-XRF maps of the copper mesh grids AG175 / AG300
  of the ASIRP paper under a Gaussian beam, optionally with a sawtooth beam current.
* :func:`diffraction_frame`, :func:`diffraction_series`: powder, textured,
  single-crystal, SAXS, fibre SAXS and PDF detector frames with pyFAI geometry,
  detector masks and Poisson noise; series with a phase-transition event.
* :func:`tomo_phantom`, :func:`tomo_projections`: a cathode-particle phantom and its
  blurred, noisy parallel-beam projections.
"""

from .beam import Sawtooth, gaussian_psf
from .detector import MASKS
from .diffraction import EVENTS, diffraction_frame, diffraction_series
from .mesh import GRIDS, MeshGrid, mesh_grid_map
from .patterns import PATTERNS
from .result import SynthResult
from .tomo import tomo_phantom, tomo_projections

__all__ = [
    "EVENTS",
    "GRIDS",
    "MASKS",
    "PATTERNS",
    "MeshGrid",
    "Sawtooth",
    "SynthResult",
    "diffraction_frame",
    "diffraction_series",
    "gaussian_psf",
    "mesh_grid_map",
    "tomo_phantom",
    "tomo_projections",
]
