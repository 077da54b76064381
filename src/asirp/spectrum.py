"""Power spectra of images and their model fits: how much signal each spatial frequency carries.

The windowed periodogram of an image (:func:`power_spectrum`) and its fit by a
power-law object spectrum seen through a transfer function above a white noise floor
(:func:`fit_power_spectrum`, :class:`SpectrumModel`), used to estimate blur widths
(:func:`spectral_sigma`), noise floors and Wiener filters. Frequencies are in
cycles per pixel; powers in (image unit)² per frequency sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .errors import ParameterError
from .filters import fill_masked


def power_spectrum(image: ArrayLike, valid: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windowed periodogram of a 2-D image, in (value unit)² per frequency sample.

    Masked pixels are filled from their neighbours, the mean is removed and a 2-D
    Hann window suppresses the edge discontinuity (which would otherwise put a
    spurious cross of 1/f² power along the frequency axes). The result is normalised
    so that white noise of variance σ² has expected power σ² at every frequency.

    Returns
    -------
    fy, fx, power:
        Frequencies in cycles/px, broadcastable as ``(ny, 1)`` and ``(1, nx//2+1)``,
        and the power on the real-FFT half plane ``(ny, nx//2+1)``.
    """
    import scipy.fft

    data = np.asarray(image, dtype=np.float64)
    mask = np.ones(data.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    filled = fill_masked(np.where(mask, data, 0.0), mask).astype(np.float64)
    window = np.outer(np.hanning(data.shape[0] + 2)[1:-1], np.hanning(data.shape[1] + 2)[1:-1])
    centred = (filled - np.average(filled, weights=window)) * window
    power = np.abs(scipy.fft.rfft2(centred)) ** 2 / np.sum(window**2)
    fy = scipy.fft.fftfreq(data.shape[0])[:, None]
    fx = scipy.fft.rfftfreq(data.shape[1])[None, :]
    return fy, fx, power


#: Range of the object's spectral slope β in ``|U(f)|² ∝ |f|^-β`` allowed in the spectrum fits:
#: from white (0) through smooth textures to isolated sharp edges and points (4).
SPECTRAL_SLOPE_RANGE = (0.0, 4.0)
#: Frequencies below this (cycles/px), the scale of the field of view itself, are not fitted.
MIN_FIT_FREQUENCY = 0.02
#: Rings of equal width in |f| (0 to the corner, √0.5 cycles/px) over which the Whittle
#: fit of an isotropic model sums the periodogram.
FIT_RINGS = 1024
#: With a given transfer ``T`` each ring is further split into levels of ``ln T`` this wide
#: (a 2 % step in T), down to :data:`FIT_TRANSFER_FLOOR`; below it the object is far under
#: any noise floor and one level holds the rest.
FIT_TRANSFER_STEP = 0.02
FIT_TRANSFER_FLOOR = 1e-30


@dataclass(frozen=True)
class SpectrumModel:
    """``P(f) = A·|f|^-β·T(f) + N₀``: a power-law object spectrum seen through a transfer
    ``T(f) = |OTF(f)|²`` above a white noise floor (see :func:`fit_power_spectrum`).

    ``amplitude`` A and ``noise`` N₀ are in (image unit)² per frequency sample as
    returned by :func:`power_spectrum`; ``slope`` β is dimensionless; ``sigma`` is the
    Gaussian OTF width in px when it was fitted (None when the transfer was given).
    """

    amplitude: float
    slope: float
    noise: float
    sigma: float | None = None

    def object_power(self, f2: np.ndarray) -> np.ndarray:
        """Object power ``A·|f|^-β`` at squared frequencies ``f2`` (cycles/px)²; the mean (f = 0) gets inf
        (also when the fitted amplitude underflowed to 0, where ``0·inf`` would be NaN)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            power = self.amplitude * np.power(f2, -0.5 * self.slope)
        return np.where(f2 > 0, power, np.inf)


def fit_power_spectrum(
    fy: np.ndarray,
    fx: np.ndarray,
    power: np.ndarray,
    transfer: np.ndarray | None = None,
    *,
    noise_max: float | None = None,
    slope_range: tuple[float, float] = SPECTRAL_SLOPE_RANGE,
    sigma_max: float = 64.0,
) -> SpectrumModel:
    """Fit a :class:`SpectrumModel` to a periodogram by maximum Whittle likelihood.

    The periodogram is exponentially distributed about its expectation, so the fit
    minimises ``Σ log P_model + P/P_model`` (Whittle 1953), which weighs the
    frequencies where the signal sinks into the noise floor correctly (a least-squares
    fit of log power would not). With ``transfer=None`` the transfer is a Gaussian OTF
    ``exp(-4π²σ²|f|²)`` whose σ (px, at most ``sigma_max``) is fitted too.

    Parameters
    ----------
    fy, fx, power:
        Output of :func:`power_spectrum`.
    transfer:
        ``|OTF|²`` on the same grid as ``power``, or None to fit a Gaussian one.
    noise_max:
        An upper bound of the noise floor N₀ (same units as ``power``), e.g. a robust
        estimate, or None. Bounding it keeps the fit honest for strongly periodic
        objects, whose few spectral peaks a power law cannot follow (an unbounded fit
        may then call everything noise), while noise-free data can still get a floor
        near zero.
    slope_range:
        Bounds of β.
    sigma_max:
        Upper bound of the fitted σ, px.
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    f2_all = np.broadcast_to(fy**2 + fx**2, power.shape)
    used = f2_all > MIN_FIT_FREQUENCY**2
    f2, observed = f2_all[used], power[used]
    fixed = None if transfer is None else np.broadcast_to(transfer, power.shape)[used]
    if observed.size < 16 or not np.any(observed > 0):
        raise ParameterError("the image is too small or has no variation: cannot fit its power spectrum")
    high = f2 > 0.4**2
    floor = float(np.median(observed[high] if high.any() else observed)) / math.log(2.0)
    low_band = f2 < 0.1**2
    level = float(np.median(observed[low_band] if low_band.any() else observed))
    slope_low, slope_span = slope_range[0], slope_range[1] - slope_range[0]
    sigma_low = 0.05

    def unpack(p: np.ndarray) -> tuple[float, float, float | None, float]:
        # Bounded parameters through logistic maps keep Nelder-Mead unconstrained.
        slope = slope_low + slope_span * float(expit(p[1]))
        sigma = None if fixed is not None else sigma_low + (sigma_max - sigma_low) * float(expit(p[-1]))
        if noise_max is None:
            log_n = p[2]
        else:  # N₀ = noise_max·expit(p): in (0, noise_max)
            log_n = math.log(max(noise_max, 1e-300)) - float(np.logaddexp(0.0, -p[2]))
        return p[0], slope, sigma, log_n

    # The Whittle sum over frequencies where the model is (nearly) the same is
    # count·log P + ΣP_obs/P at their mean f² (and mean transfer): to within 1e-3 over
    # FIT_RINGS thin rings of |f|, and a given transfer, which need not be isotropic, is
    # binned in 2 % levels within each ring. Thousands of terms instead of the
    # periodogram's ~10⁶ make the fit of a 1024² frame take milliseconds, not seconds.
    group = np.minimum((np.sqrt(f2) / math.sqrt(0.5) * FIT_RINGS).astype(np.int64), FIT_RINGS - 1)
    if fixed is not None:
        depth = -np.log(np.clip(fixed, FIT_TRANSFER_FLOOR, 1.0))
        group = group * (int(-math.log(FIT_TRANSFER_FLOOR) / FIT_TRANSFER_STEP) + 1) + (depth / FIT_TRANSFER_STEP).astype(np.int64)
    occupied = np.bincount(group) > 0  # group numbers made consecutive (a bincount: no sort of 10⁶ keys)
    group = (np.cumsum(occupied) - 1)[group]
    term_count = np.bincount(group).astype(np.float64)
    term_f2 = np.bincount(group, weights=f2) / term_count
    term_observed = np.bincount(group, weights=observed)
    if fixed is not None:
        fixed = np.bincount(group, weights=fixed) / term_count
    log_f2 = np.log(term_f2)

    def negative_whittle(p: np.ndarray) -> float:
        log_a, slope, sigma, log_n = unpack(p)
        exponent = np.clip(log_a - 0.5 * slope * log_f2, -700, 700)
        signal = np.exp(exponent) * (fixed if sigma is None else np.exp(-4.0 * math.pi**2 * sigma**2 * term_f2))
        model = signal + math.exp(min(log_n, 700))
        return float(np.sum(term_count * np.log(model) + term_observed / model))

    base = [math.log(max(level, 1e-30) * MIN_FIT_FREQUENCY**2), 0.0, math.log(max(floor, 1e-30))]
    if noise_max is not None:
        base[2] = 0.0  # N₀ starts at noise_max / 2
    starts = [np.array(base)]
    if fixed is None:
        starts = []
        for sigma_start in (0.5, 1.0, 2.0, 4.0):
            if sigma_start < sigma_max:
                q = (sigma_start - sigma_low) / (sigma_max - sigma_low)
                starts.append(np.array([*base, math.log(q / (1.0 - q))]))
    best = None
    for start in starts:
        fit = minimize(negative_whittle, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-3})
        if best is None or fit.fun < best.fun:
            best = fit
    if best is None:
        raise ParameterError("the image is too small to fit a Gaussian OTF to its power spectrum")
    log_a, slope, sigma, log_n = unpack(best.x)
    return SpectrumModel(amplitude=math.exp(min(log_a, 700)), slope=slope, noise=math.exp(min(log_n, 700)), sigma=sigma)


def spectral_sigma(image: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Gaussian PSF width σ (px) from the power spectrum of a blurred, noisy image.

    Fits the periodogram (:func:`power_spectrum`) with
    ``P(f) = A·|f|^-β·exp(-4π²σ²|f|²) + N₀`` (:func:`fit_power_spectrum`, with β in
    [1, 4]: natural textures to sharp edges). Fast and generic, but the power-law
    assumption fails for strongly periodic objects (a mesh grid whose pitch is a few
    pixels); :func:`estimate_gaussian_sigma` therefore refines it by cross-validated
    likelihood when the data are counts. The result lies in [0.05, min(ny, nx)/8] px.
    """
    data = np.asarray(image, dtype=np.float64)
    fy, fx, power = power_spectrum(data, valid)
    sigma_max = max(min(data.shape) / 8.0, 0.1)
    model = fit_power_spectrum(fy, fx, power, slope_range=(1.0, 4.0), sigma_max=sigma_max)
    return float(model.sigma)  # type: ignore[arg-type]
