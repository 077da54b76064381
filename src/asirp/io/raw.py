"""What a format reader hands to :func:`asirp.io.open`: the array as stored plus hints.

Every reader (HDF5/NeXus, TIFF, fabio formats, NPY) returns a :class:`RawImage`;
:mod:`asirp.io.reader` turns it into a :class:`~asirp.frame.Frame` in one place, so
masking, dtype conversion, geometry and provenance are the same for every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from ..history import HistoryStep
from ..units import PixelSize


@dataclass
class RawImage:
    """An image or stack as stored in a file, before masking and conversion.

    Attributes
    ----------
    data:
        The array in the file's own dtype (integer counts keep their sentinels).
    format:
        Short format name (``"nexus"``, ``"hdf5"``, ``"tiff"``, ``"edf"``, ``"cbf"``, ``"npy"``...).
    dataset:
        HDF5 path of the image dataset, None for single-image formats.
    masks:
        Bad-pixel masks found in the file, True = masked, by source name
        (``"pixel_mask"``, ``"nxdata_mask"``); each of the image shape or the data shape.
    saturation:
        Detector saturation (counts) stated by the file, None when it states none.
    kind, pixel_size, geometry, history:
        What the file records about the data (asirp's own files record all of them).
    meta:
        Header entries worth keeping (exposure time, paths of mask datasets...).
    """

    data: np.ndarray
    format: str
    dataset: str | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    saturation: float | None = None
    kind: str | None = None
    pixel_size: PixelSize | None = None
    geometry: Geometry | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    history: tuple[HistoryStep, ...] = ()


_DTYPE_HINTS = {
    "b": " (booleans: a mask?)",
    "c": " (complex numbers)",
    "O": " (text or Python objects)",
    "S": " (text)",
    "U": " (text)",
    "V": " (structured records)",
    "M": " (dates)",
    "m": " (time intervals)",
}


def check_image_layout(shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    """Refuse, before reading any pixel, arrays that cannot be an image or an image stack.

    Parameters
    ----------
    shape, dtype:
        Shape and dtype as stored.
    where:
        The file (and dataset) named in the error message.

    Raises
    ------
    InputError
        For non-real dtypes (complex, bool, strings, objects, compound) and for data
        that is not 2-D or 3-D.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        hint = _DTYPE_HINTS.get(dtype.kind, "")
        raise InputError(
            f"data of dtype {dtype}{hint} cannot be restored; expected real numbers "
            "(integer counts or floating point)",
            where,
        )
    if len(shape) in (0, 1):
        got = "a scalar" if not shape else f"1-D data of length {shape[0]}"
        raise InputError(f"expected an image (2-D) or a stack of images (3-D), got {got}", where)
    if len(shape) > 3:
        raise InputError(
            f"{len(shape)}-D data of shape {tuple(shape)} is not supported; asirp reads one image (ny, nx) "
            "or one stack (n, ny, nx). Select or reshape the part you need (for example drop "
            "singleton axes) and save it as a 2-D or 3-D dataset",
            where,
        )
