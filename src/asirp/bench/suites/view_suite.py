"""The ``view`` suite: the live viewer (``asirp view --follow``) on 1 Mpx frames, and what it costs the pipeline.

A pipeline (gaussian, σ = 1 px; one worker thread; every frame written to its SWMR
NeXus run file) restores a series of 1024 x 1024 float32 frames, in two cases: the
frames arrive as from a detector at 10 Hz (as in the ``online`` suite), and all at once
(the pipeline's own limit). Each case runs three times in this process:

* **alone** (the named baseline), before and after: nothing else reads its output;
* **with the viewer**: ``asirp view --follow OUTPUT --max-fps F`` in its own process,
  as a user runs it, with the live page open in headless Chromium (Playwright) when
  both are installed (else the viewer process alone, and no page rate); F = 7 (the
  default) and 3; and F = 7 with no page open (the viewer process's own cost).

Figures: the pipeline's sustained throughput (frames written per second) and latency
(arrival to restored frame on disk, p50 and p95) in each run, with the throughput's
ratio to the mean of the two runs alone (``ratio_vs_alone``: 1 means the viewer costs
the pipeline nothing); the page's rate (``page_fps``: frames the browser received per
second while the pipeline ran, from the times the page itself logs in the browser, read
once at the end so that measuring costs nothing meanwhile), how many it received, and
``catch_up_s``: after the pipeline's last frame, how long until the page had it. The
follower prepares a frame at most F times a second and the page looks for one every
0.05 s; frames in between are skipped, never queued.
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
#: Frame rate of the simulated detector in the paced case (Hz), as in the ``online`` suite.
RATE_HZ = 10.0
#: The runs with the viewer: its --max-fps (the default, and a lower one that leaves the pipeline more CPU) and whether
#: its page is open (without a page, what the viewer process itself costs).
VIEWERS = ((7.0, True), (3.0, True), (7.0, False))
#: Seconds the page is given after the pipeline's last frame to show it.
CATCH_UP_S = 3.0
PIPELINE = {"read": {"kind": "image"}, "restore": {"method": "gaussian", "params": {"sigma": 1.0}},
            "execution": {"backend": "thread", "workers": 1}}  # fmt: skip


def _frames(rng: np.random.Generator, distinct: int = 6) -> list[np.ndarray]:
    """A few distinct 1 Mpx frames of Poisson counts over rings (cycled through the series)."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    radius = np.hypot(yy - SIDE / 2, xx - SIDE / 2)
    rate = 5 + 50 * np.exp(-((radius % 120 - 60) ** 2) / 30.0)
    return [rng.poisson(rate).astype(np.float32) for _ in range(distinct)]


def _run_pipeline(frames: list[np.ndarray], n: int, output: Path, run: str, rate_hz: float | None) -> Any:
    """Restore and write ``n`` frames into ``output``, arriving at ``rate_hz`` (None: all at once); the run's summary."""
    from ...pipeline import Item, Pipeline, RunStart, RunStop

    def acquire() -> Iterator[Any]:
        yield RunStart(run)
        for k in range(1, n + 1):
            if rate_hz is not None:
                time.sleep(1.0 / rate_hz)
            yield Item(run, k, frames[k % len(frames)])
        yield RunStop(run)

    summary = Pipeline.from_dict(PIPELINE).run(acquire(), output=output)
    if summary.written != n:
        raise RuntimeError(f"the pipeline wrote {summary.written} of {n} frames")
    return summary


class _Viewer:
    """``asirp view --follow`` in its own process, and its page in headless Chromium when there is one."""

    def __init__(self, folder: Path, max_fps: float, page: bool):
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "asirp.cli", "view", "--follow", str(folder), "--no-browser", "--port", "0", "--max-fps", str(max_fps)]
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
        self._page = page
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._ready.wait(60)

    def _watch(self) -> None:
        chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            chromium = None
        if chromium is None or not self._page:
            self.browser_note = "no page open" if not self._page else "no Chromium/Playwright: viewer process only, page rate not measured"
            self._ready.set()
            return
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(self.url)
            page.get_by_text("no run yet").wait_for(timeout=60_000)
            self._ready.set()
            self._stop.wait()
            # The page logs each frame it receives (window.asirpFrames: ms since it loaded, the panel's title); its clock
            # is tied to this one at one instant (a round trip of a millisecond or so).
            logged, page_now = page.evaluate("[window.asirpFrames ?? [], performance.now()]")
            offset = time.perf_counter() - page_now / 1000.0
            for when, title in logged:
                found = re.search(r"frame (\d+)", title)
                if found:
                    self.shown.append((offset + when / 1000.0, int(found.group(1))))
            browser.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.process.terminate()
        self.process.wait(30)


def _case(frames: list[np.ndarray], n: int, root: Path, name: str, rate_hz: float | None, viewer_options: tuple[float, bool] | None) -> Row:
    """One pipeline run, alone (``viewer_options`` None) or followed by the viewer (``--max-fps``, page open or not): its figures."""
    viewer = _Viewer(root / name, *viewer_options) if viewer_options is not None else None
    try:
        started = time.perf_counter()
        summary = _run_pipeline(frames, n, root / name, name, rate_hz)
        finished = time.perf_counter()
        if viewer is not None:
            time.sleep(CATCH_UP_S)
    finally:
        if viewer is not None:
            viewer.close()
    row: Row = {"pipeline_fps": summary.throughput, "latency_p50_s": summary.latency(0.5), "latency_p95_s": summary.latency(0.95)}
    if viewer is not None and viewer.browser_note:
        row["note"] = viewer.browser_note
    elif viewer is not None:
        during = [t for t, _ in viewer.shown if started <= t <= finished]
        last = next((t for t, frame in viewer.shown if frame == n), None)
        row.update({"page_fps": len(during) / (finished - started), "frames_shown": len(viewer.shown),
                    "catch_up_s": (last - finished) if last is not None else None})  # fmt: skip
    return row


@register_suite("view", description="live viewer: frames/s shown in Chromium on 1 Mpx frames; pipeline throughput with/without it")
def view_suite(ctx: BenchContext) -> Iterator[Row]:
    n = 40 if ctx.quick else 120
    frames = _frames(ctx.rng())
    with tempfile.TemporaryDirectory(prefix="asirp-bench-view-") as tmp:
        root = Path(tmp)
        for rate_hz in (RATE_HZ, None):
            acquisition = f"detector at {rate_hz:g} Hz" if rate_hz else "all frames at once (the pipeline's own limit)"
            case = f"{n} frames {SIDE} x {SIDE} float32, {acquisition}"
            label = f"{rate_hz:g}hz" if rate_hz else "unpaced"
            alone = [_case(frames, n, root, f"alone-{label}-1", rate_hz, None)]
            viewed = [(fps, page, _case(frames, n, root, f"viewed-{label}-{fps:g}-{page}", rate_hz, (fps, page))) for fps, page in VIEWERS]
            alone.append(_case(frames, n, root, f"alone-{label}-2", rate_hz, None))
            baseline = float(np.mean([row["pipeline_fps"] for row in alone]))
            runs = [("alone (1)", alone[0]),
                    *((f"with asirp view --follow --max-fps {fps:g}" + (" + page in Chromium" if page else ", no page open"), row)
                      for fps, page, row in viewed),
                    ("alone (2)", alone[1])]
            for run, row in runs:
                yield {"case": case, "run": run, "baseline": "alone", **row, "ratio_vs_alone": row["pipeline_fps"] / baseline}
