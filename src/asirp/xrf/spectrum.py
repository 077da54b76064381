"""The summed spectrum: its continuum background (SNIP) and which element lines stand out of it.

Before making maps a beamline user asks which elements are there. :func:`line_significance`
answers from the spectrum summed over the scan: the net counts of each line's window
above a SNIP background and their significance in Poisson standard deviations.

SNIP (statistics-sensitive non-linear iterative peak clipping; Ryan et al., Nucl.
Instrum. Methods B 34, 396 (1988)) is the background estimator of PyMca and MAPS /
XRF-Maps: on the log-log-square-root transformed spectrum, each channel is
repeatedly replaced by the mean of its neighbours ``p`` channels away when that is
lower, for ``p`` growing to about the peak width, so peaks are clipped away and the
continuum stays. It is written out here (a few lines of numpy) because scipy and
scikit-image have no spectral background estimator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import uniform_filter1d

from ..errors import InputError, ParameterError
from .calibration import DetectorResolution, EnergyCalibration
from .lines import Window, make_windows

#: Default SNIP clipping half-width, in detector FWHM (2: wide enough to clip a Kα doublet).
SNIP_WIDTH_FWHM = 2.0


def snip_background(spectrum: ArrayLike, width: int, smooth: int = 1) -> np.ndarray:
    """SNIP continuum background of ``spectrum`` (counts per channel).

    Parameters
    ----------
    spectrum:
        Non-negative counts per channel.
    width:
        Largest clipping half-width, channels (about the FWHM of the peaks or more).
    smooth:
        Width (channels) of a moving average applied first. Clipping follows the
        lowest points, so on a noisy spectrum it would sink below the continuum by
        about the Poisson noise; averaging over about one peak FWHM prevents that.

    Returns
    -------
    numpy.ndarray
        The background, float64, never above the spectrum.
    """
    counts = np.asarray(spectrum, dtype=np.float64).ravel()
    if counts.size < 3 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise InputError("a spectrum for SNIP must be finite, non-negative counts (at least 3 channels)")
    if isinstance(width, bool) or int(width) != width or width < 1:
        raise ParameterError(f"SNIP width must be a positive number of channels, got {width!r}")
    if isinstance(smooth, bool) or int(smooth) != smooth or smooth < 1:
        raise ParameterError(f"SNIP smoothing must be a positive number of channels, got {smooth!r}")
    level = uniform_filter1d(counts, int(smooth), mode="nearest") if smooth > 1 else counts
    v = np.log(np.log(np.sqrt(level + 1.0) + 1.0) + 1.0)  # LLS transform: peaks compressed, statistics evened
    for p in range(1, min(int(width), (counts.size - 1) // 2) + 1):
        clipped = 0.5 * (v[: -2 * p] + v[2 * p :])
        v[p:-p] = np.minimum(v[p:-p], clipped)
    background = (np.exp(np.exp(v) - 1.0) - 1.0) ** 2 - 1.0
    return np.minimum(np.maximum(background, 0.0), counts)


@dataclass(frozen=True)
class LineSignal:
    """Net counts of a line's window above the SNIP background of the summed spectrum."""

    window: Window
    gross: float
    background: float

    @property
    def net(self) -> float:
        return self.gross - self.background

    @property
    def significance(self) -> float:
        """Net counts over the Poisson standard deviation of the background."""
        return self.net / math.sqrt(max(self.background, 1.0))


def line_significance(
    spectrum: ArrayLike,
    lines: Sequence[str],
    calibration: EnergyCalibration,
    resolution: DetectorResolution | None = None,
    *,
    snip_width_fwhm: float = SNIP_WIDTH_FWHM,
) -> list[LineSignal]:
    """Net counts and significance of each line (``"Fe-Ka"``...) in a summed spectrum.

    A line with a significance above 5 is clearly present. Overlapping lines (Fe Kβ
    under Co Kα) each see the other's counts: read the significance together with
    :func:`~asirp.xrf.lines.find_overlaps`.
    """
    counts = np.asarray(spectrum, dtype=np.float64).ravel()
    resolution = resolution or DetectorResolution()
    mid = float(calibration.energy(counts.size / 2))
    fwhm_channels = float(resolution.fwhm_kev(mid)) / calibration.slope_kev
    width = max(1, round(snip_width_fwhm * fwhm_channels))
    background = snip_background(counts, width, smooth=max(1, round(fwhm_channels)) | 1)
    windows = make_windows(list(lines), calibration, counts.size, resolution)
    return [LineSignal(w, float(counts[w.lo : w.hi].sum()), float(background[w.lo : w.hi].sum())) for w in windows]
