"""Progress bars for long work, silenced by ``--quiet``, ``ASIRP_PROGRESS=0`` or code.

A thin layer over tqdm so that every long loop in asirp (stacks, training, benchmark
cases) shows progress the same way and one switch silences all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
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
    """Wrap ``iterable`` in a progress bar on stderr (a no-op wrapper when silenced)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not _enabled, leave=False, dynamic_ncols=True)
