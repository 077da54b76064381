"""Progress bars for long work, silenced by ``--quiet``, ``ASIRP_PROGRESS=0`` or code.

A thin layer over tqdm so that every long loop in asirp (stacks, iterations,
training, benchmark cases) shows progress the same way and one switch silences all
of them. A bar appears only once its loop has run for :data:`DELAY_S` seconds: work
longer than that shows progress, quick steps (and the many short runs inside a
selection or a PSF fit) print nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar on stderr, shown after :data:`DELAY_S` (a no-op wrapper when silenced).

    Leaving the loop early (``break``) closes the bar.
    """
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not _enabled, leave=False, dynamic_ncols=True,
                delay=DELAY_S)
