"""One timed provenance step per tomography operation (reading, correction, reconstruction...)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..frame import Frame
from ..history import HistoryStep, now_iso


class Step:
    """Start the clock of an operation; :meth:`apply` makes the derived frame with its history step.

    Examples
    --------
    >>> import numpy as np
    >>> frame = Frame(np.ones((4, 4)))
    >>> out = Step("scale", factor=2.0).apply(frame, frame.data * 2, notes={"why": "example"})
    >>> out.history[-1].method, out.history[-1].parameters
    ('scale', {'factor': 2.0})
    """

    def __init__(self, method: str, **parameters: Any):
        self.method = method
        self.parameters = parameters
        self.date = now_iso()
        self.started = time.perf_counter()

    def history_step(self, notes: dict[str, Any] | None = None, weights_sha256: str | None = None) -> HistoryStep:
        """The step with the time elapsed since the operation started."""
        return HistoryStep(
            method=self.method,
            parameters=self.parameters,
            date=self.date,
            duration_s=time.perf_counter() - self.started,
            notes=notes or {},
            weights_sha256=weights_sha256,
        )

    def apply(
        self,
        frame: Frame,
        data: np.ndarray,
        *,
        notes: dict[str, Any] | None = None,
        valid: np.ndarray | None = None,
        weights_sha256: str | None = None,
        **changes: Any,
    ) -> Frame:
        """``frame.derive`` with this step appended (float32 data)."""
        step = self.history_step(notes, weights_sha256)
        return frame.derive(np.asarray(data, dtype=np.float32), step, valid=valid, **changes)
