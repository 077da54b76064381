"""The streaming loop shared by offline and online runs.

The engine takes a stream of :class:`~asirp.pipeline.items.Item` objects framed by
run markers, and for each item, in the consumer's thread:

1. asks the NeXus sink whether a previous session already wrote it (resume: then it
   is skipped, so every frame is written exactly once);
2. passes it through the stream stages (the XRF map assembler turns lines into maps);
3. plans the method once per run (``auto`` and the time budget, see :mod:`.budget`);
4. submits it to the backend, holding at most ``max_in_flight`` frames submitted
   and not yet written: when the limit is reached it waits for the oldest, so the
   pipeline applies backpressure to its source instead of growing without bound;
5. a writer thread writes results **in sequence order** to the sinks as soon as the
   oldest is done (the NeXus file first, then documents, snapshots, feedback).

A failing frame becomes a result with its error, recorded by the sinks, and the run
goes on. :meth:`Engine.request_stop` (wired to SIGINT/SIGTERM by the CLI) makes the
engine stop taking new items, finish and write the frames in flight, and close open
runs without finalizing them, so that a rerun resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..select.plan import Plan
from .backends import Backend, FutureLike
from .items import Item, Marker, Result, RunStart, RunStop, Skipped
from .sinks.feedback import ChangeTracker
from .steps import WorkerSteps, error_text, load_frame, process_item
from .xrf_map import MapAssembler

log = logging.getLogger("asirp.pipeline")


class Sink(Protocol):
    """Receives results in sequence order (documents, snapshots, feedback)."""

    def open_run(self, run: str, metadata: dict[str, Any]) -> None: ...
    def write(self, result: Result) -> Any: ...
    def close_run(self, run: str, complete: bool) -> Any: ...
    def close(self) -> None: ...


@dataclass
class RunSummary:
    """What a pipeline run did, with the figures the online benchmark reports.

    ``lost`` counts items that entered and were neither written, failed, skipped nor
    found done from an earlier session: it must be 0.
    """

    received: int = 0
    written: int = 0
    failed: int = 0
    skipped: int = 0
    resumed: int = 0
    absorbed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    max_queue_depth: int = 0
    wall_s: float = 0.0
    first_arrival: float | None = None
    first_written: float | None = None
    last_written: float | None = None
    files: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def lost(self) -> int:
        return self.received - self.written - self.failed - self.skipped - self.resumed - self.absorbed

    def latency(self, quantile: float) -> float:
        """Latency quantile in seconds, from arrival to restored frame on disk (nan when none)."""
        return float(np.quantile(self.latencies_s, quantile)) if self.latencies_s else float("nan")

    @property
    def throughput(self) -> float:
        """Sustained output rate, frames per second: ``(written - 1)`` intervals between the first and last write."""
        if self.first_written is None or self.last_written is None or self.written < 2:
            return float("nan")
        return (self.written - 1) / max(self.last_written - self.first_written, 1e-9)

    def line(self) -> str:
        text = (
            f"{self.written} written, {self.failed} failed, {self.skipped} skipped, {self.resumed} already done"
            f" (resumed), {self.lost} lost in {self.wall_s:.3g} s"
        )
        if self.latencies_s:
            text += f"; latency p50 {self.latency(0.5):.3g} s, p95 {self.latency(0.95):.3g} s"
        return text + f"; max queue depth {self.max_queue_depth}"


@dataclass
class _Pending:
    """A frame in flight (``future`` or an already known ``result``), or a run to close (``close``)."""

    run: str
    seq: int
    arrived: float
    meta: dict[str, Any]
    future: FutureLike | None = None
    result: Result | None = None
    action: str | None = None  # "open" or "close" a run instead of writing a frame
    complete: bool = True  # close: finalize the run

    @property
    def is_frame(self) -> bool:
        return self.action is None


class Engine:
    """Runs a stream through a pipeline (see the module docstring).

    Two threads share the work: the caller's thread takes items from the stream,
    plans and submits them; a writer thread waits for the oldest submitted frame and
    writes it, so a frame is on disk as soon as it is restored, not when the next one
    arrives. Both meet in a deque of at most ``max_in_flight`` frames (plus run
    start/stop entries, so sinks see runs open and close in stream order, all from the
    writer thread).

    Parameters
    ----------
    steps:
        The per-frame work (read options, method, analyse options).
    backend:
        Where frames are processed.
    nexus:
        The run-file sink (:class:`~asirp.pipeline.sinks.NexusSink`): it decides
        what is already done and is written first.
    sinks:
        Further sinks, called in order after the NeXus file has the frame.
    assembler:
        XRF map assembler when the pipeline has an ``xrf_map`` step.
    max_in_flight:
        Frames submitted and not yet written, at most.
    queue_depth:
        A function giving the current depth of the source's queue (recorded).
    on_result:
        Called (in the writer thread) with each result after it was written.
    prepare:
        Called on each item before planning (e.g. to fill external Bluesky data).
    change:
        Change detection (``[analyse] change``), run in the writer thread on each result before
        the run file is written, which records it (a :class:`~asirp.pipeline.sinks.ChangeTracker`).
    """

    def __init__(
        self,
        steps: WorkerSteps,
        backend: Backend,
        nexus: Any,
        sinks: Iterable[Sink] = (),
        *,
        assembler: MapAssembler | None = None,
        max_in_flight: int = 4,
        queue_depth: Callable[[], int] | None = None,
        on_result: Callable[[Result], None] | None = None,
        prepare: Callable[[Item], Item] | None = None,
        change: ChangeTracker | None = None,
    ):
        self.steps = steps
        self.change = change
        self.backend = backend
        self.nexus = nexus
        self.sinks = list(sinks)
        self.assembler = assembler
        self.max_in_flight = max(1, int(max_in_flight))
        self.queue_depth = queue_depth
        self.on_result = on_result
        self.prepare = prepare
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._pending: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._finished = False
        self._plans: dict[str, Plan] = {}
        self._open: dict[str, dict[str, Any]] = {}

    # -- control -------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop taking items; frames in flight are finished and written (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop ------------------------------------------------------------------------
    def run(self, stream: Iterable[Item | Marker]) -> RunSummary:
        """Consume ``stream`` to its end (or until stopped); returns once everything taken is written."""
        started = time.perf_counter()
        self._finished = False
        writer = threading.Thread(target=self._writer, name="asirp-writer", daemon=True)
        writer.start()
        try:
            for obj in stream:
                if self._stop.is_set():
                    self.summary.interrupted = True
                    break
                self._handle(obj)
                if self.queue_depth is not None:
                    self.summary.max_queue_depth = max(self.summary.max_queue_depth, int(self.queue_depth()))
        finally:
            for run in list(self._open):
                self._request_close(run, complete=False)
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            writer.join()
            self.summary.wall_s = time.perf_counter() - started
        return self.summary

    def _handle(self, obj: Item | Marker) -> None:
        if isinstance(obj, RunStart):
            self._start_run(obj.run, obj.metadata)
        elif isinstance(obj, RunStop):
            if self.assembler is not None:
                self._submit_map(self.assembler.flush(obj.run))
            self._request_close(obj.run, obj.complete)
        elif isinstance(obj, Skipped):
            self._count_in(obj.run, obj.arrived)
            self._start_run(obj.run, {})
            result = Result(obj.run, obj.seq, obj.arrived, {"skipped": True}, error=f"skipped: {obj.reason}")
            self._enqueue(_Pending(obj.run, obj.seq, obj.arrived, result.meta, result=result))
        elif isinstance(obj, Item):
            self._count_in(obj.run, obj.arrived)
            self._start_run(obj.run, {})
            if self.assembler is not None:
                self.summary.absorbed += 1
                self._submit_map(self.assembler.push(obj))
            else:
                self._submit(obj)
        else:
            raise TypeError(f"pipeline stream yielded {type(obj).__name__}; expected Item, RunStart, RunStop or Skipped")

    def _count_in(self, run: str, arrived: float) -> None:
        self.summary.received += 1
        if self.summary.first_arrival is None:
            self.summary.first_arrival = arrived

    def _submit_map(self, item: Item | None) -> None:
        if item is not None:
            self.summary.received += 1  # the map itself is an item the pipeline must account for
            self._submit(item)

    def _start_run(self, run: str, metadata: dict[str, Any]) -> None:
        if run in self._open:
            return
        self._open[run] = metadata
        self.nexus.open_run(run, metadata)  # now: it answers which frames are already done
        self._enqueue(_Pending(run, 0, 0.0, metadata, action="open"), bounded=False)

    def _request_close(self, run: str, complete: bool) -> None:
        """Close ``run`` once every frame taken before this point is written (in the writer thread)."""
        if self._open.pop(run, None) is None:
            return
        self._plans.pop(run, None)
        self._enqueue(_Pending(run, 0, 0.0, {}, action="close", complete=complete), bounded=False)

    def _close_run(self, run: str, complete: bool) -> None:
        path = self.nexus.close_run(run, complete)
        if self.change is not None:
            self.change.close_run(run)
        self.summary.files[run] = None if path is None else str(path)
        for sink in self.sinks:
            try:
                sink.close_run(run, complete)
            except Exception as exc:  # a publishing sink must not lose the run file
                log.warning("sink %s failed closing run %s: %s", type(sink).__name__, run, exc)

    def _plan(self, item: Item) -> tuple[Item, Plan | None]:
        """The run's plan, made on its first frame (which is then sent already read)."""
        if item.run in self._plans:
            return item, self._plans[item.run]
        fixed = self.steps.fixed_plan()
        if fixed is not None:
            self._plans[item.run] = fixed
            return item, fixed
        frame = load_frame(item, self.steps.read)
        plan = self.steps.plan_for(frame)
        self._plans[item.run] = plan
        if plan.budget is not None and "reason" in plan.budget:
            log.warning("run %s: %s", item.run, plan.budget["reason"])
        return Item(item.run, item.seq, frame, item.arrived, item.meta), plan

    def _submit(self, item: Item) -> None:
        if self.nexus.done(item.run, item.seq):
            self.summary.resumed += 1
            return
        entry = _Pending(item.run, item.seq, item.arrived, dict(item.meta))
        self._wait_for_room()
        try:
            if self.prepare is not None:
                item = self.prepare(item)
            item, plan = self._plan(item)
            entry.future = self.backend.submit(process_item, item, plan, self.steps)
        except Exception as exc:  # reading or planning failed: recorded for this frame, the run goes on
            entry.result = Result(item.run, item.seq, item.arrived, entry.meta, error=error_text(exc))
        self._enqueue(entry)

    # -- the in-flight deque ------------------------------------------------------------------
    def _wait_for_room(self) -> None:
        """Block the source (backpressure) while ``max_in_flight`` frames are in flight."""
        with self._cond:
            self._cond.wait_for(lambda: sum(e.is_frame for e in self._pending) < self.max_in_flight)

    def _enqueue(self, entry: _Pending, bounded: bool = True) -> None:
        if bounded and entry.result is not None:
            self._wait_for_room()
        with self._cond:
            self._pending.append(entry)
            self._cond.notify_all()

    def _result_of(self, entry: _Pending) -> Result:
        if entry.result is not None:
            return entry.result
        try:
            if entry.future is None:
                raise RuntimeError("a pending frame has neither a result nor a task")
            return entry.future.result()
        except Exception as exc:  # the backend lost the task (a Dask worker died...)
            return Result(entry.run, entry.seq, entry.arrived, entry.meta, error=f"{type(exc).__name__}: {exc}")

    def _writer(self) -> None:
        """Write the oldest entry as soon as it is done, in order, until the run ends and the deque is empty."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._finished)
                if not self._pending:
                    return
                head = self._pending[0]
            try:
                if head.action == "open":
                    if self.change is not None:
                        self.change.open_run(head.run)
                    for sink in self.sinks:  # in this thread: sinks see one ordered stream of calls
                        sink.open_run(head.run, head.meta)
                elif head.action == "close":
                    self._close_run(head.run, head.complete)
                else:
                    result = self._result_of(head)
                    if result.replanned is not None and head.run in self._plans:
                        self._plans[head.run] = result.replanned  # the run's next frames use the new decision
                    self._write(result)
            except Exception as exc:  # never let the writer die with frames behind it
                log.error("asirp writer: %s frame %d: %s", head.run, head.seq, exc)
                self.summary.errors[f"{head.run}:{head.seq}"] = f"{type(exc).__name__}: {exc}"
            with self._cond:
                self._pending.popleft()
                self._cond.notify_all()

    def _write(self, result: Result) -> None:
        if self.change is not None:
            try:
                self.change.update(result)
            except Exception as exc:  # change detection must not stop the restoration
                log.warning("change detection failed on frame %d: %s", result.seq, exc)
        try:
            result.written = float(self.nexus.write(result))
        except Exception as exc:  # the output refused this frame (e.g. another shape): recorded, the run goes on
            result.frame, result.error = None, f"{type(exc).__name__}: {exc}"
            result.written = float(self.nexus.write(result))
        summary = self.summary
        if result.meta.get("skipped"):
            summary.skipped += 1
        elif result.ok:
            summary.written += 1
            summary.latencies_s.append(result.written - result.arrived)
            if summary.first_written is None:
                summary.first_written = result.written
        else:
            summary.failed += 1
            summary.errors[f"{result.run}:{result.seq}"] = result.error or ""
            log.warning("%s frame %d failed: %s", result.run, result.seq, result.error)
        summary.last_written = result.written
        for sink in self.sinks:
            try:
                sink.write(result)
            except Exception as exc:  # a publishing sink must not stop the restoration
                log.warning("sink %s failed on frame %d: %s", type(sink).__name__, result.seq, exc)
        if self.on_result is not None:
            self.on_result(result)
