"""Feedback delivered to the experiment: plain callbacks and Bluesky documents.

:class:`FeedbackPublisher` hands every feedback object (a
:class:`~asirp.feedback.change.ChangeEvent`, or the list of
:class:`~asirp.feedback.roi.Roi` of a map) to plain Python callbacks and, when given
an ``emit`` function, to a derived Bluesky run per source run (start metadata
``purpose = "asirp feedback"``, ``asirp_source_run``), with one event per change in
stream ``"change"`` and one event per proposed ROI in stream ``"roi"``. A
RunEngine-side agent, a GUI or a queue-server client subscribed to the 0MQ proxy sees
them as ordinary documents.

:class:`ChangeTracker` runs change detection on restored frames in sequence order, in the
engine's writer thread **before** the run file is written, so the run file records each
frame's statistic and the changes found (the live viewer shows those, and
:class:`FeedbackSink` publishes the same events: the page and the feedback cannot disagree).
:class:`FeedbackSink` is the pipeline sink that publishes them and the ROI proposals.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...feedback.change import ChangeDetector, ChangeEvent
from ...feedback.roi import MotorGrid, Roi, propose_rois
from ...frame import Frame
from ..config import ChangeConfig, RoiConfig
from ..items import Result
from .documents import Emit

log = logging.getLogger("asirp.feedback")

_CHANGE_KEYS = {
    "frame_index": {"dtype": "integer", "shape": [], "source": "asirp:change"},
    "source_seq_num": {"dtype": "integer", "shape": [], "source": "asirp:change"},
    "confidence": {"dtype": "number", "shape": [], "source": "asirp:change"},
    "z_score": {"dtype": "number", "shape": [], "source": "asirp:change"},
}
_ROI_KEYS = {
    "source_seq_num": {"dtype": "integer", "shape": [], "source": "asirp:roi"},
    "rank": {"dtype": "integer", "shape": [], "source": "asirp:roi"},
    "box": {"dtype": "array", "shape": [4], "source": "asirp:roi"},
    "motors": {"dtype": "string", "shape": [], "source": "asirp:roi"},
    "score": {"dtype": "number", "shape": [], "source": "asirp:roi"},
}


def motor_grid(cfg: RoiConfig, frame: Frame) -> MotorGrid:
    """The motor coordinates of ``frame``'s points under ``[analyse] roi``: its step, else the map's pixel size, else 1."""
    if cfg.step is not None or frame.pixel_size is None:
        dy, dx = cfg.step or (1.0, 1.0)
        return MotorGrid(cfg.motors[0], cfg.motors[1], cfg.origin[0], cfg.origin[1], dy, dx)
    size = frame.pixel_size
    return MotorGrid(cfg.motors[0], cfg.motors[1], cfg.origin[0], cfg.origin[1], size.y, size.x)


class FeedbackPublisher:
    """Deliver feedback to ``callbacks`` and, with ``emit``, as Bluesky documents."""

    def __init__(self, emit: Emit | None = None, callbacks: Sequence[Callable[[Any], Any]] = ()):
        self.emit = emit
        self.callbacks = list(callbacks)
        self.published: list[Any] = []
        self._runs: dict[str, dict[str, Any]] = {}

    def _notify(self, obj: Any) -> None:
        self.published.append(obj)
        for callback in self.callbacks:
            try:
                callback(obj)
            except Exception as exc:  # a user's callback must not stop the pipeline
                log.warning("feedback callback %r failed: %s", callback, exc)

    def _stream(self, emit: Emit, run: str, name: str, keys: dict[str, Any]) -> Any:
        from event_model import compose_run

        state = self._runs.get(run)
        if state is None:
            bundle = compose_run(metadata={"purpose": "asirp feedback", "asirp_source_run": run})
            emit("start", bundle.start_doc)
            state = self._runs[run] = {"bundle": bundle, "streams": {}}
        if name not in state["streams"]:
            descriptor = state["bundle"].compose_descriptor(name=name, data_keys=keys)
            emit("descriptor", descriptor.descriptor_doc)
            state["streams"][name] = descriptor
        return state["streams"][name]

    def _event(self, run: str, stream: str, keys: dict[str, Any], data: dict[str, Any]) -> None:
        emit = self.emit
        if emit is None:
            return
        descriptor = self._stream(emit, run, stream, keys)
        now = time.time()
        emit("event", descriptor.compose_event(data=data, timestamps={k: now for k in data}))

    def change(self, event: ChangeEvent) -> None:
        """Publish a detected change."""
        self._notify(event)
        data = {"frame_index": event.frame_index, "source_seq_num": event.seq, "confidence": event.confidence, "z_score": event.z_score}
        self._event(event.run, "change", _CHANGE_KEYS, data)

    def rois(self, run: str, seq: int, rois: list[Roi]) -> None:
        """Publish the ROIs proposed on frame ``seq`` of ``run``, best first."""
        self._notify(rois)
        for rank, roi in enumerate(rois):
            data = {"source_seq_num": seq, "rank": rank, "box": np.array([roi.y0, roi.y1, roi.x0, roi.x1]),
                    "motors": json.dumps(roi.motors), "score": roi.score}  # fmt: skip
            self._event(run, "roi", _ROI_KEYS, data)

    def close_run(self, run: str) -> None:
        state = self._runs.pop(run, None)
        if state is not None and self.emit is not None:
            self.emit("stop", state["bundle"].compose_stop(exit_status="success"))


def change_vector(frame: Frame, profile: np.ndarray | None, config: ChangeConfig) -> np.ndarray | None:
    """What change detection compares from frame to frame: the ring profile (``on = "profile"``) or the whole frame, masked pixels 0."""
    if config.on == "profile":
        return profile
    return np.where(frame.valid, frame.data, 0)


def change_settings(config: ChangeConfig, bins: int) -> dict[str, Any]:
    """The settings a run's change statistic was computed with, as recorded in its run file."""
    return {"on": config.on, "threshold": config.threshold, "min_history": config.min_history, "bins": bins}


class ChangeTracker:
    """Change detection on each run's restored frames, in sequence order (``[analyse] change``).

    :meth:`update` sets a result's ``change_distance``, ``change_event`` and ``change_settings``;
    the engine calls it before the run file is written, so the file records them.
    """

    def __init__(self, config: ChangeConfig, bins: int = 256):
        self.config = config
        self.settings = change_settings(config, bins)
        self._detectors: dict[str, ChangeDetector] = {}

    def _detector(self, run: str) -> ChangeDetector:
        return self._detectors.setdefault(run, ChangeDetector(self.config.threshold, self.config.min_history))

    def open_run(self, run: str) -> None:
        self._detectors[run] = ChangeDetector(self.config.threshold, self.config.min_history)

    def close_run(self, run: str) -> None:
        self._detectors.pop(run, None)

    def update(self, result: Result) -> None:
        frame = result.frame
        if frame is None or frame.is_stack:
            return
        result.change_settings = self.settings
        vector = change_vector(frame, result.profile, self.config)
        if vector is None:
            return
        detector = self._detector(result.run)
        result.change_event = detector.update(vector, seq=result.seq, run=result.run)
        result.change_distance = detector.last_distance


class FeedbackSink:
    """Pipeline sink: change events and ROI proposals on restored frames, published in order.

    Change events are those the engine's :class:`ChangeTracker` put on each result (and the run
    file recorded); a result the engine did not track (an engine built without one) is tracked here.
    """

    def __init__(self, publisher: FeedbackPublisher, change: ChangeConfig | None, roi: RoiConfig | None):
        self.publisher = publisher
        self.change = change
        self.roi = roi
        self._tracker = ChangeTracker(change) if change is not None else None

    def open_run(self, run: str, metadata: dict[str, Any]) -> None:
        if self._tracker is not None:
            self._tracker.open_run(run)

    def write(self, result: Result) -> None:
        frame = result.frame
        if frame is None:
            return
        if self._tracker is not None:
            if result.change_settings is None:  # not tracked before the run file (an engine without a ChangeTracker)
                self._tracker.update(result)
            if result.change_event is not None:
                self.publisher.change(result.change_event)
        if self.roi is not None and not frame.is_stack:
            cfg = self.roi
            grid = motor_grid(cfg, frame)
            rois = propose_rois(frame, mode=cfg.mode, threshold=cfg.threshold, min_area=cfg.min_area, pad=cfg.pad, grid=grid)
            self.publisher.rois(result.run, result.seq, rois)

    def close_run(self, run: str, complete: bool) -> None:
        if self._tracker is not None:
            self._tracker.close_run(run)
        self.publisher.close_run(run)

    def close(self) -> None:
        for run in list(self.publisher._runs):
            self.publisher.close_run(run)
