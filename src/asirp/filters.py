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
    cv2 = None

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


def fill_masked(data: np.ndarray, valid: np.ndarray, sigma_px: float = 2.0) -> np.ndarray:
    """Replace masked pixels by a smooth estimate from their valid neighbours.

    Normalised convolution: ``G*(valid·data) / G*valid`` with a Gaussian ``G`` whose
    width grows until every masked pixel is reached. Used before operations that mix
    neighbouring pixels (interpolation, FFT filters) so that gaps and beamstops do not
    bleed zeros into the measured area.
    """
    if valid.all():
        return np.asarray(data, dtype=np.float32)
    from scipy.ndimage import gaussian_filter

    weights = valid.astype(np.float32)
    values = np.where(valid, data, 0).astype(np.float32)
    filled = np.array(values)
    todo = ~valid
    sigma = sigma_px
    while todo.any():
        num = gaussian_filter(values, sigma, mode="nearest")
        den = gaussian_filter(weights, sigma, mode="nearest")
        reached = todo & (den > 1e-6)
        filled[reached] = num[reached] / den[reached]
        todo &= ~reached
        sigma *= 2.0
        if sigma > 4 * max(data.shape):
            filled[todo] = float(values[valid].mean())
            break
    return filled
