"""Fast separable filters of 2-D images on the CPU, with scipy.ndimage's semantics.

The hot loops of asirp (Richardson-Lucy iterations, the symmetry denoiser's local
averages and asymmetry tests) filter large images with small separable kernels.
``scipy.ndimage`` does this single-threaded through float64 line buffers, and torch's
CPU depthwise convolutions are not what oneDNN optimises (a 9-tap Gaussian over a
1024² image pair took 0.44 s). OpenCV's ``sepFilter2D`` is vectorised and
multithreaded: ~1 ms for a 17-tap kernel at 1024². These functions wrap it with the
kernel and boundary conventions of ``scipy.ndimage`` so they are drop-in replacements
(equal to float32 round-off).

OpenCV (the ``opencv-python-headless`` wheel) is a dependency, but an environment
without a working ``cv2`` (a clash with a GUI ``opencv-python`` removed by hand, a
platform without wheels) still works: the same results come from ``scipy.ndimage``,
only slower, and :data:`FAST` is False so callers can prefer FFTs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .errors import ParameterError

try:
    import cv2
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    cv2 = None  # type: ignore[assignment]  # the scipy path below serves without OpenCV

#: Whether OpenCV's fast path is available.
FAST = cv2 is not None
#: ``scipy.ndimage`` boundary modes and their OpenCV codes (BORDER_CONSTANT, BORDER_REFLECT,
#: BORDER_REFLECT_101, BORDER_REPLICATE).
BORDERS = {
    "constant": 0,  # zeros outside
    "reflect": 2,  # d c b a | a b c d
    "mirror": 4,  # d c b | a b c d
    "nearest": 1,  # a a a | a b c d
}


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-D Gaussian taps of width ``sigma`` (px), ``int(truncate·σ + 0.5)`` on each
    side: the kernel of ``scipy.ndimage.gaussian_filter``."""
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ParameterError(f"Gaussian width must be a finite number >= 0, got {sigma!r}")
    radius = int(truncate * float(sigma) + 0.5)
    if radius == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def separable_filter(
    image: ArrayLike,
    kernel_y: ArrayLike,
    kernel_x: ArrayLike,
    *,
    mode: str = "constant",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Correlate a 2-D image with ``outer(kernel_y, kernel_x)`` (odd lengths, centred).

    Float32 images stay float32 (float64 stay float64; anything else becomes float32).
    ``mode`` is a ``scipy.ndimage`` boundary mode (:data:`BORDERS`; "constant" means
    zeros). ``out`` (same shape and dtype, C-contiguous) receives the result.
    """
    data = np.asarray(image)
    if data.ndim != 2:
        raise ParameterError(f"separable_filter needs a 2-D image, got shape {data.shape}")
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32)
    data = np.ascontiguousarray(data)
    kernels = [np.ascontiguousarray(k, dtype=data.dtype).ravel() for k in (kernel_x, kernel_y)]
    if any(k.size % 2 == 0 for k in kernels):
        raise ParameterError("separable_filter kernels must have odd lengths (a central tap)")
    if mode not in BORDERS:
        raise ParameterError(f"unknown boundary mode {mode!r}; use one of {sorted(BORDERS)}")
    if out is None:
        out = np.empty_like(data)
    if cv2 is None:
        rows = ndimage.correlate1d(data, kernels[1], axis=0, mode=mode)
        ndimage.correlate1d(rows, kernels[0], axis=1, mode=mode, output=out)
        return out
    depth = cv2.CV_32F if data.dtype == np.float32 else cv2.CV_64F
    cv2.sepFilter2D(data, depth, kernels[0], kernels[1], dst=out, borderType=BORDERS[mode])
    return out


def gaussian_filter(image: ArrayLike, sigma: float, *, mode: str = "constant", truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter`` of a 2-D image with one width ``sigma`` (px) on both axes."""
    kernel = gaussian_kernel1d(sigma, truncate)
    return separable_filter(image, kernel, kernel, mode=mode)


#: Widest Gaussian (px) that :func:`fill_masked` applies at full resolution; wider ones run on
#: a block-summed image (a Gaussian this wide varies little across a block of σ/4 pixels).
FULL_RESOLUTION_SIGMA = 8.0


def fill_masked(data: np.ndarray, valid: np.ndarray, sigma_px: float = 2.0) -> np.ndarray:
    """Replace masked pixels by a smooth estimate from their valid neighbours.

    Normalised convolution: ``G*(valid·data) / G*valid`` with a Gaussian ``G`` whose
    width grows until every masked pixel is reached. Used before operations that mix
    neighbouring pixels (interpolation, FFT filters) so that gaps and beamstops do not
    bleed zeros into the measured area. Widths above :data:`FULL_RESOLUTION_SIGMA` are
    applied to ``f × f`` block sums (``f = σ/4``) and interpolated back: the dead area of
    a round detector needs σ of hundreds of pixels, whose full-resolution kernels cost
    seconds per megapixel.
    """
    if valid.all():
        return np.asarray(data, dtype=np.float32)
    weights = valid.astype(np.float32)
    values = np.where(valid, data, 0).astype(np.float32)
    filled = np.array(values)
    todo = ~valid
    sigma = sigma_px
    while todo.any():
        num, den = _normalised_convolution_terms(values, weights, sigma)
        reached = todo & (den > 1e-6)
        filled[reached] = num[reached] / den[reached]
        todo &= ~reached
        sigma *= 2.0
        if sigma > 4 * max(data.shape):
            filled[todo] = float(values[valid].mean())
            break
    return filled


def _normalised_convolution_terms(values: np.ndarray, weights: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``G*values`` and ``G*weights`` (Gaussian of width ``sigma`` px, nearest-edge borders),
    on block sums for wide Gaussians; see :func:`fill_masked`."""
    factor = int(sigma // (FULL_RESOLUTION_SIGMA / 2))
    if sigma <= FULL_RESOLUTION_SIGMA or factor < 2:
        return gaussian_filter(values, sigma, mode="nearest"), gaussian_filter(weights, sigma, mode="nearest")
    ny, nx = values.shape
    blocks = (-(-ny // factor), -(-nx // factor))
    terms = []
    for image in (values, weights):
        padded = np.zeros((blocks[0] * factor, blocks[1] * factor), np.float32)  # outside: no measurement
        padded[:ny, :nx] = image
        coarse = padded.reshape(blocks[0], factor, blocks[1], factor).mean(axis=(1, 3))
        smooth = gaussian_filter(coarse, sigma / factor, mode="nearest")
        terms.append(_resize_linear(smooth, padded.shape)[:ny, :nx])
    return terms[0], terms[1]


def _resize_linear(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a block image to ``shape`` (pixel centres aligned, edges held)."""
    if cv2 is not None:
        return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    axes = [(np.arange(n) + 0.5) * image.shape[i] / n - 0.5 for i, n in enumerate(shape)]
    yy, xx = np.meshgrid(np.clip(axes[0], 0, image.shape[0] - 1), np.clip(axes[1], 0, image.shape[1] - 1), indexing="ij")
    return ndimage.map_coordinates(image, [yy, xx], order=1, mode="nearest").astype(np.float32)
