"""Restored frames appended to one NeXus file per run, crash-safe and resumable.

While a run is going, its frames grow one dataset in ``RUN.nxs.partial``, written in
HDF5 **SWMR** mode (single writer, multiple readers): a live viewer can read it with
``h5py.File(path, "r", swmr=True)``, and a consumer killed at any instant (SIGKILL
included) leaves a file whose flushed rows are intact. Each frame is appended in two
flushes: first its data and mask, then its sequence number, so a row counts as
written only once its sequence number is on disk. Frames that failed or were skipped
go to a JSON-lines journal beside it (``RUN.nxs.journal``) with their error.

When the run ends, provenance and the failure list are added and the file is renamed
to ``RUN.nxs`` in one atomic step: a reader sees no final file or a complete one.

On restart with the same output folder and run, :meth:`RunWriter.open` reads what is
on disk: frames already written (or recorded as failed) are **done** and are not
processed again; a half-written last row is dropped. So every frame is written
exactly once. (A frame that was being restored when the consumer died is restored
again: its result had not been written.) This protects against a killed process; a
power cut can still lose what the operating system had not written to disk, which
is then simply processed again.

Layout of the file::

    /entry                NXentry  @default="data"
        run_uid           the source run's uid
        program_name      "asirp" @version
        start_time, end_time
        first_history     the history of the run's first frame (JSON), there from the file's creation
        data/             NXdata @signal="data" @axes=["frame", "y", "x"]
            data          float32 (n, ny, nx), one chunk per frame, growing along frames
            mask          uint8   (n, ny, nx), 1 = masked pixel (pyFAI convention)
            sequence      int64 (n,): the source's sequence number of each row
            method        the method that restored each row
            arrival_time, written_time   float64 (n,), Unix seconds @units="s"
        process/          NXprocess: program, version, method, parameters and notes (JSON)
                          of the run's first frame, and its whole history
        failed/           NXcollection: sequence, error (frames that failed or were skipped)
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import h5py
import numpy as np

from ..._version import __version__
from ...errors import OutputError
from ...history import now_iso
from ..items import Result

PARTIAL_SUFFIX = ".partial"
JOURNAL_SUFFIX = ".journal"
_METHOD_DTYPE = "S48"


def run_file_name(run: str) -> str:
    """A file name for a run: its uid with anything but ``[A-Za-z0-9._-]`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run).strip("._") + ".nxs"


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _journal_records(path: Path) -> Iterator[dict[str, Any]]:
    """Complete records of a journal; a torn last line (killed mid-write) is cut off."""
    if not path.exists():
        return
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end < len(raw):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    for line in raw[:end].splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("seq"), int):
            yield record


def read_rows(path: Path) -> tuple[np.ndarray, int]:
    """Sequence numbers of the committed rows of a run file (final or partial) and their count.

    A partial file left by a killed writer is opened in SWMR read mode, which HDF5
    allows although the file is still marked as open for writing.
    """
    with h5py.File(path, "r", swmr=True, libver="latest") as handle:
        data = handle.get("entry/data")
        if data is None or "sequence" not in data:
            return np.zeros(0, dtype=np.int64), 0
        sequence = np.asarray(data["sequence"][()], dtype=np.int64)
        rows = min(sequence.shape[0], data["data"].shape[0], data["mask"].shape[0])
        committed = sequence[:rows]
        bad = np.flatnonzero(committed < 0)
        count = int(bad[0]) if bad.size else rows
        return committed[:count], count


def _steps(history: tuple[Any, ...]) -> list[dict[str, Any]]:
    """History steps as the JSON the run file stores (method, parameters, notes, version, date)."""
    return [{"method": s.method, "parameters": s.parameters, "notes": s.notes, "version": s.version, "date": s.date} for s in history]


class RunWriter:
    """The NeXus file of one run (see the module docstring).

    Parameters
    ----------
    folder:
        Output folder (must exist).
    run:
        The run's uid; names the file.
    metadata:
        The run's start metadata; JSON-serialisable entries are stored in the file.
    """

    def __init__(self, folder: Path, run: str, metadata: dict[str, Any] | None = None):
        self.folder = Path(folder)
        self.run = run
        self.metadata = dict(metadata or {})
        self.path = self.folder / run_file_name(run)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.journal_path = self.path.with_name(self.path.name + JOURNAL_SUFFIX)
        self.written: set[int] = set()
        self.failed: dict[int, str] = {}
        self.rows = 0
        self.finalized = False
        self.recovered = 0
        self._handle: h5py.File | None = None
        self._journal: TextIO | None = None
        self._first_history: tuple[Any, ...] = ()
        #: Frames whose method was decided anew because their data drifted (sequence, last step).
        self._redecided: list[dict[str, Any]] = []
        self._recover()

    # -- resume ------------------------------------------------------------------------
    def _recover(self) -> None:
        if self.path.exists():
            sequence, _ = read_rows(self.path)
            self.written = set(int(s) for s in sequence)
            with h5py.File(self.path, "r") as handle:
                failed = handle.get("entry/failed")
                if failed is not None:
                    errors = failed["error"].asstr()[()]
                    self.failed = {int(s): str(e) for s, e in zip(failed["sequence"][()], errors, strict=True)}
            self.rows, self.finalized = len(self.written), True
            return
        for record in _journal_records(self.journal_path):
            if record.get("status") in ("failed", "skipped"):
                self.failed[record["seq"]] = str(record.get("error", ""))
        if self.partial.exists():
            try:
                sequence, self.rows = read_rows(self.partial)
            except OSError:  # killed before the file's first flush: nothing of it is usable
                self.partial.unlink()
                sequence, self.rows = np.zeros(0, dtype=np.int64), 0
            self.written = set(int(s) for s in sequence)
            self.recovered = self.rows
        for seq in self.written:
            self.failed.pop(seq, None)

    def done(self, seq: int) -> bool:
        """True when frame ``seq`` is already written or recorded as failed/skipped."""
        return seq in self.written or seq in self.failed

    # -- writing -------------------------------------------------------------------------
    def _reopen(self, shape: tuple[int, int]) -> h5py.File:
        """Open the partial file for appending: as it is after a clean close, else rebuilt from its committed rows."""
        try:
            handle = h5py.File(self.partial, "a", libver="latest")
        except OSError:
            handle = None  # still marked open by a killed writer: rebuild below
        if handle is not None:
            for name in ("data", "mask", "sequence", "method", "arrival_time", "written_time"):
                handle["entry/data"][name].resize(self.rows, axis=0)
            handle.swmr_mode = True
            return handle
        rebuilt = self.partial.with_name(self.partial.name + ".rebuild")
        with h5py.File(self.partial, "r", swmr=True, libver="latest") as old:
            handle = self._create(rebuilt, shape)
            for name in ("data", "mask", "sequence", "method", "arrival_time", "written_time"):
                target = handle["entry/data"][name]
                target.resize(self.rows, axis=0)
                for start in range(0, self.rows, 16):  # 16 frames at a time: bounded memory
                    stop = min(self.rows, start + 16)
                    target[start:stop] = old["entry/data"][name][start:stop]
        handle.flush()
        os.replace(rebuilt, self.partial)
        handle.swmr_mode = True
        return handle

    def _create(self, path: Path, shape: tuple[int, int]) -> h5py.File:
        ny, nx = shape
        handle = h5py.File(path, "w", libver="latest")
        handle.attrs.update({"default": "entry", "creator": f"asirp {__version__}", "file_name": self.path.name,
                             "file_time": now_iso(), "HDF5_Version": h5py.version.hdf5_version})  # fmt: skip
        entry = handle.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        entry.create_dataset("run_uid", data=self.run)
        entry.create_dataset("program_name", data="asirp").attrs["version"] = __version__
        entry.create_dataset("start_time", data=now_iso())
        meta = entry.create_group("run_metadata")
        meta.attrs["NX_class"] = "NXnote"
        meta.create_dataset("type", data="application/json")
        meta.create_dataset("data", data=json.dumps(self.metadata, default=str, sort_keys=True))
        if self._first_history:  # readable during the run (SWMR allows no new objects later): a live viewer shows the decision
            entry.create_dataset("first_history", data=json.dumps(_steps(self._first_history), default=str, sort_keys=True)).attrs[
                "description"
            ] = "history of the run's first frame (JSON list of steps), written when the file is created"
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": [".", "y", "x"]})
        frames = data.create_dataset("data", (0, ny, nx), np.float32, maxshape=(None, ny, nx), chunks=(1, ny, nx))
        frames.attrs["interpretation"] = "image"
        data.create_dataset("mask", (0, ny, nx), np.uint8, maxshape=(None, ny, nx), chunks=(1, ny, nx))
        data.create_dataset("sequence", (0,), np.int64, maxshape=(None,), chunks=(1024,), fillvalue=-1)
        data.create_dataset("method", (0,), _METHOD_DTYPE, maxshape=(None,), chunks=(1024,))
        for name in ("arrival_time", "written_time"):
            data.create_dataset(name, (0,), np.float64, maxshape=(None,), chunks=(1024,)).attrs["units"] = "s"
        return handle

    def _open_handle(self, shape: tuple[int, int]) -> h5py.File:
        if self._handle is None:
            if self.partial.exists() and self.rows:
                self._handle = self._reopen(shape)
            else:
                self._handle = self._create(self.partial, shape)
                self._handle.swmr_mode = True
        stored = tuple(self._handle["entry/data/data"].shape[1:])
        if stored != tuple(shape):
            raise OutputError(f"{self.partial}: frames of shape {stored} already written, got {tuple(shape)}")
        return self._handle

    def _log(self, record: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = open(self.journal_path, "a", encoding="utf-8")
        self._journal.write(json.dumps(record, default=str) + "\n")
        self._journal.flush()

    def write(self, result: Result) -> float:
        """Append a restored frame, or record a failed one; returns the time it was on disk (Unix s).

        A frame already done (see :meth:`done`) is not written again.
        """
        if self.done(result.seq):
            return time.time()
        if self.finalized:
            raise OutputError(f"{self.path}: run already finalized; frame {result.seq} arrived after its end")
        if result.frame is None or result.frame.is_stack:
            error = result.error or "the restored frame is a stack; one 2-D frame per item expected"
            self._log({"seq": result.seq, "status": "skipped" if result.meta.get("skipped") else "failed", "error": error})
            self.failed[result.seq] = error
            return time.time()
        frame = result.frame
        if not self._first_history:
            self._first_history = frame.history
        handle = self._open_handle(frame.image_shape)
        group = handle["entry/data"]
        row = self.rows
        group["data"].resize(row + 1, axis=0)
        group["data"][row] = frame.data
        group["mask"].resize(row + 1, axis=0)
        group["mask"][row] = ~frame.valid
        handle.flush()  # the frame is on disk before the row is declared written below
        written = time.time()
        method = frame.history[-1].method if frame.history else ""
        for name, value in (("method", method.encode()[:48]), ("arrival_time", result.arrived), ("written_time", written)):
            group[name].resize(row + 1, axis=0)
            group[name][row] = value
        group["sequence"].resize(row + 1, axis=0)
        group["sequence"][row] = result.seq
        handle.flush()
        if frame.history and frame.history is not self._first_history and "redecided" in frame.history[-1].notes:
            last = frame.history[-1]
            self._redecided.append({"sequence": result.seq, "method": last.method, "parameters": last.parameters,
                                    "notes": last.notes, "date": last.date})
        self.rows += 1
        self.written.add(result.seq)
        result.meta["nexus_row"] = row
        return written

    # -- end of run ------------------------------------------------------------------------
    def close(self, complete: bool) -> Path | None:
        """End the run: finalize (``complete``) into ``RUN.nxs``, or just close, keeping the partial file for a resume.

        Returns the final file's path when it was finalized (None if nothing was written).
        """
        if self._journal is not None:
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._journal.close()
            self._journal = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if not complete or self.finalized:
            return self.path if self.finalized else None
        if not self.partial.exists():
            if not self.failed:
                self.journal_path.unlink(missing_ok=True)
                return None
            h5py.File(self.partial, "w").close()
        with h5py.File(self.partial, "a") as handle:
            entry = handle.require_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            entry.create_dataset("end_time", data=now_iso())
            self._write_failures(entry)
            self._write_process(entry)
        _fsync(self.partial)
        os.replace(self.partial, self.path)
        if os.name == "posix":
            _fsync(self.folder)
        self.journal_path.unlink(missing_ok=True)
        self.finalized = True
        return self.path

    def _write_failures(self, entry: h5py.Group) -> None:
        group = entry.create_group("failed")
        group.attrs["NX_class"] = "NXcollection"
        ordered = sorted(self.failed.items())
        group.create_dataset("sequence", data=np.array([s for s, _ in ordered], dtype=np.int64))
        group.create_dataset("error", data=[e for _, e in ordered], dtype=h5py.string_dtype())

    def _write_process(self, entry: h5py.Group) -> None:
        history = self._first_history
        if not history and "data" in entry:  # resumed run: the history of this session's frames only
            return
        process = entry.create_group("process")
        process.attrs["NX_class"] = "NXprocess"
        process.create_dataset("program", data="asirp")
        process.create_dataset("version", data=__version__)
        process.create_dataset("date", data=now_iso())
        steps = _steps(history)
        if steps:
            process.create_dataset("method", data=steps[-1]["method"])
        process.create_dataset("history", data=json.dumps(steps, default=str, sort_keys=True)).attrs[
            "description"
        ] = "history of the run's first frame (JSON list of steps)"
        if self._redecided:
            process.create_dataset("redecided", data=json.dumps(self._redecided, default=str, sort_keys=True)).attrs[
                "description"
            ] = "frames whose method auto decided anew because their data drifted from the run's first (JSON list)"


class NexusSink:
    """One :class:`RunWriter` per run, in ``folder`` (created if missing).

    The sink the pipeline engine always uses: :meth:`done` tells the engine which
    frames a previous, interrupted session already wrote.
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create the output folder ({exc.strerror})") from None
        self.writers: dict[str, RunWriter] = {}
        self.finished: dict[str, Path | None] = {}

    def writer(self, run: str, metadata: dict[str, Any] | None = None) -> RunWriter:
        if run not in self.writers:
            self.writers[run] = RunWriter(self.folder, run, metadata)
        return self.writers[run]

    def open_run(self, run: str, metadata: dict[str, Any]) -> None:
        self.writer(run, metadata)

    def done(self, run: str, seq: int) -> bool:
        return self.writer(run).done(seq)

    def write(self, result: Result) -> float:
        writer = self.writer(result.run)
        written = writer.write(result)
        result.meta["nexus_file"] = str(writer.path)
        return written

    def close_run(self, run: str, complete: bool) -> Path | None:
        writer = self.writers.pop(run, None)
        if writer is None:
            return None
        path = writer.close(complete)
        self.finished[run] = path
        return path

    def close(self) -> None:
        for run in list(self.writers):
            self.close_run(run, complete=False)
