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
* :func:`xrf_cube`, :func:`write_xrf_cube`: full micro-XRF spectra cubes of the mesh
  grids (lines, scatter, continuum, sawtooth beam, dead time, scalers), in memory or
  written block by block in the PyXRF, MAPS, NeXus and point-list layouts.
"""

from .beam import Sawtooth, gaussian_psf
from .detector import MASKS
from .diffraction import EVENTS, diffraction_frame, diffraction_series
from .mesh import GRIDS, MeshGrid, mesh_grid_map
from .patterns import PATTERNS
from .result import SynthResult
from .tomo import tomo_phantom, tomo_projections
from .xrf_cube import XRFCube, write_xrf_cube, xrf_cube

__all__ = [
    "EVENTS",
    "GRIDS",
    "MASKS",
    "PATTERNS",
    "MeshGrid",
    "Sawtooth",
    "SynthResult",
    "XRFCube",
    "diffraction_frame",
    "diffraction_series",
    "gaussian_psf",
    "mesh_grid_map",
    "tomo_phantom",
    "tomo_projections",
    "write_xrf_cube",
    "xrf_cube",
]
