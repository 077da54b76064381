"""Projection corrections: dark and flat field, -log, zingers and rings.

The order used by :func:`asirp.tomo.pipeline.reconstruct_scan`::

    raw counts --remove_zingers--> --subtract_dark--> counts above dark
        --(restoration: Poisson statistics still hold here)--> --flat_field--> transmission
        --minus_log--> attenuation (line integrals) --remove_rings--> reconstruction

Restoration comes between the dark subtraction and the flat field on purpose: the
detector blur acts on the measured intensity, and the counts above dark still have
(nearly) Poisson statistics, which Richardson-Lucy and the selector's noise model
assume. The frame's ``meta["quantity"]`` says which stage a projection stack is at.

Documented handling of bad calibration data (see :func:`flat_field`):

* **no darks**: the dark current is taken as 0;
* **no flats**: the open-beam intensity is estimated, per projection and detector
  row, as the mean of the ``air_px`` outermost columns on both sides (the sample must
  leave air there; TomoPy's ``normalize_bg`` makes the same assumption);
* **flat field not above the dark** (a dead pixel, a zero flat): an error naming the
  pixels, or with ``zero_flat="interpolate"`` those detector pixels' transmission is
  interpolated along the row from their neighbours and the pixels are listed in the
  step's notes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import TimedStep
from .options import TRANSMISSION_FLOOR
from .readers import TomoScan

COUNTS = "counts"
ABOVE_DARK = "counts above dark"
TRANSMISSION = "transmission"
ATTENUATION = "attenuation"
#: Largest number of bad pixels spelled out in an error message.
_LISTED = 8

ZeroFlat = Literal["error", "interpolate"]


def _quantity(frame: Frame) -> str:
    return str(frame.meta.get("quantity", COUNTS))


def _require(frame: Frame, quantity: str, operation: str, before: str) -> None:
    if not frame.is_stack:
        raise InputError(f"{operation} needs a projection stack (n_angles, ny, nx), got shape {frame.shape}", frame.meta.get("source"))
    if _quantity(frame) != quantity:
        raise InputError(
            f"{operation} expects projections holding {quantity!r}, got {_quantity(frame)!r}; run {before} first",
            frame.meta.get("source"),
        )


def subtract_dark(scan: TomoScan) -> Frame:
    """Raw counts minus the mean dark image, clipped at 0.

    Returns
    -------
    Frame
        ``quantity="counts above dark"``, counts. Negative values (read noise in
        nearly opaque pixels) are set to 0: photon counts are not negative, and the
        -log floor takes care of zeros. Without darks the dark is taken as 0 (noted).
    """
    frame = scan.projections
    _require(frame, COUNTS, "dark subtraction", "asirp.tomo.read_scan")
    step = TimedStep("dark_subtraction", n_darks=0 if scan.darks is None else int(scan.darks.shape[0]))
    notes: dict[str, object]
    if scan.darks is None:
        dark = np.zeros(frame.image_shape, dtype=np.float32)
        notes = {"dark": "no dark images: dark current taken as 0"}
    else:
        dark = scan.darks.mean(axis=0, dtype=np.float64).astype(np.float32)
        notes = {"dark_mean_counts": float(dark.mean())}
    above = np.maximum(frame.data - dark, np.float32(0))
    notes["clipped_fraction"] = float(np.mean(frame.data < dark))
    return step.apply(frame, above, notes=notes, meta={**frame.meta, "quantity": ABOVE_DARK})


def _flat_on_grid(flat: np.ndarray, frame: Frame, where: str | None) -> tuple[np.ndarray, int]:
    """The flat on the projections' grid: resampled when a restoration refined it.

    asirp's grid-changing methods (super-resolution, bicubic) keep the value per pixel
    for kinds that are not photon counts — ``tomo_projection`` among them — and
    conserve the total for counting kinds (``1/s²`` of the counts per pixel on a grid
    ``s`` times finer). The smooth flat is resampled bilinearly and scaled the same way.
    """
    shape = frame.image_shape
    if flat.shape == shape:
        return flat, 1
    scale = shape[0] // flat.shape[0]
    if scale < 2 or shape != (flat.shape[0] * scale, flat.shape[1] * scale):
        raise InputError(f"projections of {shape[0]}x{shape[1]} px do not match flats of {flat.shape[0]}x{flat.shape[1]} px", where)
    resampled = ndimage.zoom(flat, scale, order=1, mode="nearest", grid_mode=True)
    return (resampled / scale**2 if frame.is_counting else resampled), scale


def _interpolate_along_rows(data: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Replace ``bad`` detector pixels ``(ny, nx)`` in every projection by linear interpolation along the row."""
    out = np.array(data)
    columns = np.arange(data.shape[-1])
    for row in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[row]
        if not good.any():
            continue  # a fully dead row: left as is (it is in the error list of flat_field)
        for index in range(out.shape[0]):
            out[index, row, ~good] = np.interp(columns[~good], columns[good], out[index, row, good])
    return out


def _pixels(mask: np.ndarray) -> list[list[int]]:
    return [[int(r), int(c)] for r, c in np.argwhere(mask)]


def flat_field(frame: Frame, scan: TomoScan, *, air_px: int = 10, zero_flat: ZeroFlat = "error") -> Frame:
    """Transmission ``(P - D) / (F - D)`` from counts above dark.

    Parameters
    ----------
    frame:
        Counts above dark (from :func:`subtract_dark`, possibly restored), ``(n, ny, nx)``.
    scan:
        The scan, for its flats and darks.
    air_px:
        Without flats: number of columns at each detector edge taken as air (open
        beam) to estimate the flat per projection and row.
    zero_flat:
        What to do with detector pixels whose flat is not above the dark (a dead
        pixel, a zero flat field): ``"error"`` (default) raises naming them;
        ``"interpolate"`` interpolates their transmission along the row and lists
        them in the step's notes.

    Returns
    -------
    Frame
        ``quantity="transmission"`` (dimensionless; about 1 in air).

    Raises
    ------
    InputError
        A flat not above the dark with ``zero_flat="error"``; no flats and an air
        region without signal; a frame at the wrong stage.
    """
    _require(frame, ABOVE_DARK, "flat-field correction", "asirp.tomo.subtract_dark")
    if zero_flat not in ("error", "interpolate"):
        raise ParameterError(f"zero_flat must be 'error' or 'interpolate', got {zero_flat!r}")
    where = frame.meta.get("source")
    step = TimedStep("flat_field", n_flats=0 if scan.flats is None else int(scan.flats.shape[0]), air_px=int(air_px), zero_flat=zero_flat)
    ny, nx = frame.image_shape
    data = frame.data.astype(np.float32)
    if scan.flats is None:
        if not 1 <= air_px <= (nx - 1) // 2:
            raise ParameterError(f"air_px must be between 1 and {(nx - 1) // 2} for {nx} detector columns, got {air_px}")
        air = np.concatenate([data[:, :, :air_px], data[:, :, -air_px:]], axis=2).mean(axis=2, keepdims=True)
        if np.any(air <= 0):
            n, row = (int(v) for v in np.argwhere(air[:, :, 0] <= 0)[0])
            raise InputError(
                f"no flat field in the scan, and the {air_px} edge columns of projection {n}, row {row} hold no signal "
                "to estimate it from; give flats, or a larger air_px", where)
        notes: dict[str, object] = {"flat": f"no flat images: open beam estimated per projection and row from the {air_px} outermost "
                         "columns on each side (air)"}
        return step.apply(frame, data / air, notes=notes, meta={**frame.meta, "quantity": TRANSMISSION})

    dark = np.zeros((ny, nx), np.float32) if scan.darks is None else scan.darks.mean(axis=0, dtype=np.float64)
    flat_raw = scan.flats.mean(axis=0, dtype=np.float64) - (0.0 if scan.darks is None else dark)
    bad_raw = flat_raw <= 0
    flat, scale = _flat_on_grid(np.asarray(flat_raw, dtype=np.float64), frame, where)
    bad = np.repeat(np.repeat(bad_raw, scale, axis=0), scale, axis=1) if scale > 1 else bad_raw
    notes = {"flat_mean_counts": float(flat[~bad].mean()) if (~bad).any() else 0.0}
    if scale > 1:
        notes["flat_resampled_by"] = scale
    if bad.any():
        pixels = _pixels(bad_raw)
        dead_rows = np.flatnonzero(bad_raw.all(axis=1))
        if zero_flat == "error" or dead_rows.size:
            listed = ", ".join(f"(row {r}, col {c})" for r, c in pixels[:_LISTED])
            more = f" and {len(pixels) - _LISTED} more" if len(pixels) > _LISTED else ""
            why = "; whole rows are dead, nothing to interpolate from" if dead_rows.size else ""
            raise InputError(
                f"flat field is not above the dark at {len(pixels)} detector pixel(s): {listed}{more}{why}; "
                "use zero_flat='interpolate' (--zero-flat interpolate) to interpolate them along the row", where)
        notes["interpolated_pixels"] = pixels
    transmission = data / np.where(bad, 1.0, flat).astype(np.float32)
    if bad.any():
        transmission = _interpolate_along_rows(transmission, bad)
    return step.apply(frame, transmission, notes=notes, meta={**frame.meta, "quantity": TRANSMISSION})


def normalise(scan: TomoScan, *, air_px: int = 10, zero_flat: ZeroFlat = "error") -> Frame:
    """Dark subtraction then flat field: the transmission of every projection (see :func:`flat_field`)."""
    return flat_field(subtract_dark(scan), scan, air_px=air_px, zero_flat=zero_flat)


def minus_log(frame: Frame, *, floor: float = TRANSMISSION_FLOOR) -> Frame:
    """Line integrals of attenuation ``-ln(T)``, with the transmission floored at ``floor``.

    Beer-Lambert: ``T = exp(-∫ mu dl)``. A transmission at or below ``floor`` (default
    1e-3, i.e. attenuation capped at ``-ln(1e-3) = 6.9``) carries almost no photon:
    its logarithm is dominated by noise or undefined (zero counts), so it is set to
    ``floor``; the number of floored values is in the step's notes.

    Returns
    -------
    Frame
        ``quantity="attenuation"`` (dimensionless line integrals, lengths in pixels).
    """
    _require(frame, TRANSMISSION, "-log", "asirp.tomo.flat_field")
    if not 0.0 < floor < 1.0:
        raise ParameterError(f"floor must be a transmission between 0 and 1 (exclusive), got {floor}")
    step = TimedStep("minus_log", floor=float(floor))
    floored = frame.data <= floor
    attenuation = -np.log(np.maximum(frame.data, np.float32(floor)))
    notes = {"floored_fraction": float(floored.mean()), "max_attenuation": float(-np.log(floor))}
    return step.apply(frame, attenuation, notes=notes, meta={**frame.meta, "quantity": ATTENUATION})


def remove_zingers(frame: Frame, *, threshold: float = 6.0, size: int = 3) -> Frame:
    """Replace zingers (isolated bright outliers: cosmic rays, scattered gammas) by the local median.

    A pixel is a zinger when it exceeds the median of its ``size x size``
    neighbourhood in the same projection by more than ``threshold`` robust standard
    deviations (1.4826 x the median absolute deviation of that difference over the
    projection). Only bright outliers are replaced: zingers add charge.

    Parameters
    ----------
    threshold:
        Detection threshold in robust standard deviations (> 0).
    size:
        Odd median window, pixels (3 or 5).

    Returns
    -------
    Frame
        Same quantity; the number of replaced pixels is in the step's notes.
    """
    if not frame.is_stack:
        raise InputError(f"zinger removal needs a projection stack, got shape {frame.shape}", frame.meta.get("source"))
    if not threshold > 0 or size < 3 or size % 2 == 0:
        raise ParameterError(f"threshold must be > 0 and size an odd number >= 3, got {threshold}, {size}")
    step = TimedStep("remove_zingers", threshold=float(threshold), size=int(size))
    median = ndimage.median_filter(frame.data, size=(1, size, size), mode="nearest")
    excess = frame.data - median
    spread = np.median(np.abs(excess - np.median(excess, axis=(1, 2), keepdims=True)), axis=(1, 2), keepdims=True)
    sigma = np.maximum(1.4826 * spread, np.finfo(np.float32).tiny)
    zingers = (excess > threshold * sigma) & frame.valid
    cleaned = np.where(zingers, median, frame.data)
    return step.apply(frame, cleaned, notes={"replaced_pixels": int(zingers.sum()), "replaced_fraction": float(zingers.mean())})


def _stripe_offsets(profile: np.ndarray, threshold: float) -> np.ndarray:
    """Offsets of the one-column stripes of an angular-mean profile ``(nx,)``; 0 elsewhere.

    A stripe is a **bump**: the column stands above (or below) both neighbours. Its
    height is the smaller of the two differences when they have the same sign, and 0
    otherwise, so edges and kinks of the sample (a step: neighbours on opposite sides)
    are not bumps. Columns whose bump exceeds ``threshold`` times the profile's noise
    (robust, from its second difference) and than both neighbours' bumps are stripes; their offset is their value minus the linear
    interpolation between the nearest columns that are not stripes.
    """
    left = profile[1:-1] - profile[:-2]
    right = profile[1:-1] - profile[2:]
    same_side = np.sign(left) == np.sign(right)
    bump = np.zeros_like(profile)
    bump[1:-1] = np.where(same_side, np.sign(left) * np.minimum(np.abs(left), np.abs(right)), 0.0)
    # Noise of the profile from its second difference (std sqrt(1.5) x the profile's for white noise).
    curvature = profile[1:-1] - 0.5 * (profile[:-2] + profile[2:])
    sigma = 1.4826 * float(np.median(np.abs(curvature - np.median(curvature)))) / np.sqrt(1.5)
    floor = float(np.finfo(np.float32).eps) * max(float(np.abs(profile).max()), 1.0)
    height = np.abs(bump)
    stripes = height > threshold * max(sigma, floor)
    # A stripe makes its neighbours look like small bumps too: keep only the local maxima.
    stripes[1:] &= height[1:] >= height[:-1]
    stripes[:-1] &= height[:-1] >= height[1:]
    if not stripes.any() or stripes.all():
        return np.zeros_like(profile)
    columns = np.arange(profile.size)
    expected = np.interp(columns[stripes], columns[~stripes], profile[~stripes])
    offsets = np.zeros_like(profile)
    offsets[stripes] = profile[stripes] - expected
    return offsets


def remove_rings(frame: Frame, *, threshold: float = 6.0) -> Frame:
    """Remove ring artefacts: find the detector columns with an offset and subtract it.

    A detector pixel whose response is off after flat-field correction adds the same
    offset to its column of the sinogram at every angle, which draws a ring in the
    slice. The offset is found on the sinogram's **angular mean profile** (as in the
    classic ring correction of Rivers 1998), where the sample's contribution, averaged
    over all angles, varies smoothly from column to column while a faulty pixel stands
    out of both neighbours (:func:`_stripe_offsets`); the offset is subtracted from the
    whole column. Columns that are not stripes are not touched; the step's notes list
    the pixels corrected.

    Limits: stripes one column wide (the common single faulty pixel); wider defects
    and partial stripes (a pixel off during part of the scan) are not found; a sharp,
    strongly attenuating feature whose angular mean peaks in one column may be taken
    for a stripe (check the notes). Off by default in :func:`asirp.tomo.reconstruct_scan`.

    Parameters
    ----------
    frame:
        Attenuation projections ``(n_angles, ny, nx)`` (from :func:`minus_log`).
    threshold:
        Detection threshold in robust standard deviations of the mean profile's noise.

    References
    ----------
    M. Rivers, "Tutorial introduction to X-ray computed microtomography data
    processing" (1998); N. T. Vo, R. C. Atwood, M. Drakopoulos, Opt. Express 26,
    28396 (2018) for the kinds of stripes and other removal methods.
    """
    _require(frame, ATTENUATION, "ring removal", "asirp.tomo.minus_log")
    if frame.shape[2] < 3:
        raise InputError(f"ring removal needs at least 3 detector columns, got {frame.shape[2]}", frame.meta.get("source"))
    if not threshold > 0:
        raise ParameterError(f"threshold must be > 0, got {threshold}")
    step = TimedStep("remove_rings", threshold=float(threshold), algorithm="one-column stripes of the angular mean profile")
    profiles = frame.data.mean(axis=0, dtype=np.float64)  # (ny, nx)
    offsets = np.stack([_stripe_offsets(row, threshold) for row in profiles]).astype(np.float32)
    cleaned = frame.data - offsets[None]
    notes = {"stripe_pixels": _pixels(offsets != 0), "max_abs_offset": float(np.abs(offsets).max())}
    return step.apply(frame, cleaned, notes=notes)
