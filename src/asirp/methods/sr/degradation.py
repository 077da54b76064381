"""The forward model of super-resolution: beam blur, area averaging, counting noise.

A scanned or imaged X-ray measurement ``y`` on a grid of step ``p`` relates to the
object ``x`` sampled on a finer grid of step ``p / s`` (``s`` = ``scale``) by

    y = Noise( A_s( G_σ * x ) )

* ``G_σ``: the Gaussian beam (or detector) point-spread function, standard deviation
  ``σ`` in **fine-grid pixels**. A beam of std ``σ_in`` input pixels (what
  ``psf_sigma`` / ``beam_fwhm`` give) is ``σ = s · σ_in`` fine pixels.
* ``A_s``: area averaging over ``s x s`` blocks (each coarse pixel integrates the
  fine pixels it covers: a fly scan's dwell, a detector pixel's area).
* Noise: Poisson for counts, Gaussian (read noise) otherwise.

Values are kept as *intensities* (the same units on both grids: a constant object
gives the same value on either); a counting method converts to counts per fine pixel
(``/ s²``) at the very end, so totals are conserved.

The one implementation (torch, batched, per-image blur widths allowed) serves the
training of :mod:`asirp.methods.sr.fca`, the zero-shot training of ZSSR, and the
consistency step every network output goes through (:func:`enforce_consistency`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: Half-width of the sampled Gaussian kernels, in standard deviations.
TRUNCATE = 4.0
#: Blur widths below this (px) are treated as no blur.
MIN_SIGMA = 0.05
#: Beam widths (input pixels) that :func:`fit_sigma` tries: 0 to 2.5 in steps of 0.1.
SIGMA_CANDIDATES: tuple[float, ...] = tuple(0.1 * i for i in range(26))


def gaussian_kernels(sigma_px: torch.Tensor) -> torch.Tensor:
    """1-D Gaussian kernels sampled at pixel centres, one row per width, each summing to 1.

    ``sigma_px`` has shape ``(n,)``; the result ``(n, 2h + 1)`` with
    ``h = max(1, ceil(4 · max σ))`` (the sampling of :func:`asirp.psf.gaussian_psf`,
    separable so that a 3000 x 1500 image blurs in two 1-D passes). Widths below
    :data:`MIN_SIGMA` give a delta.
    """
    sigma = sigma_px.to(torch.float32).reshape(-1)
    half = max(1, math.ceil(TRUNCATE * float(sigma.max()))) if sigma.numel() else 1
    offsets = torch.arange(-half, half + 1, dtype=torch.float32, device=sigma.device)
    safe = sigma.clamp(min=MIN_SIGMA)[:, None]
    kernels = torch.exp(-0.5 * (offsets[None, :] / safe) ** 2)
    kernels = torch.where(sigma[:, None] < MIN_SIGMA, (offsets[None, :] == 0).to(torch.float32), kernels)
    return kernels / kernels.sum(dim=1, keepdim=True)


def gaussian_blur(images: torch.Tensor, sigma_px: float | torch.Tensor) -> torch.Tensor:
    """Blur each image of ``(n, 1, h, w)`` with its Gaussian (``sigma_px`` scalar or ``(n,)``), mirrored edges.

    Edges are mirrored without repeating the edge pixel (scipy's ``"mirror"``, torch's
    ``"reflect"``), so a blur conserves the mean of a mirrored image. On the CPU the
    two 1-D passes run in :func:`scipy.ndimage.correlate1d` (several times faster than
    torch's convolutions for a 15-tap kernel on a 3000 x 1500 image); on a GPU, as a
    weighted sum of shifted views (:func:`_blur_torch`). Both use the same kernels.
    """
    n = images.shape[0]
    sigma = torch.as_tensor(sigma_px, dtype=torch.float32).reshape(-1).expand(n)
    if float(sigma.max()) < MIN_SIGMA:
        return images
    kernels = gaussian_kernels(sigma)
    if images.device.type != "cpu" or images.requires_grad:
        return _blur_torch(images, kernels.to(images.device))
    from scipy.ndimage import correlate1d

    out = np.empty(images.shape, dtype=np.float32)
    source = images.detach().numpy()
    for i, kernel in enumerate(kernels.numpy()):
        rows = correlate1d(source[i, 0], kernel, axis=0, mode="mirror")
        out[i, 0] = correlate1d(rows, kernel, axis=1, mode="mirror")
    return torch.from_numpy(out)


def _blur_torch(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The separable blur as sums of shifted views (per-image kernels ``(n, 2h + 1)``), any device."""
    half = kernels.shape[1] // 2
    mode = "reflect" if half < min(images.shape[-2:]) else "replicate"
    padded = F.pad(images, (half, half, half, half), mode=mode)
    h, w = images.shape[-2:]
    weights = kernels[:, :, None, None, None]  # (n, taps, 1, 1, 1) against (n, 1, h, w)
    rows = weights[:, 0] * padded[..., :h, :]
    for i in range(1, 2 * half + 1):
        rows = rows + weights[:, i] * padded[..., i : i + h, :]
    out = weights[:, 0] * rows[..., :, :w]
    for i in range(1, 2 * half + 1):
        out = out + weights[:, i] * rows[..., :, i : i + w]
    return out


def area_downsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Mean over ``scale x scale`` blocks; height and width must be multiples of ``scale``."""
    return F.avg_pool2d(images, scale) if scale > 1 else images


def nearest_upsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Each pixel repeated ``scale x scale`` times (``scale ×`` the adjoint of :func:`area_downsample` ``× scale²``)."""
    if scale == 1:
        return images
    return images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


@dataclass(frozen=True)
class Degradation:
    """``D = A_s ∘ G_σ``: blur by ``sigma_px`` (fine-grid pixels), then area-average by ``scale``.

    ``sigma_px`` is a float or a ``(n,)`` tensor (one width per image, for training).
    """

    scale: int
    sigma_px: float | torch.Tensor = 0.0

    @classmethod
    def from_beam(cls, scale: int, sigma_input_px: float) -> Degradation:
        """The model for a beam of std ``sigma_input_px`` pixels of the *coarse* (measured) grid."""
        return cls(scale, scale * float(sigma_input_px))

    def __call__(self, fine: torch.Tensor) -> torch.Tensor:
        """``D(x)``: the coarse image a fine image ``(n, 1, s·h, s·w)`` would give, noise-free."""
        return area_downsample(gaussian_blur(fine, self.sigma_px), self.scale)

    def back_project(self, residual: torch.Tensor) -> torch.Tensor:
        """``s² Dᵀ r = G_σ * nearest(r)``: a coarse residual spread back onto the fine grid.

        With this step the Landweber iteration ``x ← x + s² Dᵀ (y - D x)`` converges
        (``s² ‖D‖² = 1`` because the area mean has norm ``1/s`` and the blur norm 1);
        it is the iterative back-projection of Irani & Peleg (1991) with the physical
        kernel as back-projection kernel.
        """
        return gaussian_blur(nearest_upsample(residual, self.scale), self.sigma_px)

    def noise_gain(self) -> float:
        """Variance of ``D(n)`` for white noise ``n`` of unit variance (the sum of its squared weights).

        ``D`` averages ``s²`` fine pixels through the blur, so the coarse copy of a
        noisy image is ``1 / noise_gain`` times less noisy than the image itself.
        Uses the largest width when there are several.
        """
        sigma = float(torch.as_tensor(self.sigma_px).max())
        kernel = gaussian_kernels(torch.tensor([sigma]))[0].double()
        box = torch.full((self.scale,), 1.0 / self.scale, dtype=torch.float64)
        weights = torch.from_numpy(np.convolve(kernel.numpy(), box.numpy()))
        return float((weights**2).sum()) ** 2  # separable: the 2-D sum is the square of the 1-D one

    def degrade(
        self,
        fine: torch.Tensor,
        *,
        peak_counts: torch.Tensor | None = None,
        read_noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A noisy coarse measurement of ``fine`` (values scaled so 1 ≈ the bright end).

        ``peak_counts`` ``(n,)``: Poisson noise with that many counts at value 1 (None or
        ``inf`` entries: none); ``read_noise`` ``(n,)``: Gaussian std in value units.
        """
        clean = self(fine)
        noisy = clean
        if peak_counts is not None:
            peak = peak_counts.reshape(-1, 1, 1, 1).to(clean)
            finite = torch.isfinite(peak)
            peak_safe = torch.where(finite, peak, torch.ones_like(peak))
            counts = torch.poisson((clean.clamp(min=0) * peak_safe), generator=generator) / peak_safe
            noisy = torch.where(finite, counts, clean)
        if read_noise is not None:
            noise = torch.randn(noisy.shape, generator=generator, device=noisy.device, dtype=noisy.dtype)
            noisy = noisy + noise * read_noise.reshape(-1, 1, 1, 1).to(noisy)
        return noisy


# -- noise model and data consistency -------------------------------------------------------

#: χ² up to which an output counts as reproducing its input "within the noise". Above 1
#: because the noise level is itself an estimate (the wavelet estimate of a Gaussian
#: level can be off by tens of percent on Poisson-like data) and because fitting the
#: residual down to exactly the noise re-injects noise: on the tomography benchmark, a
#: network output with χ² 1.17 lost 2-6 dB when forced to χ² 1.
CHI2_TOLERANCE = 1.5


@dataclass(frozen=True)
class NoiseModel:
    """Per-pixel variance of a measurement: Poisson (``counting``) or Gaussian of std ``sigma``.

    ``sigma`` is a ``(n, 1, 1, 1)`` tensor in data units (ignored for counting data).
    """

    counting: bool
    sigma: torch.Tensor

    def variance(self, expected: torch.Tensor) -> torch.Tensor:
        """Variance of each coarse pixel given its expected value (counts for counting data)."""
        if self.counting:
            # Poisson: var = mean; the floor keeps empty regions (mean ~ 0) from dividing by 0.
            return expected.clamp(min=0.05)
        return (self.sigma**2).expand_as(expected)


def estimate_noise(images: torch.Tensor, valid: torch.Tensor, counting: bool) -> NoiseModel:
    """The noise model of measured images ``(n, 1, h, w)``.

    Counting data are Poisson by physics. Otherwise the Gaussian std is the wavelet
    median-absolute-deviation estimate of :func:`skimage.restoration.estimate_sigma`
    (Donoho & Johnstone 1994) on each image, floored at 1e-4 of the image range so a
    noise-free image still has a finite tolerance.
    """
    from ...noise import wavelet_sigma

    sigmas = []
    for image, mask in zip(images[:, 0].cpu().numpy(), valid[:, 0].cpu().numpy()):
        span = float(np.ptp(image[mask])) if mask.any() else 1.0
        sigmas.append(max(wavelet_sigma(image), 1e-4 * max(span, 1e-12)))
    sigma = torch.tensor(sigmas, dtype=torch.float32, device=images.device).reshape(-1, 1, 1, 1)
    return NoiseModel(counting, sigma)


def chi_square(fine: torch.Tensor, measured: torch.Tensor, valid: torch.Tensor, model: Degradation, noise: NoiseModel) -> torch.Tensor:
    """Mean of ``(y - D x)² / var`` over the valid coarse pixels, per image ``(n,)``.

    About 1 when ``x`` explains the measurement within its noise; much more means
    ``D x`` departs from the data; much less means ``x`` fits the noise.
    """
    return _chi_square(model(fine), measured, valid, noise)


def _chi_square(expected: torch.Tensor, measured: torch.Tensor, valid: torch.Tensor, noise: NoiseModel) -> torch.Tensor:
    weights = valid.to(expected.dtype)
    ratio = (measured - expected) ** 2 / noise.variance(expected) * weights
    return ratio.sum(dim=(1, 2, 3)) / weights.sum(dim=(1, 2, 3)).clamp(min=1)


@dataclass(frozen=True)
class Consistency:
    """What :func:`enforce_consistency` did: per-image χ² before and after, iterations run."""

    chi2_before: list[float]
    chi2_after: list[float]
    iterations: int

    def as_notes(self) -> dict[str, object]:
        return {"chi2_before": self.chi2_before, "chi2_after": self.chi2_after, "iterations": self.iterations}


def enforce_consistency(
    fine: torch.Tensor,
    measured: torch.Tensor,
    valid: torch.Tensor,
    model: Degradation,
    noise: NoiseModel,
    *,
    max_iterations: int = 10,
    tolerance: float = CHI2_TOLERANCE,
    nonnegative: bool = False,
) -> tuple[torch.Tensor, Consistency]:
    """Make ``D x`` match the measurement within its noise, then conserve the mean exactly.

    1. Iterative back-projection ``x ← x + G_σ * nearest(v · (y - D x))`` (``v`` the
       valid mask) while ``χ² > tolerance``, at most ``max_iterations`` times, per
       image (Morozov's discrepancy principle: an output whose residual is already as
       small as the noise is left alone, and the iteration stops as soon as it is, so
       the noise is not fitted back in). The blur in the back-projection damps high
       frequencies, so it mainly corrects intensity levels and shapes the network got
       wrong, not its fine detail.
    2. The mean over valid pixels of ``x`` is set equal to that of ``y``: multiplying
       when the data are non-negative (zeros stay zeros), else adding an offset. For
       counting data this is the total-count conservation of :meth:`Bicubic`.

    Returns the corrected images and a :class:`Consistency` record.
    """
    weights = valid.to(fine.dtype)
    expected = model(fine)
    chi2 = _chi_square(expected, measured, valid, noise)
    before = chi2.tolist()
    iterations = 0
    active = chi2 > tolerance
    while bool(active.any()) and iterations < max_iterations:
        residual = (measured - expected) * weights * active.to(fine.dtype).reshape(-1, 1, 1, 1)
        fine = fine + model.back_project(residual)
        if nonnegative:
            fine = fine.clamp(min=0)
        iterations += 1
        expected = model(fine)
        chi2 = _chi_square(expected, measured, valid, noise)
        active = active & (chi2 > tolerance)
    fine = preserve_mean(fine, measured, valid, model.scale)
    after = chi_square(fine, measured, valid, model, noise).tolist()
    return fine, Consistency(before, after, iterations)


def preserve_mean(fine: torch.Tensor, measured: torch.Tensor, valid: torch.Tensor, scale: int) -> torch.Tensor:
    """Scale (non-negative data) or shift ``fine`` so its valid mean equals the measurement's.

    The fine-grid valid pixels are the coarse valid mask repeated ``scale x scale``.
    """
    fine_valid = nearest_upsample(valid.to(fine.dtype), scale)
    target = (measured * valid).sum(dim=(1, 2, 3)) / valid.sum(dim=(1, 2, 3)).clamp(min=1)
    current = (fine * fine_valid).sum(dim=(1, 2, 3)) / fine_valid.sum(dim=(1, 2, 3)).clamp(min=1)
    target, current = target.reshape(-1, 1, 1, 1), current.reshape(-1, 1, 1, 1)
    nonnegative = (measured * valid).amin(dim=(1, 2, 3)).reshape(-1, 1, 1, 1) >= 0
    ratio_ok = nonnegative & (current > 0) & (target > 0)
    scaled = fine * torch.where(ratio_ok, target / torch.where(current > 0, current, torch.ones_like(current)), torch.ones_like(current))
    shifted = fine + (target - current)
    return torch.where(ratio_ok, scaled, shifted)


def fit_sigma(
    fine: torch.Tensor,
    measured: torch.Tensor,
    valid: torch.Tensor,
    scale: int,
    candidates_input_px: tuple[float, ...] = SIGMA_CANDIDATES,
    crop: int = 256,
) -> float:
    """The beam width (input pixels) under which ``D x`` best matches ``y``: least squares over a grid.

    Used when the beam is unknown: a network restored ``x`` from ``y`` blind, and the
    consistency step needs the blur that relates them. A central ``crop`` of at most
    ``crop x crop`` coarse pixels (of the first image) keeps it cheap.
    """
    h, w = measured.shape[-2:]
    ch, cw = min(h, crop), min(w, crop)
    top, left = (h - ch) // 2, (w - cw) // 2
    y = measured[:1, :, top : top + ch, left : left + cw]
    v = valid[:1, :, top : top + ch, left : left + cw].to(fine.dtype)
    x = fine[:1, :, top * scale : (top + ch) * scale, left * scale : (left + cw) * scale]
    errors = [float((((y - Degradation.from_beam(scale, s)(x)) * v) ** 2).sum()) for s in candidates_input_px]
    return float(candidates_input_px[int(np.argmin(errors))])
