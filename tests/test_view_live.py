"""``asirp view --follow``: the live mode, against real pipelines writing real HDF5 run files.

The follower is tested on a folder watched by the pipeline (raw TIFFs in, SWMR NeXus
out) at every frame as it is written; the page in a real browser (Debian's Chromium
through Playwright, as in tests/test_view.py) follows that pipeline, then a RunEngine
with ophyd.sim devices feeding a :class:`~asirp.online.BlueskyConsumer`, where an ROI
accepted in the page arrives as a feedback document at a RunEngine-side subscriber and
a grid scan over it runs. Screenshots go to ``$ASIRP_VIEW_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from test_view import CHROMIUM, _drawn, _until

import asirp
from asirp.cli import main
from asirp.errors import InputError
from asirp.online.watch import FolderWatcher
from asirp.pipeline import Pipeline
from asirp.pipeline.config import RoiConfig, parse_config
from asirp.view.live import LiveFollower, RawSource, RoiFeedback, decision_lines, edited_roi, run_history_json

ROI = {"threshold": 0.5, "motors": ["sample_y", "sample_x"], "origin": [1.0, -2.0], "step": [0.01, 0.02]}
PIPELINE = {
    "read": {"kind": "xrf_map", "pattern": "*.tif"},
    "restore": {"method": "gaussian", "params": {"sigma": 1.0}},
    "analyse": {"change": {"on": "frame", "threshold": 6.0}, "roi": ROI},
    "execution": {"backend": "thread", "workers": 1},
}


TOML = """
[read]
kind = "xrf_map"
pattern = "*.tif"
[restore]
method = "gaussian"
params = { sigma = 1.0 }
[analyse]
change = { on = "frame", threshold = 6.0 }
roi = { threshold = 0.5, motors = ["sample_y", "sample_x"], origin = [1.0, -2.0], step = [0.01, 0.02] }
[execution]
backend = "thread"
workers = 1
"""


def _map(k: int, shape=(96, 96), change_at: int = 7) -> np.ndarray:
    """Frame ``k`` (1-based) of a series: two bright inclusions on a background, the second moving away at ``change_at``."""
    rng = np.random.default_rng(k)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    second = (70, 30) if k < change_at else (25, 70)
    rate = 5 + 60 * np.exp(-((yy - 30) ** 2 + (xx - 40) ** 2) / 60.0) + 40 * np.exp(-((yy - second[0]) ** 2 + (xx - second[1]) ** 2) / 40.0)
    return rng.poisson(rate).astype(np.float32)


def _counting_camera() -> tuple[Any, list[np.ndarray]]:
    """An ophyd.sim detector whose k-th exposure is ``_map(k)``, and the list of what it produced."""
    from ophyd.sim import SynSignal

    produced: list[np.ndarray] = []

    def exposure() -> np.ndarray:
        produced.append(_map(len(produced) + 1))
        return produced[-1]

    return SynSignal(func=exposure, name="xrf_cam"), produced


def _write_raw(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        asirp.save(asirp.Frame.from_array(_map(k), kind="xrf_map"), folder / f"map_{k:04d}.tif")


# -- the follower, at every frame of a real watched-folder pipeline ----------------------------------------


def test_follower_shows_every_state_the_newest_frame_raw_rate_timeline_and_rois(tmp_path):
    raw_dir, out = tmp_path / "detector", tmp_path / "restored"
    config = parse_config(PIPELINE)
    follower = LiveFollower(out, config=config, raw=None, idle_s=0.3, frame_interval_s=0)  # a snapshot at every look
    assert follower.poll().status == "missing" and "no such folder" in follower.latest().message
    out.mkdir()
    assert follower.poll().status == "waiting"
    _write_raw(raw_dir, 10)
    follower.raw = RawSource(str(raw_dir), config)
    seen = []

    def check(result):  # called by the pipeline's writer after each frame is on disk: the follower sees it
        snap = follower.poll()
        seen.append(snap.seq)
        assert snap.status == "running" and snap.seq == result.seq and snap.rows == result.seq
        np.testing.assert_allclose(snap.restored.data, result.frame.data)
        np.testing.assert_array_equal(snap.raw.data, _map(result.seq))  # raw frame n = file n in name order, read as the pipeline does
        assert snap.raw_display.shape == snap.restored_display.shape == (96, 96)
        assert snap.method == "gaussian" and snap.decision[0] == "method gaussian (sigma=1.0) as configured"
        assert snap.rois and snap.rois[0].motors["sample_y"][0] == pytest.approx(1.0 + 0.01 * snap.rois[0].y0)

    summary = Pipeline(config).run(FolderWatcher(raw_dir, "*.tif", poll_s=0.02, expected=10), output=out, on_result=check)
    assert summary.written == 10 and seen == list(range(1, 11))
    snap = follower.poll()
    assert snap.status == "finished" and snap.path == out / "detector.nxs" and "10 frame(s)" in snap.message
    assert [seq for seq, _ in snap.timeline] == list(range(2, 11))
    assert [event.seq for event in snap.changes] == [7]  # the inclusion moved at frame 7
    # The pipeline's own rate from the rows' written times, and the same frame once finished (no new version).
    assert snap.pipeline_fps is not None and snap.pipeline_fps > 0
    assert follower.poll().version == snap.version


def test_follower_reports_an_idle_run_and_catches_up_with_a_gap(tmp_path):
    out = tmp_path / "restored"
    follower = LiveFollower(out, config=parse_config(PIPELINE), idle_s=0.2)
    pipeline = Pipeline(parse_config(PIPELINE))
    from asirp.pipeline import Item, RunStart

    frames = [Item("scan7", k, _map(k)) for k in range(1, 41)]
    pipeline.run([RunStart("scan7"), *frames], output=out)  # no stop: the run stays partial, as while acquiring
    snap = follower.poll()
    assert snap.status == "running" and snap.seq == 40 and snap.path.name == "scan7.nxs.partial"
    # 40 rows behind: the newest frame only is read; the timeline is the pipeline's, recorded for every row.
    assert [seq for seq, _ in snap.timeline] == list(range(2, 41)) and "recorded in the run file" in snap.timeline_source
    time.sleep(0.3)
    assert follower.poll().status == "idle" and "no new frame for" in follower.latest().message
    # A run that recorded no change statistic (no [analyse] change): computed by the follower, which jumps when behind.
    plain = {key: value for key, value in PIPELINE.items() if key != "analyse"}
    other = tmp_path / "plain"
    Pipeline(parse_config(plain)).run([RunStart("scan8"), *frames], output=other)
    snap = LiveFollower(other, config=parse_config(plain)).poll()
    assert snap.seq == 40 and snap.timeline == () and "computed by the viewer on ring profiles" in snap.timeline_source


def _pipeline_changes(config, frames, out, poni=None):
    """Run ``frames`` (arrays) through a pipeline of ``config``; returns the change events its feedback published."""
    from asirp.feedback import ChangeEvent
    from asirp.pipeline import Item, RunStart, RunStop

    published: list = []
    pipeline = Pipeline(config, feedback=[lambda obj: published.append(obj) if isinstance(obj, ChangeEvent) else None])
    pipeline.run([RunStart("series"), *(Item("series", k, frame) for k, frame in enumerate(frames, 1)), RunStop("series")], output=out)
    return published


def _rings(k: int, shape=(96, 96), change_at: int = 6) -> np.ndarray:
    """A ring pattern whose ring moves outwards at ``change_at`` (the block means of the whole frame barely see it)."""
    rng = np.random.default_rng(100 + k)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    radius = np.hypot(yy - 47.5, xx - 47.5)
    ring = 22.0 if k < change_at else 26.0
    return rng.poisson(20 + 80 * np.exp(-((radius - ring) ** 2) / 4.0)).astype(np.float32)


@pytest.mark.parametrize("change", [{"on": "profile"}, {"on": "frame", "threshold": 5.0}, {}])
def test_the_page_timeline_is_the_pipelines_change_detection(tmp_path, change):
    """Recorded in the run file ([analyse] change set): the page shows exactly the events the feedback published."""
    config = parse_config({**PIPELINE, "read": {"kind": "image"}, "analyse": {"change": change, "bins": 64}})
    frames = [_rings(k) for k in range(1, 13)]
    published = _pipeline_changes(config, frames, tmp_path / "out")
    assert [event.seq for event in published] == [6]
    snap = LiveFollower(tmp_path / "out", config=config, frame_interval_s=0).poll()
    assert snap.status == "finished" and "recorded in the run file" in snap.timeline_source
    assert list(snap.changes) == published  # the same ChangeEvents: run, seq, confidence, z, distance, baseline
    assert [seq for seq, _ in snap.timeline] == list(range(2, 13))
    with h5py.File(snap.path) as handle:
        settings = json.loads(handle["entry/data/change_distance"].attrs["asirp_change"])
    assert settings["on"] == change.get("on", "profile") and settings["bins"] == 64


def test_without_recorded_changes_the_page_computes_what_the_pipeline_would(tmp_path):
    """No [analyse] change in the pipeline: the follower computes the timeline with the defaults (ring profiles),
    event for event as a pipeline with ``change = {}`` finds it."""
    base = {**PIPELINE, "read": {"kind": "image"}}
    plain = parse_config({key: value for key, value in base.items() if key != "analyse"})
    frames = [_rings(k) for k in range(1, 13)]
    assert _pipeline_changes(plain, frames, tmp_path / "plain") == []
    follower = LiveFollower(tmp_path / "plain", config=plain, frame_interval_s=0)
    snap = follower.poll()
    assert "computed by the viewer on ring profiles" in snap.timeline_source
    published = _pipeline_changes(parse_config({**base, "analyse": {"change": {}}}), frames, tmp_path / "with")
    assert [event.seq for event in snap.changes] == [event.seq for event in published] == [6]
    for mine, theirs in zip(snap.changes, published, strict=True):  # from the float32 rows of the file: equal within float32
        assert mine.confidence == pytest.approx(theirs.confidence, rel=1e-4)
        assert mine.z_score == pytest.approx(theirs.z_score, rel=1e-4) and mine.distance == pytest.approx(theirs.distance, rel=1e-4)


def test_a_run_file_of_the_earlier_layout_still_shows_its_frames_and_decision(tmp_path):
    """Run files written before the one NeXus layout kept the history as JSON (entry/process/history), no NXprocess groups."""
    steps = [{"method": "gaussian", "parameters": {"sigma": 1.0}, "notes": {}}]
    with h5py.File(tmp_path / "old.nxs", "w") as handle:
        entry = handle.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": [".", "y", "x"]})
        data["data"] = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
        data["mask"] = np.zeros((2, 8, 8), np.uint8)
        data["sequence"] = np.array([1, 2])
        process = entry.create_group("process")
        process.attrs["NX_class"] = "NXprocess"
        process["history"] = json.dumps(steps)
    with h5py.File(tmp_path / "old.nxs") as handle:
        assert decision_lines(run_history_json(handle), "gaussian") == ("method gaussian (sigma=1.0) as configured",)
    frame = asirp.open(tmp_path / "old.nxs")
    assert frame.shape == (2, 8, 8) and frame.data[1, 0, 0] == 64.0


def test_decision_lines_give_autos_reasons_and_a_budget_fallback():
    steps = [{"method": "read", "parameters": {}, "notes": {}},
             {"method": "wiener", "parameters": {"nsr": 0.01},
              "notes": {"selection": {"method": "wiener", "reasons": ["blur 1.2 px resolvable", "Poisson noise"]},
                        "budget": {"fallback": "estimated 0.4 s > budget 0.1 s"}}}]  # fmt: skip
    lines = decision_lines(json.dumps(steps), "wiener")
    assert lines == ("auto chose wiener (nsr=0.01)", "because blur 1.2 px resolvable", "because Poisson noise",
                     "budget: estimated 0.4 s > budget 0.1 s")  # fmt: skip
    assert decision_lines(json.dumps(steps), "gaussian")[-1] == "newest frame restored with gaussian (decided anew: its data drifted)"
    assert decision_lines(None, "gaussian") == ("method gaussian",)


def test_an_edited_roi_is_published_as_the_feedback_agents_documents():
    frame = asirp.Frame.from_array(_map(1), kind="xrf_map")
    config = RoiConfig(**ROI)
    roi = edited_roi(frame, (20, 41, 30, 51), config)
    assert roi.motors == {"sample_y": (pytest.approx(1.2), pytest.approx(1.4)), "sample_x": (pytest.approx(-1.4), pytest.approx(-1.0))}
    assert roi.score > edited_roi(frame, (0, 10, 85, 96), config).score  # the inclusion outranks background
    with pytest.raises(InputError, match="is not inside the 96 x 96 frame"):
        edited_roi(frame, (90, 100, 0, 10), config)
    documents = []
    RoiFeedback(lambda name, doc: documents.append((name, doc))).accept("run-1", 4, roi)
    names = [name for name, _ in documents]
    assert names == ["start", "descriptor", "event", "stop"]
    start, descriptor, event = (doc for _, doc in documents[:3])
    assert start["purpose"] == "asirp feedback" and start["asirp_source_run"] == "run-1" and descriptor["name"] == "roi"
    assert list(event["data"]["box"]) == [20, 41, 30, 51] and event["data"]["source_seq_num"] == 4
    assert json.loads(event["data"]["motors"])["sample_x"] == pytest.approx([-1.4, -1.0])


def test_view_follow_refuses_bad_options_in_one_line(tmp_path, capsys):
    assert main(["view", "--follow", str(tmp_path), "--raw", str(tmp_path / "nowhere"), "--no-browser"]) == 2
    assert "nowhere: --raw expects the folder the pipeline watches or FILE::DATASET" in capsys.readouterr().err
    assert main(["view", "--follow", str(tmp_path), "--raw", f"{tmp_path / 'scan.h5'}::/entry/data/data", "--no-browser"]) == 2
    assert "scan.h5: no such file" in capsys.readouterr().err
    assert main(["view", "frame.tif", "--follow", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["view", "--raw", str(tmp_path)]) == 2
    assert "go with --follow" in capsys.readouterr().err


# -- the page in a real browser --------------------------------------------------------------------------------


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("ASIRP_VIEW_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(120)
def test_live_page_follows_a_watched_folder_pipeline_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from asirp.view.server import ViewerServer

    raw_dir, out = tmp_path / "detector", tmp_path / "restored"
    config = parse_config(PIPELINE)
    raw_dir.mkdir()
    toml = tmp_path / "pipeline.toml"
    toml.write_text(TOML)
    follower = LiveFollower(out, config=config, raw=RawSource(str(raw_dir), config), poll_s=0.05)
    viewer = ViewerServer([], port=0, live=follower.start())
    viewer.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(viewer.url)
            page.get_by_text("no such folder").wait_for()  # the pipeline has not started: said so
            raw, right = page.locator(".asirp-panel-raw").first, page.locator(".asirp-panel-restored").first
            assert not _drawn(right.screenshot())

            def acquire():  # the detector writes a file every 0.1 s while the pipeline watches the folder
                for k in range(1, 11):
                    asirp.save(asirp.Frame.from_array(_map(k), kind="xrf_map"), raw_dir / f"map_{k:04d}.tif")
                    time.sleep(0.1)

            # asirp serve watching the detector's folder, in its own process as at a beamline; then the detector writes.
            pipeline = subprocess.Popen([sys.executable, "-m", "asirp.cli", "serve", str(toml), "--watch", str(raw_dir), "--poll", "0.05",
                                         "--idle-timeout", "1.5", "-o", str(out)], env={**os.environ, "ASIRP_PROGRESS": "0"},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            assert pipeline.stdout is not None and "watching" in pipeline.stdout.readline()
            detector = threading.Thread(target=acquire)
            detector.start()
            page.get_by_text("running", exact=True).wait_for(timeout=30_000)
            _until(lambda: _drawn(right.screenshot()) and _drawn(raw.screenshot()), 30)
            detector.join()
            assert pipeline.wait(60) == 0, pipeline.stdout.read()
            page.get_by_text("finished", exact=True).wait_for(timeout=30_000)
            page.get_by_text("frame 10 of run detector").wait_for()
            page.get_by_text("change at frame 7").wait_for()
            page.get_by_text("method gaussian (sigma=1.0) as configured").wait_for()
            _until(lambda: _drawn(page.locator(".asirp-timeline").first.screenshot()), 10)
            page.screenshot(path=_shots(tmp_path) / "viewer-live.png", full_page=True)
            # The offline page's percentile slider and threshold recolour the frame shown (a bad threshold is said beside it).
            before = right.screenshot()
            upper = page.locator(".asirp-clip .noUi-handle-upper").first
            upper.focus()
            for _ in range(6):
                upper.press("PageDown")  # the high percentile down: brighter colours
            _until(lambda: right.screenshot() != before, 10)
            threshold = page.locator(".asirp-threshold input").first
            threshold.fill("lots")
            threshold.press("Enter")
            page.get_by_text("threshold: 'lots' is not a number").wait_for()
            clipped = right.screenshot()
            threshold.fill("10")  # the background (about 5 counts) is not drawn, the inclusions are
            threshold.press("Enter")
            _until(lambda: right.screenshot() != clipped and page.get_by_text("is not a number").count() == 0, 10)
            page.screenshot(path=_shots(tmp_path) / "viewer-live-threshold.png", full_page=True)
            browser.close()
    finally:
        viewer.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(120)
def test_roi_accepted_in_the_page_reaches_a_runengine_plan(tmp_path):
    from bluesky import RunEngine
    from bluesky.plans import count, grid_scan
    from ophyd.sim import SynSignal, det, motor1, motor2
    from playwright.sync_api import sync_playwright

    from asirp.online import BlueskyConsumer
    from asirp.view.server import ViewerServer

    out = tmp_path / "restored"
    config = parse_config({**PIPELINE, "read": {"kind": "xrf_map"}})
    frames = iter(range(1, 100))
    camera = SynSignal(func=lambda: _map(next(frames)), name="xrf_cam")
    received: list[tuple[str, dict]] = []  # the RunEngine session's subscriber to feedback documents
    RE = RunEngine({})
    consumer = BlueskyConsumer(Pipeline(config), output=str(out))
    RE.subscribe(consumer)
    (uid,) = RE(count([camera], num=4, delay=0.1))
    consumer.close(30)
    # The viewer follows from this process here, so only once the run file is final (one process cannot hold an HDF5
    # file open with and without locking at once; asirp view --follow runs in a process of its own).
    follower = LiveFollower(out, config=config, poll_s=0.05).start()
    viewer = ViewerServer([], port=0, live=follower, feedback=RoiFeedback(lambda name, doc: received.append((name, doc))))
    viewer.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(viewer.url)
            page.get_by_text(f"frame 4 of run {uid}").wait_for(timeout=30_000)
            _until(lambda: _drawn(page.locator(".asirp-panel-restored").first.screenshot()), 30)
            page.get_by_text("raw frames not followed").wait_for()
            # Pick the best proposal, widen it by editing its end row, accept.
            page.locator(".asirp-roi-table .slick-row").first.locator(".slick-cell").nth(1).click()
            end_row = page.locator(".asirp-roi-y1 input")
            _until(lambda: end_row.input_value() != "", 10)
            proposal = [int(page.locator(f".asirp-roi-{name} input").input_value()) for name in ("y0", "y1", "x0", "x1")]
            end_row.fill(str(proposal[1] + 4))
            end_row.press("Enter")
            page.locator(".asirp-roi-accept button").click()
            page.get_by_text("published: rows").wait_for()
            page.screenshot(path=_shots(tmp_path) / "viewer-live-roi.png", full_page=True)
            browser.close()
    finally:
        viewer.stop()
    names = [name for name, _ in received]
    assert names == ["start", "descriptor", "event", "stop"]
    start, event = received[0][1], received[2][1]
    assert start["purpose"] == "asirp feedback" and start["asirp_source_run"] == uid
    y0, y1, x0, x1 = (int(v) for v in event["data"]["box"])
    assert [y0, y1, x0, x1] == [proposal[0], proposal[1] + 4, proposal[2], proposal[3]] and event["data"]["source_seq_num"] == 4

    def fine_scan():  # the plan the feedback is for: a finer grid over the accepted ROI's motor extent
        extent = json.loads(event["data"]["motors"])
        (ya, yb), (xa, xb) = extent["sample_y"], extent["sample_x"]
        return (yield from grid_scan([det], motor1, ya, yb, 3, motor2, xa, xb, 3))

    starts = []
    RE(fine_scan(), lambda name, doc: starts.append(doc) if name == "start" else None)
    args = starts[0]["plan_args"]["args"]
    assert float(args[1]) == pytest.approx(1.0 + 0.01 * y0) and float(args[2]) == pytest.approx(1.0 + 0.01 * (y1 - 1))
    assert float(args[5]) == pytest.approx(-2.0 + 0.02 * x0) and float(args[6]) == pytest.approx(-2.0 + 0.02 * (x1 - 1))


def test_live_page_holds_a_frame_at_full_resolution_while_the_status_follows(tmp_path, monkeypatch):
    from bokeh.document import Document

    from asirp.pipeline import Item, RunStart, RunStop
    from asirp.view import live
    from asirp.view.live_page import LivePage

    monkeypatch.setattr(live, "LIVE_PIXELS", 32 * 32)  # the 96 x 96 maps are sent as 3 x 3 block means, as 1 Mpx frames as 2 x 2
    out = tmp_path / "restored"
    config = parse_config(PIPELINE)
    Pipeline(config).run([RunStart("scan"), *(Item("scan", k, _map(k)) for k in range(1, 4))], output=out)  # left partial
    follower = LiveFollower(out, config=config, frame_interval_s=0)
    follower.poll()
    page = LivePage(Document(), follower, None)
    data = page.panels.right.overview["rgba"].data_source.data  # coloured here: RGBA colours, the values beside them
    assert data["image"][0].dtype == np.uint32 and data["value"][0].shape == (32, 32) and "frame 3 of run scan" in page.frame_line.text
    assert [len(page.roi_source.data["rank"]), page.accept_button.disabled] == [2, True]  # proposals shown; nowhere to publish
    page.hold.active = True
    assert page.panels.right.overview["rgba"].data_source.data["image"][0].shape == (96, 96)
    assert "held, full resolution" in page.panels.right_figure.title.text
    Pipeline(config).run([RunStart("scan"), Item("scan", 4, _map(4)), RunStop("scan")], output=out)  # the run goes on and ends
    follower.poll()
    page._draw()
    assert "finished" in page.status.text and "held" in page.panels.right_figure.title.text  # the status follows, the frame stays
    page.hold.active = False
    assert page.panels.right.overview["rgba"].data_source.data["image"][0].shape == (32, 32) and "frame 4 of run" in page.frame_line.text


def test_live_page_colours_with_the_offline_pages_percentiles_and_threshold(tmp_path):
    from bokeh.document import Document

    from asirp.pipeline import Item, RunStart
    from asirp.view import images
    from asirp.view.live_page import LivePage
    from asirp.view.panels import coloured

    out = tmp_path / "restored"
    config = parse_config(PIPELINE)
    Pipeline(config).run([RunStart("scan"), *(Item("scan", k, _map(k)) for k in range(1, 3))], output=out)
    follower = LiveFollower(out, config=config, frame_interval_s=0)
    follower.poll()
    page = LivePage(Document(), follower, None)
    snap = page.shown
    assert snap is not None and snap.restored_display is not None  # no raw frames followed: the restored frame sets the limits
    assert snap.colour_limits(images.DEFAULT_CLIP, "asinh") is snap.limits["linear"]  # the default clip: the follower's, not redone
    values = snap.restored_display
    threshold = float(np.nanmedian(values))
    page.clipping.clip.value = (10.0, 90.0)
    page.clipping.threshold.value = f"{threshold}"  # the field's change redraws (the slider's does when let go, in the browser)
    expected = images.colour_limits(values[::2, ::2], (10.0, 90.0), "linear")
    look = page.panels.look
    assert look.limits == pytest.approx(expected) and look.threshold == threshold
    rgba = page.panels.right.overview["rgba"].data_source.data["image"][0]
    assert np.array_equal(rgba, coloured(values, look))
    assert np.array_equal(rgba == 0, values < threshold)  # below the threshold: transparent, not drawn
    page.scale.value = "log"
    assert page.panels.look.limits == pytest.approx(images.colour_limits(values[::2, ::2], (10.0, 90.0), "log"))
    page.clipping.threshold.value = "lots"
    assert "not a number" in page.clipping.threshold_message.text and page.panels.look.threshold is None


def test_view_follow_publish_sends_accepted_rois_through_a_0mq_proxy(tmp_path):
    """``--publish`` as the command builds it: an accepted ROI crosses a Bluesky 0MQ proxy to a RemoteDispatcher."""
    from bluesky.callbacks.zmq import Proxy, RemoteDispatcher

    from asirp.cli import build_parser
    from asirp.cli.view import _live

    proxy = Proxy("127.0.0.1", "127.0.0.1")
    threading.Thread(target=proxy.start, daemon=True).start()
    in_address, out_address = (str(port) if "://" in str(port) else f"127.0.0.1:{port}" for port in (proxy.in_port, proxy.out_port))
    args = build_parser().parse_args(["view", "--follow", str(tmp_path), "--publish", in_address, "--max-fps", "5"])
    follower, feedback = _live(args)
    assert follower.frame_interval_s == pytest.approx(0.2)
    received: list[tuple[str, dict]] = []
    dispatcher = RemoteDispatcher(out_address, loop=asyncio.new_event_loop())
    dispatcher.subscribe(lambda name, doc: received.append((name, doc)))

    def listen():  # the RunEngine session's side: dispatcher.start() runs until stopped
        with contextlib.suppress(asyncio.CancelledError):
            dispatcher.start()

    listening = threading.Thread(target=listen, daemon=True)
    listening.start()
    roi = edited_roi(asirp.Frame.from_array(_map(1), kind="xrf_map"), (20, 41, 30, 51), RoiConfig(**ROI))
    deadline = time.monotonic() + 20
    def whole_run() -> bool:  # a start and an event after it: a subscription made mid-run misses its start
        names = [name for name, _ in received]
        return "start" in names and "event" in names[names.index("start"):]

    while not whole_run():  # 0MQ subscriptions take a moment: accept until a whole run arrives
        assert time.monotonic() < deadline, "no feedback document crossed the proxy"
        feedback.accept("run-7", 3, roi)
        time.sleep(0.2)
    # Cancelling its polling task ends dispatcher.start() cleanly (stop() inside the loop would close a running loop).
    dispatcher.loop.call_soon_threadsafe(dispatcher._task.cancel)
    listening.join(10)
    first = [name for name, _ in received].index("start")
    start = received[first][1]
    event = next(doc for name, doc in received[first:] if name == "event")
    assert start["purpose"] == "asirp feedback" and start["asirp_source_run"] == "run-7"
    assert list(event["data"]["box"]) == [20, 41, 30, 51] and json.loads(event["data"]["motors"])["sample_y"] == pytest.approx([1.2, 1.4])


def test_raw_frames_of_a_runengine_source_come_from_its_documents(tmp_path):
    """A RunEngine with an ophyd.sim detector: the raw frame shown is the frame the detector produced (from the event documents)."""
    from bluesky import RunEngine
    from bluesky.plans import count

    from asirp.online import BlueskyConsumer
    from asirp.view.live import DocumentRawSource

    out = tmp_path / "restored"
    config = parse_config({**PIPELINE, "read": {"kind": "xrf_map"}})
    camera, produced = _counting_camera()
    RE = RunEngine({})
    consumer = BlueskyConsumer(Pipeline(config), output=str(out))
    raw = DocumentRawSource(config, keep=3)
    RE.subscribe(consumer)
    RE.subscribe(raw)
    read: dict[int, np.ndarray] = {}  # what the RunEngine read from the detector at each event
    RE.subscribe(lambda name, doc: read.__setitem__(doc["seq_num"], np.array(doc["data"]["xrf_cam"])) if name == "event" else None)
    (uid,) = RE(count([camera], num=5, delay=0.05))
    consumer.close(30)
    follower = LiveFollower(out, config=config, raw=raw, frame_interval_s=0)
    snap = follower.poll()
    assert snap.run == uid and snap.seq == 5 and snap.raw_note == ""
    np.testing.assert_array_equal(snap.raw.data, read[5])  # the newest frame, as the detector produced it
    assert any(np.array_equal(read[5], frame) for frame in produced) and not np.array_equal(read[5], read[4])
    assert snap.raw_display.shape == snap.restored_display.shape and snap.limits["linear"][1] > 0
    np.testing.assert_array_equal(raw.frame(3, uid).data, read[3])
    with pytest.raises(InputError, match="not received"):  # only the newest `keep` frames are kept
        raw.frame(1, uid)


def test_view_follow_raw_zmq_shows_the_frames_a_0mq_proxy_carries(tmp_path):
    """``--raw zmq:HOST:PORT`` as the command builds it: a RunEngine publishes to a real 0MQ proxy, the page's
    dispatcher thread receives the documents, and the raw frame the page holds is the frame the detector produced;
    closing the follower (the server stopping) ends the dispatcher's thread."""
    from bluesky import RunEngine
    from bluesky.callbacks.zmq import Proxy, Publisher
    from bluesky.plans import count
    from event_model import compose_run

    from asirp.cli import build_parser
    from asirp.cli.view import _live
    from asirp.online import BlueskyConsumer
    from asirp.view.live import ZmqRawSource

    proxy = Proxy("127.0.0.1", "127.0.0.1")  # free ports, chosen by the proxy
    threading.Thread(target=proxy.start, daemon=True).start()
    in_address, out_address = (str(port) if "://" in str(port) else f"127.0.0.1:{port}" for port in (proxy.in_port, proxy.out_port))
    toml = tmp_path / "pipeline.toml"
    toml.write_text(TOML)
    out = tmp_path / "restored"
    args = build_parser().parse_args(["view", "--follow", str(out), "--pipeline", str(toml), "--raw", f"zmq:{out_address}"])
    follower, _ = _live(args)
    raw = follower.raw
    assert isinstance(raw, ZmqRawSource) and raw.address == out_address and out_address in raw.spec
    follower.start()
    publisher = Publisher(in_address)
    try:
        deadline = time.monotonic() + 20
        while raw.listener.received == 0:  # 0MQ subscriptions take a moment: probe runs until one arrives
            assert time.monotonic() < deadline, "no document crossed the proxy"
            probe = compose_run(metadata={"purpose": "probe"})
            publisher("start", probe.start_doc)
            publisher("stop", probe.compose_stop())
            time.sleep(0.1)
        config = follower.config
        camera, produced = _counting_camera()
        RE = RunEngine({})
        consumer = BlueskyConsumer(Pipeline(config), output=str(out))  # the pipeline, in the acquisition session
        RE.subscribe(consumer)
        RE.subscribe(publisher)
        read: dict[int, np.ndarray] = {}
        RE.subscribe(lambda name, doc: read.__setitem__(doc["seq_num"], np.array(doc["data"]["xrf_cam"])) if name == "event" else None)
        (uid,) = RE(count([camera], num=5, delay=0.05))
        consumer.close(30)
        deadline = time.monotonic() + 20
        while not ((snap := follower.latest()).run == uid and snap.seq == 5 and snap.raw is not None):
            assert time.monotonic() < deadline, f"the page never showed raw frame 5: {snap.status} {snap.raw_note}"
            time.sleep(0.05)
        np.testing.assert_array_equal(snap.raw.data, read[5])  # the newest frame, as the detector produced it
        assert any(np.array_equal(read[5], frame) for frame in produced) and not np.array_equal(read[5], read[4])
        np.testing.assert_array_equal(raw.frame(4, uid).data, read[4])
    finally:
        follower.close()
        publisher.close()
    assert not raw.listener.alive  # stopped cleanly with the follower


@pytest.mark.parametrize("value", ["zmq:", "zmq:localhost", "zmq:localhost:port", "zmq:localhost:70000", "zmq::5578"])
def test_view_follow_raw_zmq_refuses_bad_addresses_in_one_line(tmp_path, capsys, value):
    assert main(["view", "--follow", str(tmp_path), "--raw", value, "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert f"--raw zmq: expects HOST:PORT of a 0MQ proxy's output (port 1 to 65535), got {value[4:]!r}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_serve_zmq_refuses_a_bad_address_with_the_same_message(tmp_path, capsys):
    toml = tmp_path / "pipeline.toml"
    toml.write_text(TOML)
    assert main(["serve", str(toml), "--zmq", "localhost", "-o", str(tmp_path / "out")]) == 2
    assert "--zmq expects HOST:PORT of a 0MQ proxy's output (port 1 to 65535), got 'localhost'" in capsys.readouterr().err
