"""Point-spread functions: models, validation, loading and estimation.

The PSF of a scanning micro-probe (micro-XRF, scanning diffraction) is the beam
profile sampled on the scan grid; the PSF of an imaging detector is its line-spread
function. asirp works with PSFs as small 2-D arrays in **pixel** units, odd-sized,
centred on the middle pixel and normalised to unit sum, so that deconvolution
preserves the total signal.

* :func:`gaussian_psf`: an (optionally anisotropic, rotated) Gaussian from widths in px;
* :func:`beam_sigma_px` / :func:`psf_from_beam`: a Gaussian from a physical beam FWHM
  and the scan step or pixel size (50 µm beam at 25 µm steps → σ ≈ 0.85 px);
* :func:`validate_psf` / :func:`load_psf`: a measured or user-given PSF made safe to use;
* :func:`knife_edge_fwhm`: the beam FWHM from a knife-edge scan (erf fit);
* :func:`estimate_gaussian_sigma`: the Gaussian width estimated from the blurred image
  itself, when nothing else is known (:func:`estimated_gaussian_psf`: its PSF, cut to
  fit in a small image).

References
----------
.. [1] J. W. Goodman, *Introduction to Fourier Optics*, 3rd ed. (2005): OTF of a Gaussian.
.. [2] ISO 12233 / knife-edge method: the edge-spread function of a Gaussian beam is an
       error function whose derivative is the line-spread function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError, ParameterError
from .units import PixelSize, convert_length, parse_length

#: FWHM = FWHM_PER_SIGMA × σ for a Gaussian (2·sqrt(2·ln 2) ≈ 2.3548).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_MIN_SIGMA = 1e-3
#: Default extent of a Gaussian PSF array, in standard deviations on each side.
DEFAULT_TRUNCATE = 4.0


def fwhm_to_sigma(fwhm: float) -> float:
    """Standard deviation of a Gaussian with full width at half maximum ``fwhm`` (same unit)."""
    return float(fwhm) / FWHM_PER_SIGMA


def sigma_to_fwhm(sigma: float) -> float:
    """Full width at half maximum of a Gaussian of standard deviation ``sigma`` (same unit)."""
    return float(sigma) * FWHM_PER_SIGMA


def gaussian_psf(
    sigma_y: float,
    sigma_x: float | None = None,
    angle_deg: float = 0.0,
    size: int | tuple[int, int] | None = None,
    *,
    truncate: float = DEFAULT_TRUNCATE,
) -> np.ndarray:
    """A sampled 2-D Gaussian PSF, odd-sized, centred and normalised to unit sum.

    Parameters
    ----------
    sigma_y, sigma_x:
        Standard deviations along the ellipse's own axes, in **pixels**; ``sigma_x``
        defaults to ``sigma_y`` (isotropic). Zero gives a delta (no blur) along that axis.
    angle_deg:
        Rotation of the ellipse, in degrees: the ``sigma_x`` axis points along
        ``(cos θ, sin θ)`` in (column, row) pixel coordinates, i.e. positive angles
        turn it from the +column direction towards +row (clockwise as displayed with
        row 0 at the top).
    size:
        Array size (odd int or ``(ny, nx)``); default ``2·ceil(truncate·σ_max)+1``,
        at least 3. Even sizes are rounded up to the next odd number so the PSF has a
        central pixel.
    truncate:
        Half-extent of the default size, in standard deviations.

    Returns
    -------
    numpy.ndarray
        float64 array summing to 1. The Gaussian is point-sampled at pixel centres,
        like ``scipy.ndimage.gaussian_filter`` and MATLAB ``fspecial('gaussian')``.

    Examples
    --------
    >>> psf = gaussian_psf(1.0)
    >>> psf.shape, round(float(psf.sum()), 12)
    ((9, 9), 1.0)
    """
    sy = float(sigma_y)
    sx = sy if sigma_x is None else float(sigma_x)
    for label, value in (("sigma_y", sy), ("sigma_x", sx), ("angle_deg", angle_deg), ("truncate", truncate)):
        if not math.isfinite(value):
            raise ParameterError(f"gaussian_psf: {label} must be finite, got {value}")
    if sy < 0 or sx < 0 or truncate <= 0:
        raise ParameterError(f"gaussian_psf: widths must be >= 0 and truncate > 0, got sigma=({sy}, {sx}), truncate={truncate}")
    # Widths below 1e-3 px sample as a delta; the floor keeps the covariance invertible.
    sy, sx = max(sy, _MIN_SIGMA), max(sx, _MIN_SIGMA)
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    # Covariance in (row, column) coordinates: R diag(sx², sy²) Rᵀ with the sx axis along (cos, sin) in (col, row).
    var_col = (sx * cos) ** 2 + (sy * sin) ** 2
    var_row = (sx * sin) ** 2 + (sy * cos) ** 2
    cov = (sx**2 - sy**2) * cos * sin
    if size is None:
        half_y = max(1, math.ceil(truncate * math.sqrt(var_row)))
        half_x = max(1, math.ceil(truncate * math.sqrt(var_col)))
        shape = (2 * half_y + 1, 2 * half_x + 1)
    else:
        ny, nx = (size, size) if isinstance(size, int | np.integer) else size
        if int(ny) < 1 or int(nx) < 1:
            raise ParameterError(f"gaussian_psf: size must be positive, got {size}")
        shape = (int(ny) | 1, int(nx) | 1)
    rows = np.arange(shape[0], dtype=np.float64) - shape[0] // 2
    cols = np.arange(shape[1], dtype=np.float64) - shape[1] // 2
    r, c = np.meshgrid(rows, cols, indexing="ij")
    det = var_row * var_col - cov**2
    quad = (var_col * r**2 - 2.0 * cov * r * c + var_row * c**2) / det
    psf = np.exp(-0.5 * quad)
    return psf / psf.sum()


def beam_sigma_px(fwhm: str | float | tuple[float, str], step: str | float | tuple[float, str] | PixelSize) -> tuple[float, float]:
    """Gaussian standard deviation in pixels ``(σ_y, σ_x)`` of a beam on a scan grid.

    Parameters
    ----------
    fwhm:
        Beam full width at half maximum: a length such as ``"50um"``, ``(50, "um")``
        or a bare number in µm.
    step:
        Scan step or pixel size: a length (square pixels) or a :class:`PixelSize`.

    Examples
    --------
    >>> [round(s, 3) for s in beam_sigma_px("50um", "25um")]
    [0.849, 0.849]
    """
    fwhm_value, fwhm_unit = _length(fwhm, "fwhm")
    if isinstance(step, PixelSize):
        step_y, step_x = step.y, step.x
        step_unit = step.unit
    else:
        step_value, step_unit = _length(step, "step")
        step_y = step_x = step_value
    if not fwhm_value >= 0:
        raise ParameterError(f"beam FWHM must be a non-negative length, got {fwhm!r}")
    if not (step_y > 0 and step_x > 0):
        raise ParameterError(f"scan step / pixel size must be a positive length, got {step!r}")
    fwhm_in_step_unit = convert_length(fwhm_value, fwhm_unit, step_unit)
    sigma = fwhm_to_sigma(fwhm_in_step_unit)
    return sigma / step_y, sigma / step_x


def psf_from_beam(
    fwhm: str | float | tuple[float, str],
    step: str | float | tuple[float, str] | PixelSize,
    *,
    size: int | tuple[int, int] | None = None,
    truncate: float = DEFAULT_TRUNCATE,
) -> np.ndarray:
    """Gaussian PSF of a beam of physical FWHM sampled at a physical step (see :func:`beam_sigma_px`).

    Examples
    --------
    >>> psf = psf_from_beam("50um", "25um")
    >>> psf.shape
    (9, 9)
    """
    sigma_y, sigma_x = beam_sigma_px(fwhm, step)
    return gaussian_psf(sigma_y, sigma_x, size=size, truncate=truncate)


def _length(value: str | float | tuple[float, str], label: str) -> tuple[float, str]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ParameterError(f"{label} must be a length such as '50um' or (50, 'um'), got {value!r}")
        number, unit = value
        return parse_length(float(number), default_unit=str(unit))
    if isinstance(value, bool) or not isinstance(value, str | int | float | np.floating | np.integer):
        raise ParameterError(f"{label} must be a length such as '50um', got {type(value).__name__}")
    number, unit = parse_length(value if isinstance(value, str) else float(value))
    if not math.isfinite(number):
        raise ParameterError(f"{label} must be finite, got {value!r}")
    return number, unit


#: Negative PSF entries down to this fraction of the peak are rounding noise and set to 0.
NEGATIVE_TOLERANCE = 1e-6



def estimated_gaussian_psf(sigma: float, image_shape: tuple[int, ...]) -> np.ndarray:
    """The isotropic Gaussian PSF of a width estimated from an image, cut to fit in that image.

    Estimated widths are capped at ``min(ny, nx) / 8`` (:func:`spectral_sigma`), but
    the default extent of ±4σ then exceeds a small image by a pixel or two, and
    :func:`validate_psf` would refuse a PSF the user never gave. Each axis is cut to
    the largest odd size that fits: ±(n-1)/2 px, at least ±3σ from 8 px up.
    """
    default = gaussian_psf(sigma).shape
    fits = tuple(min(size, n if n % 2 else n - 1) for size, n in zip(default, image_shape[-2:], strict=True))
    return gaussian_psf(sigma, size=fits)

def validate_psf(psf: ArrayLike, image_shape: tuple[int, ...] | None = None, *, name: str = "PSF") -> np.ndarray:
    """Check and normalise a PSF array: what every deconvolution does first.

    What is checked or done, in order:

    * 2-D, finite (NaN/inf: error), not all zero;
    * non-negative: entries below ``-1e-6 × peak`` are an error (a PSF with real
      negative lobes, e.g. a background-subtracted measurement, must be fixed by the
      user); smaller negative entries are floating-point noise and set to 0;
    * all-zero border rows/columns are trimmed (they only cost FFT padding);
    * **centred**: the PSF is padded to odd size and shifted by whole pixels so that
      its centroid falls on the central pixel. An even-sized symmetric PSF has its
      centre between pixels; the remaining half-pixel offset cannot be removed
      without interpolation and shifts the deconvolved image by at most half a pixel;
    * **normalised** to unit sum, so deconvolution preserves the total signal (a PSF
      given in counts or with another sum would otherwise rescale the image);
    * no larger than ``image_shape`` (the last two axes) along either axis: a clear
      error, since such a PSF cannot be estimated or deconvolved from that image.

    Returns
    -------
    numpy.ndarray
        float64, odd-sized, centred, summing to 1.
    """
    try:
        array = np.array(psf, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a 2-D array of numbers: {exc}") from None
    if array.ndim != 2:
        raise ParameterError(f"{name} must be a 2-D array, got {array.ndim}-D of shape {array.shape}")
    if array.size == 0:
        raise ParameterError(f"{name} is empty")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ParameterError(f"{name} has {int(bad.sum())} NaN or infinite entries")
    peak = float(np.abs(array).max())
    if peak == 0:
        raise ParameterError(f"{name} is all zero")
    negative = array < -NEGATIVE_TOLERANCE * peak
    if negative.any():
        raise ParameterError(
            f"{name} has {int(negative.sum())} negative entries (minimum {array.min():.3g}, peak {peak:.3g}); "
            "a PSF must be non-negative (subtract less background or clip it yourself)"
        )
    array = np.clip(array, 0.0, None)
    rows = np.flatnonzero(array.any(axis=1))
    cols = np.flatnonzero(array.any(axis=0))
    array = array[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    array = _centre(array)
    if image_shape is not None:
        ny, nx = image_shape[-2:]
        if array.shape[0] > ny or array.shape[1] > nx:
            raise ParameterError(
                f"{name} of shape {array.shape[0]}x{array.shape[1]} (after centring) is larger than the image "
                f"{ny}x{nx}; crop the PSF or use a larger image"
            )
    return array / array.sum()


def _centre(array: np.ndarray) -> np.ndarray:
    """Pad to odd size with the centroid (rounded to whole pixels) on the central pixel."""
    total = array.sum()
    pads = []
    for axis in (0, 1):
        profile = array.sum(axis=1 - axis)
        centroid = float(np.dot(np.arange(array.shape[axis]), profile) / total)
        c = int(round(centroid))
        before, after = c, array.shape[axis] - 1 - c
        half = max(before, after)
        pads.append((half - before, half - after))
    return np.pad(array, pads)


def load_psf(path: str | PathLike[str], image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read a PSF from a ``.npy`` or ``.tif``/``.tiff`` file and validate it (:func:`validate_psf`).

    Errors name the file: :class:`~asirp.errors.InputError` for a missing, unreadable
    or invalid file.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".npy", ".tif", ".tiff"):
        raise InputError(f"unsupported PSF file type {suffix or '(none)'!r}; use .npy or .tif", file)
    if not file.is_file():
        raise InputError("PSF file not found", file)
    try:
        if suffix == ".npy":
            array = np.load(file, allow_pickle=False)
        else:
            import tifffile

            array = tifffile.imread(file)
    except Exception as exc:  # any reader failure is a bad input file
        raise InputError(f"cannot read the PSF: {exc}", file) from None
    array = np.squeeze(np.asarray(array))
    try:
        return validate_psf(array, image_shape)
    except ParameterError as exc:
        raise InputError(str(exc), file) from None


def psf_second_moments(psf: ArrayLike) -> tuple[float, float]:
    """Standard deviations ``(σ_row, σ_col)`` in px of a PSF from its second central moments."""
    array = np.asarray(psf, dtype=np.float64)
    total = array.sum()
    rows = np.arange(array.shape[0], dtype=np.float64)
    cols = np.arange(array.shape[1], dtype=np.float64)
    prow, pcol = array.sum(axis=1) / total, array.sum(axis=0) / total
    mr, mc = float(rows @ prow), float(cols @ pcol)
    return math.sqrt(float(((rows - mr) ** 2) @ prow)), math.sqrt(float(((cols - mc) ** 2) @ pcol))


@dataclass(frozen=True)
class KnifeEdgeFit:
    """Result of :func:`knife_edge_fwhm`, all lengths in ``unit``.

    ``fwhm`` is the beam FWHM along the scan direction with its one-standard-error
    ``fwhm_std`` from the fit covariance; ``center`` is the edge position; ``low`` and
    ``high`` are the signal levels on either side.
    """

    fwhm: float
    fwhm_std: float
    unit: str
    center: float
    low: float
    high: float

    @property
    def sigma(self) -> float:
        """Gaussian standard deviation of the beam, in ``unit``."""
        return fwhm_to_sigma(self.fwhm)


def _erf_edge(x: np.ndarray, center: float, sigma: float, low: float, high: float) -> np.ndarray:
    from scipy.special import erf

    return low + (high - low) * 0.5 * (1.0 + erf((x - center) / (math.sqrt(2.0) * sigma)))


def knife_edge_fwhm(positions: ArrayLike, signal: ArrayLike, *, unit: str = "um") -> KnifeEdgeFit:
    """Beam FWHM from a knife-edge scan, by fitting an error function.

    A Gaussian beam scanned across a sharp edge gives the signal
    ``low + (high - low)·½[1 + erf((x - x0) / (√2 σ))]`` (rising or falling); the fit
    (:func:`scipy.optimize.curve_fit`) returns ``FWHM = 2√(2 ln 2) σ``.

    Parameters
    ----------
    positions:
        Scan positions, in ``unit`` (1-D, at least 5, not all equal).
    signal:
        Measured signal at each position (counts or normalised).
    unit:
        Length unit of ``positions`` and of the result.

    Examples
    --------
    >>> from scipy.special import erf
    >>> x = np.linspace(-100, 100, 81)
    >>> y = 10 + 90 * 0.5 * (1 + erf((x - 5) / (np.sqrt(2) * 21.23)))
    >>> round(knife_edge_fwhm(x, y).fwhm, 1)
    50.0
    """
    from scipy.optimize import curve_fit

    x = np.asarray(positions, dtype=np.float64).ravel()
    y = np.asarray(signal, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ParameterError(f"knife_edge_fwhm: {x.size} positions but {y.size} signal values")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 5 or np.ptp(x) == 0:
        raise ParameterError("knife_edge_fwhm: need at least 5 finite points at distinct positions")
    order = np.argsort(x)
    x, y = x[order], y[order]
    low, high = float(np.median(y[: max(2, x.size // 5)])), float(np.median(y[-max(2, x.size // 5) :]))
    if low == high:
        raise ParameterError("knife_edge_fwhm: the signal has no edge (same level on both sides)")
    half = 0.5 * (low + high)
    center0 = float(x[np.argmin(np.abs(y - half))])
    # Initial width from the 16 %-84 % rise distance, robust to noise.
    frac = (y - low) / (high - low)
    inside = x[(frac > 0.16) & (frac < 0.84)]
    sigma0 = max(float(np.ptp(inside)) / 2.0 if inside.size > 1 else 0.0, float(np.min(np.diff(x)[np.diff(x) > 0])))
    try:
        popt, pcov = curve_fit(_erf_edge, x, y, p0=(center0, sigma0, low, high), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise ParameterError(f"knife_edge_fwhm: the erf fit did not converge ({exc})") from None
    center, sigma, lo, hi = (float(v) for v in popt)
    sigma_std = float(math.sqrt(pcov[1, 1])) if np.isfinite(pcov[1, 1]) else float("nan")
    return KnifeEdgeFit(
        fwhm=abs(sigma) * FWHM_PER_SIGMA,
        fwhm_std=sigma_std * FWHM_PER_SIGMA,
        unit=parse_length(0.0, default_unit=unit)[1],
        center=center,
        low=lo,
        high=hi,
    )
