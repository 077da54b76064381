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

In both cases :func:`full_dose_risk` turns the prediction error into an unbiased
estimate of the squared error of the prediction against the truth (at the split's
noise level): ``E[(m − b)² − v(b)] = (m − E b)²`` where ``v(b)`` is the noise
variance of ``b`` (``b`` itself for Poisson, ``2σ²`` for Gaussian), then extrapolates
it to the full dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import ndimage

from ..counts import binomial_half

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
        a = binomial_half(counts, rng)
        return SplitPair(a.astype(np.float32), (counts - a).astype(np.float32), valid, "poisson", None, 2.0)
    noise = rng.standard_normal(data.shape).astype(np.float32) * np.float32(sigma)
    a = np.where(valid, data + noise, 0).astype(np.float32)
    b = np.where(valid, data - noise, 0).astype(np.float32)
    return SplitPair(a, b, valid, "gaussian", 2.0 * float(sigma) ** 2, 1.0)


def poisson_weights(data: np.ndarray, valid: np.ndarray, *, sigma_px: float = 2.0) -> np.ndarray:
    """Anscombe-scale weights ``1 / (λ̂ + 3/8)`` for scoring counts (:func:`full_dose_risk`).

    ``(2√(x+3/8) − 2√(λ+3/8))² ≈ (x − λ)²/(λ + 3/8)``: with these weights the score is the
    error on the variance-stabilised scale. ``λ̂`` (counts of the full measurement
    ``data``) is the masked-normalised Gaussian average over ``sigma_px``: the centre
    pixel weighs ~1/(2πσ²) = 4 % of it, so the weights hardly depend on the noise of
    the copies being scored.
    """
    mask = valid.astype(np.float64)
    total = ndimage.gaussian_filter(np.where(valid, data, 0.0).astype(np.float64), sigma_px, mode="nearest")
    support = ndimage.gaussian_filter(mask, sigma_px, mode="nearest")
    level = np.divide(total, support, out=np.zeros_like(total), where=support > 1e-3)
    return 1.0 / (np.maximum(level, 0.0) + 0.375)


class Risk(NamedTuple):
    """A ground-truth-free error estimate (see :func:`full_dose_risk`)."""

    #: Estimated mean squared error against the truth at the full dose, in data units
    #: squared (with Anscombe weights: on the Anscombe scale). Unbiased, so it can fall
    #: below zero by noise when the error is small.
    mse: float
    #: Its standard error (frequencies treated as independent).
    standard_error: float
    #: The per-frequency contributions (their mean is ``mse``). Two candidates scored on
    #: the same split share most of their noise: the standard error of the difference of
    #: their terms is far below either standard error (:meth:`difference`).
    terms: np.ndarray

    @staticmethod
    def mean(risks: list[Risk]) -> Risk:
        """The average of scores on independent splits of the same region (terms averaged)."""
        terms = np.mean([risk.terms for risk in risks], axis=0)
        return Risk(float(terms.mean()), float(terms.std() / np.sqrt(terms.size)), terms)

    def difference(self, other: Risk) -> tuple[float, float]:
        """``(mse − other.mse, its standard error)`` from the paired per-frequency terms."""
        d = self.terms - other.terms
        return float(d.mean()), float(d.std() / np.sqrt(d.size))


def full_dose_risk(
    estimate_a: np.ndarray, estimate_b: np.ndarray, pair: SplitPair, *, blur_sigma: float | None = None, otf_floor: float = 0.1,
    weights: np.ndarray | None = None,
) -> Risk:
    """Estimated mean squared error, against the truth, of the method run on the full data.

    ``estimate_a`` and ``estimate_b`` are one method's results from copy ``a`` and from
    copy ``b``. Three corrections make the split score rank like the truth does:

    * **Cross-validation both ways**: ``a``'s result predicts ``b`` and ``b``'s predicts
      ``a``; the unbiased error ``E[(m − b)² − v(b)] = (m − E b)²`` is averaged (half
      the variance of one-way scoring).
    * **Full dose**: each copy carries twice the noise variance of the measurement, so
      a split score overrates smoothing. The result's own variance at the copy's dose
      is measured, ``var ≈ E[(estimate_a − estimate_b)²]/2``, and the error is
      extrapolated to the full dose, ``MSE_full ∝ risk − var/2`` (exact for linear
      methods, binomial or Gaussian splits), and brought back to the data's units
      (``× scale²``: a binomial half carries half the signal, so its errors are half).
    * **Object domain**: with ``blur_sigma`` (a Gaussian PSF, px) the results are
      re-blurred to predict the data, and the residual spectrum is divided by the
      PSF's ``|OTF|²`` (floored at ``otf_floor²``), so the score measures the error of
      the *deblurred* object, as the truth would, instead of the error of its blurred
      version, which hides noise amplification at frequencies the blur suppresses.

    * **Weights** (optional, per pixel, fixed with respect to the noise of the copies,
      e.g. :func:`poisson_weights`): the error is that of ``√w·estimate`` against
      ``√w·truth``; the noise term becomes ``Σ w·v``. With ``w = 1/(λ + 3/8)`` it is the
      error on the Anscombe (variance-stabilised) scale, where a relative error
      counts the same in a weak and a strong region, as in a Poisson-weighted fit.

    Returns the :class:`Risk`: ``mse`` over the valid pixels, its standard error
    (frequencies treated as independent, for the 1-SE rule) and the per-frequency terms.
    """
    valid = pair.valid
    n_valid = max(int(valid.sum()), 1)
    blur = (lambda x: ndimage.gaussian_filter(x, blur_sigma, mode="nearest")) if blur_sigma else (lambda x: x)
    predicted_a = blur(np.asarray(estimate_a, dtype=np.float64))
    predicted_b = blur(np.asarray(estimate_b, dtype=np.float64))
    a, b = pair.a.astype(np.float64), pair.b.astype(np.float64)
    w = np.ones(valid.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    if pair.variance is None:
        noise_a, noise_b = float((w * a)[valid].sum()), float((w * b)[valid].sum())
    else:
        noise_a = noise_b = pair.variance * float(w[valid].sum())
    root_w = np.sqrt(w)

    def power(residual: np.ndarray) -> np.ndarray:
        return np.abs(np.fft.fft2(np.where(valid, root_w * residual, 0.0))) ** 2

    # Per frequency: E|R|² = |OTF·(X_est − X)|² + the white noise power of the copy.
    cross = 0.5 * ((power(predicted_a - b) - noise_b) + (power(predicted_b - a) - noise_a))
    variance = 0.25 * power(predicted_a - predicted_b)
    terms = cross - variance
    if blur_sigma:
        fy = np.fft.fftfreq(valid.shape[0])[:, None]
        fx = np.fft.fftfreq(valid.shape[1])[None, :]
        otf2 = np.exp(-4.0 * np.pi**2 * blur_sigma**2 * (fy**2 + fx**2))
        terms = terms / np.maximum(otf2, otf_floor**2)
    terms = terms * pair.scale**2 / n_valid
    return Risk(float(terms.mean()), float(terms.std() / np.sqrt(terms.size)), terms)
