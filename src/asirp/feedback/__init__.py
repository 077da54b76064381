"""Feedback to the experiment from restored data.

* :func:`propose_rois`: regions of a restored map worth a finer scan (high
  concentration or high gradient), as boxes in motor coordinates;
* :class:`ChangeDetector`: the frame where a time series changes (a phase
  transition), with a confidence, on ring profiles (:func:`ring_profile`)
  or whole frames;
* :class:`FeedbackPublisher`: delivers them to plain callbacks and as Bluesky documents;
* :class:`RoiAgent`: a bluesky-adaptive-style agent (``tell``/``ask``/``report``)
  suggesting the next, finer scan.
"""

from .agent import RoiAgent
from .change import ChangeDetector, ChangeEvent
from .profile import ring_profile
from .publish import FeedbackPublisher, FeedbackSink
from .roi import MotorGrid, Roi, propose_rois

__all__ = [
    "ChangeDetector",
    "ChangeEvent",
    "FeedbackPublisher",
    "FeedbackSink",
    "MotorGrid",
    "Roi",
    "RoiAgent",
    "propose_rois",
    "ring_profile",
]
