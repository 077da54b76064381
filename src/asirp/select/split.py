"""Two independent noisy copies of one measurement, for ground-truth-free scoring.

A restoration is scored by how well its result from one copy predicts the other,
independent copy: the prediction error then estimates the error against the
(unknown) truth plus a known noise term (Noise2Noise validation).

* **Poisson counts** (photon-counting detectors, XRF channel sums): binomial
  thinning with p = 1/2 splits each pixel's count ``y`` into ``a ~ Bin(y, 1/2)`` and
  ``b = y - a``; ``a`` and ``b`` are independent Poisson images of mean ``λ/2``
  each — exactly a half-dose measurement twice.
* **Gaussian noise** of known σ (integrating detectors, processed data): the
  recorruption trick of Pang et al. (CVPR 2021, "Recorrupted-to-Recorrupted"):
  ``a = y + σz``, ``b = y − σz`` with ``z ~ N(0, 1)``; the noises of ``a`` and ``b``
  are uncorrelated (Gaussian: independent), each of variance 2σ².

In both cases :func:`estimated_mse` turns the prediction error into an unbiased
estimate of the squared error of the prediction against the truth (at the split's
noise level): ``E[(m − b)² − v(b)] = (m − E b)²`` where ``v(b)`` is the noise
variance of ``b`` (``b`` itself for Poisson, ``2σ²`` for Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

NoiseModel = Literal["poisson", "gaussian"]


@dataclass(frozen=True)
class SplitPair:
    """Two independent noisy copies ``a`` and ``b`` of the same signal, and their noise model."""

    a: np.ndarray
    b: np.ndarray
    valid: np.ndarray
    noise_model: NoiseModel
    #: Noise variance of one copy (Gaussian), or None for Poisson (the variance is the mean).
    variance: float | None
    #: Factor from one copy's signal scale to the full measurement's (2 for binomial halves).
    scale: float


def split(data: np.ndarray, valid: np.ndarray, noise_model: NoiseModel, sigma: float, seed: int = 0) -> SplitPair:
    """Split a measurement into two independent noisy copies (see the module docstring).

    Parameters
    ----------
    data, valid:
        The measurement and its validity mask (masked pixels are left at 0).
    noise_model:
        ``"poisson"`` for integer counts, ``"gaussian"`` otherwise.
    sigma:
        Gaussian noise standard deviation in data units (ignored for Poisson).
    seed:
        Seed of the random split (the decision is reproducible).
    """
    rng = np.random.default_rng(seed)
    if noise_model == "poisson":
        counts = np.where(valid, np.rint(data), 0).astype(np.int64)
        a = rng.binomial(counts, 0.5)
        return SplitPair(a.astype(np.float32), (counts - a).astype(np.float32), valid, "poisson", None, 2.0)
    noise = rng.standard_normal(data.shape).astype(np.float32) * np.float32(sigma)
    a = np.where(valid, data + noise, 0).astype(np.float32)
    b = np.where(valid, data - noise, 0).astype(np.float32)
    return SplitPair(a, b, valid, "gaussian", 2.0 * float(sigma) ** 2, 1.0)


def estimated_mse(prediction: np.ndarray, pair: SplitPair, region: np.ndarray | None = None) -> tuple[float, float]:
    """Unbiased estimate of the mean squared error of ``prediction`` against the truth.

    ``prediction`` estimates the mean of ``pair.b`` (a restoration of ``pair.a``,
    re-blurred for deconvolution). Returns ``(mse, standard_error)`` over the valid
    pixels (of ``region`` when given), in units of one copy squared; the standard
    error treats pixels as independent, which is what the 1-SE rule needs.
    """
    use = pair.valid if region is None else (pair.valid & region)
    residual = (prediction[use].astype(np.float64) - pair.b[use]) ** 2
    noise = pair.b[use].astype(np.float64) if pair.variance is None else pair.variance
    terms = residual - noise
    return float(terms.mean()), float(terms.std() / np.sqrt(max(terms.size, 1)))
