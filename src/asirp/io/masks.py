"""The validity mask of a frame read from a file, and where each masked pixel came from.

A pixel is masked (``valid = False``) when any of these sources says so:

* ``pixel_mask``: the detector's bad-pixel map stored in the file (NeXus NXdetector
  ``pixel_mask`` or Eiger ``detectorSpecific/pixel_mask``; nonzero = bad: any of the
  bits NXdetector defines, see :data:`PIXEL_MASK_BITS` and :func:`pixel_mask_reasons`);
* ``nxdata_mask``: the ``mask`` dataset asirp writes next to the data (1 = masked, the
  pyFAI convention);
* ``negative_sentinel``: negative values in integer data. Photon counts cannot be
  negative; detectors write -1 in module gaps and -2 at bad pixels (Pilatus);
* ``dtype_max_sentinel``: the largest value of the integer dtype (2^32-1, 2^16-1), which
  counting detectors write for overflowed or defective pixels. Applied to integer
  types of 16 bits and more only: an 8-bit image is a picture, where 255 is plain white;
* ``saturation``: values at or above the detector saturation (given by the user or
  read from the file), where counts are no longer proportional to photons;
* ``non_finite``: NaN and ±inf in floating-point data.

Masks are **never** inferred from zeros: a zero count is a measurement. Negative
values in floating-point data are kept: such data may already be processed (a
-log transmission, a background-subtracted pattern), and counting methods check
positivity themselves.
"""

from __future__ import annotations

import numpy as np

#: The bits of an NXdetector ``pixel_mask`` (NeXus base class NXdetector; Eiger and
#: Lambda follow it). Any set bit masks the pixel; other bits are "undefined" in NeXus
#: and reported as ``bit_<n>``.
PIXEL_MASK_BITS: dict[int, str] = {
    0: "gap",
    1: "dead",
    2: "under_responding",
    3: "over_responding",
    4: "noisy",
    6: "cluster",
    8: "user_mask",
    31: "virtual",
}


def pixel_mask_reasons(values: np.ndarray) -> dict[str, int]:
    """Pixels of an integer NXdetector ``pixel_mask`` flagged by each bit, by reason name.

    A pixel with several bits set (a dead pixel in a cluster) counts once per reason.
    Signed masks are read as their unsigned bit patterns (bit 31 of an int32 mask is
    the sign bit). Only reasons that flag at least one pixel are listed.
    """
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise TypeError(f"pixel mask bits need an integer mask, got {array.dtype}")
    bits = array.astype(array.dtype.newbyteorder("=")).view(f"u{array.dtype.itemsize}").astype(np.uint64)
    reasons: dict[str, int] = {}
    for bit in range(8 * array.dtype.itemsize):
        count = int(np.count_nonzero(bits & np.uint64(1 << bit)))
        if count:
            reasons[PIXEL_MASK_BITS.get(bit, f"bit_{bit}")] = count
    return reasons


def sentinel_masks(data: np.ndarray) -> dict[str, np.ndarray]:
    """Masks (True = bad) of detector sentinel values and non-finite values.

    Parameters
    ----------
    data:
        Array in the file's own dtype.

    Returns
    -------
    dict
        Source name -> boolean mask of ``data``'s shape, only for sources that apply
        to this dtype and flag at least one pixel.
    """
    masks: dict[str, np.ndarray] = {}
    if data.dtype.kind == "i":
        masks["negative_sentinel"] = data < 0
    if data.dtype.kind in "iu" and data.dtype.itemsize >= 2:
        masks["dtype_max_sentinel"] = data == np.iinfo(data.dtype).max
    if data.dtype.kind == "f":
        masks["non_finite"] = ~np.isfinite(data)
    return {name: mask for name, mask in masks.items() if mask.any()}


def saturation_mask(data: np.ndarray, saturation: float) -> np.ndarray:
    """Pixels at or above ``saturation`` (same units as ``data``, usually counts)."""
    with np.errstate(invalid="ignore"):  # NaN compares False: NaNs are masked as non_finite
        return data >= saturation


def combine(
    data: np.ndarray, file_masks: dict[str, np.ndarray], saturation: float | None
) -> tuple[np.ndarray, dict[str, int]]:
    """The validity mask of ``data`` and the number of pixels each source masks.

    Parameters
    ----------
    data:
        Image ``(ny, nx)`` or stack ``(n, ny, nx)`` in the file's dtype.
    file_masks:
        Masks stored in the file (True = bad), of the image shape (applied to every
        frame of a stack) or of the data shape.
    saturation:
        Saturation threshold in data units, or None.

    Returns
    -------
    valid:
        Boolean array of ``data``'s shape, True = measured.
    sources:
        Source name -> number of pixels of ``data`` it flags. Sources may overlap, so
        the counts can add up to more than the masked total. Masks stored in the file
        and an applied saturation are listed even when they flag nothing, so that
        the record says they were taken into account.
    """
    masks = {name: np.broadcast_to(mask, data.shape) for name, mask in file_masks.items()}
    masks.update(sentinel_masks(data))
    if saturation is not None:
        masks["saturation"] = saturation_mask(data, saturation)
    valid = np.ones(data.shape, dtype=bool)
    for mask in masks.values():
        valid &= ~mask
    return valid, {name: int(np.count_nonzero(mask)) for name, mask in masks.items()}
