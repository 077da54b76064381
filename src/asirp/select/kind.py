"""What kind of data a frame holds, when the file did not say.

The kind decides which physics applies (Poisson counts, beam blur, symmetry), so it
comes from metadata whenever possible: the frame's own ``kind`` (set by the reader,
the user or ``--kind``), an attached detector geometry (a diffraction frame), or
projection angles (a tomography stack). Only a plain ``"image"`` is looked at: a
detector pattern is recognised by how much of its variance a radial profile about
its centre explains (rings and isotropic scattering are radial; maps and
projections are not). Only photon counts (non-negative integers) can be patterns.
"""

from __future__ import annotations

import numpy as np

from ..frame import Frame
from ..kinds import Kind

#: Fraction of the variance a radial profile must explain to call an image a pattern.
RADIAL_R2 = 0.6


#: A scattering profile falls by more than this factor from the centre outwards.
SCATTERING_RANGE = 30.0
#: Rings: at least this many peaks of the radial profile with this relative prominence.
MIN_RINGS, RING_PROMINENCE = 2, 0.05


def radial_profile(data: np.ndarray, valid: np.ndarray) -> tuple[float, np.ndarray]:
    """R² of the radial profile about the bright-pixel centroid, and that profile (1-px bins).

    The centre is the intensity-weighted centroid of the brightest 2 % of the valid
    pixels (rings and a direct-beam halo are centred on the beam).
    """
    values = data[valid]
    threshold = np.percentile(values, 98)
    bright = valid & (data >= threshold)
    ys, xs = np.nonzero(bright)
    weights = data[bright].astype(np.float64)
    if weights.sum() <= 0:  # no counts at all: no centre, no profile
        return 0.0, np.zeros(0)
    cy, cx = np.average(ys, weights=weights), np.average(xs, weights=weights)
    yy, xx = np.nonzero(valid)
    radius = np.hypot(yy - cy, xx - cx).astype(np.int64)
    v = data[valid].astype(np.float64)
    sums = np.bincount(radius, weights=v)
    counts = np.bincount(radius)
    profile = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    residual = v - profile[radius]
    total = v.var()
    r2 = 1.0 - residual.var() / total if total > 0 else 0.0
    return float(r2), profile[counts > 0]


def pattern_kind(profile: np.ndarray) -> Kind | None:
    """``"scattering"`` (steep fall), ``"diffraction"`` (rings) or None from a radial profile."""
    from scipy.signal import find_peaks

    if profile.size < 8:
        return None
    inner = float(profile[: max(2, profile.size // 10)].max())
    outer = float(profile[-max(2, profile.size // 4) :].mean())
    if outer > 0 and inner / outer > SCATTERING_RANGE:
        return "scattering"
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    peaks, _ = find_peaks(smooth, prominence=RING_PROMINENCE * float(np.ptp(smooth)))
    return "diffraction" if peaks.size >= MIN_RINGS else None


def guess_kind(frame: Frame) -> tuple[Kind, str]:
    """``(kind, source)``: the frame's kind and where it comes from (metadata, geometry, angles, image)."""
    if frame.kind != "image":
        return frame.kind, "metadata"
    if frame.geometry is not None:
        return "diffraction", "detector geometry attached"
    if frame.is_stack and "angles_deg" in frame.meta:
        return "tomo_projection", "projection angles in metadata"
    image = frame.images()[len(frame.images()) // 2]
    values = image.data[image.valid]
    if (values < 0).any() or not np.array_equal(values, np.rint(values)):
        return "image", "image: not photon counts (negative or fractional values), so not a detector pattern"
    r2, profile = radial_profile(image.data, image.valid)
    kind = pattern_kind(profile) if r2 >= RADIAL_R2 else None
    if kind is not None:
        shape = "falls steeply" if kind == "scattering" else "shows rings"
        return kind, f"image: a radial profile explains {r2:.0%} of the variance and {shape}"
    return "image", f"image: no scattering or ring pattern (radial R²={r2:.2f}); treated as a generic image"
