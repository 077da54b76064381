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
    # Each result is written into one array as it comes (not stacked at the end: a copy of
    # the whole stack, ~10 ms per 1 Mpx image, and twice the memory).
    data: np.ndarray | None = None
    valid: np.ndarray | None = None
    for i in progress(range(frame.shape[0]), desc="images", unit="image"):
        image, image_valid = fn(frame.data[i], frame.valid[i])
        if data is None or valid is None:
            data = np.empty((frame.shape[0], *np.shape(image)), np.asarray(image).dtype)
            valid = np.empty((frame.shape[0], *np.shape(image_valid)), np.asarray(image_valid).dtype)
        data[i], valid[i] = image, image_valid
    assert data is not None and valid is not None
    return data, valid


def per_image(frame: Frame, fn: Callable[[Frame], np.ndarray]) -> np.ndarray:
    """``fn(image)`` of each 2-D image of ``frame`` (a :class:`Frame` each), as a method's output data:
    float32, 0 at masked pixels, stacked back to the frame's shape."""
    out = np.empty(frame.shape, np.float32)
    for index, image in enumerate(frame.images()):
        target = out[index] if frame.is_stack else out
        np.copyto(target, fn(image), casting="unsafe")
        target[~image.valid] = 0.0
    return out
