"""The :class:`Pipeline`: ordered steps from a TOML file or code, run offline or online.

>>> from asirp.pipeline import Pipeline
>>> pipe = Pipeline.from_dict({"read": {"kind": "diffraction"}, "restore": {"method": "gaussian"}})
>>> pipe.steps
('read', 'restore', 'write')
>>> summary = pipe.run_files(["frames/"], output="restored")     # doctest: +SKIP

The same object runs online: :meth:`Pipeline.run` takes any stream of items (a
:class:`~asirp.online.BlueskyConsumer`, a folder or SWMR watcher, an iterator), and
:meth:`Pipeline.engine` gives the engine that sources drive themselves. What a run
writes (its NeXus file, documents, snapshots, feedback) are the sinks of :mod:`.sinks`.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..frame import Frame
from ..methods.base import Method
from ..progress import progress as progress_bar
from .backends import Backend, make_backend
from .config import PipelineConfig, load_config, parse_config
from .engine import Engine, RunSummary, Sink
from .items import Item, Marker, Result
from .sinks import ChangeTracker, DocumentEmitter, Emit, FeedbackPublisher, FeedbackSink, NexusSink, SnapshotSink
from .sources import expand_inputs, file_stream
from .steps import WorkerSteps
from .xrf_map import MapAssembler


class Pipeline:
    """Ordered steps: read -> [xrf_map] -> restore -> [analyse] -> write.

    Parameters
    ----------
    config:
        The validated configuration (:class:`PipelineConfig`); default: all defaults.
    method:
        A :class:`~asirp.methods.base.Method` instance to use instead of
        ``config.restore.method`` (a method written in a notebook, not registered).
    emit:
        Where derived Bluesky documents go (restored frames when ``write.documents``,
        feedback always): a callable ``emit(name, doc)`` such as a 0MQ ``Publisher``
        or a ``RunEngine``-like dispatcher.
    feedback:
        Plain callbacks receiving each feedback object (a change event, a list of ROIs).
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        method: Method | None = None,
        emit: Emit | None = None,
        feedback: Sequence[Callable[[Any], Any]] = (),
    ):
        self.config = config or PipelineConfig()
        self.method = method
        self.emit = emit
        self.feedback = list(feedback)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **kw: Any) -> Pipeline:
        """A pipeline from a TOML file (see :mod:`asirp.pipeline.config`)."""
        return cls(load_config(path), **kw)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kw: Any) -> Pipeline:
        """A pipeline from a dict with the TOML file's structure."""
        return cls(parse_config(data), **kw)

    @property
    def steps(self) -> tuple[str, ...]:
        """The step names in the order they run."""
        config = self.config
        names = ["read"]
        if config.xrf_map is not None:
            names.append("xrf_map")
        names.append("restore")
        analyse = config.analyse
        if analyse.profile or analyse.change is not None or analyse.roi is not None:
            names.append("analyse")
        names.append("write")
        return tuple(names)

    def worker_steps(self) -> WorkerSteps:
        restore = self.config.restore
        return WorkerSteps(self.config.read, restore.method, dict(restore.params), restore.budget_s, self.config.analyse, self.method)

    # -- one frame, in a notebook ------------------------------------------------------------
    def process(self, frame: Frame) -> Frame:
        """Restore one frame as the pipeline would (plan + restore), synchronously."""
        steps = self.worker_steps()
        return steps.plan_for(frame).run(frame, steps.custom)

    # -- streaming ---------------------------------------------------------------------------
    def sinks(self, output: str | os.PathLike[str] | None = None) -> list[Sink]:
        """The sinks the configuration asks for, after the NeXus file: documents, snapshots, feedback.

        ``output`` is the folder of the run files (default ``write.output``); snapshots go there too.
        """
        config = self.config
        sinks: list[Sink] = []
        if config.write.documents:
            if self.emit is None:
                from ..errors import ParameterError

                raise ParameterError("write.documents = true needs somewhere to emit documents (Pipeline(emit=...))")
            sinks.append(DocumentEmitter(self.emit))
        if config.write.png_every_s > 0:
            sinks.append(SnapshotSink(output or config.write.output, config.write.png_every_s))
        analyse = config.analyse
        if analyse.change is not None or analyse.roi is not None:
            publisher = FeedbackPublisher(self.emit, self.feedback)
            sinks.append(FeedbackSink(publisher, analyse.change, analyse.roi))
        return sinks

    def engine(
        self,
        *,
        output: str | os.PathLike[str] | None = None,
        backend: Backend | None = None,
        queue_depth: Callable[[], int] | None = None,
        on_result: Callable[[Result], None] | None = None,
        prepare: Callable[[Item], Item] | None = None,
    ) -> Engine:
        """An :class:`Engine` for this pipeline writing to ``output`` (default ``write.output``)."""
        from ..methods.base import registry

        if self.method is None:
            registry()  # import the repertoire now (seconds with torch), not when the first frame waits
        execution = self.config.execution
        backend = backend or make_backend(execution.backend, execution.workers, execution.scheduler)
        assembler = MapAssembler(self.config.xrf_map) if self.config.xrf_map is not None else None
        return Engine(
            self.worker_steps(),
            backend,
            NexusSink(output or self.config.write.output),
            self.sinks(output),
            assembler=assembler,
            max_in_flight=execution.in_flight,
            queue_depth=queue_depth,
            on_result=on_result,
            prepare=prepare,
            change=ChangeTracker(self.config.analyse.change, self.config.analyse.bins) if self.config.analyse.change is not None else None,
        )

    def run(
        self,
        stream: Iterable[Item | Marker],
        *,
        output: str | os.PathLike[str] | None = None,
        backend: Backend | None = None,
        handle_signals: bool = False,
        on_result: Callable[[Result], None] | None = None,
        queue_depth: Callable[[], int] | None = None,
        stoppers: Sequence[Callable[[], None]] = (),
    ) -> RunSummary:
        """Run ``stream`` through the pipeline; returns the summary.

        Parameters
        ----------
        backend:
            A backend to use (left open); default: one built from ``[execution]`` and closed at the end.
        handle_signals:
            Stop gracefully on SIGINT/SIGTERM (main thread only): frames in flight are
            written, open runs are left resumable.
        stoppers:
            Also called on such a signal (e.g. a watcher's ``close``, which wakes it up).
        """
        engine = self.engine(output=output, backend=backend, on_result=on_result, queue_depth=queue_depth)

        def stop() -> None:
            engine.request_stop()
            for stopper in stoppers:
                stopper()

        try:
            with _stop_on_signals(stop, enabled=handle_signals):
                return engine.run(stream)
        finally:
            for sink in engine.sinks:
                sink.close()
            engine.nexus.close()
            if backend is None:
                engine.backend.close()

    def run_files(
        self,
        inputs: Sequence[str | os.PathLike[str]],
        *,
        output: str | os.PathLike[str] | None = None,
        backend: Backend | None = None,
        progress: bool = True,
        handle_signals: bool = False,
        per_file: bool = False,
    ) -> RunSummary:
        """Offline: restore files, folders and HDF5 stacks, one run (one NeXus file) per input.

        With ``per_file``, one run per file of a folder instead, named after the file
        (``<output>/<file stem>.nxs``). Rerunning after an interruption resumes: frames
        already in the output are not redone.
        """
        runs = expand_inputs(inputs, self.config.read, per_file=per_file)
        total = sum(len(refs) for _, refs in runs)
        bar = progress_bar(range(total), desc="restoring", total=total, unit="frame") if progress else None
        ticks = iter(bar) if bar is not None else None

        def tick(_: Result) -> None:
            if ticks is not None:
                next(ticks, None)

        try:
            return self.run(file_stream(runs), output=output, backend=backend, handle_signals=handle_signals, on_result=tick)
        finally:
            if bar is not None and hasattr(bar, "close"):
                bar.close()


@contextmanager
def _stop_on_signals(stop: Callable[[], None], *, enabled: bool) -> Iterator[None]:
    """Call ``stop`` on SIGINT/SIGTERM inside the block (main thread only), then restore the handlers."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: Any) -> None:
        stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
