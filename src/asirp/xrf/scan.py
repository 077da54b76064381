"""Scan geometry: the map grid worked out from motor positions, and where each point goes.

A micro-XRF map is a list of points acquired one after the other. :class:`ScanGrid`
says where each point lands in the ``(ny, nx)`` map and what physical coordinates
the rows and columns have:

* :func:`grid_from_positions`: from per-point motor positions in acquisition order
  (flat point lists, fly scans with jittery encoders): the fast axis is the motor
  that moves between most consecutive points; its step is the median of those
  moves; the slow step is the median of the line-change moves; every point is
  rounded to the nearest grid node. Raster and snake (serpentine) order are
  recognised from the direction of the fast motor on successive lines;
* :func:`grid_from_position_maps`: from position arrays already shaped like the map
  (PyXRF ``positions/pos``, MAPS ``x_axis``/``y_axis``);
* :func:`grid_from_shape`: from a known shape (and step) when the file has no positions,
  in raster or snake order.

Points that land on the same node (duplicates) raise an error unless the caller asks
for them to be averaged (``duplicates="mean"``) or the last one kept
(``duplicates="last"``); nodes no point landed on (missing points: an aborted scan,
dropped triggers) are masked in the map, never filled with zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError, ParameterError
from ..units import PixelSize, _check_unit

Duplicates = Literal["error", "mean", "last"]
DUPLICATE_MODES: tuple[str, ...] = ("error", "mean", "last")
#: A point further than this fraction of a step from its grid node means the positions are not a grid.
MAX_OFF_GRID = 0.35


@dataclass(frozen=True)
class ScanGrid:
    """Where each acquired point goes in the map, and the map's physical axes.

    Attributes
    ----------
    shape:
        Map shape ``(ny, nx)``: rows, columns.
    row_values, col_values:
        Physical coordinate of each row and column centre (motor positions, in
        ``unit``); None when the file has no positions and no step was given.
    row_motor, col_motor:
        Which motor runs along the rows (down the map) and the columns; normally
        ``"y"`` and ``"x"``.
    unit:
        Length unit of the coordinates.
    cell:
        For each acquired point (in file order), the flat index ``row * nx + col`` of
        its node.
    snake:
        True when successive lines were scanned in opposite directions.
    fast_motor:
        The motor that moves within a line.
    """

    shape: tuple[int, int]
    cell: np.ndarray
    row_values: np.ndarray | None = None
    col_values: np.ndarray | None = None
    row_motor: str = "y"
    col_motor: str = "x"
    unit: str = "um"
    snake: bool = False
    fast_motor: str = "x"

    @property
    def n_points(self) -> int:
        return int(self.cell.size)

    @property
    def step(self) -> PixelSize | None:
        """Pixel size: the absolute spacing of the row and column coordinates."""
        if self.row_values is None or self.col_values is None:
            return None
        return PixelSize(_spacing(self.row_values), _spacing(self.col_values), self.unit)

    def counts(self) -> np.ndarray:
        """Number of points that landed on each node, shape ``shape``."""
        return np.bincount(self.cell, minlength=self.shape[0] * self.shape[1]).reshape(self.shape)

    def with_step(self, step: PixelSize) -> ScanGrid:
        """The same grid with coordinates rebuilt from a given step (keeps origin and direction)."""
        ny, nx = self.shape
        rows = _axis_from_step(self.row_values, ny, step.to(self.unit).y if self.row_values is not None else step.y)
        cols = _axis_from_step(self.col_values, nx, step.to(self.unit).x if self.col_values is not None else step.x)
        unit = self.unit if self.row_values is not None else step.unit
        return ScanGrid(self.shape, self.cell, rows, cols, self.row_motor, self.col_motor, unit, self.snake, self.fast_motor)

    def place(
        self, values: np.ndarray, valid: np.ndarray | None = None, *, duplicates: Duplicates = "error", where: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Put per-point ``values`` (``(n_points, ...)``) on the grid.

        Returns ``(grid_values, grid_valid)`` of shape ``(ny, nx, ...)`` and ``(ny, nx)``:
        nodes without a (valid) point are invalid and hold 0. Points marked invalid in
        ``valid`` are ignored.

        Raises
        ------
        InputError
            Duplicated points with ``duplicates="error"``.
        """
        if duplicates not in DUPLICATE_MODES:
            raise ParameterError(f"unknown duplicates mode {duplicates!r}; use one of {', '.join(DUPLICATE_MODES)}")
        values = np.asarray(values)
        if values.shape[0] != self.n_points:
            raise InputError(f"{values.shape[0]} values for a scan of {self.n_points} points", where)
        keep = np.ones(self.n_points, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        cells = self.cell[keep]
        n_cells = self.shape[0] * self.shape[1]
        hits = np.bincount(cells, minlength=n_cells)
        if duplicates == "error" and hits.max(initial=0) > 1:
            doubled = np.flatnonzero(hits > 1)
            first = np.unravel_index(doubled[0], self.shape)
            raise InputError(
                f"{doubled.size} scan positions were measured more than once (first at row {first[0]}, column {first[1]}); "
                "choose duplicates='mean' (average them) or 'last' (keep the last measurement)",
                where,
            )
        tail = values.shape[1:]
        out = np.zeros((n_cells, *tail), dtype=np.float64)
        if duplicates == "last":
            out[cells] = values[keep]  # numpy assigns repeated indices in order: the last one wins
        else:
            np.add.at(out, cells, values[keep])
            if duplicates == "mean":
                scale = np.where(hits > 0, 1.0 / np.maximum(hits, 1), 0.0)
                out *= scale.reshape((n_cells,) + (1,) * len(tail))
        return out.reshape(*self.shape, *tail), (hits > 0).reshape(self.shape)

    def describe(self) -> dict[str, Any]:
        step = self.step
        return {
            "shape": list(self.shape),
            "n_points": self.n_points,
            "row_motor": self.row_motor,
            "col_motor": self.col_motor,
            "step": None if step is None else step.as_dict(),
            "snake": self.snake,
            "fast_motor": self.fast_motor,
            "missing_points": int((self.counts() == 0).sum()),
            "duplicated_points": int(np.maximum(self.counts() - 1, 0).sum()),
        }


def _spacing(values: np.ndarray) -> float:
    if values.size < 2:
        raise InputError("a map needs at least two rows and two columns to have a step")
    return float(np.abs(np.median(np.diff(values))))


def _axis_from_step(values: np.ndarray | None, n: int, step: float) -> np.ndarray:
    if values is None or values.size < 2:
        return np.arange(n, dtype=np.float64) * step
    sign = 1.0 if np.median(np.diff(values)) >= 0 else -1.0
    return values[0] + sign * step * np.arange(n, dtype=np.float64)


def _positions(x: ArrayLike, y: ArrayLike, where: str | None) -> tuple[np.ndarray, np.ndarray]:
    px, py = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if px.size != py.size:
        raise InputError(f"x has {px.size} positions but y has {py.size}", where)
    if px.size < 4:
        raise InputError(f"only {px.size} scan points: a map needs at least 2 x 2", where)
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        raise InputError("motor positions contain NaN or inf", where)
    return px, py


def _lattice(values: np.ndarray, step: float, motor: str, where: str | None) -> tuple[np.ndarray, float, float]:
    """Node index of each position on a regular lattice, and the lattice's refined step and origin.

    The lattice phase is the circular mean of ``position mod step`` (robust to an
    outlying first or smallest position); step and origin are then refined by a
    least-squares line through (index, position) of every point, which averages the
    encoder jitter of all points, and the indices recomputed.

    Raises :class:`InputError` when more than 1 % of the positions lie further than
    :data:`MAX_OFF_GRID` of a step from their node.
    """
    origin = 0.0
    index = np.zeros(values.size)
    for _ in range(3):
        phase = float(np.angle(np.mean(np.exp(2j * np.pi * values / step)))) / (2 * np.pi) * step
        index = np.rint((values - phase) / step)
        index -= index.min()
        if np.unique(index).size < 2:
            break
        step, origin = (float(v) for v in np.polyfit(index, values, 1))
    off = np.abs(values - (origin + step * index)) / abs(step)
    bad = off > MAX_OFF_GRID
    if bad.mean() > 0.01:
        raise InputError(
            f"{bad.sum()} of {values.size} {motor} positions lie more than {MAX_OFF_GRID:.0%} of a step "
            f"({abs(step):.4g}) from a regular grid: the scan is not a regular map (or the step is wrong)",
            where,
        )
    return index.astype(np.int64), step, origin


def grid_from_positions(
    x: ArrayLike,
    y: ArrayLike,
    *,
    unit: str = "um",
    where: str | None = None,
) -> ScanGrid:
    """The grid of a scan from per-point positions in acquisition order.

    Parameters
    ----------
    x, y:
        Motor positions of each point, in acquisition order, in ``unit``.
    unit:
        Length unit of the positions.

    Returns
    -------
    ScanGrid
        Rows follow ``y`` and columns ``x``, both increasing from the smallest
        position (column 0 is the smallest x), whatever the direction the motors
        moved in.

    Raises
    ------
    InputError
        Fewer than 4 points, NaN positions, a motor that never moves, or positions
        that are not on a regular grid.

    Examples
    --------
    >>> xs = [0, 25, 50, 50, 25, 0]                  # snake: second line runs backwards
    >>> ys = [0, 0, 0, 10, 10, 10]
    >>> g = grid_from_positions(xs, ys)
    >>> g.shape, g.snake, round(g.step.y, 9), round(g.step.x, 9), g.step.unit   # least-squares steps
    ((2, 3), True, 10.0, 25.0, 'um')
    """
    unit = _check_unit(unit)
    px, py = _positions(x, y, where)
    moves = {"x": np.abs(np.diff(px)), "y": np.abs(np.diff(py))}
    span = {name: float(np.ptp(values)) for name, values in (("x", px), ("y", py))}
    if span["x"] == 0 or span["y"] == 0:
        still = "x" if span["x"] == 0 else "y"
        raise InputError(f"the {still} motor never moves: this is a line scan, not a map", where)
    # The fast motor moves between most consecutive points: compare the median moves relative to each span.
    fast = "x" if np.median(moves["x"]) / span["x"] >= np.median(moves["y"]) / span["y"] else "y"
    slow = "y" if fast == "x" else "x"
    fast_moves = moves[fast]
    fast_step = float(np.median(fast_moves[fast_moves > 1e-9 * span[fast]]))
    slow_moves = moves[slow]
    # Line changes: the largest slow-motor moves, as many as there are lines (n_points / points per line) less one.
    per_line = round(span[fast] / fast_step) + 1
    n_changes = max(1, round(px.size / per_line) - 1)
    reference = float(np.median(np.sort(slow_moves)[-n_changes:]))
    changes = slow_moves > 0.5 * reference
    slow_step = float(np.median(slow_moves[changes]))
    steps = {fast: fast_step, slow: slow_step}
    ix, step_x, origin_x = _lattice(px, steps["x"], "x", where)
    iy, step_y, origin_y = _lattice(py, steps["y"], "y", where)
    shape = (int(iy.max()) + 1, int(ix.max()) + 1)
    if min(shape) < 2:
        raise InputError(f"the positions make a {shape[0]} x {shape[1]} grid: a map needs at least 2 x 2", where)
    # Snake: the fast motor's direction on successive lines alternates.
    line = np.concatenate([[0], np.cumsum(changes)])
    fast_index = ix if fast == "x" else iy
    directions = []
    for number in range(int(line.max()) + 1):
        steps_in_line = np.diff(fast_index[line == number])
        if steps_in_line.size:
            directions.append(np.sign(np.median(steps_in_line)))
    directions = [d for d in directions if d != 0]
    snake = len(directions) > 1 and all(a == -b for a, b in zip(directions[:-1], directions[1:], strict=True))
    rows = origin_y + step_y * np.arange(shape[0])
    cols = origin_x + step_x * np.arange(shape[1])
    return ScanGrid(shape, iy * shape[1] + ix, rows, cols, "y", "x", unit, bool(snake), fast)


def _regular(values: np.ndarray, motor: str, where: str | None) -> np.ndarray:
    """Per-row (or per-column) coordinates replaced by the least-squares regular axis through them."""
    index = np.arange(values.size, dtype=np.float64)
    step, origin = np.polyfit(index, values, 1)
    if step == 0:
        raise InputError(f"the {motor} motor does not move along its map axis", where)
    fitted = origin + step * index
    worst = float(np.max(np.abs(values - fitted)) / abs(step))
    if worst > MAX_OFF_GRID:
        raise InputError(
            f"the {motor} positions are not evenly spaced (a row or column lies {worst:.0%} of a step off a regular grid)",
            where,
        )
    return fitted


def grid_from_position_maps(
    x: ArrayLike,
    y: ArrayLike,
    *,
    unit: str = "um",
    where: str | None = None,
) -> ScanGrid:
    """The grid of a map whose position arrays already have the map's shape ``(ny, nx)``.

    Fly-scan encoder jitter is averaged out: the coordinate of a column is the median
    x of that column. When x varies down the rows instead of along them (the file
    stores the map transposed), the rows are labelled ``x`` and the columns ``y``: the
    data stay as stored and the physical axes stay right.
    """
    unit = _check_unit(unit)
    px, py = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if px.shape != py.shape or px.ndim != 2:
        raise InputError(f"position maps must be two 2-D arrays of one shape, got {px.shape} and {py.shape}", where)
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        raise InputError("motor positions contain NaN or inf", where)
    ny, nx = px.shape
    if min(ny, nx) < 2:
        raise InputError(f"a {ny} x {nx} map is too small (at least 2 x 2)", where)

    def along(values: np.ndarray, axis: int) -> float:
        return float(np.median(np.abs(np.diff(values, axis=axis))))

    x_along_cols, x_along_rows = along(px, 1), along(px, 0)
    if x_along_cols >= x_along_rows:
        row_motor, col_motor = "y", "x"
        rows, cols = np.median(py, axis=1), np.median(px, axis=0)
    else:
        row_motor, col_motor = "x", "y"
        rows, cols = np.median(px, axis=1), np.median(py, axis=0)
    rows, cols = _regular(rows, row_motor, where), _regular(cols, col_motor, where)
    cell = np.arange(ny * nx, dtype=np.int64)
    return ScanGrid((ny, nx), cell, rows, cols, row_motor, col_motor, unit, False, col_motor)


def grid_from_shape(
    shape: tuple[int, int],
    *,
    n_points: int | None = None,
    step: PixelSize | None = None,
    snake: bool = False,
    where: str | None = None,
) -> ScanGrid:
    """A grid of known shape for points stored in acquisition order (row by row).

    ``n_points`` (default ``ny * nx``) may be smaller than the grid (an aborted scan:
    the missing nodes are masked) but not larger. With ``snake``, odd rows were
    scanned right to left.
    """
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ParameterError(f"scan shape must be (rows, columns), got {shape!r}") from None
    if min(ny, nx) < 2:
        raise ParameterError(f"scan shape {shape!r} is too small (at least 2 x 2)")
    n = ny * nx if n_points is None else int(n_points)
    if n > ny * nx:
        raise InputError(f"{n} points do not fit a {ny} x {nx} scan", where)
    index = np.arange(n, dtype=np.int64)
    row, col = index // nx, index % nx
    if snake:
        col = np.where(row % 2 == 1, nx - 1 - col, col)
    rows = cols = None
    unit = "um"
    if step is not None:
        rows, cols, unit = np.arange(ny) * step.y, np.arange(nx) * step.x, step.unit
    return ScanGrid((ny, nx), row * nx + col, rows, cols, "y", "x", unit, bool(snake), "x")


def check_step_agrees(grid: ScanGrid, step: PixelSize, tolerance: float = 0.05) -> str | None:
    """A warning text when a user-given step differs from the one in the positions by > ``tolerance``."""
    known = grid.step
    if known is None:
        return None
    given = step.to(known.unit)
    worst = max(abs(given.y - known.y) / known.y, abs(given.x - known.x) / known.x)
    if worst <= tolerance:
        return None
    return (
        f"the given step {given.y:g} x {given.x:g} {known.unit} differs by {worst:.0%} from the step in the "
        f"positions ({known.y:.4g} x {known.x:.4g} {known.unit}); the given step is used"
    )
