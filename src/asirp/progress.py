"""Progress bars for long work, silenced by ``--quiet``, ``ASIRP_PROGRESS=0`` or code; and watching that work from code.

A thin layer over tqdm so that every long loop in asirp (stacks, iterations,
training, benchmark cases) shows progress the same way and one switch silences all
of them. A bar appears only once its loop has run for :data:`DELAY_S` seconds: work
longer than that shows progress, quick steps (and the many short runs inside a
selection or a PSF fit) print nothing.

The same loops can be watched and stopped by a caller (the viewer's status line and
its Cancel button): an :class:`Observation` entered in a thread (``with
Observation(...) as watched:``, or :func:`observed`) sees every :func:`progress`
loop that thread runs, nested ones included (:attr:`Observation.loops`, an optional
callback per step), and :meth:`Observation.cancel` (from any thread) makes the next
iteration of any of them raise :class:`Cancelled`. Observations are per thread: a
loop run by another thread (another page's restoration, a pipeline worker) neither
reports to it nor is cancelled by it. Without one, :func:`progress` is the tqdm bar
it always was (one thread-local look-up per loop, nothing per iteration).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
#: Seconds a loop runs before its bar is shown.
DELAY_S = 2.0
_enabled = os.environ.get("ASIRP_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


def set_progress(enabled: bool) -> None:
    """Show (True) or hide (False) progress bars for the rest of the process."""
    global _enabled
    _enabled = bool(enabled)


def progress_enabled() -> bool:
    return _enabled


@contextmanager
def quiet() -> Iterator[None]:
    """Hide progress bars inside a ``with`` block."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


class Cancelled(BaseException):
    """Work stopped because its :class:`Observation` was cancelled; what it was making is incomplete and must be dropped.

    A :class:`BaseException` (as :class:`KeyboardInterrupt` and
    :class:`asyncio.CancelledError`), so that code which catches :class:`Exception` to
    carry on past a failure (a candidate method skipped, a cache entry retrained) lets
    it through to whoever asked for the cancellation.
    """


@dataclass(frozen=True)
class Step:
    """Where one loop is: ``done`` of ``total`` (None: unknown) steps of ``unit``, under its bar's ``desc``."""

    desc: str
    done: int
    total: int | None
    unit: str = "it"

    def __str__(self) -> str:
        """``Richardson-Lucy (at most 200): 37/200 iterations``; ``corpus: 3 groups`` without a total."""
        count = str(self.done) if self.total is None else f"{self.done}/{self.total}"
        unit = "" if self.unit == "it" else " " + _plural(self.unit, self.total if self.total is not None else self.done)
        return f"{self.desc}: {count}{unit}"


def _plural(unit: str, count: int) -> str:
    if count == 1:
        return unit
    return unit + ("es" if unit.endswith(("s", "sh", "ch", "x")) else "s")


class _Loop:
    """One running loop of an observation (mutated by its thread, read by others: single attribute stores)."""

    __slots__ = ("desc", "done", "total", "unit")

    def __init__(self, desc: str, total: int | None, unit: str) -> None:
        self.desc, self.done, self.total, self.unit = desc, 0, total, unit

    def step(self) -> Step:
        return Step(self.desc, self.done, self.total, self.unit)


_local = threading.local()  # .stack: the observations entered in this thread, innermost last


class Observation:
    """What the :func:`progress` loops of one thread report, and the switch that cancels them.

    Enter it (``with observation:``) in the thread that does the work; every
    :func:`progress` loop started there until the block ends reports to it, and
    raises :class:`Cancelled` at the start of its next iteration once :meth:`cancel`
    was called (from any thread; or once ``cancel``, an event shared with other code,
    is set). ``callback(step)`` is called in the working thread when a loop starts
    and after each of its iterations: keep it short (the loop waits for it).
    ``bars=False`` keeps the terminal's tqdm bars off for these loops (a server whose
    progress is shown elsewhere); with True they follow :func:`set_progress` as ever.

    Enter an observation in one thread at a time. Nested ``with`` blocks of different
    observations in one thread: the innermost one sees the loops started inside it.
    """

    def __init__(self, callback: Callable[[Step], None] | None = None, *, cancel: threading.Event | None = None,
                 bars: bool = True) -> None:
        self.callback = callback
        self.bars = bars
        self._cancel = cancel if cancel is not None else threading.Event()
        self._loops: list[_Loop] = []
        #: The loops running when :class:`Cancelled` was raised, outermost first (None: not raised).
        self.stopped: tuple[Step, ...] | None = None

    # -- cancelling --------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the observed work to stop at the next iteration of any of its loops (thread-safe)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (or the shared event set)."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancelled: for work between loops, or code with no loop of its own."""
        if self._cancel.is_set():
            self.stopped = self.loops
            raise Cancelled

    # -- watching ----------------------------------------------------------------------
    @property
    def loops(self) -> tuple[Step, ...]:
        """The loops running now, outermost first (a snapshot, safe to read from another thread)."""
        return tuple(loop.step() for loop in list(self._loops))

    def describe(self, separator: str = " · ") -> str:
        """The running loops in one line (``images: 2/5 images · Richardson-Lucy (at most 200): 37/200 iterations``; "" for none)."""
        return separator.join(str(step) for step in self.loops)

    # -- entering ------------------------------------------------------------------------
    def __enter__(self) -> Observation:
        stack: list[Observation] | None = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None) -> None:
        stack: list[Observation] = _local.stack
        stack.remove(self)  # normally the last one; a misnested exit must not pop another's

    # -- what progress() does ----------------------------------------------------------------
    def _watch(self, bar: Any, desc: str, total: int | None, unit: str) -> Iterator[Any]:
        loop = _Loop(desc, total, unit)
        self._loops.append(loop)
        callback, cancel = self.callback, self._cancel
        try:
            if callback is not None:
                callback(loop.step())
            for item in bar:
                if cancel.is_set():
                    self.stopped = self.loops
                    raise Cancelled
                yield item
                loop.done += 1
                if callback is not None:
                    callback(loop.step())
        finally:
            self._loops.remove(loop)
            bar.close()


def observing() -> Observation | None:
    """The observation entered in this thread (the innermost), or None."""
    stack: list[Observation] | None = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def observed(callback: Callable[[Step], None] | None = None, *, cancel: threading.Event | None = None,
             bars: bool = True) -> Observation:
    """A new :class:`Observation`, to enter: ``with observed(report) as watched: work()``."""
    return Observation(callback, cancel=cancel, bars=bars)


class _Observed(Generic[T]):
    """A progress bar whose iterations report to an observation; tqdm's other methods (``set_postfix``) pass through."""

    def __init__(self, bar: Any, observation: Observation, desc: str, unit: str) -> None:
        self._bar, self._observation, self._desc, self._unit = bar, observation, desc, unit

    def __iter__(self) -> Iterator[T]:
        return self._observation._watch(self._bar, self._desc, self._bar.total, self._unit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar on stderr, shown after :data:`DELAY_S` (a no-op wrapper when silenced).

    Leaving the loop early (``break``) closes the bar. In a thread that entered an
    :class:`Observation`, the loop also reports its steps to it and raises
    :class:`Cancelled` at its next iteration once the observation is cancelled.
    """
    observation = observing()
    show = _enabled and (observation is None or observation.bars)
    bar = tqdm(iterable, desc=desc, total=total, unit=unit, disable=not show, leave=False, dynamic_ncols=True, delay=DELAY_S)
    if observation is None:
        return bar
    return _Observed(bar, observation, desc, unit)
