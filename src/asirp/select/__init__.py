"""Adaptive method selection without ground truth: the "A" of asirp.

``asirp.restore(frame, "auto")`` asks :func:`choose` which method and parameters to
use; :func:`explain` returns the same decision for a person to read. A
:class:`Plan` (:func:`make_plan`) is that decision made once, with the per-frame
time budget, and run on any number of frames (:meth:`Plan.run`); every entry point
of asirp restores through one. For streams, :class:`Selector` decides once and
re-decides only when the data change, so the selection costs little per frame online.
"""

from .decide import BLUR_MIN_PX, Candidate, Decision, choose
from .features import Features, measure
from .kind import guess_kind
from .plan import Fingerprint, Plan, make_plan
from .split import Risk, SplitPair, full_dose_risk, split
from .stream import Selector

__all__ = [
    "BLUR_MIN_PX",
    "Candidate",
    "Decision",
    "Features",
    "Fingerprint",
    "Plan",
    "Selector",
    "SplitPair",
    "choose",
    "Risk",
    "full_dose_risk",
    "guess_kind",
    "make_plan",
    "measure",
    "split",
]
