"""Helpers shared by methods: apply a per-image function to a frame or a stack."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..frame import Frame
from ..progress import progress


def map_images(
    frame: Frame, fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``fn(data, valid) -> (data, valid)`` to each 2-D image of ``frame``.

    Returns the restored data and validity with the stack axis restored.
    """
    if not frame.is_stack:
        return fn(frame.data, frame.valid)
    results = [fn(frame.data[i], frame.valid[i]) for i in progress(range(frame.shape[0]), desc="images", unit="image")]
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


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
