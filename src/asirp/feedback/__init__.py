"""Analyses of restored data that can steer the experiment; pure functions and objects, no I/O.

* :func:`propose_rois`: regions of a restored map worth a finer scan (high
  concentration or high gradient), as boxes in motor coordinates;
* :class:`ChangeDetector`: the frame where a time series changes (a phase
  transition), with a confidence, on ring profiles (:func:`ring_profile`)
  or whole frames;
* :class:`RoiAgent`: a bluesky-adaptive-style agent (``tell``/``ask``/``report``)
  suggesting the next, finer scan.

Delivering feedback (to callbacks and as Bluesky documents) is the pipeline's
feedback sink, :mod:`asirp.pipeline.sinks.feedback`.
"""

from .agent import RoiAgent
from .change import ChangeDetector, ChangeEvent
from .profile import ring_profile
from .roi import MotorGrid, Roi, propose_rois

__all__ = [
    "ChangeDetector",
    "ChangeEvent",
    "MotorGrid",
    "Roi",
    "RoiAgent",
    "propose_rois",
    "ring_profile",
]
