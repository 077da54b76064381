"""Fourier ring correlation (FRC): resolution from two independent measurements.

Two measurements of one object with independent noise (two exposures, or the two
halves of a binomially split count image) agree at the spatial frequencies where the
signal is above the noise and decorrelate where noise dominates. The FRC curve is the
normalised cross-correlation of their Fourier transforms in rings of equal spatial
frequency (Saxton & Baumeister 1982; van Heel 1987)::

    FRC(r) = Re sum_{k in ring r} A(k) B*(k) / sqrt(sum |A(k)|^2 sum |B(k)|^2)

and the resolution is the period at which it first falls below a threshold: the fixed
1/7 (Rosenthal & Henderson 2003) or the half-bit curve (van Heel & Schatz 2005).

Written here rather than taken from a library because scikit-image and pyFAI have no
FRC, and the few packages that do (e.g. for cryo-EM) ignore detector masks.

References
----------
van Heel, M. & Schatz, M. (2005). Fourier shell correlation threshold criteria.
*J. Struct. Biol.* 151, 250-262. doi:10.1016/j.jsb.2005.05.009
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft
from scipy.signal import windows

from ..errors import InputError, ParameterError
from ..units import PixelSize, parse_length
from ._inputs import ImageLike, prepare

#: Named threshold curves accepted by :func:`frc`.
FRC_THRESHOLDS: tuple[str, ...] = ("1/7", "half-bit")

#: Fraction of each image side tapered by the Tukey apodisation window (half at each edge).
APODIZATION_ALPHA = 0.25

#: Signal-to-noise ratio per half data set of the half-bit criterion, (sqrt(2) - 1) / 2.
_HALF_BIT_SNR = (math.sqrt(2.0) - 1.0) / 2.0

#: Smallest image side for which an FRC has enough rings to mean anything, pixels.
_MIN_SIDE = 8


def half_bit_threshold(n_pixels: ArrayLike) -> np.ndarray:
    """The half-bit threshold curve of van Heel & Schatz (2005), eq. 17.

    ``T(n) = (0.2071 + 1.9102 / sqrt(n)) / (1.2071 + 0.9102 / sqrt(n))``, where ``n`` is
    the number of Fourier pixels in the ring; the constants come from the SNR
    ``(sqrt(2) - 1) / 2`` of each half data set, computed exactly here. ``T`` is 1 for
    ``n = 1`` and falls to ``0.2071 / 1.2071 = 0.1716`` for large rings.

    Examples
    --------
    >>> round(float(half_bit_threshold(1)), 6)
    1.0
    """
    n = np.asarray(n_pixels, dtype=np.float64)
    if np.any(n < 1):
        raise ParameterError("the half-bit threshold needs rings of at least one pixel")
    root_snr = math.sqrt(_HALF_BIT_SNR)
    inv_sqrt_n = 1.0 / np.sqrt(n)
    return (_HALF_BIT_SNR + (2.0 * root_snr + 1.0) * inv_sqrt_n) / (1.0 + _HALF_BIT_SNR + 2.0 * root_snr * inv_sqrt_n)


def _threshold_function(threshold: str | float) -> Callable[[np.ndarray], np.ndarray]:
    """The threshold curve as a function of the ring sizes; checked before any work."""
    if isinstance(threshold, str):
        if threshold == "1/7":
            return lambda n_pixels: np.full(n_pixels.shape, 1.0 / 7.0)
        if threshold == "half-bit":
            return half_bit_threshold
    elif isinstance(threshold, int | float) and not isinstance(threshold, bool) and 0 < threshold < 1:
        return lambda n_pixels: np.full(n_pixels.shape, float(threshold))
    raise ParameterError(
        f"unknown FRC threshold {threshold!r}; use {' or '.join(repr(t) for t in FRC_THRESHOLDS)} "
        "or a number between 0 and 1"
    )


def _square_pixel(pixel_size: PixelSize | str | float | None, from_frames: PixelSize | None) -> PixelSize | None:
    if pixel_size is None:
        size = from_frames
    elif isinstance(pixel_size, PixelSize):
        size = pixel_size
    else:
        size = PixelSize.square(*parse_length(pixel_size))
    if size is not None and not math.isclose(size.y, size.x, rel_tol=1e-6):
        raise ParameterError(
            f"FRC rings assume square pixels, got {size.y:g} x {size.x:g} {size.unit}; resample to square pixels first"
        )
    return size


@dataclass(frozen=True, eq=False)
class FRCResult:
    """A Fourier ring correlation curve and the resolution read from it.

    Attributes
    ----------
    frequency:
        Ring centres in cycles per pixel, ``0, 1/N, 2/N, ... <= 0.5`` with ``N`` the
        shorter image side: rings are one frequency index wide (``1/N``).
    correlation:
        FRC value per ring, in [-1, 1]. Ring 0 (zero frequency) is NaN: the mean of
        each image is removed before the transform, so it carries no information.
    n_pixels:
        Number of Fourier pixels in each ring (summed over the frames of a stack).
    threshold:
        The threshold curve used, one value per ring.
    resolution_px:
        Resolution in pixels, ``1 / f`` at the first frequency ``f`` where the curve
        falls below the threshold (linear interpolation between the two rings that
        bracket the crossing). ``inf`` when even the first ring is below the threshold
        (the measurements share no resolvable signal); ``1 / frequency[-1]`` (2 px for
        even sides: the sampling limit, an upper bound) when it never falls below.
    resolution:
        ``resolution_px`` times the pixel size, when known, else None.
    unit:
        Length unit of ``resolution`` (e.g. ``"um"``), or None.
    """

    frequency: np.ndarray
    correlation: np.ndarray
    n_pixels: np.ndarray
    threshold: np.ndarray
    resolution_px: float
    resolution: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        for name in ("frequency", "correlation", "n_pixels", "threshold"):
            array = np.array(getattr(self, name))
            array.flags.writeable = False
            object.__setattr__(self, name, array)


def _crossing_period(frequency: np.ndarray, correlation: np.ndarray, threshold: np.ndarray) -> float:
    """Period (pixels) where the curve first drops below the threshold, from ring 1 on."""
    excess = correlation - threshold
    # NaN (a ring without power in either image) counts as "no correlation".
    below = np.flatnonzero(~(excess[1:] >= 0)) + 1
    if below.size == 0:
        return float(1.0 / frequency[-1])
    k = int(below[0])
    if k == 1:
        return float("inf")
    fraction = excess[k - 1] / (excess[k - 1] - excess[k])
    return float(1.0 / (frequency[k - 1] + fraction * (frequency[k] - frequency[k - 1])))


def frc(
    a: ImageLike,
    b: ImageLike,
    *,
    threshold: str | float = "1/7",
    pixel_size: PixelSize | str | float | None = None,
    apodize: bool = True,
    valid: ArrayLike | None = None,
) -> FRCResult:
    """Fourier ring correlation of two independent measurements of one object.

    Each image has the mean of its valid pixels removed, is multiplied by the weight
    ``window * valid`` (masked pixels get weight 0) and Fourier transformed; the
    cross- and auto-powers are summed in rings one frequency index (``1/N`` cycles per
    pixel, ``N`` the shorter side) wide, ring ``r`` holding the frequencies ``f`` with
    ``round(f * N) == r`` up to Nyquist (corners beyond 0.5 cycles/pixel are left
    out). For a stack the sums run over all frames, giving one curve. Nothing is
    smoothed: the curve is the raw ring estimate.

    Parameters
    ----------
    a, b:
        Arrays or Frames of one shape, 2-D or 3-D, each side at least 8 pixels. Their
        noise must be independent (two exposures, or two binomial halves of a count
        image); correlated noise (e.g. from interpolation or a shared dark frame)
        makes the resolution look better than it is.
    threshold:
        ``"1/7"`` (fixed 0.143), ``"half-bit"`` (:func:`half_bit_threshold` of the
        ring size) or a number in (0, 1).
    pixel_size:
        Physical pixel size, a :class:`~asirp.units.PixelSize`, a length such as
        ``"25um"``, or a number in micrometres; default: the frames' pixel size.
        Pixels must be square.
    apodize:
        Multiply by a separable Tukey window (``APODIZATION_ALPHA`` = 25 % of each side
        tapered) so that the image edges, which would otherwise add the same bright
        cross along the frequency axes to both spectra, do not fake correlation at
        high frequency. Turn off only for periodic images.
    valid:
        Optional boolean mask, True = use the pixel; combined with the frames' masks.
        A mask with large sharp-edged holes adds correlated leakage like the image
        edge does; prefer compact masks.

    Returns
    -------
    FRCResult

    Raises
    ------
    InputError
        Shapes differ, images smaller than 8 x 8, no valid pixel, a valid NaN/inf.
    ParameterError
        Unknown threshold, non-square or invalid pixel size.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> obj = ndimage.gaussian_filter(rng.normal(size=(128, 128)), 2) * 50
    >>> result = frc(obj + rng.normal(size=obj.shape), obj + rng.normal(size=obj.shape))
    >>> bool(result.correlation[1] > 0.99), 2 < result.resolution_px < 20
    (True, True)
    """
    threshold_of = _threshold_function(threshold)
    prepared = prepare((a, b), ("a", "b"), valid)
    size = _square_pixel(pixel_size, prepared.pixel_size)
    first, second = prepared.arrays
    mask = prepared.valid
    ny, nx = first.shape[-2:]
    if min(ny, nx) < _MIN_SIDE:
        raise InputError(f"FRC needs images of at least {_MIN_SIDE} x {_MIN_SIDE} pixels, got shape {first.shape}")
    if first.ndim == 2:
        first, second, mask = first[None], second[None], mask[None]

    side = min(ny, nx)
    n_rings = side // 2 + 1
    ring = np.rint(np.hypot(fft.fftfreq(ny)[:, None], fft.fftfreq(nx)[None, :]) * side).astype(np.intp)
    inside = ring < n_rings
    ring = ring[inside]
    window = np.outer(windows.tukey(ny, APODIZATION_ALPHA), windows.tukey(nx, APODIZATION_ALPHA)) if apodize else 1.0

    cross = np.zeros(n_rings)
    power_a = np.zeros(n_rings)
    power_b = np.zeros(n_rings)
    frames_used = 0
    for image_a, image_b, image_valid in zip(first, second, mask, strict=True):
        weight = window * image_valid
        if not np.any(weight > 0):
            continue
        spectra = []
        for image in (image_a, image_b):
            # np.where, not a product: masked pixels may hold NaN.
            centred = np.where(image_valid, image - image[image_valid].mean(), 0.0)
            spectra.append(fft.fft2(weight * centred)[inside])
        spectrum_a, spectrum_b = spectra
        cross += np.bincount(ring, weights=(spectrum_a * spectrum_b.conj()).real, minlength=n_rings)
        power_a += np.bincount(ring, weights=np.abs(spectrum_a) ** 2, minlength=n_rings)
        power_b += np.bincount(ring, weights=np.abs(spectrum_b) ** 2, minlength=n_rings)
        frames_used += 1
    if frames_used == 0:
        raise InputError("no valid pixel inside the apodisation window; FRC is undefined")

    denominator = np.sqrt(power_a * power_b)
    correlation = np.full(n_rings, np.nan)
    np.divide(cross, denominator, out=correlation, where=denominator > 0)
    correlation[0] = np.nan
    n_pixels = np.bincount(ring, minlength=n_rings) * frames_used
    frequency = np.arange(n_rings) / side
    curve = threshold_of(n_pixels)
    resolution_px = _crossing_period(frequency, correlation, curve)
    return FRCResult(
        frequency=frequency,
        correlation=correlation,
        n_pixels=n_pixels,
        threshold=curve,
        resolution_px=resolution_px,
        resolution=None if size is None else resolution_px * size.x,
        unit=None if size is None else size.unit,
    )
