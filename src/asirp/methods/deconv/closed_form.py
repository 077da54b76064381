"""Closed-form (one-shot Fourier) deconvolution: Wiener and Tikhonov.

Both divide the image spectrum by the transfer function with a regularising term, so
they cost two FFTs, but a Fourier filter treats the image as periodic. Boundaries are
handled by **padding and tapering**: the image (masked pixels filled from their
neighbours) is mirrored into a margin of at least the PSF half-size (and 8 px), and
the margin is blended with a raised-cosine window towards the image mean, so the
periodic continuation is smooth and no edge discontinuity rings through the result.
Masked pixels stay masked in the output (their values are interpolations).

References
----------
.. [1] N. Wiener, *Extrapolation, Interpolation, and Smoothing of Stationary Time
       Series* (1949); R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, ch. 5.
.. [2] A. N. Tikhonov and V. Y. Arsenin, *Solutions of Ill-Posed Problems* (1977).
.. [3] G. H. Golub, M. Heath, G. Wahba, "Generalized cross-validation as a method for
       choosing a good ridge parameter", Technometrics 21, 215-223 (1979).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike
from scipy.optimize import brentq, minimize_scalar

from ...errors import ParameterError
from ...progress import progress
from ...psf import validate_psf
from ...spectrum import SpectrumModel, fit_power_spectrum, power_spectrum
from .noise import noise_floor, noise_only_frequencies
from .noise import noise_variance as measure_noise_variance
from .operator import PaddedDomain, psf_margin, transfer_function
from .result import DeconvResult, Inputs, prepare_inputs

#: Minimum taper margin, in px, on each side of the image.
MIN_TAPER = 8
#: Search range of the Tikhonov weight λ (dimensionless: |OTF|² ≤ 1, |Laplacian|² ≤ 64).
LAMBDA_RANGE = (1e-10, 1e3)


def _taper(length: int, start: int, size: int) -> np.ndarray:
    """1-D window: 1 on ``[start, start+size)``, raised-cosine fall to 0 halfway round the padding."""
    margin = length - size
    window = np.ones(length)
    if margin <= 0:
        return window
    distance = np.arange(1, margin + 1, dtype=np.float64)
    # Distance to the nearer image edge (the padding wraps round), relative to half the padding.
    nearest = np.minimum(distance, margin + 1 - distance) / ((margin + 1) / 2.0)
    values = 0.5 * (1.0 + np.cos(np.pi * np.clip(nearest, 0.0, 1.0)))
    positions = (start + size + np.arange(margin)) % length
    window[positions] = values
    return window


def _padded_spectrum(inputs: Inputs, psf: np.ndarray) -> tuple[PaddedDomain, np.ndarray, np.ndarray, np.ndarray]:
    """Tapered, mean-removed data spectra (n, Ny, Nx//2+1), the OTF, and the per-frame means."""
    margin = tuple(max(2 * r, MIN_TAPER) for r in psf_margin(psf))
    domain = PaddedDomain(inputs.data.shape[-2:], margin)  # type: ignore[arg-type]
    extended = domain.extend(inputs.data, inputs.valid).astype(np.float64)
    window = np.outer(
        _taper(domain.shape[0], domain.top, domain.image_shape[0]),
        _taper(domain.shape[1], domain.left, domain.image_shape[1]),
    )
    means = np.array([frame[mask].mean() for frame, mask in zip(inputs.data, inputs.valid)], dtype=np.float64)
    centred = (extended - means[:, None, None]) * window
    spectrum = scipy.fft.rfft2(centred, workers=-1)
    return domain, spectrum, transfer_function(psf, domain.shape), means


def _finish(domain: PaddedDomain, estimate_spectrum: np.ndarray, means: np.ndarray) -> np.ndarray:
    restored = scipy.fft.irfft2(estimate_spectrum, s=domain.shape, workers=-1)
    return domain.crop(restored) + means[:, None, None]


def _half_plane_weights(shape: tuple[int, int]) -> np.ndarray:
    """Multiplicity of each real-FFT coefficient in the full spectrum (Parseval sums)."""
    weights = np.full(shape[1] // 2 + 1, 2.0)
    weights[0] = 1.0
    if shape[1] % 2 == 0:
        weights[-1] = 1.0
    return weights[None, :]


def fit_wiener_spectrum(image: np.ndarray, valid: np.ndarray, psf: np.ndarray) -> SpectrumModel:
    """The object and noise spectra :func:`wiener` estimates from one 2-D image blurred by ``psf``
    (a Whittle fit of ``A·|f|^-β·|H(f)|² + N₀``; see its ``nsr`` parameter)."""
    ny, nx = image.shape[-2:]
    return _spectrum_fitter(psf, (ny, nx))(image, valid)


def _spectrum_fitter(psf: np.ndarray, shape: tuple[int, int]) -> Callable[[np.ndarray, np.ndarray], SpectrumModel]:
    """:func:`fit_wiener_spectrum` for images of one shape, the PSF's transfer and noise-only band computed once."""
    transfer = np.abs(transfer_function(psf, shape)) ** 2
    noise_only = noise_only_frequencies(psf, shape)

    def fit(image: np.ndarray, valid: np.ndarray) -> SpectrumModel:
        fy, fx, power = power_spectrum(image, valid)
        return fit_power_spectrum(fy, fx, power, transfer, noise_max=noise_floor(power, noise_only))

    return fit


def wiener(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    nsr: float | None = None,
    spectrum: SpectrumModel | None = None,
    valid: ArrayLike | None = None,
) -> DeconvResult:
    """Wiener deconvolution: the linear filter of least mean squared error.

    ``û(f) = conj(H)·Ŷ / (|H|² + NSR(f))`` applied to the mean-removed image (the mean
    is added back: ``H(0) = 1`` determines it exactly, whereas the filter would shrink
    it), on a padded and tapered domain.

    Parameters
    ----------
    image:
        2-D image or ``(n, ny, nx)`` stack; any units (the result has the same).
    psf:
        2-D PSF in pixels (validated and normalised).
    nsr:
        A constant noise-to-signal power ratio (noise variance over object variance,
        dimensionless, > 0), as MATLAB ``deconvwnr``. Default: estimated from the data,
        per frame and per frequency: the image periodogram is fitted by maximum
        Whittle likelihood with ``A·|f|^-β·|H(f)|² + N₀`` (a power-law object spectrum
        seen through the known OTF above a white noise floor,
        :func:`asirp.spectrum.fit_power_spectrum`), the floor bounded by the median
        periodogram where the PSF has removed the signal
        (:func:`~asirp.methods.deconv.noise.noise_variance`), and
        ``NSR(f) = N₀ / (A·|f|^-β)``, the ratio the Wiener filter is defined with. This keeps the high frequencies
        where the object still has power and suppresses those where only noise is left.
    spectrum:
        Instead of that fit, the spectra of a like frame (:func:`fit_wiener_spectrum`,
        e.g. the first of a series), used for every frame: the fit costs several times
        the filter itself.
    valid:
        Boolean mask, True where measured (masked pixels are filled before filtering).

    Returns
    -------
    DeconvResult
        ``info["nsr"]`` (the constant given) or ``info["spectrum"]`` (the fitted ``A``,
        ``β`` and noise floor ``N₀`` per frame, in the units of :func:`asirp.spectrum.power_spectrum`).
    """
    inputs = prepare_inputs(image, valid)
    kernel = validate_psf(psf, inputs.data.shape)
    domain, data_spectrum, otf, means = _padded_spectrum(inputs, kernel)
    info: dict[str, object] = {}
    f2 = scipy.fft.fftfreq(domain.shape[0])[:, None] ** 2 + scipy.fft.rfftfreq(domain.shape[1])[None, :] ** 2
    if nsr is None:
        if spectrum is not None:
            fitted = [spectrum]
            info["spectrum_given"] = True
        else:
            fit = _spectrum_fitter(kernel, (inputs.data.shape[-2], inputs.data.shape[-1]))
            frames = progress(zip(inputs.data, inputs.valid, strict=True), desc="Wiener: noise-to-signal ratio", total=len(inputs.data), unit="frame")
            fitted = [fit(frame, mask) for frame, mask in frames]
        info["spectrum"] = [{"amplitude": m.amplitude, "slope": m.slope, "noise": m.noise} for m in fitted]
        ratios = []
        for model in fitted:
            # Where no object power is left (the fitted amplitude underflowed), NSR = inf: the filter is 0.
            power = model.object_power(f2)
            ratios.append(np.divide(model.noise, power, out=np.full_like(power, np.inf), where=power > 0))
        nsr_map = np.stack(ratios)
    else:
        if not (np.isfinite(nsr) and nsr > 0):
            raise ParameterError(f"nsr must be a positive number, got {nsr!r}")
        info["nsr"] = float(nsr)
        nsr_map = np.full((1, *f2.shape), float(nsr))
    estimate = np.conj(otf) * data_spectrum / (np.abs(otf) ** 2 + nsr_map)
    restored = _finish(domain, estimate, means)
    return DeconvResult(inputs.output(restored), inputs.per_frame(np.zeros(len(means))), "closed form", psf=kernel, info=info)


def _laplacian_power(shape: tuple[int, int]) -> np.ndarray:
    """``|L(f)|²`` of the 5-point Laplacian on the real-FFT half plane."""
    fy = scipy.fft.fftfreq(shape[0])[:, None]
    fx = scipy.fft.rfftfreq(shape[1])[None, :]
    return (4.0 - 2.0 * np.cos(2 * np.pi * fy) - 2.0 * np.cos(2 * np.pi * fx)) ** 2


class _FilterFamily:
    """Residual and trace of the Tikhonov filter as functions of λ, for one frame.

    Built on the windowed periodogram of the image itself (:func:`asirp.spectrum.power_spectrum`,
    white noise of variance σ² has power σ²), not on the padded domain: the mirrored,
    tapered margin carries less noise than the image, which would bias both choices
    towards too little regularisation for wide PSFs (whose margin is large).
    """

    def __init__(self, power: np.ndarray, otf_power: np.ndarray, regulariser: np.ndarray, weights: np.ndarray):
        keep = regulariser > 0  # the mean (L = 0) is never regularised and never a residual
        full = np.broadcast_to(weights, power.shape)
        self.h2 = otf_power[keep]
        self.l2 = regulariser[keep]
        self.power = power[keep]
        self.weights = full[keep]
        self.size = float(np.sum(full))

    def residual(self, lam: float) -> float:
        """Mean squared residual ``‖(I − A_λ) y‖²/N`` per pixel (Parseval), image units squared."""
        one_minus_a = lam * self.l2 / (self.h2 + lam * self.l2)
        return float(np.sum(self.weights * one_minus_a**2 * self.power)) / self.size

    def gcv(self, log_lam: float) -> float:
        """Generalised cross-validation ``(‖(I − A)y‖²/N) / (tr(I − A)/N)²``."""
        lam = 10.0**log_lam
        trace = float(np.sum(self.weights * lam * self.l2 / (self.h2 + lam * self.l2))) / self.size
        return self.residual(lam) / max(trace, 1e-300) ** 2


def _choose_gcv(family: _FilterFamily) -> float:
    grid = np.linspace(np.log10(LAMBDA_RANGE[0]), np.log10(LAMBDA_RANGE[1]), 53)
    values = [family.gcv(g) for g in grid]
    best = int(np.argmin(values))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    refined = minimize_scalar(family.gcv, bounds=(low, high), method="bounded", options={"xatol": 1e-3})
    return float(10.0 ** (refined.x if refined.fun <= values[best] else grid[best]))


def _choose_discrepancy(family: _FilterFamily, level: float) -> float | None:
    """λ whose residual per pixel equals ``level`` (the noise variance); None when even the
    smallest λ leaves more residual (the noise level is underestimated), the largest λ when
    every λ fits."""

    def excess(log_lam: float) -> float:
        return family.residual(10.0**log_lam) - level

    low, high = np.log10(LAMBDA_RANGE[0]), np.log10(LAMBDA_RANGE[1])
    if excess(low) >= 0:
        return None
    if excess(high) <= 0:
        return LAMBDA_RANGE[1]
    return float(10.0 ** brentq(excess, low, high, xtol=1e-4))


def tikhonov(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    regularization: float | None = None,
    choose: Literal["gcv", "discrepancy"] = "gcv",
    noise_variance: float | None = None,
    valid: ArrayLike | None = None,
) -> DeconvResult:
    """Tikhonov deconvolution with a Laplacian (smoothness) regulariser.

    Minimises ``‖Hu − y‖² + λ‖Lu‖²`` with ``L`` the 5-point Laplacian:
    ``û = conj(H)·Ŷ / (|H|² + λ|L|²)``, on a padded and tapered domain. The mean is
    never regularised (``L(0) = 0``), so the result keeps the input's level and units.

    Parameters
    ----------
    image:
        2-D image or ``(n, ny, nx)`` stack.
    psf:
        2-D PSF in pixels (validated and normalised).
    regularization:
        λ (dimensionless, > 0). Default: chosen per frame by ``choose``.
    choose:
        ``"gcv"``: generalised cross-validation (Golub, Heath & Wahba 1979), needs no
        noise level; ``"discrepancy"``: the λ whose residual per pixel equals the noise
        variance (Morozov).
    noise_variance:
        Noise variance (image units squared) for ``"discrepancy"``; default measured
        (:func:`~asirp.methods.deconv.noise.noise_variance`).
    valid:
        Boolean mask, True where measured (masked pixels are filled before filtering).

    Returns
    -------
    DeconvResult
        ``info["regularization"]`` (λ per frame) and ``info["choice"]``.
    """
    inputs = prepare_inputs(image, valid)
    kernel = validate_psf(psf, inputs.data.shape)
    if choose not in ("gcv", "discrepancy"):
        raise ParameterError(f"choose must be 'gcv' or 'discrepancy', got {choose!r}")
    domain, spectrum, otf, means = _padded_spectrum(inputs, kernel)
    otf_power = np.abs(otf) ** 2
    regulariser = _laplacian_power(domain.shape)
    info: dict[str, object] = {}
    if regularization is not None:
        if not (np.isfinite(regularization) and regularization > 0):
            raise ParameterError(f"regularization must be a positive number, got {regularization!r}")
        lambdas = np.full(inputs.data.shape[0], float(regularization))
        info["choice"] = "given"
    else:
        image_shape = inputs.data.shape[-2:]
        families = [
            _FilterFamily(
                power_spectrum(frame, mask)[2],
                np.abs(transfer_function(kernel, image_shape)) ** 2,
                _laplacian_power(image_shape),
                _half_plane_weights(image_shape),
            )
            for frame, mask in progress(zip(inputs.data, inputs.valid, strict=True), desc="Tikhonov: spectra",
                                        total=inputs.data.shape[0], unit="frame")
        ]
        if choose == "gcv":
            lambdas = np.array([_choose_gcv(f) for f in progress(families, desc="Tikhonov: λ by GCV", unit="frame")])
        else:
            if noise_variance is not None:
                if not (np.isfinite(noise_variance) and noise_variance > 0):
                    raise ParameterError(f"noise variance must be a positive number, got {noise_variance!r}")
                noise = np.full(len(families), float(noise_variance))
            else:
                noise = measure_noise_variance(inputs.data, inputs.valid, kernel)
            chosen = [_choose_discrepancy(f, v) for f, v in zip(families, noise)]
            lambdas = np.array([lam if lam is not None else _choose_gcv(f) for lam, f in zip(chosen, families)])
            if any(lam is None for lam in chosen):
                info["discrepancy_unattainable"] = "the residual exceeds the noise level for every λ; GCV used instead"
            info["noise_variance"] = [float(v) for v in noise]
        info["choice"] = choose
    info["regularization"] = [float(v) for v in lambdas]
    estimate = np.conj(otf) * spectrum / (otf_power + lambdas[:, None, None] * regulariser)
    restored = _finish(domain, estimate, means)
    return DeconvResult(inputs.output(restored), inputs.per_frame(np.zeros(len(lambdas))), "closed form", psf=kernel, info=info)
