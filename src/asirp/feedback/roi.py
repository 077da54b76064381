"""Regions of a restored map worth a finer scan, as boxes in motor coordinates.

Two criteria, both relative to the map's own robust range (1st to 99.5th percentile
of the valid points, so a few hot points do not set the scale):

* ``"concentration"``: points whose value is above ``low + threshold * (high - low)``:
  where the element is (the sample, an inclusion, a grain);
* ``"gradient"``: points whose Sobel gradient magnitude is above the same fraction of
  its range: edges and fine structure, where a finer step resolves most.

Connected regions (8-connectivity, :func:`skimage.measure.label`) smaller than
``min_area`` points are dropped; each kept region gives its bounding box, grown by
``pad`` points and clipped to the map, ranked by the signal above the level it
holds. Boxes are converted to motor positions with a :class:`MotorGrid`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError, ParameterError
from ..frame import Frame


@dataclass(frozen=True)
class MotorGrid:
    """Motor positions of map points: point ``(i, j)`` is at ``(y0 + i * dy, x0 + j * dx)``."""

    y_motor: str = "y"
    x_motor: str = "x"
    y0: float = 0.0
    x0: float = 0.0
    dy: float = 1.0
    dx: float = 1.0

    def position(self, i: float, j: float) -> tuple[float, float]:
        return self.y0 + i * self.dy, self.x0 + j * self.dx


@dataclass(frozen=True)
class Roi:
    """A box of map points ``[y0, y1) x [x0, x1)`` and its extent in motor coordinates.

    ``motors`` maps each motor name to ``(first, last)`` positions: the centres of the
    box's first and last points along that axis (ready for a grid scan).
    """

    y0: int
    y1: int
    x0: int
    x1: int
    area: int
    score: float
    motors: dict[str, tuple[float, float]]
    mode: str = "concentration"

    def to_dict(self) -> dict:
        return asdict(self)


def propose_rois(
    frame: Frame,
    *,
    mode: str = "concentration",
    threshold: float = 0.5,
    min_area: int = 4,
    pad: int = 1,
    grid: MotorGrid | None = None,
    max_rois: int = 8,
) -> list[Roi]:
    """Regions of interest of a 2-D map, best first (see the module docstring).

    Parameters
    ----------
    frame:
        A restored 2-D map.
    mode:
        ``"concentration"`` or ``"gradient"``.
    threshold:
        Fraction (0-1) of the robust range above which a point is of interest.
    min_area:
        Smallest region kept, in points.
    pad:
        Points added around each box.
    grid:
        Motor coordinates of the points; default: the map's pixel size (µm) from 0,
        or point indices when it has none.
    max_rois:
        Most regions returned.
    """
    from skimage.filters import sobel
    from skimage.measure import label, regionprops

    if mode not in ("concentration", "gradient"):
        raise ParameterError(f"unknown ROI mode {mode!r}; expected 'concentration' or 'gradient'")
    if not 0.0 < threshold < 1.0:
        raise ParameterError(f"ROI threshold must be a fraction between 0 and 1, got {threshold!r}")
    if frame.is_stack:
        raise InputError("ROI proposals need a 2-D map, got a stack", frame.meta.get("source"))
    data = np.asarray(frame.data, dtype=np.float64)
    valid = np.asarray(frame.valid)
    if mode == "gradient":
        filled = np.where(valid, data, np.median(data[valid]))
        values = sobel(filled, mask=valid)
    else:
        values = data
    low, high = np.percentile(values[valid], [1.0, 99.5])
    if high <= low:
        return []
    level = low + threshold * (high - low)
    labels = label((values > level) & valid, connectivity=2)
    if grid is None:
        size = frame.pixel_size
        grid = MotorGrid(dy=size.y, dx=size.x) if size is not None else MotorGrid()
    ny, nx = frame.image_shape
    found = []
    for region in regionprops(labels):
        if region.area < min_area:
            continue
        r0, c0, r1, c1 = region.bbox
        r0, c0, r1, c1 = max(0, r0 - pad), max(0, c0 - pad), min(ny, r1 + pad), min(nx, c1 + pad)
        coords = region.coords
        signal = float(np.sum(values[coords[:, 0], coords[:, 1]] - level) / (high - low))
        first, last = grid.position(r0, c0), grid.position(r1 - 1, c1 - 1)
        motors = {grid.y_motor: (first[0], last[0]), grid.x_motor: (first[1], last[1])}
        found.append(Roi(int(r0), int(r1), int(c0), int(c1), int(region.area), signal, motors, mode))
    found.sort(key=lambda roi: roi.score, reverse=True)
    return found[:max_rois]
