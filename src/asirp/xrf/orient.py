"""Flip, rotate, transpose and crop element maps with their physical axes kept right.

A map frame carries the motor coordinate of every row and column in
``meta["scan_axes"]`` (:class:`MapAxes`): which motor runs down the rows and along
the columns, and their positions. Every operation here moves the coordinates with
the pixels, so each pixel keeps the motor position where it was measured: after a
transpose the rows follow ``x``; after a left-right flip the columns run from the
largest ``x`` to the smallest; a crop keeps the coordinates of the kept pixels. The
pixel size follows (a transpose swaps its y and x). Exports (TXT, PNG axes) read the
coordinates, so they stay physically right whatever was done to the display.

Each operation appends a history step and works on a map or a stack of maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import TimedStep
from ..units import PixelSize, convert_length, parse_length
from .scan import ScanGrid

#: Meta key holding the map's physical axes.
AXES_KEY = "scan_axes"
FLIPS = ("lr", "ud")


@dataclass(frozen=True)
class MapAxes:
    """Physical coordinates of a map's rows and columns.

    Attributes
    ----------
    row_motor, col_motor:
        Motor along the rows (down the image) and along the columns (across it).
    row_values, col_values:
        Coordinate of each row / column centre, in ``unit`` (or pixel indices when
        ``unit`` is None: the file had no positions and no step was given).
    unit:
        Length unit, or None.
    """

    row_motor: str
    row_values: np.ndarray
    col_motor: str
    col_values: np.ndarray
    unit: str | None

    @classmethod
    def from_grid(cls, grid: ScanGrid) -> MapAxes:
        ny, nx = grid.shape
        if grid.row_values is None or grid.col_values is None:
            return cls(grid.row_motor, np.arange(ny, dtype=float), grid.col_motor, np.arange(nx, dtype=float), None)
        return cls(grid.row_motor, np.asarray(grid.row_values, float), grid.col_motor, np.asarray(grid.col_values, float), grid.unit)

    @classmethod
    def of(cls, frame: Frame) -> MapAxes:
        """The axes of ``frame``: its ``scan_axes`` metadata, else rows ``y`` / columns ``x`` from the pixel size."""
        ny, nx = frame.image_shape
        stored = frame.meta.get(AXES_KEY)
        if isinstance(stored, dict):
            rows, cols = np.asarray(stored["rows"]["values"], float), np.asarray(stored["cols"]["values"], float)
            if rows.shape != (ny,) or cols.shape != (nx,):
                raise InputError(f"scan axes of {rows.size} rows x {cols.size} columns do not fit a {ny} x {nx} map", frame.meta.get("source"))
            return cls(stored["rows"]["motor"], rows, stored["cols"]["motor"], cols, stored.get("unit"))
        size = frame.pixel_size
        if size is None:
            return cls("y", np.arange(ny, dtype=float), "x", np.arange(nx, dtype=float), None)
        return cls("y", np.arange(ny) * size.y, "x", np.arange(nx) * size.x, size.unit)

    def to_meta(self) -> dict[str, Any]:
        return {
            "rows": {"motor": self.row_motor, "values": self.row_values.tolist()},
            "cols": {"motor": self.col_motor, "values": self.col_values.tolist()},
            "unit": self.unit,
        }

    def planes(self) -> dict[str, np.ndarray]:
        """Coordinate of every pixel, per motor: ``{motor: (ny, nx) array}``."""
        ny, nx = self.row_values.size, self.col_values.size
        return {
            self.row_motor: np.broadcast_to(self.row_values[:, None], (ny, nx)),
            self.col_motor: np.broadcast_to(self.col_values[None, :], (ny, nx)),
        }

    def pixel_size(self) -> PixelSize | None:
        if self.unit is None:
            return None
        return PixelSize(_spacing(self.row_values), _spacing(self.col_values), self.unit)

    @classmethod
    def from_planes(cls, planes: dict[str, np.ndarray], unit: str | None) -> MapAxes:
        """Axes from per-pixel coordinate planes (each constant along rows or along columns)."""
        rows = cols = None
        for motor, plane in planes.items():
            if plane.shape[1] == 1 or np.array_equal(plane, np.broadcast_to(plane[:, :1], plane.shape)):
                rows = (motor, np.array(plane[:, 0]))
            else:
                cols = (motor, np.array(plane[0, :]))
        if rows is None or cols is None:
            raise InputError("the map coordinates are not aligned with the map axes")
        return cls(rows[0], rows[1], cols[0], cols[1], unit)


def _spacing(values: np.ndarray) -> float:
    if values.size < 2:
        raise InputError("a map needs at least two rows and two columns")
    return float(abs(np.median(np.diff(values))))


def _transform(frame: Frame, op: Callable[[np.ndarray], np.ndarray], method: str, parameters: dict[str, Any]) -> Frame:
    """Apply ``op`` (acting on the last two axes) to data, mask and coordinates; record a step."""
    timer = TimedStep(method, **parameters)
    axes = MapAxes.of(frame)
    moved = MapAxes.from_planes({motor: op(plane) for motor, plane in axes.planes().items()}, axes.unit)
    meta = {**frame.meta, AXES_KEY: moved.to_meta()}
    return timer.apply(frame, np.ascontiguousarray(op(frame.data)), valid=np.ascontiguousarray(op(frame.valid)),
                       pixel_size=moved.pixel_size(), meta=meta)


def flip(frame: Frame, direction: str) -> Frame:
    """Mirror the map: ``"lr"`` reverses the columns (left-right), ``"ud"`` the rows (up-down)."""
    if direction not in FLIPS:
        raise ParameterError(f"flip direction must be 'lr' (left-right) or 'ud' (up-down), got {direction!r}")
    axis = -1 if direction == "lr" else -2
    return _transform(frame, lambda a: np.flip(a, axis=axis), "xrf_flip", {"direction": direction})


def rotate(frame: Frame, degrees: int) -> Frame:
    """Rotate the map counter-clockwise (as displayed, row 0 at the top) by a multiple of 90°."""
    if isinstance(degrees, bool) or int(degrees) != degrees or int(degrees) % 90:
        raise ParameterError(f"rotation must be a multiple of 90 degrees, got {degrees!r}")
    k = (int(degrees) // 90) % 4
    return _transform(frame, lambda a: np.rot90(a, k, axes=(-2, -1)), "xrf_rotate", {"degrees": int(degrees) % 360})


def transpose(frame: Frame) -> Frame:
    """Swap rows and columns (the row motor becomes the column motor)."""
    return _transform(frame, lambda a: np.swapaxes(a, -1, -2), "xrf_transpose", {})


def _index_range(bounds: tuple[int, int] | None, n: int, label: str) -> slice:
    if bounds is None:
        return slice(0, n)
    lo, hi = (int(v) for v in bounds)
    if not 0 <= lo < hi <= n:
        raise ParameterError(f"crop {label} {bounds!r} must satisfy 0 <= first < stop <= {n}")
    return slice(lo, hi)


def _coordinate_range(values: np.ndarray, bounds: tuple[Any, Any], unit: str | None, label: str) -> slice:
    if unit is None:
        raise ParameterError(f"cannot crop by {label} coordinates: the map has no physical positions (give the scan step)")
    lo, hi = (convert_length(*parse_length(v, unit), unit) for v in bounds)
    lo, hi = min(lo, hi), max(lo, hi)
    inside = np.flatnonzero((values >= lo) & (values <= hi))
    if inside.size < 2:
        raise ParameterError(f"crop {label} range {bounds!r} holds fewer than 2 pixels (coordinates {values.min():.4g}..{values.max():.4g} {unit})")
    return slice(int(inside.min()), int(inside.max()) + 1)


def crop(
    frame: Frame,
    *,
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
    x: tuple[Any, Any] | None = None,
    y: tuple[Any, Any] | None = None,
) -> Frame:
    """Keep a region of interest, by pixel ranges or by physical coordinates.

    Parameters
    ----------
    rows, cols:
        Pixel ranges ``(first, stop)`` (stop excluded), as displayed.
    x, y:
        Motor coordinate ranges (numbers in the map's unit, or lengths such as
        ``"1.2mm"``), both ends included; whichever image axis the motor runs along.
    """
    axes = MapAxes.of(frame)
    ny, nx = frame.image_shape
    row_slice, col_slice = _index_range(rows, ny, "rows"), _index_range(cols, nx, "columns")
    for motor, bounds in (("x", x), ("y", y)):
        if bounds is None:
            continue
        if motor == axes.row_motor:
            row_slice = _coordinate_range(axes.row_values, bounds, axes.unit, motor)
        elif motor == axes.col_motor:
            col_slice = _coordinate_range(axes.col_values, bounds, axes.unit, motor)
        else:
            raise ParameterError(f"the map has no {motor} axis (rows: {axes.row_motor}, columns: {axes.col_motor})")
    parameters = {"rows": [row_slice.start, row_slice.stop], "cols": [col_slice.start, col_slice.stop]}
    return _transform(frame, lambda a: a[..., row_slice, col_slice], "xrf_crop", parameters)
