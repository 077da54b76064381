"""PNG snapshots of the latest restored frame, for a beamline screen or a web page.

Drawing a 1024 x 1024 picture takes about a tenth of a second, so snapshots are
taken at most every ``every_s`` seconds (the most recent frame at that moment), and
written atomically (a viewer never reads half a PNG) to ``latest_<run>.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..items import Result


class SnapshotSink:
    """Write ``latest_<run>.png`` in ``folder`` at most every ``every_s`` seconds."""

    def __init__(self, folder: str | os.PathLike[str], every_s: float = 5.0):
        self.folder = Path(folder)
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self.written: list[Path] = []

    def open_run(self, run: str, metadata: dict[str, Any]) -> None:
        self._last[run] = -float("inf")

    def write(self, result: Result) -> None:
        now = time.monotonic()
        if result.frame is None or now - self._last.get(result.run, -float("inf")) < self.every_s:
            return
        from ...io import save
        from .run_file import run_file_name

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"latest_{run_file_name(result.run)[:-4]}.png"
        save(result.frame, path, force=True)
        self._last[result.run] = now
        if path not in self.written:
            self.written.append(path)

    def close_run(self, run: str, complete: bool) -> None:
        self._last.pop(run, None)

    def close(self) -> None:
        pass
