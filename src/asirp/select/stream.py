"""Selection for streams: decide once, reuse while the data look the same.

Online, every frame has a time budget and consecutive frames of one scan are alike,
so the full selection (:func:`~asirp.select.choose`) runs on the first frame and
again only when a cheap fingerprint of the data drifts (kind, noise model, counts
level or noise level beyond a factor) or every ``refresh_every`` frames. The cost per
frame is then one noise estimate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..frame import Frame
from .decide import Decision, Mode, choose
from .features import quick_noise_sigma, representative_image

#: A fingerprint level (mean or noise σ) changing by more than this factor triggers a new decision.
DRIFT_FACTOR = 1.5
#: Side (px) of the central region whose noise level the fingerprint measures.
FINGERPRINT_SIDE = 128


@dataclass(frozen=True)
class Fingerprint:
    """Cheap summary of a frame used to detect that the data changed."""

    kind: str
    shape: tuple[int, ...]
    mean: float
    sigma: float

    @classmethod
    def of(cls, frame: Frame) -> Fingerprint:
        """The fingerprint of ``frame``: its mean and its noise level on the central
        FINGERPRINT_SIDE² pixels (a few ms at most; drift detection compares like with like)."""
        image = representative_image(frame)
        values = image.data[image.valid]
        ny, nx = image.image_shape
        y0, x0 = max(0, (ny - FINGERPRINT_SIDE) // 2), max(0, (nx - FINGERPRINT_SIDE) // 2)
        centre = (slice(y0, y0 + FINGERPRINT_SIDE), slice(x0, x0 + FINGERPRINT_SIDE))
        return cls(frame.kind, frame.image_shape, float(values.mean()), quick_noise_sigma(image.data[centre], image.valid[centre]))

    def drifted_from(self, other: Fingerprint) -> str | None:
        """Why this fingerprint differs from ``other`` enough to decide again (None: it does not)."""
        if (self.kind, self.shape) != (other.kind, other.shape):
            return f"kind/shape changed ({other.kind} {other.shape} -> {self.kind} {self.shape})"
        for name in ("mean", "sigma"):
            a, b = abs(getattr(self, name)), abs(getattr(other, name))
            if max(a, b) > DRIFT_FACTOR * max(min(a, b), 1e-12):
                return f"{name} level changed from {b:.3g} to {a:.3g}"
        return None


@dataclass
class Selector:
    """A stateful selector for a stream of frames (thread-safe).

    Parameters
    ----------
    budget_s:
        Per-frame time budget in seconds (None: offline rules).
    mode:
        ``"online"`` (default) or ``"offline"``.
    refresh_every:
        Decide again after this many frames even without drift (0: never).
    """

    budget_s: float | None = None
    mode: Mode = "online"
    refresh_every: int = 0
    _decision: Decision | None = field(default=None, init=False, repr=False)
    _fingerprint: Fingerprint | None = field(default=None, init=False, repr=False)
    _since: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    decisions: int = field(default=0, init=False)

    def decide(self, frame: Frame) -> tuple[Decision, str]:
        """The decision for ``frame`` and whether it was reused or made anew (and why)."""
        fingerprint = Fingerprint.of(frame)
        with self._lock:
            reason = None
            if self._decision is None or self._fingerprint is None:
                reason = "first frame"
            else:
                reason = fingerprint.drifted_from(self._fingerprint)
                if reason is None and self.refresh_every and self._since >= self.refresh_every:
                    reason = f"refresh after {self._since} frames"
            if reason is None:
                self._since += 1
                assert self._decision is not None
                return self._decision, "reused (data unchanged)"
            decision = choose(frame, budget_s=self.budget_s, mode=self.mode)
            self._decision, self._fingerprint, self._since = decision, fingerprint, 1
            self.decisions += 1
            return decision, f"decided anew: {reason}"
