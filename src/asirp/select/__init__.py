"""Adaptive method selection without ground truth: the "A" of asirp.

``asirp.restore(frame, "auto")`` asks :func:`choose` which method and parameters to
use; :func:`explain` returns the same decision for a person to read. For streams,
:class:`Selector` decides once and re-decides only when the data change, so the
selection costs little per frame online.
"""

from .decide import BLUR_MIN_PX, Candidate, Decision, choose
from .features import Features, measure
from .kind import guess_kind
from .split import Risk, SplitPair, full_dose_risk, split
from .stream import Selector

__all__ = [
    "BLUR_MIN_PX",
    "Candidate",
    "Decision",
    "Features",
    "Selector",
    "SplitPair",
    "choose",
    "Risk",
    "full_dose_risk",
    "guess_kind",
    "measure",
    "split",
]
