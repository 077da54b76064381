"""Turn the images a measure is given into clean float64 arrays and one validity mask.

Every quality measure of :mod:`asirp.analysis` accepts numpy arrays or asirp
:class:`~asirp.frame.Frame` objects plus an optional boolean ``valid`` mask; this
module does the shared checking once so that each measure states only its maths and
bad input always ends in an :class:`~asirp.errors.InputError` that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError
from ..frame import Frame
from ..units import PixelSize

#: What a measure accepts as an image: an array (2-D image or 3-D stack) or a Frame.
ImageLike = ArrayLike | Frame


@dataclass(frozen=True)
class Prepared:
    """Images ready for a measure.

    Attributes
    ----------
    arrays:
        The images as float64 arrays of one shape ``(ny, nx)`` or ``(n, ny, nx)``
        (float64 so that sums of squares over millions of pixels stay exact enough).
    valid:
        True where every input and the caller's mask say the pixel is usable.
    pixel_size:
        The pixel size of the first Frame that has one, else None.
    """

    arrays: tuple[np.ndarray, ...]
    valid: np.ndarray
    pixel_size: PixelSize | None


def _unpack(image: ImageLike, name: str) -> tuple[np.ndarray, np.ndarray | None, PixelSize | None]:
    if isinstance(image, Frame):
        return np.asarray(image.data, dtype=np.float64), np.asarray(image.valid), image.pixel_size
    array = np.asarray(image)
    if array.dtype.kind not in "fiu":
        raise InputError(f"{name} has dtype {array.dtype}; expected real numbers")
    if array.ndim not in (2, 3):
        raise InputError(f"{name} must be a 2-D image (ny, nx) or a 3-D stack (n, ny, nx), got shape {array.shape}")
    return array.astype(np.float64, copy=False), None, None


def _user_mask(valid: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(valid)
    if mask.dtype != bool:
        raise InputError(f"valid mask must be boolean (True = use the pixel), got dtype {mask.dtype}")
    # A 2-D mask applies to every frame of a stack (a detector mask for a time series).
    if mask.shape != shape and not (len(shape) == 3 and mask.shape == shape[1:]):
        raise InputError(f"valid mask of shape {mask.shape} does not fit images of shape {shape}")
    return np.broadcast_to(mask, shape)


def prepare(images: Sequence[ImageLike], names: Sequence[str], valid: ArrayLike | None = None) -> Prepared:
    """Check ``images`` and combine their masks with ``valid``.

    Parameters
    ----------
    images:
        One or more arrays or Frames that must all have one shape.
    names:
        How to call each image in error messages (``"truth"``, ``"estimate"``...).
    valid:
        Optional boolean mask, True = use the pixel; the shape of the images, or
        ``(ny, nx)`` for stacks (then applied to every frame).

    Raises
    ------
    InputError
        Shapes differ (both shapes are named), the mask does not fit, no pixel is
        valid, or a valid pixel holds NaN or inf.
    """
    unpacked = [_unpack(image, name) for image, name in zip(images, names, strict=True)]
    first_shape = unpacked[0][0].shape
    for (array, _, _), name in zip(unpacked[1:], names[1:], strict=True):
        if array.shape != first_shape:
            raise InputError(f"{names[0]} has shape {first_shape} but {name} has shape {array.shape}")
    mask = np.ones(first_shape, dtype=bool)
    for _, frame_valid, _ in unpacked:
        if frame_valid is not None:
            mask &= frame_valid
    if valid is not None:
        mask &= _user_mask(valid, first_shape)
    if not mask.any():
        raise InputError("no valid pixel to compare: every pixel is masked")
    for (array, _, _), name in zip(unpacked, names, strict=True):
        bad = int(np.count_nonzero(~np.isfinite(array[mask])))
        if bad:
            raise InputError(f"{name} holds NaN or inf at {bad} valid pixel(s); mask them with `valid`")
    pixel_size = next((size for _, _, size in unpacked if size is not None), None)
    return Prepared(tuple(array for array, _, _ in unpacked), mask, pixel_size)
