"""Live mode of the viewer: follow a running pipeline through its output folder (no Bokeh here).

The pipeline (``asirp serve``, ``asirp run``, a :class:`~asirp.online.BlueskyConsumer`)
writes every run to ``<output>/<run>.nxs.partial`` in HDF5 **SWMR** mode and renames it
to ``<run>.nxs`` when the run ends (:mod:`asirp.pipeline.sinks.run_file`). :class:`LiveFollower`
opens the newest run file of that folder **read-only** in SWMR read mode, from a thread
of the viewer's own process, and every ``poll_s`` seconds makes one
:class:`LiveSnapshot` of the newest committed row: the restored frame, the raw frame it
came from (when told where the pipeline reads, ``--raw``), the method and the decision
of ``auto`` with its reasons (the run file's NXprocess groups), the pipeline's rate from the
rows' ``written_time``, the change-detection timeline and the ROI proposals on the
frame.

The **change timeline** is the pipeline's own: a pipeline with ``[analyse] change`` records each
row's statistic and the changes it found in the run file (``change_distance`` and the
``change_*`` event fields, the events its feedback publishes), and the follower shows those.
Only for a run that recorded none (no ``[analyse] change``, or a file of an earlier layout) does
the follower compute the timeline itself, with the same detector on the same vectors as the
pipeline would (:class:`~asirp.pipeline.sinks.ChangeTracker`'s ``change_vector``: ring profiles
by default, whole frames with ``on = "frame"``), with ``[analyse] change`` or its defaults.

Only the latest snapshot is kept: a page that draws slowly skips frames, and
nothing ever waits on the page. The pipeline does not know the viewer exists.

Accepted ROIs are published by :class:`RoiFeedback` through
:class:`~asirp.pipeline.sinks.FeedbackPublisher`: the same Bluesky documents
(start ``purpose="asirp feedback"``, stream ``"roi"``) the pipeline's feedback sink emits.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import AsirpError, InputError
from ..feedback.change import ChangeDetector, ChangeEvent
from ..feedback.roi import Roi, propose_rois
from ..frame import Frame
from ..kinds import Kind
from ..pipeline.config import ChangeConfig, PipelineConfig, RoiConfig
from ..pipeline.items import FileRef, Item
from ..pipeline.sinks.feedback import FeedbackPublisher, change_vector, motor_grid
from . import images
from .images import Scale

log = logging.getLogger("asirp.view")

#: Pixels of the arrays sent per panel: as many as the panel shows on screen (440 x 440), so a 1 Mpx frame is sent as
#: 3 x 3 block means (342 x 342); a held frame goes at full resolution.
LIVE_PIXELS = images.PANEL_SIZE**2
#: Rows read per poll for the timeline; a pipeline further ahead is caught up by jumping to its newest row (a gap).
MAX_ROWS_PER_POLL = 16
#: Rows whose ``written_time`` give the pipeline's rate.
RATE_ROWS = 20
#: Timeline points kept (frames).
TIMELINE_LENGTH = 5000


@dataclass(frozen=True)
class LiveSnapshot:
    """What the page shows at one moment (see the module docstring).

    ``status`` is ``"missing"`` (no output folder), ``"waiting"`` (no run file yet),
    ``"running"``, ``"idle"`` (a partial file with no new row for ``idle_s``) or
    ``"finished"`` (the final ``<run>.nxs``); ``message`` says it in one line.
    Display arrays are float32 with NaN where not measured; ``limits`` are the colour
    limits of the raw frame (the restored one without it), linear and log.
    """

    version: int
    status: str
    message: str
    run: str = ""
    path: Path | None = None
    rows: int = 0
    seq: int = 0
    shape: tuple[int, int] = (0, 0)
    restored: Frame | None = None
    raw: Frame | None = None
    raw_note: str = ""
    raw_display: np.ndarray | None = None
    restored_display: np.ndarray | None = None
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    method: str = ""
    decision: tuple[str, ...] = ()
    pipeline_fps: float | None = None
    timeline: tuple[tuple[int, float], ...] = ()
    changes: tuple[ChangeEvent, ...] = ()
    timeline_source: str = ""
    rois: tuple[Roi, ...] = ()
    made: float = 0.0

    def colour_limits(self, clip: tuple[float, float], scale: Scale) -> tuple[float, float]:
        """Colour limits for ``scale`` at the ``clip`` percentiles of the raw frame (the restored one without it).

        The follower works out those of the default clip once per frame (:attr:`limits`); any other clip is worked out
        here from the same pixels (:func:`colour_sample`) when a page asks, in the viewer's process: the pipeline never waits.
        """
        key: Scale = "log" if scale == "log" else "linear"
        if clip == images.DEFAULT_CLIP and key in self.limits:
            return self.limits[key]
        shown = self.raw_display if self.raw_display is not None else self.restored_display
        if shown is None:
            return images.colour_limits(np.empty(0), clip, key)
        return images.colour_limits(colour_sample(shown), clip, key)


def colour_sample(display: np.ndarray) -> np.ndarray:
    """The pixels of a live display array whose percentiles set the colour limits: a quarter of them, the same limits four times cheaper."""
    return display[::2, ::2]


class RawSource:
    """Where the pipeline reads its raw frames: a watched folder (file ``n`` in name order = frame ``n``) or ``FILE::DATASET``.

    Frames are read by the pipeline's own reader (:func:`asirp.pipeline.steps.load_frame`),
    numbered as :class:`~asirp.online.watch.FolderWatcher` and ``asirp run`` number them.
    """

    def __init__(self, spec: str, config: PipelineConfig):
        self.spec = spec
        self.read = config.read
        path, _, dataset = spec.partition("::")
        self.path = Path(path)
        self.dataset = dataset or None
        if self.dataset is None and not self.path.is_dir():
            raise InputError("--raw expects the folder the pipeline watches or FILE::DATASET of its SWMR stack", path)
        if self.dataset is not None and not self.path.is_file():
            raise InputError("no such file", path)

    def frame(self, seq: int, run: str = "") -> Frame:
        """The raw frame ``seq`` (1-based; ``run`` is not needed here); :class:`~asirp.errors.InputError` when it is not there."""
        from ..pipeline.steps import load_frame

        if self.dataset is not None:
            ref = FileRef(str(self.path), self.dataset, seq - 1, swmr=True)
        else:
            files = [p for p in sorted(self.path.glob(self.read.pattern)) if not p.name.startswith(".") and p.is_file()]
            if seq > len(files):
                raise InputError(f"frame {seq} not found: {len(files)} files match {self.read.pattern!r}", self.path)
            ref = FileRef(str(files[seq - 1]))
        return load_frame(Item("raw", seq, ref), self.read)


class DocumentRawSource:
    """Raw frames of a Bluesky document stream (a RunEngine, or a 0MQ proxy's ``RemoteDispatcher``): a document callback.

    A RunEngine source has no raw files to read: its frames travel inside the event documents.
    Subscribed to the same stream as the pipeline (``RE.subscribe(source)``, or
    ``asirp view --follow ... --raw zmq:HOST:PORT``), it keeps the newest ``keep`` frames of the
    image field the pipeline's :class:`~asirp.online.BlueskyConsumer` restores (``[read] field``,
    else the first array field of 2 or more dimensions), keyed by run uid and ``seq_num``, and
    reads them with the pipeline's own reader (``[read]``: mask, saturation, geometry). It only
    keeps a reference to each array (microseconds) and never raises: the RunEngine never waits
    for it. Frames stored externally (resource/datum) are not read here; the page says so.
    """

    spec = "Bluesky documents"

    def __init__(self, config: PipelineConfig, keep: int = 8):
        self.read = config.read
        self.keep = int(keep)
        self._min_ndim = 1 if config.xrf_map is not None else 2
        self._descriptors: dict[str, tuple[str, str]] = {}  # descriptor uid -> (run uid, field)
        self._ignored: set[str] = set()
        self._frames: dict[tuple[str, int], np.ndarray] = {}
        self._external: set[str] = set()  # runs whose images are references (resource/datum)
        self._lock = threading.Lock()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        try:
            if name == "start" and "asirp_source_run" in doc:  # asirp's own derived runs
                self._ignored.add(doc["uid"])
            elif name == "descriptor" and doc.get("run_start") not in self._ignored:
                keys = doc.get("data_keys", {})
                field = self.read.field or next(
                    (k for k, v in keys.items()
                     if len(v.get("shape") or []) >= self._min_ndim and not str(v.get("external", "")).startswith("STREAM:")),
                    None)  # fmt: skip
                if field is not None and field in keys:
                    self._descriptors[doc["uid"]] = (doc["run_start"], field)
            elif name == "event":
                self._event(doc)
            elif name == "event_page":
                from event_model import unpack_event_page

                for event in unpack_event_page(cast(Any, doc)):
                    self._event(event)
        except Exception as exc:  # a raising callback would abort the scan
            log.debug("raw frames from documents: %s document: %s", name, exc)

    def _event(self, doc: dict[str, Any]) -> None:
        known = self._descriptors.get(doc["descriptor"])
        if known is None:
            return
        run, field = known
        if doc.get("filled", {}).get(field) is False:
            self._external.add(run)
            return
        with self._lock:
            self._frames[(run, int(doc["seq_num"]))] = np.asarray(doc["data"][field])
            while len(self._frames) > self.keep:
                del self._frames[next(iter(self._frames))]  # the oldest received

    def frame(self, seq: int, run: str = "") -> Frame:
        """The raw frame ``seq`` of ``run`` as received; :class:`~asirp.errors.InputError` when it was not (or no longer is) kept."""
        from ..pipeline.steps import load_frame

        with self._lock:
            array = self._frames.get((run, seq))
        if array is None:
            if run in self._external:
                raise InputError(f"raw frames of run {run} are stored externally (resource/datum): not shown")
            raise InputError(f"raw frame {seq} of run {run} not received from the documents (the page listens since it started)")
        return load_frame(Item(run, seq, array), self.read)


class ZmqRawSource(DocumentRawSource):
    """Raw frames of the documents a Bluesky 0MQ proxy publishes (``asirp view --follow ... --raw zmq:HOST:PORT``).

    A :class:`DocumentRawSource` subscribed to a :class:`bluesky.callbacks.zmq.RemoteDispatcher`
    of the proxy's output, which runs in a daemon thread of its own
    (:class:`asirp.online.zmq.DispatcherThread`): the page and the pipeline never wait for it.
    :class:`LiveFollower` starts it with its own thread and stops it when it is closed (the
    server stopping). As any 0MQ subscriber it receives what is published once it listens.
    """

    def __init__(self, address: str, config: PipelineConfig, keep: int = 8):
        from ..online.zmq import DispatcherThread, parse_address

        super().__init__(config, keep)
        self.address = parse_address(address, "--raw zmq:")
        self.spec = f"the 0MQ proxy {self.address}"
        self.listener = DispatcherThread(self.address, [self], name="asirp-view-raw-zmq")

    def start(self) -> ZmqRawSource:
        self.listener.start()
        return self

    def close(self) -> None:
        self.listener.stop()


def newest_run_file(folder: Path) -> Path | None:
    """The run file (``*.nxs`` or ``*.nxs.partial``) of ``folder`` modified last, or None."""
    found = []
    for path in [*folder.glob("*.nxs"), *folder.glob("*.nxs.partial")]:
        try:
            found.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # renamed from .partial to .nxs between glob and stat
            continue
    return max(found)[1] if found else None


def run_history_json(handle: Any) -> str | None:
    """The history of a run file's first frame as the JSON list of steps :func:`decision_lines` reads (None: none yet).

    From its NXprocess groups (:func:`asirp.io.nexus.read_history`); files written before
    that layout kept it as JSON in ``entry/first_history`` or ``entry/process/history``.
    """
    from ..io.nexus import read_history

    steps = read_history(handle["entry"]) if "entry" in handle else ()
    if steps:
        return json.dumps([step.to_dict() for step in steps], default=str)
    old = handle.get("entry/first_history") or handle.get("entry/process/history")
    return old.asstr()[()] if old is not None else None


def decision_lines(history_json: str | None, method: str) -> tuple[str, ...]:
    """One-line statements of how the run's frames are restored, from a run file's history JSON.

    For ``auto``: the method chosen, its parameters and the selector's reasons; for a
    named method: it and its parameters; a budget fallback and its reason either way.
    """
    if not history_json:
        return (f"method {method}",) if method else ()
    steps = json.loads(history_json)
    if not steps:
        return ()
    last = steps[-1]
    notes = last.get("notes") or {}
    parameters = ", ".join(f"{k}={v}" for k, v in sorted((last.get("parameters") or {}).items()) if v is not None)  # None: default
    selection = notes.get("selection")
    lines = []
    if selection:
        lines.append(f"auto chose {selection['method']} ({parameters})" if parameters else f"auto chose {selection['method']}")
        lines += [f"because {reason}" for reason in selection.get("reasons", [])]
    else:
        lines.append(f"method {last['method']} ({parameters}) as configured" if parameters else f"method {last['method']} as configured")
    budget = notes.get("budget") or {}
    if budget.get("fallback"):
        lines.append(f"budget: {budget['fallback']}")
    if method and method != last["method"]:
        lines.append(f"newest frame restored with {method} (decided anew: its data drifted)")
    return tuple(lines)


def edited_roi(frame: Frame, box: tuple[int, int, int, int], config: RoiConfig) -> Roi:
    """The ROI of rows ``y0:y1`` and columns ``x0:x1`` of ``frame`` as the user drew or typed it.

    Its motor extent comes from ``[analyse] roi`` as for proposals; its score is the
    proposals' measure (the signal above the threshold level, in units of the map's
    robust range) over the box, so edited and proposed boxes rank alike.
    """
    y0, y1, x0, x1 = box
    ny, nx = frame.image_shape
    if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx):
        raise InputError(f"ROI rows {y0}:{y1}, columns {x0}:{x1} is not inside the {ny} x {nx} frame")
    data, valid = np.asarray(frame.data, np.float64), np.asarray(frame.valid)
    low, high = np.percentile(data[valid], [1.0, 99.5]) if valid.any() else (0.0, 0.0)
    level = low + config.threshold * (high - low)
    inside = data[y0:y1, x0:x1][valid[y0:y1, x0:x1]]
    score = float(np.sum(np.clip(inside - level, 0, None)) / (high - low)) if high > low else 0.0
    grid = motor_grid(config, frame)
    first, last = grid.position(y0, x0), grid.position(y1 - 1, x1 - 1)
    motors = {grid.y_motor: (first[0], last[0]), grid.x_motor: (first[1], last[1])}
    return Roi(y0, y1, x0, x1, (y1 - y0) * (x1 - x0), score, motors, config.mode)


class RoiFeedback:
    """Publish the ROIs a user accepts as feedback documents, one derived run per acceptance.

    ``emit(name, doc)`` is where they go (a 0MQ ``Publisher`` to the proxy the
    RunEngine session listens to, or any callback). Each acceptance is one complete
    feedback run (start ``purpose="asirp feedback"`` naming the source run, a ``roi``
    descriptor, one event, stop), as :class:`~asirp.pipeline.sinks.FeedbackSink` emits.
    """

    def __init__(self, emit: Callable[[str, dict[str, Any]], Any]):
        self.publisher = FeedbackPublisher(emit)
        self._lock = threading.Lock()

    def accept(self, run: str, seq: int, roi: Roi) -> None:
        with self._lock:
            self.publisher.rois(run, seq, [roi])
            self.publisher.close_run(run)


class LiveFollower:
    """Follow the newest run of a pipeline's output ``folder`` from a thread (see the module docstring).

    Parameters
    ----------
    folder:
        The pipeline's output folder (``-o`` of ``asirp serve``/``run``, ``[write] output``).
    config:
        The pipeline's configuration: ``[read]`` reads raw frames, ``[analyse] change``
        and ``roi`` set the timeline's threshold and the ROI proposals (defaults otherwise).
    raw:
        A :class:`RawSource` (files), a :class:`DocumentRawSource` (a RunEngine's or 0MQ documents),
        or None when raw frames are not followed.
    poll_s:
        Seconds between looks at the folder.
    idle_s:
        A run with no new frame for this long is shown as idle.
    frame_interval_s:
        Mean least time between two frame snapshots (s): the newest frame is prepared for
        the page at most 1/``frame_interval_s`` times a second on average (default 1/7 s: 7 frames/s, ``--max-fps``), however fast
        the pipeline writes; every row still enters the timeline.
    roi_interval_s:
        Least time between two rounds of ROI proposals (s; the frames between keep the
        last ones): proposing costs more than the rest of a snapshot together.
    """

    def __init__(self, folder: str | Path, *, config: PipelineConfig | None = None, raw: RawSource | DocumentRawSource | None = None,
                 poll_s: float = 0.05, idle_s: float = 5.0, frame_interval_s: float = 1 / 7, roi_interval_s: float = 1.0):
        self.folder = Path(folder)
        self.config = config or PipelineConfig()
        self.raw = raw
        self.poll_s = poll_s
        self.idle_s = idle_s
        self.frame_interval_s = frame_interval_s
        self.roi_interval_s = roi_interval_s
        self.roi_config = self.config.analyse.roi or RoiConfig()
        #: The change detection the follower computes for a run that recorded none: the pipeline's, or its defaults.
        self.change_config = self.config.analyse.change or ChangeConfig()
        self._latest = LiveSnapshot(0, "waiting", f"{self.folder}: no run yet")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._path: Path | None = None
        self._reset_run()

    def _reset_run(self) -> None:
        self._row = -1  # last row read
        self._pending: tuple[np.ndarray, np.ndarray, int] | None = None  # the newest row read and not yet in a snapshot
        self._next_frame = -math.inf  # time.monotonic() from which the next frame snapshot may be made
        self._detector = self._new_detector()
        self._recorded: bool | None = None  # whether the run file records the pipeline's change statistic (None: not looked yet)
        self._geometry: Any = None  # the run's geometry (ring profiles of a run that recorded no changes)
        self._timeline: deque[tuple[int, float]] = deque(maxlen=TIMELINE_LENGTH)
        self._changes: list[ChangeEvent] = []
        self._last_new = time.monotonic()
        self._decision: tuple[str, ...] = ()
        self._history_json: str | None = None
        self._rois: tuple[Roi, ...] = ()  # the newest ROI proposals, and from when new ones are due
        self._next_rois = -math.inf

    def _new_detector(self) -> ChangeDetector:
        return ChangeDetector(self.change_config.threshold, self.change_config.min_history)

    @property
    def change_source(self) -> str:
        """Where the timeline of the run followed comes from, in words for the page."""
        if self._recorded:
            return "the pipeline's change detection, as recorded in the run file"
        cfg = self.change_config
        on = "ring profiles" if cfg.on == "profile" else "whole frames"
        return f"computed by the viewer on {on} (the run file records none), threshold {cfg.threshold:g}"

    # -- thread ------------------------------------------------------------------------------------
    def start(self) -> LiveFollower:
        if isinstance(self.raw, ZmqRawSource):
            self.raw.start()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="asirp-view-follow")
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if isinstance(self.raw, ZmqRawSource):
            self.raw.close()

    def latest(self) -> LiveSnapshot:
        """The newest snapshot (never waits)."""
        return self._latest

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception as exc:  # a file caught mid-write or renamed: look again next time, never die
                log.debug("live follower: %s", exc)
            self._stop.wait(max(0.01, self.poll_s - (time.monotonic() - started)))  # a look every poll_s, however long one takes

    # -- one look ------------------------------------------------------------------------------------
    def _publish(self, **fields: Any) -> LiveSnapshot:
        self._latest = replace(self._latest, version=self._latest.version + 1, made=time.time(), **fields)
        return self._latest

    def _open(self, path: Path) -> Any:
        """The run file, opened for this look only (a reader holding it open could get in the way of its writer).

        SWMR read mode, and no file lock: a reader's shared lock taken while the
        writer creates the file, before it switches to SWMR, makes that switch fail;
        an unlocked SWMR reader cannot disturb the writer (a half-made file raises
        here and is looked at again at the next poll). HDF5 refuses to open a file
        twice in one process with different locking: when the writer is in this
        process (a notebook, a test) the file is opened with the writer's locking
        instead, and the follower must not look while the writer finalizes the run
        (``asirp view --follow`` runs in a process of its own).
        """
        import h5py

        if path != self._path:
            if self._path is None or self._path.name != path.name + ".partial":  # not the same run finalized: a new run
                self._reset_run()
            self._path = path
        try:
            return h5py.File(path, "r", swmr=True, libver="latest", locking=False)
        except OSError as exc:
            if "locking flag" not in str(exc):
                raise
            return h5py.File(path, "r", swmr=True, libver="latest")

    def poll(self) -> LiveSnapshot:
        """Look at the folder once; returns the latest snapshot (a new one when something changed)."""
        if not self.folder.is_dir():
            if self._latest.status != "missing":
                return self._publish(status="missing", message=f"{self.folder}: no such folder (waiting for the pipeline to create it)")
            return self._latest
        path = newest_run_file(self.folder)
        if path is None:
            if self._latest.status != "waiting":
                return self._publish(status="waiting", message=f"{self.folder}: no run yet")
            return self._latest
        with self._open(path) as handle:
            return self._look(handle, path)

    def _look(self, handle: Any, path: Path) -> LiveSnapshot:
        """Read what is new in the open run file ``handle`` at ``path``."""
        finished = not path.name.endswith(".partial")
        group = handle.get("entry/data")
        if group is None or "sequence" not in group:
            return self._latest
        if self._recorded is None:
            self._recorded = "change_distance" in group and "asirp_change" in group["change_distance"].attrs
            if not self._recorded and self.change_config.on == "profile":
                from ..io.nexus import read_geometry

                detector = handle.get("entry/instrument/detector")
                self._geometry = read_geometry(detector, str(path)) if detector is not None else None
        changes = ("change_distance", "change_confidence", "change_z_score", "change_baseline") if self._recorded else ()
        for name in ("sequence", "data", "mask", "written_time", "method", *changes):
            group[name].refresh()
        if self._history_json is None:
            self._history_json = run_history_json(handle)
        rows = min(group["sequence"].shape[0], group["data"].shape[0], group["mask"].shape[0], group["written_time"].shape[0])
        if rows and group["sequence"][rows - 1] < 0:  # the last row's sequence number is not on disk yet
            rows -= 1
        run = str(handle["entry/run_uid"].asstr()[()]) if "entry/run_uid" in handle else path.name
        if rows > 0 and rows - 1 > self._row:
            self._last_new = time.monotonic()
            first = self._row + 1
            if self._recorded:  # the pipeline's own statistic: a few numbers a row, every row
                self._recorded_points(group, run, first, rows)
                first = rows - 1
            elif rows - first > MAX_ROWS_PER_POLL:  # behind: jump to the newest, the timeline restarts after a gap
                first = rows - 1
                self._detector = self._new_detector()
            for row in range(first, rows):
                data = np.asarray(group["data"][row])
                valid = np.asarray(group["mask"][row]) == 0
                seq = int(group["sequence"][row])
                if not self._recorded:
                    self._timeline_point(data, valid, run, seq)
            self._row = rows - 1
            self._pending = (data, valid, seq)
        if self._pending is None:
            return self._status_only(run, path, rows, finished)
        now = time.monotonic()
        if now < self._next_frame:  # drawn at most this often; newer rows replace it
            return self._latest
        # Due times step by the interval from the last due time, not from the last frame: frames arriving every 0.1 s
        # are shown 7 times a second at 1/7 s (from the frame's own time they would be every 0.2 s, 5 a second).
        self._next_frame = max(self._next_frame, now - self.frame_interval_s) + self.frame_interval_s
        data, valid, seq = self._pending
        self._pending = None
        return self._frame_snapshot(run, path, rows, finished, group, data, valid, seq)

    def _status_only(self, run: str, path: Path, rows: int, finished: bool) -> LiveSnapshot:
        if finished:
            status, message = "finished", f"run {run} finished: {rows} frame(s) in {path}"
        elif time.monotonic() - self._last_new > self.idle_s:
            status = "idle"
            message = f"run {run}: no new frame for {time.monotonic() - self._last_new:.0f} s ({rows} so far)"
        else:
            status, message = "running", f"run {run}: {rows} frame(s)" if rows else f"run {run}: waiting for its first frame"
        if (status, message) != (self._latest.status, self._latest.message):
            return self._publish(status=status, message=message, run=run, path=path, rows=rows)
        return self._latest

    def _recorded_points(self, group: Any, run: str, first: int, rows: int) -> None:
        """The timeline points and change events of rows ``first:rows`` as the pipeline recorded them."""
        sequence = np.asarray(group["sequence"][first:rows])
        distance = np.asarray(group["change_distance"][first:rows])
        confidence = np.asarray(group["change_confidence"][first:rows])
        z_score = np.asarray(group["change_z_score"][first:rows])
        baseline = np.asarray(group["change_baseline"][first:rows])
        for i, seq in enumerate(int(s) for s in sequence):
            if np.isfinite(distance[i]):
                self._timeline.append((seq, float(distance[i])))
            if np.isfinite(confidence[i]):
                self._changes.append(ChangeEvent(run, seq, seq - 1, float(confidence[i]), float(z_score[i]), float(distance[i]),
                                                 float(baseline[i])))  # fmt: skip

    def _timeline_point(self, data: np.ndarray, valid: np.ndarray, run: str, seq: int) -> None:
        """Change detection on one row, computed here as the pipeline's :class:`~asirp.pipeline.sinks.ChangeTracker` does."""
        from ..feedback.profile import ring_profile

        cfg = self.change_config
        frame = Frame.from_array(data, valid, kind=cast(Kind, self.config.read.kind), geometry=self._geometry)
        profile = ring_profile(frame, self.config.analyse.bins) if cfg.on == "profile" else None
        vector = change_vector(frame, profile, cfg)
        if vector is None:
            return
        event = self._detector.update(vector, seq=seq, run=run)
        if self._detector.last_distance is not None:
            self._timeline.append((seq, self._detector.last_distance))
        if event is not None:
            self._changes.append(event)

    def _proposals(self, restored: Frame, display: np.ndarray, factor: int) -> tuple[Roi, ...]:
        """ROI proposals on ``restored``; on a frame sent reduced, found on the array sent (``factor`` x ``factor`` block
        means, several times cheaper) and given back in the frame's pixels and motor positions."""
        cfg = self.roi_config
        valid = np.isfinite(display)
        if not valid.any():
            return ()
        searched = restored if factor == 1 else Frame.from_array(np.where(valid, display, 0), valid, kind=restored.kind)
        try:
            found = propose_rois(searched, mode=cfg.mode, threshold=cfg.threshold, min_area=cfg.min_area, pad=cfg.pad,
                                 grid=motor_grid(cfg, restored))  # fmt: skip
        except AsirpError:  # nothing to rank (e.g. a flat frame): no proposals
            return ()
        if factor == 1:
            return tuple(found)
        ny, nx = restored.image_shape
        grid = motor_grid(cfg, restored)
        scaled = []
        for roi in found:
            y0, y1, x0, x1 = roi.y0 * factor, min(ny, roi.y1 * factor), roi.x0 * factor, min(nx, roi.x1 * factor)
            first, last = grid.position(y0, x0), grid.position(y1 - 1, x1 - 1)
            motors = {grid.y_motor: (first[0], last[0]), grid.x_motor: (first[1], last[1])}
            scaled.append(Roi(y0, y1, x0, x1, roi.area * factor * factor, roi.score, motors, roi.mode))
        return tuple(scaled)

    def _frame_snapshot(self, run: str, path: Path, rows: int, finished: bool, group: Any, data: np.ndarray, valid: np.ndarray,
                        seq: int) -> LiveSnapshot:
        read = self.config.read
        restored = Frame.from_array(data, valid, kind=cast(Kind, read.kind), meta={"source": f"{path}[{rows - 1}]", "seq": seq})
        raw, raw_note = None, "" if self.raw is not None else "raw frames not followed (asirp view --follow ... --raw FOLDER or FILE::DATASET)"
        if self.raw is not None:
            try:
                raw = self.raw.frame(seq, run)
            except AsirpError as exc:
                raw_note = str(exc)
            if raw is not None and (raw.is_stack or raw.image_shape != restored.image_shape):
                raw_note, raw = f"raw frame {seq} of shape {raw.shape} does not match the restored {restored.image_shape}", None
        factor = max(1, math.ceil(math.sqrt(data.size / LIVE_PIXELS)))
        orientation = images.Orientation()
        restored_display = images.display_array(data, valid, orientation, factor)
        raw_display = images.display_array(raw.data, raw.valid, orientation, factor) if raw is not None else None
        scale_from = raw_display if raw_display is not None else restored_display
        sample = colour_sample(scale_from)
        limits: dict[str, tuple[float, float]] = {scale: images.colour_limits(sample, scale=scale) for scale in ("linear", "log")}
        method = group["method"][rows - 1].decode()
        times = np.asarray(group["written_time"][max(0, rows - RATE_ROWS) : rows])
        fps = (len(times) - 1) / float(times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
        if finished or time.monotonic() >= self._next_rois:  # the slowest part of a snapshot: every roi_interval_s at most
            self._rois, self._next_rois = self._proposals(restored, restored_display, factor), time.monotonic() + self.roi_interval_s
        rois = self._rois
        status = "finished" if finished else "running"
        message = f"run {run} finished: {rows} frame(s) in {path}" if finished else f"run {run}: frame {seq} ({rows} written)"
        return self._publish(status=status, message=message, run=run, path=path, rows=rows, seq=seq, shape=restored.image_shape,
                             restored=restored, raw=raw, raw_note=raw_note, raw_display=raw_display,
                             restored_display=restored_display, limits=limits, method=method,
                             decision=decision_lines(self._history_json, method), pipeline_fps=fps,
                             timeline=tuple(self._timeline), changes=tuple(self._changes), timeline_source=self.change_source,
                             rois=rois)  # fmt: skip
