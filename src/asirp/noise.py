"""The wavelet noise estimate shared by the selector and the super-resolution methods.

:func:`wavelet_sigma` is the median-absolute-deviation estimate of the finest diagonal
wavelet coefficients (Donoho & Johnstone 1994) as :func:`skimage.restoration.estimate_sigma`
computes it, without the warnings that function gives for images asirp handles on
purpose: a constant or linear image (no non-zero detail coefficient: "Mean of empty
slice"; its noise is 0) and an image of 4 px or fewer across (taken for a colour
image's channel axis; asirp images are grey).
"""

from __future__ import annotations

import math
import warnings

import numpy as np


def wavelet_sigma(image: np.ndarray) -> float:
    """Gaussian noise standard deviation of a 2-D ``image`` (0 when it has no detail at all)."""
    from skimage.restoration import estimate_sigma

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="image is size .* on the last axis", category=UserWarning)
        sigma = float(estimate_sigma(np.asarray(image, dtype=np.float64), channel_axis=None))
    return sigma if math.isfinite(sigma) else 0.0
