"""Inference of the symmetry denoiser: partners in, expected counts out, with honest fallbacks.

For each image: the partners of every pixel under the group of operations that hold
(sampled with the receptive-field exclusion of :data:`.training.EXCLUSION_PX`, so a
pixel's own counts never reach its own output), partners that disagree locally
beyond Poisson noise dropped (:func:`asirp.symmetry.local_asymmetry`), their average
and number fed to the network. Two fallbacks cover the pixels the network cannot serve:

* close to the beam centre every partner lies within the network's reach of the
  pixel, so none is given to the network; there the plain average of the partners
  (still never the pixel itself) is used;
* where no partner exists at all (off the detector, in a gap) or every partner
  disagrees locally (an asymmetric feature), the pixel's own neighbourhood is used,
  through an adaptive (Lee/Wiener) filter with Poisson noise variance: smooth where
  the local variance is noise, the measured value where there is structure, so
  features and their integrated counts are kept. These ``fallback`` pixels are
  excluded from the self-supervised loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...filters import gaussian_filter
from ...symmetry import Pairing, local_asymmetry
from .inputs import partner_inputs

#: Width of the own-neighbourhood fallback, pixels.
FALLBACK_SIGMA_PX = 1.0


@dataclass(frozen=True)
class Denoised:
    """Output of one image: expected counts, where it is blind (own counts unused), where it fell back."""

    data: np.ndarray
    blind: np.ndarray
    fallback: np.ndarray
    dropped_fraction: float


def smooth_own(data: np.ndarray, valid: np.ndarray, sigma: float = FALLBACK_SIGMA_PX) -> np.ndarray:
    """Mask-aware Gaussian average (normalised convolution): conserves counts over a region."""
    w = valid.astype(np.float32)
    num = gaussian_filter(np.where(valid, data, 0).astype(np.float32), sigma)
    den = gaussian_filter(w, sigma)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 1e-6)


def adaptive_own(data: np.ndarray, valid: np.ndarray, sigma: float = FALLBACK_SIGMA_PX) -> np.ndarray:
    """Lee's adaptive filter with Poisson noise: ``m + g (x - m)``, ``g = s / (s + m)``.

    ``m`` is the local mean, ``s = max(var - m, 0)`` the local signal variance (the
    local variance minus the Poisson variance ``m``): flat regions get the mean,
    structured ones keep their measured values (Lee, IEEE PAMI 1980).
    """
    x = np.where(valid, data, 0).astype(np.float32)
    mean = smooth_own(x, valid, sigma)
    second = smooth_own(x * x, valid, sigma)
    signal = np.maximum(second - mean * mean - mean, 0.0)
    gain = np.divide(signal, signal + mean, out=np.zeros_like(signal), where=(signal + mean) > 0)
    return mean + gain * (x - mean)


def run_network(net, inputs: np.ndarray) -> np.ndarray:
    """Log expected counts relative to the mean, for one ``(C, H, W)`` input."""
    import torch

    from .network import predict_log_rate

    with torch.inference_mode():
        return predict_log_rate(net, torch.from_numpy(inputs[None]))[0].numpy()


def denoise_image(
    net,
    data: np.ndarray,
    valid: np.ndarray,
    pairing: Pairing,
    scale: float,
    *,
    local_check: bool = True,
    z_threshold: float = 6.0,
    extra: list[tuple[np.ndarray, np.ndarray]] = (),
    near: Pairing | None = None,
) -> Denoised:
    """Denoise one image with the symmetry network.

    Parameters
    ----------
    net:
        The trained :class:`~.network.CompactUNet`.
    data, valid:
        Counts and measured mask of the image.
    pairing:
        Partner maps (with the receptive-field exclusion).
    scale:
        Mean counts per measured pixel (fixed per frame or stack, not from ``data``,
        so that no pixel's value reaches its output through the normalisation).
    extra:
        ``(data, valid)`` of neighbouring frames of a time series: their pixels and
        their partners join the partner average (other exposures, independent noise).
    near:
        The same operations without the exclusion (only partners whose interpolation
        does not touch the pixel): their plain average serves the pixels the network
        cannot (see the module docstring).
    """
    partners = pairing.partners(data, valid)
    drop = local_asymmetry(data, valid, partners, z_threshold=z_threshold) if local_check else None
    ok = partners.ok if drop is None else partners.ok & ~drop
    total = np.where(ok, partners.values, 0.0).sum(axis=0)
    count = ok.sum(axis=0).astype(np.float32)
    fallback = valid & (count == 0)  # decided on this frame's partners, as in training
    for other, other_valid in extra:
        more = pairing.partners(other, other_valid)
        more_ok = more.ok if drop is None else more.ok & ~drop
        total += np.where(more_ok, more.values, 0.0).sum(axis=0) + np.where(other_valid, other, 0.0)
        count += more_ok.sum(axis=0) + other_valid
    mean = np.where(count > 0, total / np.maximum(count, 1.0), 0.0).astype(np.float32)
    log_rate = run_network(net, partner_inputs(mean, count, valid, scale))
    out = (scale * np.exp(log_rate)).astype(np.float32)
    if fallback.any() and near is not None:
        out, fallback = _plain_fallback(out, fallback, data, valid, near, extra, local_check, z_threshold)
    if fallback.any():
        out = np.where(fallback, adaptive_own(data, valid), out)
    dropped = float(drop[:, valid].mean()) if drop is not None and drop.size else 0.0
    return Denoised(np.where(valid, out, 0.0).astype(np.float32), valid & ~fallback, fallback, dropped)


#: Chebyshev distance (px) a partner must keep from its pixel in the plain-average fallback:
#: bilinear interpolation reaches one pixel, so the pixel's own counts never enter.
NEAR_EXCLUSION_PX = 1.5


def _plain_fallback(out: np.ndarray, fallback: np.ndarray, data: np.ndarray, valid: np.ndarray, near: Pairing,
                    extra, local_check: bool, z_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Serve the pixels near the beam centre (all partners within the network's reach) by the plain partner average.

    Only the window around the centre where that happens is sampled: elsewhere a
    pixel without partners has none at any distance (gaps, off the detector).
    """
    from .training import EXCLUSION_PX

    cy, cx = near.plane.center
    reach = int(3 * EXCLUSION_PX)
    ny, nx = data.shape
    region = (slice(max(0, int(cy) - reach), min(ny, int(cy) + reach + 1)),
              slice(max(0, int(cx) - reach), min(nx, int(cx) + reach + 1)))
    if not fallback[region].any():
        return out, fallback
    total = np.zeros(fallback[region].shape, np.float64)
    count = np.zeros(fallback[region].shape, np.float64)
    for image, image_valid, own in ((data, valid, False), *((o, v, True) for o, v in extra)):
        close = near.partners(image, image_valid, region)
        ok = close.ok
        if local_check:
            ok = ok & ~local_asymmetry(image[region], image_valid[region], close, z_threshold=z_threshold)
        total += np.where(ok, close.values, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
        if own:  # another exposure's own pixel is an independent measurement
            total += np.where(image_valid[region], image[region], 0.0)
            count += image_valid[region]
    served = np.zeros_like(fallback)
    served[region] = fallback[region] & (count > 0)
    out = out.copy()
    out[served] = (total / np.maximum(count, 1.0))[served[region]]
    return out, fallback & ~served


def poisson_deviance(counts: np.ndarray, expected: np.ndarray, where: np.ndarray) -> float:
    """Mean Poisson deviance ``2 [x log(x/mu) - (x - mu)]`` over ``where`` (1 per pixel ~ pure noise at high counts)."""
    x = counts[where].astype(np.float64)
    mu = np.maximum(expected[where].astype(np.float64), 1e-9)
    xlogx = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / mu), 0.0)
    return float(np.mean(2.0 * (xlogx - (x - mu)))) if x.size else float("nan")
