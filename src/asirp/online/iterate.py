"""An in-process source for notebooks, tests and benchmarks: frames or arrays from an iterable.

>>> from asirp.online import iterate
>>> summary = pipeline.run(iterate(frames, run="series-1"))   # doctest: +SKIP

With ``rate_hz`` the items are released at that rate (a simulated acquisition): the
arrival time of each item is when it was released, so latencies are measured as for
a detector.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..frame import Frame
from ..pipeline.items import Item, RunStart, RunStop


def iterate(
    frames: Iterable[Frame | np.ndarray],
    *,
    run: str = "run",
    rate_hz: float | None = None,
    metadata: dict[str, Any] | None = None,
    first_seq: int = 1,
) -> Iterator[Item | RunStart | RunStop]:
    """One run whose items are ``frames`` (numbered from ``first_seq``), optionally paced at ``rate_hz``."""
    yield RunStart(run, dict(metadata or {}))
    period = None if not rate_hz else 1.0 / float(rate_hz)
    start = time.perf_counter()
    for index, frame in enumerate(frames):
        if period is not None:
            delay = start + index * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield Item(run, first_seq + index, frame, time.time())
    yield RunStop(run)
