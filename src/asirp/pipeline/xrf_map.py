"""Micro-XRF maps assembled line by line as a fly scan delivers them.

At the beamline each line of a fly scan (one event, or one file) holds either the
element counts of every point of the line (1-D) or the spectra of every point (2-D,
points x channels). The spectra are reduced by **channel adding**, summing the
counts in the element's channel window, which the ASIRP paper prefers to spectrum
fitting for weak elements (full spectral handling, normalisation and calibration
live in :mod:`asirp.xrf`). When the last line arrives the map is handed on as one
frame of kind ``xrf_map``, so it can be restored within a fraction of a second of
the end of the scan. A run that stops early gives a partial map whose missing lines
are masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..frame import Frame
from ..history import HistoryStep
from ..units import PixelSize
from .config import XrfMapConfig
from .items import Item


@dataclass
class _PartialMap:
    counts: np.ndarray
    received: np.ndarray
    last_arrival: float = 0.0
    errors: dict[int, str] = field(default_factory=dict)


class MapAssembler:
    """Collect map lines per run and emit the map when it is complete.

    Line ``i`` (0-based) of a run is ``item.meta["line"]`` when given, else
    ``item.seq - 1``. A line that cannot be used (wrong length, channel window outside
    its spectra) is masked in the map and its error listed in ``meta["line_errors"]``.
    """

    def __init__(self, config: XrfMapConfig):
        self.config = config
        self._maps: dict[str, _PartialMap] = {}

    def _line_counts(self, line: np.ndarray) -> np.ndarray:
        nx = self.config.shape[1]
        if line.ndim == 2 and line.shape[0] == nx:
            if self.config.channels is None:
                raise InputError(f"line of spectra {line.shape} but no channel window ([xrf_map] channels) to sum")
            first, last = self.config.channels
            if last > line.shape[1]:
                raise InputError(f"channel window [{first}, {last}) lies outside the {line.shape[1]} channels of the spectra")
            return line[:, first:last].sum(axis=1, dtype=np.float64)
        if line.ndim == 1 and line.shape[0] == nx:
            return line.astype(np.float64)
        raise InputError(f"a map line must hold {nx} points (or {nx} x channels spectra), got shape {line.shape}")

    def push(self, item: Item) -> Item | None:
        """Add one line; returns the map item when this line completed the map."""
        ny, nx = self.config.shape
        partial = self._maps.setdefault(item.run, _PartialMap(np.zeros((ny, nx)), np.zeros(ny, dtype=bool)))
        index = int(item.meta.get("line", item.seq - 1))
        partial.last_arrival = max(partial.last_arrival, item.arrived)
        if not 0 <= index < ny:
            partial.errors[index] = f"line {index} outside the {ny}-line map"
            return None
        try:
            counts = self._line_counts(np.asarray(item.payload))
        except InputError as exc:
            partial.errors[index] = str(exc)
            return None
        if self.config.snake and index % 2 == 1:
            counts = counts[::-1]
        partial.counts[index] = counts
        partial.received[index] = True
        partial.errors.pop(index, None)
        return self._emit(item.run) if partial.received.all() else None

    def flush(self, run: str) -> Item | None:
        """The map of ``run`` so far (missing lines masked), or None if no line arrived."""
        partial = self._maps.get(run)
        if partial is None or not partial.received.any():
            self._maps.pop(run, None)
            return None
        return self._emit(run)

    def _emit(self, run: str) -> Item:
        partial = self._maps.pop(run)
        ny, nx = self.config.shape
        valid = np.repeat(partial.received[:, None], nx, axis=1)
        step = self.config.step_um
        history = (
            HistoryStep(
                method="xrf_map",
                parameters={"shape": [ny, nx], "channels": self.config.channels, "snake": self.config.snake},
                notes={"lines_received": int(partial.received.sum()), "line_errors": partial.errors},
            ),
        )
        frame = Frame(
            partial.counts.astype(np.float32),
            valid,
            "xrf_map",
            None if step is None else PixelSize(step[0], step[1], "um"),
            None,
            {"source": f"run {run}", "complete": bool(partial.received.all())},
            history,
        )
        meta: dict[str, Any] = {"lines": int(partial.received.sum()), "complete": bool(partial.received.all())}
        if partial.errors:
            meta["line_errors"] = {str(k): v for k, v in partial.errors.items()}
        return Item(run, 1, frame, partial.last_arrival, meta)
