"""A bluesky-adaptive-style agent that suggests the next, finer scan from a coarse map.

It follows the ``tell`` / ``ask`` / ``report`` protocol of bluesky-adaptive agents,
so it can be driven from a plan, a queue-server loop or by hand:

* ``tell(x, y)``: one measured point, ``x`` the motor positions ``(y_motor, x_motor)``,
  ``y`` the detector reading. The agent is also a document callback
  (``RE.subscribe(agent)``), telling itself every event of a scan;
* ``ask(batch_size)``: grids the points told so far into a map, restores it
  (default :func:`asirp.restore` with ``auto``), proposes regions of interest
  (:func:`~asirp.feedback.roi.propose_rois`) and returns, best first, up to
  ``batch_size`` suggested fine scans: for each motor ``(start, stop, num)`` with the
  coarse step divided by ``refine``;
* ``report()``: what the agent last saw and suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import api
from ..errors import InputError
from ..frame import Frame
from ..units import PixelSize
from .roi import MotorGrid, Roi, propose_rois


def _restore_auto(frame: Frame) -> Frame:
    return api.restore(frame, "auto")


class RoiAgent:
    """Suggest fine scans of the interesting regions of a coarse map.

    Parameters
    ----------
    motors:
        Names of the slow (rows) and fast (columns) motors, as in the event documents.
    detector:
        Data key of the reading to map.
    restore:
        Restores the coarse map: a function from frame to frame (default :func:`asirp.restore`
        with ``method="auto"``); a :class:`~asirp.pipeline.Pipeline`'s ``process`` restores it
        as that pipeline would.
    refine:
        Fine step = coarse step / ``refine``.
    mode, threshold, min_area, pad:
        As in :func:`~asirp.feedback.roi.propose_rois`.
    """

    def __init__(
        self,
        motors: tuple[str, str] = ("motor2", "motor1"),
        detector: str = "det",
        *,
        restore: Callable[[Frame], Frame] | None = None,
        refine: int = 4,
        mode: str = "concentration",
        threshold: float = 0.5,
        min_area: int = 4,
        pad: int = 1,
    ):
        self.motors = motors
        self.detector = detector
        self.restore = restore or _restore_auto
        self.refine = int(refine)
        self.roi_options: dict[str, Any] = {"mode": mode, "threshold": threshold, "min_area": min_area, "pad": pad}
        self.points: list[tuple[float, float, float]] = []
        self.last_map: Frame | None = None
        self.last_rois: list[Roi] = []
        self.suggestions: list[dict[str, Any]] = []
        self._descriptors: set[str] = set()

    # -- the bluesky-adaptive protocol ------------------------------------------------------------
    def tell(self, x: Sequence[float], y: float) -> dict[str, Any]:
        """Record one point: ``x = (y_position, x_position)``, ``y`` the reading; returns a document of it."""
        position = tuple(float(v) for v in x)
        if len(position) != 2:
            raise InputError(f"tell expects the two motor positions (y, x), got {x!r}")
        self.points.append((position[0], position[1], float(y)))
        return {"position": list(position), "value": float(y)}

    def _grid(self) -> tuple[Frame, MotorGrid]:
        if len(self.points) < 4:
            raise InputError(f"need at least 4 measured points to map, got {len(self.points)}")
        pts = np.asarray(self.points)
        ys, xs = np.unique(np.round(pts[:, 0], 9)), np.unique(np.round(pts[:, 1], 9))
        if ys.size < 2 or xs.size < 2:
            raise InputError(f"the points span {ys.size} x {xs.size} positions; a map needs a 2-D grid")
        values = np.full((ys.size, xs.size), np.nan)
        rows = np.searchsorted(ys, np.round(pts[:, 0], 9))
        cols = np.searchsorted(xs, np.round(pts[:, 1], 9))
        values[rows, cols] = pts[:, 2]
        dy, dx = float(np.median(np.diff(ys))), float(np.median(np.diff(xs)))
        frame = Frame.from_array(values, kind="xrf_map", pixel_size=PixelSize(dy, dx, "um"), meta={"source": "RoiAgent"})
        return frame, MotorGrid(self.motors[0], self.motors[1], float(ys[0]), float(xs[0]), dy, dx)

    def ask(self, batch_size: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Suggest up to ``batch_size`` fine scans; returns ``(documents, suggestions)``.

        Each suggestion is ``{"roi": Roi.to_dict(), "scan": {motor: (start, stop, num)}}``.
        """
        frame, grid = self._grid()
        restored = self.restore(frame)
        rois = propose_rois(restored, grid=grid, **self.roi_options)
        self.last_map, self.last_rois = restored, rois
        suggestions = []
        for roi in rois[:batch_size]:
            scan = {}
            for motor, step in ((grid.y_motor, grid.dy), (grid.x_motor, grid.dx)):
                start, stop = roi.motors[motor]
                fine = step / self.refine
                scan[motor] = (start, stop, int(round((stop - start) / fine)) + 1)
            suggestions.append({"roi": roi.to_dict(), "scan": scan})
        self.suggestions = suggestions
        method = restored.history[-1].method if restored.history else "none"
        docs = [{"map_shape": list(frame.shape), "method": method, "suggestion": s} for s in suggestions]
        return docs, suggestions

    def report(self) -> dict[str, Any]:
        """What the agent last mapped and suggested."""
        return {
            "points": len(self.points),
            "map_shape": None if self.last_map is None else list(self.last_map.shape),
            "method": None if self.last_map is None or not self.last_map.history else self.last_map.history[-1].method,
            "rois": [roi.to_dict() for roi in self.last_rois],
            "suggestions": self.suggestions,
        }

    def reset(self) -> None:
        """Forget the points told so far (before mapping another region)."""
        self.points.clear()

    # -- as a document callback -------------------------------------------------------------------
    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Tell every event of the primary stream that has both motors and the detector."""
        if name == "descriptor" and doc.get("name", "primary") == "primary":
            keys = doc.get("data_keys", {})
            if all(key in keys for key in (*self.motors, self.detector)):
                self._descriptors.add(doc["uid"])
        elif name == "event" and doc.get("descriptor") in self._descriptors:
            data = doc["data"]
            self.tell((data[self.motors[0]], data[self.motors[1]]), data[self.detector])
