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


def per_image(frame: Frame, fn: Callable[[Frame], np.ndarray]) -> np.ndarray:
    """``fn(image)`` of each 2-D image of ``frame`` (a :class:`Frame` each), as a method's output data:
    float32, 0 at masked pixels, stacked back to the frame's shape."""
    out = [np.where(image.valid, fn(image), 0.0).astype(np.float32) for image in frame.images()]
    return np.stack(out) if frame.is_stack else out[0]
