"""The queue between an acquisition and the pipeline: bounded in memory, never blocking, never silent.

A Bluesky callback runs in the RunEngine's thread, so it must return at once whatever
the pipeline is doing. :class:`SpillQueue` holds at most ``maxsize`` items in memory;
when that is full, :meth:`SpillQueue.put` still returns at once and, by policy:

* ``"spill"`` (default): the item is pickled to a file in a spill folder, and read back
  in order when the pipeline catches up. Nothing is lost and memory stays bounded;
  the cost to the producer is one write to the page cache (a few ms for a 4 MiB frame);
* ``"skip"``: the item is replaced by a :class:`~asirp.pipeline.items.Skipped` record
  saying why ("queue full"), which the pipeline writes to the run's journal and
  failure list: the frame is not restored, and the output says so.

Order is kept: once anything is spilled, later items are spilled too until the
spill is drained. Run markers and skip records are tiny and always accepted.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ..errors import ParameterError
from . import steps as _steps  # noqa: F401  (registers Frame pickling for spilled frames)
from .items import Item, Skipped

Policy = Literal["spill", "skip"]
_CLOSED = object()


class SpillQueue:
    """A FIFO that never blocks its producer (see the module docstring).

    Parameters
    ----------
    maxsize:
        Items held in memory at most.
    policy:
        ``"spill"`` or ``"skip"`` when memory is full.
    spill_dir:
        Folder for spilled items (default: a new temporary folder, removed by :meth:`cleanup`).
    """

    def __init__(self, maxsize: int = 16, policy: Policy = "spill", spill_dir: str | os.PathLike[str] | None = None):
        if maxsize < 1:
            raise ParameterError(f"queue size must be at least 1, got {maxsize}")
        if policy not in ("spill", "skip"):
            raise ParameterError(f"unknown overflow policy {policy!r}; expected 'spill' or 'skip'")
        self.maxsize = maxsize
        self.policy = policy
        self._own_dir = spill_dir is None
        self._dir = Path(spill_dir) if spill_dir is not None else None
        self._memory: deque[Any] = deque()
        self._spilled: deque[Path] = deque()
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self.spilled_total = 0
        self.skipped_total = 0
        self.max_depth = 0
        self.max_in_memory = 0

    @property
    def spill_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="asirp-spill-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        return self._dir

    def depth(self) -> int:
        """Items waiting (in memory and spilled)."""
        return len(self._memory) + len(self._spilled)

    def put(self, obj: Any) -> None:
        """Enqueue ``obj`` without ever blocking (spilling or recording a skip when full)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("queue is closed")
            full = len(self._memory) >= self.maxsize or bool(self._spilled)
            if full and isinstance(obj, Item):
                if self.policy == "spill":
                    self._spill(obj)
                else:
                    self.skipped_total += 1
                    reason = f"queue full ({self.maxsize} frames waiting): the pipeline is slower than the acquisition"
                    self._memory.append(Skipped(obj.run, obj.seq, reason, obj.arrived))
            elif full and self._spilled:
                self._spill(obj)  # a marker behind spilled items keeps its place
            else:
                self._memory.append(obj)
            self.max_depth = max(self.max_depth, self.depth())
            self.max_in_memory = max(self.max_in_memory, sum(isinstance(o, Item) for o in self._memory))
            self._cond.notify()

    def _spill(self, obj: Any) -> None:
        path = self.spill_dir / f"{next(self._counter):012d}.pkl"
        with open(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled.append(path)
        self.spilled_total += 1

    def get(self, timeout: float | None = None) -> Any:
        """The next item (raises :class:`queue.Empty` after ``timeout`` s); the close marker ends iteration."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._memory or self._spilled or self._closed, timeout):
                raise queue.Empty
            if self._memory:
                return self._memory.popleft()
            if self._spilled:
                path = self._spilled.popleft()
            else:
                return _CLOSED
        with open(path, "rb") as handle:
            obj = pickle.load(handle)
        path.unlink(missing_ok=True)
        return obj

    def close(self) -> None:
        """No more items: iteration ends once the queue is drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Any]:
        while True:
            obj = self.get()
            if obj is _CLOSED:
                return
            yield obj

    def cleanup(self) -> None:
        """Remove the spill folder if this queue created it."""
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
