"""The numbers the viewer compares: line profiles, contrast, azimuthal profiles.

Line profiles use :func:`skimage.measure.profile_line` (bilinear samples one pixel
apart, both ends included); contrast, PSNR/SSIM against a reference and azimuthal
profiles are asirp's own (:mod:`asirp.analysis`), so the viewer shows the figures the
reports and benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.measure import profile_line

from ..analysis import azimuthal_profile, contrast_std, psnr, ssim
from ..errors import AsirpError
from ..frame import Frame

#: Radial bins of the azimuthal profiles shown.
AZIMUTHAL_BINS = 500


@dataclass(frozen=True)
class Line:
    """A straight line on the displayed image, in display pixel coordinates (x = column, y = row).

    Coordinates are those of the image glyph: pixel (row i, column j) covers
    ``[j, j+1) x [i, i+1)``, so its centre is at ``(j + 0.5, i + 0.5)``.
    """

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def length(self) -> float:
        return float(np.hypot(self.x1 - self.x0, self.y1 - self.y0))


def line_profile(image: np.ndarray, line: Line, reference_shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``image`` along ``line``; returns (distance along the line, values).

    ``image`` is a displayed array (NaN where not measured). ``line`` is in the pixels
    of an image of ``reference_shape`` (the raw one; default ``image.shape``), so that a
    super-resolved result, drawn over the same extent, is sampled along the same line;
    distances are in reference pixels. A sample touching a pixel that was not measured
    is NaN (a gap in the plot), not an interpolation across it, and so is one beyond the
    image's outermost pixel centres.
    """
    ny, nx = image.shape
    ref_y, ref_x = reference_shape or image.shape
    sy, sx = ny / ref_y, nx / ref_x
    src = ((line.y0 * sy) - 0.5, (line.x0 * sx) - 0.5)
    dst = ((line.y1 * sy) - 0.5, (line.x1 * sx) - 0.5)
    measured = np.isfinite(image)
    values = profile_line(np.where(measured, image, 0.0), src, dst, order=1, mode="constant")
    coverage = profile_line(measured.astype(np.float64), src, dst, order=1, mode="constant")  # 0 outside the image
    values = np.where(coverage > 1 - 1e-6, values, np.nan)
    distance = np.linspace(0.0, line.length, values.size)
    return distance, values


def contrast(frame: Frame) -> float:
    """Contrast (standard deviation of the valid pixels) as the ASIRP paper measures it."""
    return contrast_std(frame)


def azimuthal(frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
    """(q in nm⁻¹, mean intensity) of a 2-D frame with a detector geometry; None without one.

    A result whose geometry no longer fits (a super-resolved frame keeps the raw
    geometry only when a method updates it) gives None rather than an error.
    """
    if frame.geometry is None or frame.is_stack:
        return None
    try:
        profile = azimuthal_profile(frame, npt=AZIMUTHAL_BINS)
    except AsirpError:
        return None
    return profile.radial, profile.intensity


def against_reference(reference: Frame, frame: Frame) -> tuple[float, float] | None:
    """(PSNR in dB, SSIM) of ``frame`` against ``reference`` (ground truth) over both masks; None for another shape."""
    if reference.shape != frame.shape:
        return None
    return psnr(reference, frame), ssim(reference, frame)
