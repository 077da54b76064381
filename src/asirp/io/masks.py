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
* ``non_finite``: NaN and ±inf in floating-point data;
* ``user_mask``: a mask file given by the user (``mask=``, ``--mask``: pyFAI/Dioptas
  convention, nonzero = masked; :mod:`asirp.io.mask_file`);
* ``dead_area``: in integer data, compact regions of exact zeros that cannot be a
  measurement (:func:`dead_areas`): the dead area outside a round detector's active
  circle, a beamstop shadow with no counts at all.

A zero count is a measurement: masks are never inferred from single zeros, only from
all-zero regions that their surroundings make impossible as Poisson counts. Negative
values in floating-point data are kept: such data may already be processed (a
-log transmission, a background-subtracted pattern), and counting methods check
positivity themselves.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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


#: Half-width (px) of the all-zero square a dead area must contain: (2R+1)² = 169 pixels.
DEAD_AREA_RADIUS = 6
#: Counts the surroundings predict for such a square before its zeros are called dead:
#: P(169 Poisson zeros) = exp(-30) ≈ 1e-13, so not one false square in a 100 Mpx frame.
DEAD_AREA_EXPECTED_COUNTS = 30.0


def dead_areas(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Regions of exact zeros that the counts around them make impossible: True = dead.

    A pixel is dead when it lies in an all-zero ``(2R+1)²`` square (``R`` =
    :data:`DEAD_AREA_RADIUS`) whose surroundings (the square ring out to ``3R``, zeros
    included, so the estimate is not biased by having picked zeros) have a mean rate
    ``λ`` with ``λ (2R+1)² ≥`` :data:`DEAD_AREA_EXPECTED_COUNTS`. A sparse frame (0.01
    counts/px) has all-zero squares everywhere but its rate predicts them; the corners
    outside a MarCCD's active circle or a beamstop shadow beside rings of 10 counts/px
    do not. The all-zero squares connected to such a square join it (the far corners of
    a round detector see only zeros around them), and so do the zeros within ``R`` px of
    the area (its rim). Other thin all-zero slivers are left as measurements.

    Parameters
    ----------
    image:
        One image ``(ny, nx)`` of non-negative counts or ADU (a stack: its sum).
    valid:
        Pixels already known to be measured.
    """
    inner, outer = 2 * DEAD_AREA_RADIUS + 1, 6 * DEAD_AREA_RADIUS + 1
    if min(image.shape) < outer:
        return np.zeros(image.shape, bool)
    counts = np.where(valid, image, 0).astype(np.float64)
    measured = valid.astype(np.float64)
    nonzero = (counts != 0).astype(np.float64)
    # Box sums by uniform filters (an erosion by a square is a zero box sum of the non-zeros).
    all_zero = (ndimage.uniform_filter(nonzero, inner, mode="constant") < 0.5 / inner**2) & (
        ndimage.uniform_filter(measured, inner, mode="constant") > 1 - 0.5 / inner**2)
    if not all_zero.any():
        return np.zeros(image.shape, bool)
    # The rate from the fraction f of non-zero pixels in the ring, λ = -ln(1 - f) (Poisson):
    # a bright spot in the ring is one non-zero pixel, not thousands of counts.
    ring_nonzero = ndimage.uniform_filter(nonzero, outer, mode="constant") * outer**2 - (
        ndimage.uniform_filter(nonzero, inner, mode="constant") * inner**2)
    ring_pixels = ndimage.uniform_filter(measured, outer, mode="constant") * outer**2 - (
        ndimage.uniform_filter(measured, inner, mode="constant") * inner**2)
    fraction = np.clip(np.divide(ring_nonzero, ring_pixels, out=np.zeros_like(ring_nonzero), where=ring_pixels >= 1),
                       0.0, 1.0)
    with np.errstate(divide="ignore"):
        rate = -np.log1p(-fraction)
    impossible = all_zero & (rate * inner**2 >= DEAD_AREA_EXPECTED_COUNTS)
    if not impossible.any():
        return np.zeros(image.shape, bool)
    # The all-zero squares connected to an impossible one belong to the same dead area (the
    # far corners of a round detector have only zeros around them).
    opened = ndimage.uniform_filter(all_zero.astype(np.float64), inner, mode="constant") > 0.5 / inner**2
    labels, _ = ndimage.label(opened, structure=np.ones((3, 3), bool))
    dead_labels = np.unique(labels[impossible])
    dead = np.isin(labels, dead_labels[dead_labels > 0])
    # Its rim: the zeros within R px of it (the edge of a round active area is not square).
    rim = ndimage.uniform_filter(dead.astype(np.float64), inner, mode="constant") > 0.5 / inner**2
    return (dead | (rim & (counts == 0))) & valid


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
    if data.dtype.kind in "iu":
        measured = np.asarray(valid.all(axis=0)) if data.ndim == 3 else valid
        image = np.where(valid, data, 0).sum(axis=0) if data.ndim == 3 else data
        dead = dead_areas(image, measured)
        if dead.any():
            masks["dead_area"] = np.broadcast_to(dead, data.shape)
            valid &= ~masks["dead_area"]
    return valid, {name: int(np.count_nonzero(mask)) for name, mask in masks.items()}
