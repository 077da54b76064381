"""Tomography: a 3-D particle phantom and its parallel-beam projections.

The phantom imitates the battery cathode particle of the ASIRP paper (an NMC
secondary particle imaged by nano-CT, TomoBank): a roughly ellipsoidal particle
made of primary grains with slightly different attenuation, thin low-density grain
boundaries (cracks, ~1 voxel wide), pores and small high-attenuation inclusions
(2-4 voxels across). Projections follow Beer-Lambert: ``I = I0 exp(-∫ mu dl)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from skimage.transform import radon

from ..errors import InputError
from . import _checks
from .beam import FWHM_TO_SIGMA, gaussian_psf
from .result import SynthResult


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (normalised Gaussian quaternion)."""
    return Rotation.from_quat(rng.normal(size=4)).as_matrix()


def _ellipsoid(
    shape: tuple[int, int, int], centre: np.ndarray, radii: np.ndarray, rotation: np.ndarray
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Voxels (centres at index + 0.5) inside a rotated ellipsoid, within its bounding box.

    Returns the box as slices and the boolean mask inside it, so painting many small
    features costs only their own volume.
    """
    reach = float(np.max(radii)) + 0.5
    low = np.clip(np.floor(centre - reach).astype(int), 0, shape)
    high = np.clip(np.ceil(centre + reach).astype(int), 0, shape)
    box = tuple(slice(lo, hi) for lo, hi in zip(low, high))
    offsets = np.indices(high - low, dtype=float) + (low + 0.5 - centre)[:, None, None, None]
    body = np.einsum("ji,j...->i...", rotation, offsets)  # coordinates along the ellipsoid's axes
    inside = np.sum((body / radii[:, None, None, None]) ** 2, axis=0) <= 1.0
    return box, inside


def tomo_phantom(
    size: int = 64, *, n_slices: int | None = None, seed: int = 0, max_line_integral: float = 2.0
) -> np.ndarray:
    """A cathode-particle-like attenuation volume ``(nz, ny, nx)``, attenuation per voxel.

    Parameters
    ----------
    size:
        Slice size ``ny = nx`` in voxels (at least 16).
    n_slices:
        Number of slices ``nz``; default ``size`` (a cube). Fewer slices cut a slab
        through the particle's middle.
    seed:
        Seed of the particle's shape, grains, pores and inclusions.
    max_line_integral:
        The largest line integral along the y and x axes after scaling
        (dimensionless, ``∫ mu dl`` with lengths in voxels); 1-3 gives the
        transmission of a well-chosen X-ray energy.

    Returns
    -------
    ndarray
        float32 volume, >= 0, zero outside the particle, and zero outside the
        cylinder inscribed in each slice (so parallel projections need no padding).

    Examples
    --------
    >>> v = tomo_phantom(32, seed=1)
    >>> v.shape, round(float(max(v.sum(axis=1).max(), v.sum(axis=2).max())), 3)
    ((32, 32, 32), 2.0)
    """
    size = _checks.integer("size", size, 16)
    nz = size if n_slices is None else _checks.integer("n_slices", n_slices, 1)
    target = _checks.positive("max_line_integral", max_line_integral)
    seed = _checks.seed(seed)
    rng = np.random.default_rng(seed)
    shape = (nz, size, size)
    centre = np.array([nz / 2.0, size / 2.0, size / 2.0])

    radii = size * rng.uniform(0.34, 0.40, 3)
    rotation = _random_rotation(rng)
    box, inside = _ellipsoid(shape, centre, radii, rotation)
    particle = np.zeros(shape, dtype=bool)
    particle[box] = inside
    volume = np.zeros(shape)
    voxels = np.argwhere(particle) + 0.5  # never empty: the particle is centred in the volume

    # Primary grains: a Voronoi tessellation of the particle (nearest of random seeds).
    # Voxels nearly equidistant from two seeds form ~1-voxel-thick grain boundaries.
    n_grains = int(rng.integers(20, 41))
    seeds = voxels[rng.choice(len(voxels), size=min(n_grains, len(voxels)), replace=False)]
    seeds = seeds + rng.uniform(-0.5, 0.5, seeds.shape)
    grain_mu = rng.uniform(0.8, 1.2, len(seeds))
    distance, nearest = cKDTree(seeds).query(voxels, k=2)
    values = grain_mu[nearest[:, 0]]
    values[distance[:, 1] - distance[:, 0] < 0.8] *= 0.4
    volume[particle] = values

    # Pores (empty) and inclusions of a heavier phase, inside the particle.
    def inner_point() -> np.ndarray:
        return voxels[rng.integers(len(voxels))]

    n_pores = int(rng.integers(3, 7))
    for _ in range(n_pores):
        box, inside = _ellipsoid(shape, inner_point(), size * rng.uniform(0.03, 0.07, 3), _random_rotation(rng))
        volume[box][inside] = 0.0
    n_inclusions = int(rng.integers(6, 13))
    for _ in range(n_inclusions):
        box, inside = _ellipsoid(shape, inner_point(), np.full(3, rng.uniform(1.0, 1.8)), np.eye(3))
        volume[box][inside & particle[box]] = 4.0

    peak = max(volume.sum(axis=1).max(), volume.sum(axis=2).max())
    return (volume * (target / peak)).astype(np.float32)


def _outside_circle(n: int) -> np.ndarray:
    """Pixels of an ``n x n`` slice outside the circle :func:`skimage.transform.radon` assumes empty."""
    yy, xx = np.ogrid[:n, :n]
    return (yy - n // 2) ** 2 + (xx - n // 2) ** 2 > (n // 2) ** 2


def tomo_projections(
    volume: np.ndarray | None = None,
    *,
    n_angles: int = 90,
    beam_fwhm_px: float = 2.0,
    photons: float = 1000.0,
    seed: int = 0,
) -> SynthResult:
    """Parallel-beam transmission projections of a volume, blurred and with Poisson noise.

    Parameters
    ----------
    volume:
        Attenuation per voxel ``(nz, ny, nx)`` with square slices (``ny == nx``), >= 0;
        default :func:`tomo_phantom` with this ``seed`` (64^3 voxels).
    n_angles:
        Number of projection angles, evenly spaced over [0, 180) degrees.
    beam_fwhm_px:
        FWHM of the Gaussian blur in the detector plane (source size, scintillator,
        optics), detector pixels; 0 for none.
    photons:
        Incident photons per detector pixel (the flat field I0).
    seed:
        Seed of the phantom (when ``volume`` is None) and of the noise.

    Returns
    -------
    SynthResult
        Stacks ``(n_angles, nz, n_det)`` of transmitted counts: ``truth =
        photons * exp(-p)`` with ``p`` the line integrals (skimage ``radon``, slice by
        slice); ``blurred`` = truth convolved within each projection image with the
        2-D Gaussian ``psf`` (edges continued as the nearest value: the open beam
        continues beyond the detector); ``noisy = Poisson(blurred)``. At 0° the beam
        runs along the volume's y axis, so ``p[0] = volume.sum(axis=1)``; detector
        column ``j`` is volume column ``j`` and the rotation axis is at column
        ``n_det // 2`` (``rotation_axis_px``). If the volume is non-zero outside the
        inscribed cylinder, the detector is widened to the slice diagonal
        (``circle`` False in meta). Frames' meta hold ``angles_deg``.
    """
    n_angles = _checks.integer("n_angles", n_angles, 1)
    beam_fwhm_px = _checks.positive("beam_fwhm_px", beam_fwhm_px, allow_zero=True, unit="px")
    photons = _checks.positive("photons", photons)
    seed = _checks.seed(seed)
    if volume is None:
        volume = tomo_phantom(seed=seed)
    volume = np.asarray(volume)
    if volume.ndim != 3 or volume.dtype.kind not in "fiu":
        raise InputError(f"volume must be a 3-D real array (nz, ny, nx), got {volume.ndim}-D {volume.dtype}")
    nz, ny, nx = volume.shape
    if ny != nx or ny < 2 or nz < 1:
        raise InputError(f"volume slices must be square (ny == nx >= 2), got shape {volume.shape}")
    volume = volume.astype(float)
    if not np.isfinite(volume).all() or volume.min() < 0:
        raise InputError("volume must hold finite, non-negative attenuation values")

    angles = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    circle = not volume[:, _outside_circle(nx)].any()
    sinograms = np.stack([radon(volume[z], angles, circle=circle) for z in range(nz)])  # (nz, n_det, n_angles)
    line = np.ascontiguousarray(sinograms.transpose(2, 0, 1))
    truth = photons * np.exp(-line)
    sigma_px = beam_fwhm_px * FWHM_TO_SIGMA
    psf = gaussian_psf(sigma_px) if beam_fwhm_px > 0 else None
    blurred = truth if psf is None else ndimage.convolve(truth, psf[None], mode="nearest")
    noisy = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).poisson(blurred)
    n_det = line.shape[2]
    meta = {
        "generator": "tomo_projections",
        "angles_deg": angles.tolist(),
        "n_angles": n_angles,
        "photons": photons,
        "beam_fwhm_px": beam_fwhm_px,
        "psf_sigma_px": sigma_px,
        "volume_shape": (nz, ny, nx),
        "n_det": n_det,
        "circle": circle,
        "rotation_axis_px": n_det // 2,
        "beam_axis_at_0deg": "y",
        "line_integral_max": float(line.max()),
        "seed": seed,
    }
    return SynthResult.from_arrays(
        truth,
        blurred,
        noisy,
        valid=None,
        kind="tomo_projection",
        generator="tomo_projections",
        seed=seed,
        psf=psf,
        meta=meta,
        frame_meta={"angles_deg": meta["angles_deg"]},
    )
