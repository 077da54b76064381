"""What the viewer sends to the browser for one image: oriented, downsampled when large, masked as NaN.

Bokeh colours NaN with the colour mapper's ``nan_color``, so masked (not measured)
pixels travel as NaN and are drawn in a colour of their own; the frame's ``valid``
mask stays the only truth about them. Frames of :data:`DOWNSAMPLE_FROM` pixels or more
are sent as block means (or maxima) of whole pixels, at most about
:data:`OVERVIEW_PIXELS`, drawn over the full extent so that axes and hover stay in the
frame's own pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from skimage.measure import block_reduce

from ..units import PixelSize

#: Frames with at least this many pixels are sent downsampled (a 4 Mpx float32 image is 16 MB).
DOWNSAMPLE_FROM = 4_000_000
#: Pixels of a downsampled overview, about (1024 x 1024).
OVERVIEW_PIXELS = 1 << 20
#: Largest side of an image panel on screen, CSS pixels: what a live frame needs, sent no larger (the page's figures are this size).
PANEL_SIZE = 440
#: Softening of the asinh scale, as a fraction of the colour range: linear within about it of the low limit, logarithmic far above.
ASINH_SOFTENING = 0.05
#: Default percentile clipping of the colour scale (low, high), percent of the valid pixels.
DEFAULT_CLIP = (0.5, 99.5)
#: Rotations offered (degrees, counter-clockwise as displayed).
ROTATIONS = (0, 90, 180, 270)

Reduction = Literal["mean", "max"]
Scale = Literal["linear", "log", "asinh"]


@dataclass(frozen=True)
class Orientation:
    """How images are turned for display: a rotation, then flips; the same for every panel."""

    rotate: int = 0
    flip_x: bool = False
    flip_y: bool = False

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` (2-D, rows first) as displayed; a view, no copy."""
        if self.rotate not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {self.rotate}")
        out = np.rot90(image, k=self.rotate // 90)
        if self.flip_x:
            out = out[:, ::-1]
        if self.flip_y:
            out = out[::-1, :]
        return out


@dataclass(frozen=True)
class Axes:
    """The units of the panels' axes: ``y`` and ``x`` data units per displayed pixel, and their name."""

    y: float = 1.0
    x: float = 1.0
    unit: str = "pixel"

    @classmethod
    def of(cls, pixel_size: PixelSize | None, orientation: Orientation, physical: bool) -> Axes:
        """Pixel axes, or with ``physical`` and a known pixel size (scan step) axes in its length unit.

        A quarter turn exchanges the sizes along y and x: the image's rows become columns.
        """
        if not physical or pixel_size is None:
            return cls()
        y, x = (pixel_size.x, pixel_size.y) if orientation.rotate in (90, 270) else (pixel_size.y, pixel_size.x)
        return cls(y, x, {"um": "µm", "A": "Å"}.get(pixel_size.unit, pixel_size.unit))


@dataclass(frozen=True)
class AxisLabels:
    """Names of the panels' axes other than ``x (unit)`` / ``y (unit)``, and labels at chosen positions (axis units) if any."""

    x: str
    y: str
    x_ticks: dict[float, str] | None = None
    y_ticks: dict[float, str] | None = None


Box = tuple[int, int, int, int]  # rows i0:i1 and columns j0:j1 of an image


def to_source(orientation: Orientation, box: Box, shape: tuple[int, int]) -> Box:
    """The box of an image of ``shape`` (as read) that shows as ``box`` once oriented (a rectangle stays one)."""
    i0, i1, j0, j1 = box
    index = orientation.apply(np.arange(shape[0] * shape[1]).reshape(shape))[i0:i1, j0:j1]
    rows, columns = np.unravel_index(index[[0, 0, -1, -1], [0, -1, 0, -1]], shape)
    return int(rows.min()), int(rows.max()) + 1, int(columns.min()), int(columns.max()) + 1


def to_display(orientation: Orientation, box: Box, shape: tuple[int, int]) -> Box:
    """Where ``box`` of an image of ``shape`` (as read) shows once oriented: the inverse of :func:`to_source`."""
    marked = np.zeros(shape, bool)
    marked[box[0] : box[1], box[2] : box[3]] = True
    rows, columns = np.nonzero(orientation.apply(marked))
    return int(rows.min()), int(rows.max()) + 1, int(columns.min()), int(columns.max()) + 1


def downsample_factor(shape: tuple[int, int]) -> int:
    """Block size (pixels per side) with which an image of ``shape`` is sent: 1 below :data:`DOWNSAMPLE_FROM`."""
    pixels = shape[0] * shape[1]
    if pixels < DOWNSAMPLE_FROM:
        return 1
    return math.ceil(math.sqrt(pixels / OVERVIEW_PIXELS))


def downsample(data: np.ndarray, valid: np.ndarray, factor: int, how: Reduction = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Block mean (over the valid pixels of each block) or block maximum of ``data``.

    Returns the reduced image and its validity (a block is valid when any of its
    pixels is). Blocks at the right and bottom edges that the image does not fill are
    reduced over the pixels they hold. ``factor`` 1 returns the inputs.
    """
    if factor == 1:
        return data, valid
    ny, nx = data.shape
    if how == "mean":  # sums over a reshaped view, several times faster than block_reduce; edge blocks padded with invalid pixels
        pad = ((0, -ny % factor), (0, -nx % factor))
        if pad[0][1] or pad[1][1]:
            data, valid = np.pad(data, pad), np.pad(valid, pad)
            ny, nx = data.shape
        rows = (ny // factor, factor, nx)
        count = valid.reshape(rows).sum(axis=1, dtype=np.int32).reshape(ny // factor, nx // factor, factor).sum(axis=2)
        kept = np.where(valid, data, np.float32(0))
        total = kept.reshape(rows).sum(axis=1, dtype=np.float64).reshape(ny // factor, nx // factor, factor).sum(axis=2)
        reduced = np.divide(total, count, out=np.zeros(count.shape), where=count > 0)
        return reduced.astype(np.float32), count > 0
    if how != "max":
        raise ValueError(f"unknown reduction {how!r}; use 'mean' or 'max'")
    block = (factor, factor)
    count = block_reduce(valid, block, np.sum, cval=0)
    reduced = block_reduce(np.where(valid, data, -np.inf), block, np.max, cval=-np.inf)
    return np.where(count > 0, reduced, 0.0).astype(np.float32), count > 0


def display_array(data: np.ndarray, valid: np.ndarray, orientation: Orientation, factor: int, how: Reduction = "mean") -> np.ndarray:
    """The float32 array the browser draws: oriented, reduced by ``factor``, NaN where not measured.

    Bokeh's image glyph puts array row 0 at the bottom of its box; the viewer flips its
    y axis so that row 0 is on top, as in every detector viewer.
    """
    reduced, ok = downsample(orientation.apply(data), orientation.apply(valid), factor, how)
    return np.where(ok, reduced, np.float32(np.nan)).astype(np.float32)


def colour_limits(values: np.ndarray, clip: tuple[float, float] = DEFAULT_CLIP, scale: Scale = "linear") -> tuple[float, float]:
    """Colour limits (low, high) at the ``clip`` percentiles of the finite ``values``.

    With ``scale="log"`` only positive values count (a logarithmic scale starts above
    zero). The limits are widened to a non-empty interval when the image is flat.
    """
    finite = values[np.isfinite(values)]
    if scale == "log":
        finite = finite[finite > 0]
    if finite.size == 0:
        return (1.0, 10.0) if scale == "log" else (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(finite, clip))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low * 10.0 if scale == "log" else low + 1.0
    return low, high


def colour_index(values: np.ndarray, limits: tuple[float, float], scale: Scale, levels: int) -> np.ndarray:
    """Which of ``levels`` colours each of ``values`` gets, as Bokeh's colour mappers choose (``levels``: not a number).

    Linear: ``levels`` equal steps from ``limits[0]`` to ``limits[1]``; log: the same in
    ``log10`` (values at or below 0 take the first colour); asinh: equal steps of
    ``asinh(t / s) / asinh(1 / s)``, ``t`` the value's place between the limits (0 to 1)
    and ``s`` = :data:`ASINH_SOFTENING`: linear near the low limit, logarithmic far above
    it, so faint background and bright peaks are both seen. Values outside the limits take
    the first or last colour. Returns uint16 (the palette's index, ``levels`` for NaN).
    """
    low, high = limits
    masked = np.isnan(values)
    tiny = float(np.finfo(np.float32).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "log":
            low, high = math.log10(max(low, tiny)), math.log10(max(high, tiny))
            values = np.log10(np.where(values > 0, values, tiny))
        span = high - low if high > low else 1.0
        place = (values - low) * (1.0 / span)
        if scale == "asinh":
            place = np.arcsinh(place / ASINH_SOFTENING) / np.arcsinh(1.0 / ASINH_SOFTENING)
        index = np.clip(np.nan_to_num(place * levels, nan=0.0, posinf=levels, neginf=0.0), 0, levels - 1).astype(np.uint16)
    index[masked] = levels
    return index


def steady_limits(kept: tuple[float, float] | None, new: tuple[float, float], scale: Scale, tolerance: float = 0.05) -> tuple[float, float]:
    """``kept`` while ``new`` is within ``tolerance`` of its range at both ends (in log10 on a log scale), else ``new``.

    A live series' limits jitter from frame to frame; keeping them steady keeps the colours
    comparable between frames and spares the browser a new colour bar each time.
    """
    if kept is None:
        return new
    a, b, c, d = (math.log10(max(v, 1e-30)) if scale == "log" else v for v in (*kept, *new))
    span = b - a if b > a else 1.0
    return kept if abs(c - a) <= tolerance * span and abs(d - b) <= tolerance * span else new


def difference(restored: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``restored - raw`` of two display arrays of one shape (NaN where either is not measured)."""
    if restored.shape != raw.shape:
        raise ValueError(f"a difference needs one shape; the result is {restored.shape}, the raw image {raw.shape}")
    return (restored - raw).astype(np.float32)


def symmetric_limits(values: np.ndarray, clip: float = DEFAULT_CLIP[1]) -> tuple[float, float]:
    """Limits ``(-m, m)`` for a difference image, ``m`` the ``clip`` percentile of ``|values|``."""
    magnitude = np.abs(values[np.isfinite(values)])
    bound = float(np.percentile(magnitude, clip)) if magnitude.size else 0.0
    bound = bound if bound > 0 else 1.0
    return -bound, bound


def ratio(restored: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``restored / raw`` of two display arrays of one shape; NaN where either is not measured or raw is not positive."""
    if restored.shape != raw.shape:
        raise ValueError(f"a ratio needs one shape; the result is {restored.shape}, the raw image {raw.shape}")
    positive = raw > 0  # NaN compares False: masked pixels stay NaN
    return np.divide(restored, raw, out=np.full(raw.shape, np.nan, np.float32), where=positive).astype(np.float32)


def ratio_limits(values: np.ndarray, clip: float = DEFAULT_CLIP[1]) -> tuple[float, float]:
    """Limits ``(1/m, m)`` for a ratio image on a log scale, ``m`` the ``clip`` percentile of ``max(r, 1/r)``."""
    finite = values[np.isfinite(values) & (values > 0)]
    spread = np.maximum(finite, 1.0 / finite) if finite.size else np.ones(1)
    bound = float(np.percentile(spread, clip))
    bound = bound if bound > 1 else 2.0
    return 1.0 / bound, bound
