"""Noise level of a blurred image, measured where the blur has removed the signal.

A blurred image carries signal only at the frequencies the PSF transmits; beyond
them its power spectrum is the (white) noise floor: Gaussian read noise, or Poisson
noise whose variance is the mean count. The estimate is the median periodogram over
the frequencies where ``|OTF|² < 0.01``, divided by ``ln 2`` (the periodogram of white
noise is exponentially distributed, so its median is ``ln 2`` times its mean). The
median ignores the few strong signal peaks a periodic sample (a mesh grid) leaves
there. When the PSF is too narrow for 1 % of the frequencies to qualify, the 5 % of
frequencies with the weakest transfer are used instead (an overestimate when the
object has fine detail; deconvolution is then more conservative).
"""

from __future__ import annotations

import math

import numpy as np

from ...spectrum import power_spectrum
from .operator import transfer_function

#: Frequencies where the PSF transmits less than this fraction of the power are "noise only".
NOISE_ONLY_TRANSFER = 0.01


def noise_only_frequencies(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask, on the grid of :func:`~asirp.spectrum.power_spectrum` of a ``shape`` image,
    of the frequencies where ``psf`` leaves only noise (see the module docstring)."""
    transfer = np.abs(transfer_function(psf, shape)) ** 2
    transfer[0, 0] = np.inf  # never use the mean
    selected = transfer < NOISE_ONLY_TRANSFER
    if selected.sum() < 0.01 * transfer.size:
        selected = transfer <= np.quantile(transfer[np.isfinite(transfer)], 0.05)
    return selected


def noise_floor(power: np.ndarray, selected: np.ndarray) -> float:
    """Noise variance (image units squared) from a periodogram and :func:`noise_only_frequencies`."""
    return max(float(np.median(power[selected])) / math.log(2.0), float(np.finfo(np.float32).tiny))


def noise_variance(images: np.ndarray, valid: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Per-frame noise variance (image units squared) of a stack ``(n, ny, nx)`` blurred by ``psf``."""
    selected = noise_only_frequencies(psf, images.shape[-2:])
    return np.asarray([noise_floor(power_spectrum(image, mask)[2], selected) for image, mask in zip(images, valid)])
