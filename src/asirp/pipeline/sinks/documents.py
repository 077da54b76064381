"""Restored frames re-emitted as a normal Bluesky run, for downstream tools.

For every source run, :class:`DocumentEmitter` emits a derived run (start,
descriptor, resource, datum, event..., stop) built with :func:`event_model.compose_run`,
so live plots, databroker/tiled ingestion or another consumer subscribed to the same
0MQ proxy see restored data exactly like acquired data. The start document names the
source run (``asirp_source_run``) and the pipeline; each event carries the source
sequence number, the restoring method and the latency.

Images are not copied into documents: each event refers to its row of the run's
NeXus file through a resource (spec ``"ASIRP_NEXUS_ROW"``) and a datum, read by
:class:`NexusRowHandler` (register it in a Filler's handler registry). Set
``inline=True`` to put the arrays in the events instead (small maps).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...frame import Frame
from ..items import Result

#: Where derived Bluesky documents go: ``emit(name, doc)``, such as a 0MQ ``Publisher`` or a RunEngine-like dispatcher.
Emit = Callable[[str, Any], Any]

SPEC = "ASIRP_NEXUS_ROW"
FIELD = "restored"


class NexusRowHandler:
    """Handler for spec ``ASIRP_NEXUS_ROW``: one restored frame, by row, from a run file.

    While the run is going the rows are in ``<file>.partial`` (read in SWMR mode);
    afterwards in the final file.
    """

    def __init__(self, resource_path: str, dataset: str = "/entry/data/data"):
        self.path = Path(resource_path)
        self.dataset = dataset

    def __call__(self, row: int) -> np.ndarray:
        import h5py

        from .run_file import PARTIAL_SUFFIX

        path = self.path if self.path.exists() else self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        with h5py.File(path, "r", swmr=True, libver="latest") as handle:
            return np.asarray(handle[self.dataset][row])


class DocumentEmitter:
    """A sink emitting one derived Bluesky run per source run through ``emit(name, doc)``."""

    def __init__(self, emit: Emit, *, inline: bool = False, metadata: dict[str, Any] | None = None):
        self.emit = emit
        self.inline = inline
        self.metadata = dict(metadata or {})
        self._runs: dict[str, dict[str, Any]] = {}

    def open_run(self, run: str, metadata: dict[str, Any]) -> None:
        from event_model import compose_run

        start_md = {"purpose": "asirp restored frames", "asirp_source_run": run, **self.metadata}
        for key in ("scan_id", "plan_name", "sample"):
            if key in metadata:
                start_md[key] = metadata[key]
        bundle = compose_run(metadata=start_md)
        self.emit("start", bundle.start_doc)
        self._runs[run] = {"bundle": bundle, "descriptor": None, "resource": None, "failed": 0}

    def _descriptor(self, state: dict[str, Any], frame: Frame) -> Any:
        if state["descriptor"] is None:
            image = {"dtype": "array", "shape": list(frame.image_shape), "source": "asirp:restored"}
            if not self.inline:
                image["external"] = "FILESTORE:"
            data_keys = {
                FIELD: image,
                "source_seq_num": {"dtype": "integer", "shape": [], "source": "asirp:source"},
                "latency_s": {"dtype": "number", "shape": [], "source": "asirp:timing", "units": "s"},
                "method": {"dtype": "string", "shape": [], "source": "asirp:method"},
            }
            descriptor = state["descriptor"] = state["bundle"].compose_descriptor(name="primary", data_keys=data_keys)
            self.emit("descriptor", descriptor.descriptor_doc)
        return state["descriptor"]

    def write(self, result: Result) -> None:
        state = self._runs.get(result.run)
        if state is None:
            return
        frame = result.frame
        if frame is None:
            state["failed"] += 1
            return
        descriptor = self._descriptor(state, frame)
        now = time.time()
        data: dict[str, Any] = {
            "source_seq_num": int(result.seq),
            "latency_s": float((result.written or now) - result.arrived),
            "method": frame.history[-1].method if frame.history else "",
        }
        filled = None
        if self.inline:
            data[FIELD] = np.asarray(frame.data)
        else:
            resource = state["resource"]
            if resource is None:
                path = str(Path(result.meta["nexus_file"]).absolute())
                resource = state["resource"] = state["bundle"].compose_resource(
                    spec=SPEC, root="/", resource_path=path.lstrip("/"), resource_kwargs={"dataset": "/entry/data/data"}
                )
                self.emit("resource", resource.resource_doc)
            datum = resource.compose_datum(datum_kwargs={"row": int(result.meta["nexus_row"])})
            self.emit("datum", datum)
            data[FIELD] = datum["datum_id"]
            filled = {FIELD: False}
        event = descriptor.compose_event(data=data, timestamps={key: now for key in data}, filled=filled)
        self.emit("event", event)

    def close_run(self, run: str, complete: bool) -> None:
        state = self._runs.pop(run, None)
        if state is None:
            return
        reason = f"{state['failed']} frame(s) failed or skipped" if state["failed"] else ""
        stop = state["bundle"].compose_stop(exit_status="success" if complete else "abort", reason=reason or ("" if complete else "interrupted"))
        self.emit("stop", stop)

    def close(self) -> None:
        for run in list(self._runs):
            self.close_run(run, complete=False)
