"""A synthetic area detector: default pyFAI geometry, q/χ maps and masks.

Pixels are 172 µm (Pilatus/Eiger). Positions in pixels follow pyFAI's convention
(that of :meth:`asirp.geometry.Geometry.beam_center_px`): pixel ``(i, j)`` spans
``[i, i+1) x [j, j+1)``, so its centre is at ``(i + 0.5, j + 0.5)`` and the middle of
an ``(ny, nx)`` frame is ``(ny/2, nx/2)``. With the beam there, a 180° rotation of the
array is exactly the inversion about the beam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..geometry import Geometry
from . import _checks

#: Pixel size of the synthetic detector, metres (Pilatus / Eiger).
PIXEL_M = 172e-6
#: Mask kinds :func:`detector_mask` knows.
MASKS = ("gaps", "beamstop", "none")
#: Pilatus 1M layout (pixels): module size and gaps between modules, rows then columns.
_PILATUS_MODULE = (195, 487)
_PILATUS_GAP = (17, 7)
_PILATUS_1M = (1043, 981)


def default_geometry(
    shape: tuple[int, int],
    *,
    wavelength_m: float,
    q_edge_nm: float,
    beam_center: tuple[float, float] | None = None,
    tilt_deg: float = 0.0,
    tilt_plane_deg: float = 0.0,
) -> Geometry:
    """Geometry of a 172 µm-pixel detector that shows ``q_edge_nm`` at the frame's nearest edge.

    The sample-to-detector distance (along the beam) is chosen so that, for a beam at
    the frame centre, the scattering vector at the middle of the nearest frame edge is
    ``q_edge_nm`` (nm^-1); moving the beam (``beam_center``, pixels ``(y, x)``) keeps
    that distance. The detector tilt is given as in Fit2D (``tilt_deg`` about an axis
    in the detector plane at ``tilt_plane_deg``) and converted to pyFAI's ``rot1``,
    ``rot2``, ``rot3`` by pyFAI itself, so the direct-beam position stays exactly
    ``beam_center``.
    """
    ny, nx = shape
    center_y, center_x = (ny / 2.0, nx / 2.0) if beam_center is None else beam_center
    two_theta = 2.0 * math.asin(q_edge_nm * 1e9 * wavelength_m / (4.0 * math.pi))
    direct_dist_m = min(ny, nx) / 2.0 * PIXEL_M / math.tan(two_theta)
    from pyFAI.geometry.fit2d import convert_from_Fit2d  # here: pyFAI is slow to import, mesh maps never need it

    poni = convert_from_Fit2d(
        {
            "directDist": direct_dist_m * 1e3,
            "centerX": center_x,
            "centerY": center_y,
            "tilt": tilt_deg,
            "tiltPlanRotation": tilt_plane_deg,
            "pixelX": PIXEL_M * 1e6,
            "pixelY": PIXEL_M * 1e6,
            "wavelength": wavelength_m * 1e10,
        }
    )
    return Geometry.from_params(
        dist=poni.dist,
        poni1=poni.poni1,
        poni2=poni.poni2,
        rot1=poni.rot1,
        rot2=poni.rot2,
        rot3=poni.rot3,
        wavelength=wavelength_m,
        pixel1=PIXEL_M,
        pixel2=PIXEL_M,
        max_shape=(ny, nx),
    )


def q_chi(geometry: Geometry, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scattering vector ``q`` (nm^-1) and azimuth ``chi`` (radians) at every pixel centre.

    ``chi`` is pyFAI's azimuth: 0 along +x (columns), +pi/2 along +y (rows), in (-pi, pi].
    """
    integrator = geometry.integrator
    if integrator.wavelength is None:
        raise ParameterError("the geometry has no wavelength, so q cannot be computed")
    q = integrator.center_array(shape, unit="q_nm^-1", scale=True)
    chi = integrator.center_array(shape, unit="chi_rad", scale=True)
    return np.asarray(q, dtype=float), np.asarray(chi, dtype=float)


@dataclass(frozen=True)
class MaskInfo:
    """A detector mask (True = measured) and how it was made."""

    valid: np.ndarray
    meta: dict[str, Any]


def _module_gaps(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Pilatus-1M-like module gaps scaled to the frame, at a seeded offset.

    The frame stands for a binned Pilatus 1M: modules 195 x 487 px with 17 and 7 px
    gaps, scaled by ``frame / 1043 x 981`` (gaps at least 1 px wide).
    """
    gaps = np.zeros(shape, dtype=bool)
    lines: dict[str, list[int]] = {}
    for axis, name in ((0, "gap_rows"), (1, "gap_columns")):
        scale = shape[axis] / _PILATUS_1M[axis]
        period = max(4, round((_PILATUS_MODULE[axis] + _PILATUS_GAP[axis]) * scale))
        width = max(1, round(_PILATUS_GAP[axis] * scale))
        start = int(rng.integers(0, period))
        index = np.arange(shape[axis])
        in_gap = np.mod(index - start, period) < width
        lines[name] = index[in_gap].tolist()
        if axis == 0:
            gaps[in_gap, :] = True
        else:
            gaps[:, in_gap] = True
    return gaps, lines


def _beamstop(
    shape: tuple[int, int], beam_center: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Beamstop disk at the beam centre plus its holder arm running to the frame edge."""
    radius = max(3.0, 0.05 * min(shape))
    arm_deg = float(rng.uniform(0.0, 360.0))
    yy, xx = np.indices(shape, dtype=float)
    dy, dx = yy + 0.5 - beam_center[0], xx + 0.5 - beam_center[1]
    disk = dy**2 + dx**2 <= radius**2
    uy, ux = math.sin(math.radians(arm_deg)), math.cos(math.radians(arm_deg))
    along = dy * uy + dx * ux
    across = np.abs(dx * uy - dy * ux)
    arm = (along >= 0) & (across <= radius / 2.0)
    return disk | arm, {"beamstop_radius_px": radius, "beamstop_arm_deg": arm_deg}


def detector_mask(
    kind: str, shape: tuple[int, int], beam_center: tuple[float, float], rng: np.random.Generator
) -> MaskInfo:
    """Valid-pixel mask of kind ``"gaps"``, ``"beamstop"`` or ``"none"``.

    ``"gaps"``: module gaps, the beamstop with its arm and a few hot pixels (all
    invalid); ``"beamstop"``: the beamstop and arm only; ``"none"``: every pixel valid.
    ``beam_center`` is ``(y, x)`` in pixels (pyFAI convention). The arm direction
    (``beamstop_arm_deg``, from +x towards +y) and the gap positions are drawn from
    ``rng``.
    """
    kind = _checks.choice("mask", kind, MASKS)
    invalid = np.zeros(shape, dtype=bool)
    meta: dict[str, Any] = {"mask": kind}
    if kind == "none":
        return MaskInfo(~invalid, meta)
    stop, stop_meta = _beamstop(shape, beam_center, rng)
    invalid |= stop
    meta.update(stop_meta)
    if kind == "gaps":
        gaps, gap_meta = _module_gaps(shape, rng)
        n_hot = 3 + shape[0] * shape[1] // 16384
        hot = np.column_stack([rng.integers(0, shape[0], n_hot), rng.integers(0, shape[1], n_hot)])
        invalid |= gaps
        invalid[hot[:, 0], hot[:, 1]] = True
        meta.update(gap_meta, hot_pixels=[tuple(int(v) for v in p) for p in hot])
    return MaskInfo(~invalid, meta)
