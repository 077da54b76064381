"""Change detection in a time series of restored frames: when does the pattern change?

In time-resolved diffraction a phase transition shows up as a new ring or a shift
of the existing ones. :class:`ChangeDetector` follows the series online and flags
the first frame that differs from its predecessor much more than frames differed so
far.

The statistic of frame ``t`` is the relative RMS difference from frame ``t - 1``::

    d_t = rms(v_t - v_{t-1}) / mean(|v_{t-1}|)

on the 1-D azimuthal profiles (default: robust and cheap) or on the whole frames.
Without a change, ``d_t`` only reflects the noise and stays near its typical value;
the frame where the sample changes gives one large ``d_t``. The typical value and
spread are estimated robustly from the distances since the last change (median and
MAD, the spread floored at 10 % of the median so that a few very similar distances
do not make the test hair-trigger), giving a robust z-score ``z_t``. A change is
flagged when ``z_t`` exceeds ``threshold`` after at least ``min_history`` distances.

The **confidence** is one minus the Bonferroni-corrected Gaussian tail probability
of ``z_t`` over the frames tested so far, ``1 - n * P(Z > z_t)`` (clipped to [0, 1]):
close to 1 for a change far beyond the noise, lower for a marginal one. It is a
calibrated-looking number only as far as the distances are roughly Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

#: Floor of the spread estimate, as a fraction of the median distance.
SPREAD_FLOOR = 0.10


@dataclass(frozen=True)
class ChangeEvent:
    """A detected change: the first frame showing it and how sure we are."""

    run: str
    seq: int
    frame_index: int
    confidence: float
    z_score: float
    distance: float
    baseline: float
    kind: str = "change"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChangeDetector:
    """Online change detection on a series of vectors (profiles or flattened frames).

    Parameters
    ----------
    threshold:
        Robust z-score above which a change is flagged.
    min_history:
        Distances needed (since the start or the last change) before testing.
    """

    threshold: float = 6.0
    min_history: int = 3
    _previous: np.ndarray | None = field(default=None, repr=False)
    _distances: list[float] = field(default_factory=list, repr=False)
    _tested: int = 0
    events: list[ChangeEvent] = field(default_factory=list)
    #: The statistic ``d_t`` of the last frame fed (None before the second frame), for a timeline.
    last_distance: float | None = None

    def update(self, vector: np.ndarray, *, seq: int, run: str = "") -> ChangeEvent | None:
        """Feed the next frame's vector; returns a :class:`ChangeEvent` when this frame is a change.

        ``seq`` is the frame's 1-based sequence number; ``frame_index`` of an event is ``seq - 1``.
        """
        current = np.asarray(vector, dtype=np.float64).ravel()
        previous, self._previous = self._previous, current
        if previous is None:
            self.last_distance = None
            return None
        if previous.shape != current.shape:
            self._distances.clear()  # a new shape (new geometry or binning) starts a new series
            self.last_distance = None
            return None
        scale = float(np.mean(np.abs(previous))) or 1.0
        distance = float(np.sqrt(np.mean((current - previous) ** 2))) / scale
        self.last_distance = distance
        history = self._distances
        event = None
        if len(history) >= self.min_history:
            median = float(np.median(history))
            spread = max(1.4826 * float(np.median(np.abs(np.asarray(history) - median))), SPREAD_FLOOR * median, 1e-12)
            z = (distance - median) / spread
            self._tested += 1
            if z > self.threshold:
                tail = 0.5 * math.erfc(z / math.sqrt(2.0))
                confidence = min(1.0, max(0.0, 1.0 - self._tested * tail))
                event = ChangeEvent(run, seq, seq - 1, confidence, z, distance, median)
                self.events.append(event)
                history.clear()  # the new state is the reference from now on
                return event
        history.append(distance)
        return event
