"""Restored frames appended to one NeXus file per run, crash-safe and resumable.

While a run is going, its frames grow one dataset in ``RUN.nxs.partial``, written in
HDF5 **SWMR** mode (single writer, multiple readers): a live viewer can read it with
``h5py.File(path, "r", swmr=True)``, and a consumer killed at any instant (SIGKILL
included) leaves a file whose flushed rows are intact. Each frame is appended in two
flushes: first its data and mask, then its sequence number, so a row counts as
written only once its sequence number is on disk. Frames that failed or were skipped
go to a JSON-lines journal beside it (``RUN.nxs.journal``) with their error.

When the run ends, the failure list (and the frames whose method was decided anew) is
added and the file is renamed to ``RUN.nxs`` in one atomic step: a reader sees no
final file or a complete one.

On restart with the same output folder and run, :meth:`RunWriter.open` reads what is
on disk: frames already written (or recorded as failed) are **done** and are not
processed again; a half-written last row is dropped. So every frame is written
exactly once. (A frame that was being restored when the consumer died is restored
again: its result had not been written.) This protects against a killed process; a
power cut can still lose what the operating system had not written to disk, which
is then simply processed again.

The file is asirp's NeXus layout (:mod:`asirp.io.nexus`) for a stack that grows, so
:func:`asirp.io.open` reads it as it reads an ``asirp restore`` output::

    /entry                NXentry  @default="data"
        program_name      "asirp" @version
        run_uid           the source run's uid
        start_time, end_time
        run_metadata      NXnote: the run's start metadata (JSON)
        data/             NXdata @signal="data" @axes=[".", "y", "x"], @asirp_kind, pixel size
            data          float32 (n, ny, nx), one chunk per frame, growing along frames
            mask          uint8   (n, ny, nx), 1 = masked pixel (pyFAI convention)
            y, x          pixel centres
            sequence      int64 (n,): the source's sequence number of each row
            method        the method that restored each row
            arrival_time, written_time   float64 (n,), Unix seconds @units="s"
            change_distance   float64 (n,): the change statistic d_t of each row ([analyse] change;
                          NaN for a run's first frame and when change detection is off);
                          @asirp_change: the settings (JSON: on, threshold, min_history, bins),
                          only when the pipeline detects changes
            change_confidence, change_z_score, change_baseline   float64 (n,): NaN, except at
                          the rows where a change was found (the ChangeEvent the feedback publishes)
        instrument/       NXinstrument/NXdetector: the first frame's geometry (when it has one)
        process_01_.../   NXprocess, one per step of the history of the run's first frame
                          (method, parameters, the selector's decision, budget), there from the
                          file's creation: a live viewer shows the decision while the run goes
        redecided         NXnote: frames whose method ``auto`` decided anew when their data
                          drifted, with their last step (JSON; only when there are any)
        failed/           NXcollection: sequence, error (frames that failed or were skipped)

Files written before this layout (a ``first_history`` or ``process/history`` JSON
dataset instead of the NXprocess groups) still read: their frames with
:func:`asirp.io.open`, their decision in the viewer.
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

from ...errors import OutputError
from ...frame import Frame
from ...history import now_iso
from ...io import nexus
from ..items import Result

PARTIAL_SUFFIX = ".partial"
JOURNAL_SUFFIX = ".journal"
_METHOD_CHARS = 48
#: The per-frame fields of the run file, in the order a row is written: ``sequence`` last, so that a
#: row counts as written (its sequence number is not the fill value -1) only once everything else is.
ROW_FIELDS = {
    "method": nexus.SeriesField(f"S{_METHOD_CHARS}"),
    "arrival_time": nexus.SeriesField(np.float64, "s"),
    "written_time": nexus.SeriesField(np.float64, "s"),
    "change_distance": nexus.SeriesField(np.float64, fill=np.nan),
    "change_confidence": nexus.SeriesField(np.float64, fill=np.nan),
    "change_z_score": nexus.SeriesField(np.float64, fill=np.nan),
    "change_baseline": nexus.SeriesField(np.float64, fill=np.nan),
    "sequence": nexus.SeriesField(np.int64, fill=-1),
}
_SERIES = ("data", "mask", *ROW_FIELDS)


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
        self._change_settings: dict[str, Any] | None = None
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
    def _reopen(self, frame: Frame) -> h5py.File:
        """Open the partial file for appending: as it is after a clean close, else rebuilt from its committed rows."""
        try:
            handle = h5py.File(self.partial, "a", libver="latest")
        except OSError:
            handle = None  # still marked open by a killed writer: rebuild below
        if handle is not None and any(name not in handle["entry/data"] for name in _SERIES):
            handle.close()  # written by an earlier version, without today's per-row fields: rebuilt below
            handle = None
        if handle is not None:
            for name in _SERIES:
                handle["entry/data"][name].resize(self.rows, axis=0)
            handle.swmr_mode = True
            return handle
        rebuilt = self.partial.with_name(self.partial.name + ".rebuild")
        with h5py.File(self.partial, "r", swmr=True, libver="latest") as old:
            handle = self._create(rebuilt, frame)
            for name in _SERIES:
                if name not in old["entry/data"]:  # a field the earlier version did not write: left at its fill value
                    handle["entry/data"][name].resize(self.rows, axis=0)
                    continue
                target = handle["entry/data"][name]
                target.resize(self.rows, axis=0)
                for start in range(0, self.rows, 16):  # 16 frames at a time: bounded memory
                    stop = min(self.rows, start + 16)
                    target[start:stop] = old["entry/data"][name][start:stop]
        handle.flush()
        os.replace(rebuilt, self.partial)
        handle.swmr_mode = True
        return handle

    def _create(self, path: Path, frame: Frame) -> h5py.File:
        """A new run file at ``path`` described by ``frame``, the first of this session: its NXdata, geometry and history."""
        handle = h5py.File(path, "w", libver="latest")
        nexus.write_file_header(handle, self.path.name, "entry")
        entry = nexus.create_entry(handle, "entry")
        entry.create_dataset("run_uid", data=self.run)
        entry.create_dataset("start_time", data=now_iso())
        nexus.write_note(entry, "run_metadata", json.dumps(self.metadata, default=str, sort_keys=True), "the run's start metadata")
        series = nexus.create_frame_series(entry, frame, ROW_FIELDS)
        if self._change_settings is not None:  # attributes too must exist before SWMR mode
            series["change_distance"].attrs["asirp_change"] = json.dumps(self._change_settings, sort_keys=True)
        if frame.geometry is not None:
            nexus.write_geometry(entry, frame.geometry)
        nexus.write_history(entry, frame.history)  # now: SWMR allows no new objects later
        return handle

    def _open_handle(self, frame: Frame) -> h5py.File:
        if self._handle is None:
            if self.partial.exists() and self.rows:
                self._handle = self._reopen(frame)
            else:
                self._handle = self._create(self.partial, frame)
                self._handle.swmr_mode = True
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
        if self._change_settings is None:
            self._change_settings = result.change_settings
        handle = self._open_handle(frame)
        group = handle["entry/data"]
        row = self.rows
        nexus.write_frame(group, row, frame)
        handle.flush()  # the frame is on disk before the row is declared written below
        written = time.time()
        method = frame.history[-1].method if frame.history else ""
        event = result.change_event
        values = {"method": method.encode()[:_METHOD_CHARS], "arrival_time": result.arrived, "written_time": written,
                  "change_distance": np.nan if result.change_distance is None else result.change_distance,
                  "change_confidence": np.nan if event is None else event.confidence,
                  "change_z_score": np.nan if event is None else event.z_score,
                  "change_baseline": np.nan if event is None else event.baseline, "sequence": result.seq}  # fmt: skip
        nexus.write_fields(group, row, values)
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
            with h5py.File(self.partial, "w") as handle:  # every frame failed: the failure list alone
                nexus.write_file_header(handle, self.path.name, "entry")
                nexus.create_entry(handle, "entry").create_dataset("run_uid", data=self.run)
        with h5py.File(self.partial, "a") as handle:
            entry = handle["entry"]
            entry.create_dataset("end_time", data=now_iso())
            self._write_failures(entry)
            if self._redecided:
                nexus.write_note(entry, "redecided", json.dumps(self._redecided, default=str, sort_keys=True),
                                 "frames whose method auto decided anew because their data drifted from the run's first")
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
