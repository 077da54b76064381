"""Micro-XRF maps of copper TEM mesh grids scanned under a Gaussian beam.

These are the test samples of the ASIRP paper (Li et al., Nucl. Sci. Tech. 2024; see
``PAPERS.md``): copper grids AG175 (175 lines per inch: hole 108 µm, bar 37 µm,
pitch 145 µm) mapped at 5-50 µm steps and AG300 (hole 58 µm, bar 25 µm, pitch 83 µm)
at 25 µm, under a ~50 µm polycapillary focus at BSRF 4W1B. The element map is the
Cu Kα counts per scan point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from ..errors import ParameterError
from ..units import PixelSize
from . import _checks
from .beam import FWHM_TO_SIGMA, Sawtooth, gaussian_psf
from .result import SynthResult


@dataclass(frozen=True)
class MeshGrid:
    """A square copper mesh: square holes of side ``hole_um`` separated by bars ``bar_um`` wide."""

    name: str
    hole_um: float
    bar_um: float

    @property
    def pitch_um(self) -> float:
        """Repeat distance of the mesh, µm."""
        return self.hole_um + self.bar_um

    @property
    def copper_fraction(self) -> float:
        """Fraction of the area covered by copper bars: ``1 - (hole / pitch)**2``."""
        return 1.0 - (self.hole_um / self.pitch_um) ** 2


#: The paper's grids (PAPERS.md, section A, "Samples").
GRIDS: dict[str, MeshGrid] = {
    "AG175": MeshGrid("AG175", hole_um=108.0, bar_um=37.0),
    "AG300": MeshGrid("AG300", hole_um=58.0, bar_um=25.0),
}

#: Sub-samples per map pixel processed at once when rasterising (bounds memory on big maps).
_BLOCK_SAMPLES = 1 << 21


def copper_coverage(
    shape: tuple[int, int],
    grid: MeshGrid,
    *,
    step_um: float,
    rotation_deg: float = 0.0,
    offset_um: tuple[float, float] = (0.0, 0.0),
    origin_px: tuple[float, float] = (0.0, 0.0),
    supersample: int = 8,
) -> np.ndarray:
    """Fraction of each scan pixel covered by copper, by area averaging.

    Pixel ``(i, j)`` spans ``[i, i+1) x [j, j+1)`` steps, shifted by ``origin_px``; it is
    sampled on a ``supersample x supersample`` grid of sub-pixel centres and the
    copper indicator is averaged, so steps as coarse as the bars (50 µm) still give the
    right mean coverage. The mesh is rotated by ``rotation_deg`` about the point
    ``origin_px + shape/2`` (the map centre) and shifted by ``offset_um`` along its
    own axes.

    Returns
    -------
    ndarray
        float64 array of ``shape`` with values in [0, 1].
    """
    ny, nx = shape
    theta = math.radians(rotation_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    sub = (np.arange(supersample) + 0.5) / supersample
    x = ((np.arange(nx)[:, None] + sub[None, :]).ravel() + origin_px[1] - nx / 2) * step_um
    rows_per_block = max(1, _BLOCK_SAMPLES // (x.size * supersample))
    coverage = np.empty(shape, dtype=float)
    pitch = grid.pitch_um
    for start in range(0, ny, rows_per_block):
        stop = min(ny, start + rows_per_block)
        y = ((np.arange(start, stop)[:, None] + sub[None, :]).ravel() + origin_px[0] - ny / 2) * step_um
        u = cos_t * x[None, :] + sin_t * y[:, None] + offset_um[1]
        v = -sin_t * x[None, :] + cos_t * y[:, None] + offset_um[0]
        copper = (np.mod(u, pitch) < grid.bar_um) | (np.mod(v, pitch) < grid.bar_um)
        coverage[start:stop] = copper.reshape(stop - start, supersample, nx, supersample).mean(axis=(1, 3))
    return coverage


def mesh_grid_map(
    grid: str = "AG175",
    *,
    shape: tuple[int, int] = (128, 128),
    step_um: float = 25.0,
    beam_fwhm_um: float = 50.0,
    counts: float = 100.0,
    background: float = 2.0,
    rotation_deg: float = 0.0,
    sawtooth: Sawtooth | None = None,
    seed: int = 0,
    supersample: int = 8,
) -> SynthResult:
    """Cu Kα micro-XRF map of a copper mesh grid under a Gaussian beam.

    Parameters
    ----------
    grid:
        ``"AG175"`` (hole 108 µm, bar 37 µm, pitch 145 µm) or ``"AG300"`` (hole 58 µm,
        bar 25 µm, pitch 83 µm), the grids of the ASIRP paper.
    shape:
        Map size ``(ny, nx)`` in scan points (at least 4 x 4).
    step_um:
        Scan step, µm (the map pixel size).
    beam_fwhm_um:
        FWHM of the Gaussian beam spot, µm; 0 gives no blur (``psf`` None).
    counts:
        Mean Cu Kα counts per point on copper (the bars), at full beam intensity.
    background:
        Mean counts per point in the holes (scatter, detector background), >= 0.
    rotation_deg:
        Rotation of the mesh relative to the scan axes, degrees.
    sawtooth:
        Storage-ring intensity over time; None for a constant beam.
    seed:
        Seed of the mesh position (a random offset within one pitch), the injection
        phase and the noise.
    supersample:
        Sub-samples per pixel side used to area-average the mesh (default 8 x 8).

    Returns
    -------
    SynthResult
        ``truth``: the area-averaged object, ``background + (counts - background) *
        copper fraction`` per point. ``blurred``: truth convolved with the beam PSF
        (sigma ``fwhm / 2.3548 / step`` px; 50 µm at 25 µm steps is 0.85 px), computed
        on a field larger than the map and cropped, so the edges see the mesh that
        continues outside the map, as a real sample does. ``noisy``:
        ``Poisson(blurred * beam)``, where ``beam`` is the relative intensity of the
        sawtooth at each point (1 without one). ``meta`` holds ``psf_sigma_px``, the
        grid dimensions, the analytic ``copper_fraction`` and, with a sawtooth,
        ``beam_factor`` (true relative intensity per point, shape ``shape``) and ``i0``
        (what the ionisation chamber records: ``Poisson(i0_counts * beam_factor)``).
        Normalise with ``noisy * i0_counts / i0``. Points are acquired in raster order,
        rows one after the other, x fastest.

    Examples
    --------
    >>> r = mesh_grid_map("AG300", shape=(64, 64), step_um=25.0)
    >>> r.noisy.kind, r.noisy.pixel_size.x, round(r.meta["psf_sigma_px"], 2)
    ('xrf_map', 25.0, 0.85)
    """
    mesh = GRIDS[_checks.choice("grid", grid, GRIDS)]
    ny, nx = _checks.image_shape(shape, 4)
    step_um = _checks.positive("step_um", step_um, unit="µm")
    beam_fwhm_um = _checks.positive("beam_fwhm_um", beam_fwhm_um, allow_zero=True, unit="µm")
    counts = _checks.positive("counts", counts)
    background = _checks.positive("background", background, allow_zero=True)
    supersample = _checks.integer("supersample", supersample, 1)
    seed = _checks.seed(seed)
    if sawtooth is not None and not isinstance(sawtooth, Sawtooth):
        raise ParameterError(f"sawtooth must be a Sawtooth or None, got {type(sawtooth).__name__}")
    rotation_deg = _checks.number("rotation_deg", rotation_deg, unit="degrees")
    position_rng, beam_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    offset_y, offset_x = (float(v) for v in position_rng.uniform(0.0, mesh.pitch_um, size=2))
    offset_um = (offset_y, offset_x)
    sigma_px = beam_fwhm_um * FWHM_TO_SIGMA / step_um
    psf = gaussian_psf(sigma_px) if beam_fwhm_um > 0 else None
    margin = 0 if psf is None else psf.shape[0] // 2
    field = copper_coverage(
        (ny + 2 * margin, nx + 2 * margin),
        mesh,
        step_um=step_um,
        rotation_deg=rotation_deg,
        offset_um=offset_um,
        origin_px=(-margin, -margin),
        supersample=supersample,
    )
    field = background + (counts - background) * field
    truth = field[margin : margin + ny, margin : margin + nx]
    # 'valid' convolution of the padded field: every output point sees real sample around it.
    blurred = truth if psf is None else np.maximum(fftconvolve(field, psf, mode="valid"), 0.0)

    meta = {
        "generator": "mesh_grid_map",
        "grid": mesh.name,
        "hole_um": mesh.hole_um,
        "bar_um": mesh.bar_um,
        "pitch_um": mesh.pitch_um,
        "copper_fraction": mesh.copper_fraction,
        "shape": (ny, nx),
        "step_um": step_um,
        "beam_fwhm_um": beam_fwhm_um,
        "psf_sigma_px": sigma_px,
        "counts": counts,
        "background": background,
        "rotation_deg": rotation_deg,
        "offset_um": offset_um,
        "supersample": supersample,
        "scan_order": "raster, row by row, x fastest",
        "sawtooth": None,
        "injection_phase_s": None,
        "beam_factor": None,
        "i0": None,
        "seed": seed,
    }
    expected = blurred
    if sawtooth is not None:
        phase_s = float(beam_rng.uniform(0.0, sawtooth.period_s))
        beam_factor = sawtooth.intensity(ny * nx, phase_s).reshape(ny, nx)
        expected = blurred * beam_factor
        meta.update(
            sawtooth=sawtooth.as_dict(),
            injection_phase_s=phase_s,
            beam_factor=beam_factor,
            i0=beam_rng.poisson(sawtooth.i0_counts * beam_factor).astype(float),
        )
    noisy = noise_rng.poisson(expected)
    return SynthResult.from_arrays(
        truth,
        blurred,
        noisy,
        valid=None,
        kind="xrf_map",
        generator="mesh_grid_map",
        seed=seed,
        psf=psf,
        meta=meta,
        pixel_size=PixelSize.square(step_um, "um"),
    )
