"""A Bluesky callback that restores detector frames while the RunEngine acquires them.

Subscribe it to a RunEngine (``RE.subscribe(consumer)``) or to a 0MQ
``RemoteDispatcher`` (see :mod:`asirp.online.zmq`). It understands start,
descriptor, event, event_page, resource, datum, datum_page and stop documents;
images come inline in events or by resource/datum reference, filled through
:class:`event_model.Filler` with the handler registry you give (e.g.
``{"AD_HDF5": AreaDetectorHDF5Handler}``).

It **never blocks acquisition**: the callback only puts a small item in a
:class:`~asirp.pipeline.spill.SpillQueue` (bounded in memory; spilled to disk, or
recorded as skipped, when full) and returns. Reading external files, restoring and
writing happen in a worker thread (and on the pipeline's backend), and results are
written in order to one NeXus file per run (see :mod:`asirp.pipeline.sinks.run_file`).
A callback that raised would make the RunEngine abort the scan, so every problem in
a document is logged and recorded, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..pipeline.backends import Backend
from ..pipeline.core import Pipeline
from ..pipeline.engine import RunSummary
from ..pipeline.items import DatumRef, Item, RunStart, RunStop
from ..pipeline.spill import Policy, SpillQueue

if TYPE_CHECKING:
    from event_model.documents import EventPage

log = logging.getLogger("asirp.online")
#: Start-document keys kept as run metadata (small, JSON-serialisable).
_START_KEYS = ("uid", "time", "scan_id", "plan_name", "sample", "beamline_id", "proposal_id", "motors", "detectors", "num_points")


def _scalars(data: dict[str, Any], skip: str) -> dict[str, Any]:
    """The scalar readings of an event (motor positions, counters) besides the image field."""
    return {k: v for k, v in data.items() if k != skip and isinstance(v, int | float | str | bool | np.number)}


class BlueskyConsumer:
    """Restore the frames of a Bluesky document stream with ``pipeline``, without blocking it.

    Parameters
    ----------
    pipeline:
        The pipeline (its ``[read]`` table gives the kind, geometry and ``field``).
    output:
        Folder of the run files (default the pipeline's ``write.output``).
    field:
        Event data key holding the image (default ``read.field``, else the first
        data key of a descriptor with an array of 2 or more dimensions; 1 or more
        dimensions for XRF map lines).
    handler_registry:
        ``{spec: handler class}`` for externally stored data (resource/datum).
    backend:
        A backend to run frames on (default the pipeline's ``[execution]``).
    queue_size, overflow, spill_dir:
        The :class:`SpillQueue` between the callback and the pipeline (default
        ``execution.queue_size`` and ``execution.overflow``).
    root_map:
        Passed to :class:`event_model.Filler` (resource roots moved since acquisition).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        output: str | None = None,
        field: str | None = None,
        handler_registry: dict[str, Callable[..., Any]] | None = None,
        backend: Backend | None = None,
        queue_size: int | None = None,
        overflow: Policy | None = None,
        spill_dir: str | None = None,
        root_map: dict[str, str] | None = None,
    ):
        from event_model import Filler

        execution = pipeline.config.execution
        self.pipeline = pipeline
        self.field = field or pipeline.config.read.field
        self.queue = SpillQueue(queue_size or execution.queue_size, overflow or execution.overflow, spill_dir)
        self.filler = Filler(dict(handler_registry or {}), inplace=False, root_map=root_map or {})
        self._own_backend = backend is None
        self.engine = pipeline.engine(output=output, backend=backend, queue_depth=self.queue.depth, prepare=self._fill)
        self._descriptors: dict[str, tuple[str, str]] = {}  # descriptor uid -> (run uid, field)
        self._min_ndim = 1 if pipeline.config.xrf_map is not None else 2
        self.documents_seen = 0
        self.document_errors: list[str] = []
        self.runs_started: list[str] = []
        self._ignored: set[str] = set()
        self.summary: RunSummary | None = None
        self._thread = threading.Thread(target=self._work, name="asirp-consumer", daemon=True)
        self._thread.start()

    # -- the callback (RunEngine thread: must return at once and never raise) --------------------
    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.documents_seen += 1
        try:
            handler = getattr(self, f"_{name}", None)
            if handler is not None:
                handler(doc)
            if name in ("start", "descriptor", "resource", "datum", "datum_page", "stop"):
                self.filler(name, doc)
        except Exception as exc:  # a raising callback would abort the scan: record and carry on
            message = f"{name} document: {type(exc).__name__}: {exc}"
            self.document_errors.append(message)
            log.warning("asirp consumer ignored a %s", message)

    def _start(self, doc: dict[str, Any]) -> None:
        if "asirp_source_run" in doc:  # asirp's own derived runs (restored frames, feedback): never restore them again
            self._ignored.add(doc["uid"])
            return
        self.runs_started.append(doc["uid"])
        metadata = {key: doc[key] for key in _START_KEYS if key in doc}
        self.queue.put(RunStart(doc["uid"], metadata))

    def _descriptor(self, doc: dict[str, Any]) -> None:
        if doc["run_start"] in self._ignored:
            return
        keys = doc.get("data_keys", {})
        field = self.field
        if field is None:  # the first array field; "STREAM:" data (ophyd-async stream_datum) is not in events
            field = next(
                (k for k, v in keys.items()
                 if len(v.get("shape") or []) >= self._min_ndim and not str(v.get("external", "")).startswith("STREAM:")),
                None,
            )  # fmt: skip
        if field is not None and field in keys:
            self._descriptors[doc["uid"]] = (doc["run_start"], field)

    def _event(self, doc: dict[str, Any]) -> None:
        known = self._descriptors.get(doc["descriptor"])
        if known is None:  # another stream (baseline, monitors) or no image field
            return
        run, field = known
        arrived = time.time()
        value = doc["data"][field]
        external = doc.get("filled", {}).get(field) is False  # a datum id to fill, not the data
        payload: Any = DatumRef(doc, field) if external else np.asarray(value)
        meta = {"event_uid": doc.get("uid"), "event_time": doc.get("time"), **_scalars(doc["data"], field)}
        self.queue.put(Item(run, int(doc["seq_num"]), payload, arrived, meta))

    def _event_page(self, doc: EventPage) -> None:
        from event_model import unpack_event_page

        for event in unpack_event_page(doc):
            self._event(event)

    def _stop(self, doc: dict[str, Any]) -> None:
        if doc["run_start"] in self._ignored:
            self._ignored.discard(doc["run_start"])
            return
        status = doc.get("exit_status", "success")
        self.queue.put(RunStop(doc["run_start"], complete=status == "success", reason=doc.get("reason", "") or status))

    # -- the worker thread ---------------------------------------------------------------------------
    def _fill(self, item: Item) -> Item:
        """Read an externally stored image (resource/datum) through the Filler, off the RunEngine's thread."""
        if not isinstance(item.payload, DatumRef):
            return item
        ref = item.payload
        filled = self.filler.fill_event(ref.event, include=[ref.field], inplace=False)
        return Item(item.run, item.seq, np.asarray(filled["data"][ref.field]), item.arrived, item.meta)

    def _work(self) -> None:
        try:
            self.summary = self.engine.run(self.queue)
        except Exception:  # the engine itself failed (not one frame): say so loudly, keep what was written
            log.exception("asirp consumer stopped")
            self.summary = self.engine.summary

    # -- lifecycle -----------------------------------------------------------------------------------------
    def close(self, timeout: float | None = None) -> RunSummary | None:
        """Finish every queued frame, close the sinks and return the summary.

        Runs that received no stop document stay resumable (their files remain partial).
        """
        self.queue.close()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.engine.request_stop()
            self._thread.join()
        for sink in self.engine.sinks:
            sink.close()
        self.engine.nexus.close()
        if self._own_backend:
            self.engine.backend.close()
        self.queue.cleanup()
        if self.summary is not None:  # the queue knows its deepest moment better than the engine's samples
            self.summary.max_queue_depth = max(self.summary.max_queue_depth, self.queue.max_depth)
        return self.summary

    def stop(self) -> None:
        """Stop soon (SIGINT/SIGTERM): frames in flight are written, queued ones are left for a resume."""
        self.engine.request_stop()
        self.queue.close()
