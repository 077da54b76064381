"""The ``view`` suite: the live viewer (``asirp view --follow``) on 1 Mpx frames, and what it costs the pipeline.

A pipeline (gaussian, σ = 1 px; one worker thread; every frame written to its SWMR
NeXus run file) restores a series of 1024 x 1024 float32 frames as fast as it can.
It runs three times in this process:

* **alone** (the named baseline), before and after the others: nothing else reads its output;
* **with the viewer**: ``asirp view --follow OUTPUT`` in its own process, as a user
  runs it, with the live page open in headless Chromium (Playwright), when both are
  installed (else the viewer process alone, and no page rate).

Figures: the pipeline's throughput (frames written per second) in each run and its
ratio to the mean of the two runs alone (``ratio_vs_alone``: 1 means the viewer costs
the pipeline nothing); the page's rate (``page_fps``: distinct frames the browser
displayed per second while the pipeline ran, read from the page's frame line every
50 ms), how many it showed, and ``catch_up_s``: after the pipeline's last frame, how long
until the page showed it. The page looks for a new frame every 0.1 s, so 10 frames/s
is its ceiling; it skips the frames in between (it never queues them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..harness import BenchContext, Row, register_suite

#: Frame side (pixels): 1024 x 1024 = 1 Mpx.
SIDE = 1024
PIPELINE = {"read": {"kind": "image"}, "restore": {"method": "gaussian", "params": {"sigma": 1.0}},
            "execution": {"backend": "thread", "workers": 1}}  # fmt: skip


def _frames(rng: np.random.Generator, distinct: int = 6) -> list[np.ndarray]:
    """A few distinct 1 Mpx frames of Poisson counts over rings (cycled through the series)."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    radius = np.hypot(yy - SIDE / 2, xx - SIDE / 2)
    rate = 5 + 50 * np.exp(-((radius % 120 - 60) ** 2) / 30.0)
    return [rng.poisson(rate).astype(np.float32) for _ in range(distinct)]


def _run_pipeline(frames: list[np.ndarray], n: int, output: Path, run: str) -> float:
    """Seconds the pipeline takes to restore and write ``n`` frames into ``output``."""
    from ...pipeline import Item, Pipeline, RunStart, RunStop

    items = [RunStart(run), *(Item(run, k, frames[k % len(frames)]) for k in range(1, n + 1)), RunStop(run)]
    started = time.perf_counter()
    summary = Pipeline.from_dict(PIPELINE).run(items, output=output)
    seconds = time.perf_counter() - started
    if summary.written != n:
        raise RuntimeError(f"the pipeline wrote {summary.written} of {n} frames")
    return seconds


class _Viewer:
    """``asirp view --follow`` in its own process, and optionally its page in headless Chromium, watched every 50 ms."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "asirp.cli", "view", "--follow", str(folder), "--no-browser", "--port", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.url = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"(http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        if not self.url:
            raise RuntimeError("asirp view --follow did not print its URL")
        self.shown: list[tuple[float, int]] = []  # (time.perf_counter(), frame) each time the page showed a new frame
        self.browser_note = ""
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._ready.wait(60)

    def _watch(self) -> None:
        chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            chromium = None
        if chromium is None:
            self.browser_note = "no Chromium/Playwright: viewer process only, page rate not measured"
            self._ready.set()
            return
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(self.url)
            line = page.get_by_text(re.compile(r"frame \\d+ of run"))
            page.get_by_text("no run yet").wait_for(timeout=60_000)
            self._ready.set()
            last = -1
            while not self._stop.is_set():
                found = re.search(r"frame (\d+) of run", line.inner_text()) if line.count() else None
                if found and int(found.group(1)) != last:
                    last = int(found.group(1))
                    self.shown.append((time.perf_counter(), last))
                time.sleep(0.05)
            browser.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.process.terminate()
        self.process.wait(30)


@register_suite("view", description="live viewer: frames/s shown in Chromium on 1 Mpx frames; pipeline throughput with/without it")
def view_suite(ctx: BenchContext) -> Iterator[Row]:
    n = 40 if ctx.quick else 120
    frames = _frames(ctx.rng())
    with tempfile.TemporaryDirectory(prefix="asirp-bench-view-") as tmp:
        root = Path(tmp)
        alone = [_run_pipeline(frames, n, root / "alone-1", "alone-1")]
        viewer = _Viewer(root / "viewed")
        try:
            started = time.perf_counter()
            viewed = _run_pipeline(frames, n, root / "viewed", "viewed")
            finished = time.perf_counter()
            deadline = finished + 10
            while not any(frame == n for _, frame in viewer.shown) and time.perf_counter() < deadline and not viewer.browser_note:
                time.sleep(0.05)
        finally:
            viewer.close()
        alone.append(_run_pipeline(frames, n, root / "alone-2", "alone-2"))
    baseline = float(np.mean(alone))
    case = f"{n} frames {SIDE} x {SIDE} float32, gaussian σ=1, 1 worker thread"
    for index, seconds in enumerate(alone, 1):
        yield {"case": case, "run": f"alone ({index})", "baseline": "alone", "pipeline_fps": n / seconds, "ratio_vs_alone": baseline / seconds}
    during = [(t, frame) for t, frame in viewer.shown if started <= t <= finished]
    last = next((t for t, frame in viewer.shown if frame == n), None)
    row: dict[str, Any] = {"case": case, "run": "with asirp view --follow" + ("" if viewer.browser_note else " + page in Chromium"),
                           "baseline": "alone", "pipeline_fps": n / viewed, "ratio_vs_alone": baseline / viewed}  # fmt: skip
    if viewer.browser_note:
        row["note"] = viewer.browser_note
    else:
        row.update({"page_fps": len(during) / (finished - started), "frames_shown": len(viewer.shown),
                    "catch_up_s": (last - finished) if last is not None else None})  # fmt: skip
    yield row
