"""Sources for files as detectors write them: new files in a folder, and growing SWMR datasets.

Both poll (every ``poll_s`` seconds), which works on every file system, network
mounts included, where change notifications often do not.

* :class:`FolderWatcher`: a file is taken once its size and modification time have
  not changed between two polls (the detector has finished writing it). Files are
  numbered in name order, as the offline ``asirp run`` over the same folder numbers
  them, so a watch and a later offline run resume each other; detectors write
  zero-padded counters, which sort in acquisition order. A file whose name sorts
  before one already taken is reported and left out (its number would be ambiguous).
* :class:`SWMRWatcher`: a 3-D dataset that a detector appends to in HDF5 SWMR mode;
  every new image along the first axis becomes an item.

A watch is one run named after the folder or file. It ends when :meth:`close` is
called (or a signal stops the pipeline), after ``idle_timeout_s`` without new data,
or once ``expected`` frames were seen; only the last two finalize the run file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..pipeline.items import FileRef, Item, RunStart, RunStop

if TYPE_CHECKING:
    import h5py

log = logging.getLogger("asirp.online")


class _Watcher:
    def __init__(self, run: str, *, poll_s: float, idle_timeout_s: float | None, expected: int | None):
        self.run = run
        self.poll_s = poll_s
        self.idle_timeout_s = idle_timeout_s
        self.expected = expected
        self.seen = 0
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop watching; the run is left resumable."""
        self._stop.set()

    def _poll(self) -> list[Item]:
        raise NotImplementedError

    def _finish(self) -> None:
        """Release what the watch holds open (nothing by default)."""

    def __iter__(self) -> Iterator[Item | RunStart | RunStop]:
        yield RunStart(self.run, {"watch": self.run})
        last_new = time.monotonic()
        complete = False
        while not self._stop.is_set():
            items = self._poll()
            yield from items
            if items:
                last_new = time.monotonic()
            if self.expected is not None and self.seen >= self.expected:
                complete = True
                break
            if self.idle_timeout_s is not None and time.monotonic() - last_new > self.idle_timeout_s:
                complete = True
                break
            self._stop.wait(self.poll_s)
        self._finish()
        yield RunStop(self.run, complete=complete, reason="" if complete else "watch stopped")


class FolderWatcher(_Watcher):
    """New files of ``folder`` matching ``pattern`` (see the module docstring)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        pattern: str = "*",
        *,
        poll_s: float = 0.5,
        idle_timeout_s: float | None = None,
        expected: int | None = None,
    ):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError("no such folder to watch", self.folder)
        super().__init__(self.folder.name, poll_s=poll_s, idle_timeout_s=idle_timeout_s, expected=expected)
        self.pattern = pattern
        self._sizes: dict[str, tuple[int, float]] = {}
        self._taken: list[str] = []
        self._taken_set: set[str] = set()

    def _poll(self) -> list[Item]:
        found = []
        for path in sorted(self.folder.glob(self.pattern)):
            if path.name.startswith(".") or path.name in self._taken_set or not path.is_file():
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime)
            stable = self._sizes.get(path.name) == signature and stat.st_size > 0
            self._sizes[path.name] = signature
            if not stable:
                break  # later names wait for this one: numbering follows name order
            if self._taken and path.name < self._taken[-1]:
                log.warning("%s: %s sorts before files already taken; left out", self.folder, path.name)
                self._taken_set.add(path.name)
                continue
            self._taken.append(path.name)
            self._taken_set.add(path.name)
            self._sizes.pop(path.name, None)
            self.seen += 1
            found.append(Item(self.run, self.seen, FileRef(str(path)), meta={"file": path.name}))
        return found


class SWMRWatcher(_Watcher):
    """New images of a 3-D HDF5 dataset written in SWMR mode (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        dataset: str,
        *,
        poll_s: float = 0.2,
        idle_timeout_s: float | None = None,
        expected: int | None = None,
    ):
        self.path = Path(path)
        self.dataset = dataset
        super().__init__(self.path.stem, poll_s=poll_s, idle_timeout_s=idle_timeout_s, expected=expected)
        self._handle: h5py.File | None = None

    def _poll(self) -> list[Item]:
        import h5py

        if self._handle is None:
            if not self.path.exists():
                return []
            try:
                self._handle = h5py.File(self.path, "r", swmr=True, libver="latest")
            except OSError:  # not yet a complete HDF5 file, or not yet in SWMR mode
                return []
        if self.dataset not in self._handle:
            raise InputError(f"no dataset {self.dataset} in the watched file", self.path)
        data = self._handle[self.dataset]
        data.refresh()
        if data.ndim != 3:
            raise InputError(f"dataset {self.dataset} of shape {data.shape} is not a growing 3-D stack", self.path)
        items = []
        while self.seen < data.shape[0]:
            self.seen += 1
            ref = FileRef(str(self.path), self.dataset, self.seen - 1, swmr=True)
            items.append(Item(self.run, self.seen, ref, meta={"index": self.seen - 1}))
        return items

    def _finish(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
