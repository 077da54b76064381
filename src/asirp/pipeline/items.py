"""What flows between a source, the pipeline's workers and the sinks.

A source (files, a Bluesky document stream, a folder watcher...) yields
:class:`Item` objects in acquisition order, framed by :class:`RunStart` and
:class:`RunStop` markers. An item carries its **payload** lazily when it can: a
:class:`FileRef` (read on the worker, so the consumer thread never does I/O) or an
array already in memory. Workers turn an item into a :class:`Result`; sinks receive
results in sequence order.

All of these are plain picklable dataclasses so that the Dask backend can ship them
to worker processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..frame import Frame


@dataclass(frozen=True)
class FileRef:
    """A frame stored in a file: the whole image of ``path``, or image ``index`` of an HDF5 stack.

    Attributes
    ----------
    path:
        The file (any format :func:`asirp.io.open` reads; HDF5 for stacks).
    dataset:
        HDF5 dataset path of a stack (``index`` given), else None.
    index:
        Image index along the first axis of a 3-D HDF5 dataset, or None for the whole file.
    swmr:
        Open the HDF5 file in SWMR read mode (a file a detector is still writing).
    """

    path: str
    dataset: str | None = None
    index: int | None = None
    swmr: bool = False

    def describe(self) -> str:
        where = self.path if self.dataset is None else f"{self.path}::{self.dataset}"
        return where if self.index is None else f"{where}[{self.index}]"


@dataclass(frozen=True)
class DatumRef:
    """A Bluesky event field stored externally (resource/datum), filled on the worker thread."""

    event: dict[str, Any]
    field: str


Payload = Frame | FileRef | DatumRef | np.ndarray


@dataclass(frozen=True)
class Item:
    """One unit of acquired data (a detector frame or an XRF map line).

    Attributes
    ----------
    run:
        Identifier of the run it belongs to (the Bluesky run start uid, or a name).
    seq:
        1-based sequence number within the run (Bluesky ``seq_num``); results are
        written in this order and it is the key of exactly-once bookkeeping.
    payload:
        The data, or a reference to read it from.
    arrived:
        Wall-clock time (``time.time()``, s) at which the consumer received it;
        latency is measured from here to the restored frame being on disk.
    meta:
        Small, JSON-serialisable facts (motor positions, event uid, file name...).
    """

    run: str
    seq: int
    payload: Payload
    arrived: float = field(default_factory=time.time)
    meta: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        payload = self.payload
        where = payload.describe() if isinstance(payload, FileRef) else type(payload).__name__
        return f"run {self.run} frame {self.seq} ({where})"


@dataclass(frozen=True)
class RunStart:
    """A run begins: ``run`` is its uid; ``metadata`` its start document (or a summary)."""

    run: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStop:
    """A run ended; ``complete`` is False when it was aborted or the consumer is shutting down."""

    run: str
    complete: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Skipped:
    """A frame that could not be taken in (e.g. queue full under the ``skip`` policy), with why."""

    run: str
    seq: int
    reason: str
    arrived: float = field(default_factory=time.time)


Marker = RunStart | RunStop | Skipped


@dataclass
class Result:
    """What a worker made of one item.

    Exactly one of ``frame`` and ``error`` is set. ``profile`` is the 1-D azimuthal
    profile of the restored frame when the analyse step computed one (used by change
    detection). Times are ``time.time()`` seconds.
    """

    run: str
    seq: int
    arrived: float
    meta: dict[str, Any]
    frame: Frame | None = None
    error: str | None = None
    profile: np.ndarray | None = None
    started: float = 0.0
    finished: float = 0.0
    written: float = 0.0
    #: A new plan the worker made because this frame's data drifted from the run's (``auto`` only).
    replanned: Any = None
    #: Change detection of this frame (``[analyse] change``; set by the writer before the run file is written):
    #: the statistic ``d_t`` (None: not computed, or the run's first frame), the :class:`~asirp.feedback.ChangeEvent`
    #: when this frame is a change, and the settings it was computed with (None when change detection is off).
    change_distance: float | None = None
    change_event: Any = None
    change_settings: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
