"""Selection for streams: decide once, reuse while the data look the same.

Online, every frame has a time budget and consecutive frames of one scan are alike,
so the full selection (:func:`~asirp.select.choose`) runs on the first frame and
again only when a cheap fingerprint of the data drifts (kind, noise model, counts
level or noise level beyond a factor) or every ``refresh_every`` frames. The cost per
frame is then one noise estimate (:meth:`~asirp.select.plan.Plan.drift`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..frame import Frame
from .decide import Mode
from .plan import Plan, make_plan


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
    _plan: Plan | None = field(default=None, init=False, repr=False)
    _since: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    decisions: int = field(default=0, init=False)

    def plan(self, frame: Frame) -> tuple[Plan, str]:
        """The plan for ``frame`` and whether it was reused or made anew (and why)."""
        with self._lock:
            reason = "first frame" if self._plan is None else self._plan.drift(frame)
            if reason is None and self.refresh_every and self._since >= self.refresh_every:
                reason = f"refresh after {self._since} frames"
            if reason is None:
                assert self._plan is not None
                self._since += 1
                return self._plan, "reused (data unchanged)"
            self._plan = make_plan(frame, "auto", budget_s=self.budget_s, mode=self.mode)
            self._since = 1
            self.decisions += 1
            return self._plan, f"decided anew: {reason}"
