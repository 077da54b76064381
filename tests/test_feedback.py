"""Feedback: change detection on time series, ROI proposals on maps, documents, and a closed scan loop."""

import json

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import grid_scan
from ophyd.sim import SynSignal, motor1, motor2

import asirp
from asirp.errors import InputError, ParameterError
from asirp.feedback import ChangeDetector, ChangeEvent, MotorGrid, RoiAgent, propose_rois, ring_profile
from asirp.online import iterate
from asirp.pipeline import FeedbackPublisher, Pipeline

pytestmark = pytest.mark.timeout(60)


def _change_events(series, on="profile", threshold=6.0):
    events = []
    pipe = Pipeline.from_dict(
        {"read": {"kind": "diffraction"}, "restore": {"method": "gaussian", "params": {"sigma": 1.0}},
         "analyse": {"change": {"on": on, "threshold": threshold}}, "execution": {"backend": "thread", "workers": 2}},  # fmt: skip
        feedback=[events.append],
    )
    return pipe, events


# -- change detection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "on"), [("new_ring", "profile"), ("ring_shift", "profile"), ("new_ring", "frame")])
def test_change_detection_finds_the_event_frame(tmp_path, event, on):
    result = asirp.synth.diffraction_series(16, event_frame=9, shape=(96, 96), dose=5.0, event=event, seed=4)
    pipe, events = _change_events(result, on=on)
    summary = pipe.run(iterate(result.noisy.images(), run="series"), output=tmp_path)
    assert summary.written == 16
    assert len(events) == 1, events
    found = events[0]
    assert isinstance(found, ChangeEvent) and found.frame_index == result.meta["event_frame"] == found.seq - 1
    assert found.confidence > 0.99 and found.z_score > 6.0


def test_no_change_flagged_on_a_static_series(tmp_path):
    result = asirp.synth.diffraction_series(16, event_frame=None, shape=(96, 96), dose=5.0, seed=5)
    pipe, events = _change_events(result)
    pipe.run(iterate(result.noisy.images(), run="static"), output=tmp_path)
    assert events == []


def test_change_detector_statistics_on_known_vectors():
    rng = np.random.default_rng(0)
    base = np.linspace(1.0, 2.0, 200)
    detector = ChangeDetector(threshold=6.0, min_history=3)
    outcomes = [detector.update(base + 0.01 * rng.standard_normal(200), seq=k + 1) for k in range(6)]
    assert outcomes == [None] * 6  # noise only
    step = detector.update(base * 1.5 + 0.01 * rng.standard_normal(200), seq=7)
    assert step is not None and step.frame_index == 6 and 0.0 <= step.confidence <= 1.0
    assert step.distance > 10 * step.baseline
    after = [detector.update(base * 1.5 + 0.01 * rng.standard_normal(200), seq=k) for k in range(8, 12)]
    assert after == [None] * 4  # the new state is the reference


def test_ring_profile_with_and_without_geometry():
    result = asirp.synth.diffraction_frame("powder", shape=(128, 128), dose=50.0, mask="none", seed=2)
    with_geometry = ring_profile(result.truth, bins=64)
    assert with_geometry.shape == (64,) and with_geometry.max() > 3 * np.median(with_geometry)  # rings are peaks
    ny = nx = 64
    yy, xx = np.indices((ny, nx))
    radius = np.hypot(yy - 31.5, xx - 31.5)
    ring = asirp.Frame.from_array((np.abs(radius - 20) < 1.5).astype(np.float32) + 1.0)
    profile = ring_profile(ring, bins=45)
    peak_radius = (np.argmax(profile) + 0.5) / 45 * radius.max()
    assert abs(peak_radius - 20) < 1.5


# -- regions of interest ----------------------------------------------------------------------------------------


def _two_squares():
    data = np.full((40, 50), 2.0, np.float32)
    data[5:15, 8:20] = 100.0  # strong region
    data[25:31, 30:36] = 60.0  # weaker region
    return asirp.Frame.from_array(data, kind="xrf_map", pixel_size=asirp.PixelSize(25.0, 25.0, "um"))


def test_concentration_rois_boxes_and_motor_coordinates():
    grid = MotorGrid("sy", "sx", y0=10.0, x0=-5.0, dy=0.025, dx=0.025)
    rois = propose_rois(_two_squares(), threshold=0.4, pad=1, grid=grid)
    assert len(rois) == 2 and rois[0].score > rois[1].score
    first, second = rois
    assert (first.y0, first.y1, first.x0, first.x1) == (4, 16, 7, 21) and first.area == 120
    assert (second.y0, second.y1, second.x0, second.x1) == (24, 32, 29, 37)
    assert first.motors["sy"] == pytest.approx((10.0 + 4 * 0.025, 10.0 + 15 * 0.025))
    assert first.motors["sx"] == pytest.approx((-5.0 + 7 * 0.025, -5.0 + 20 * 0.025))
    # default coordinates: the pixel size (µm) from 0
    assert propose_rois(_two_squares(), threshold=0.4, pad=0)[0].motors["x"] == pytest.approx((8 * 25.0, 19 * 25.0))
    # only the strong square is above a high threshold; tiny regions are dropped
    assert len(propose_rois(_two_squares(), threshold=0.8)) == 1
    assert propose_rois(_two_squares(), threshold=0.4, min_area=100)[0].area == 120


def test_gradient_rois_follow_edges_and_errors():
    rois = propose_rois(_two_squares(), mode="gradient", threshold=0.3, pad=0)
    strong = rois[0]
    assert (strong.y0, strong.x0) in {(4, 7), (5, 8)} and (strong.y1, strong.x1) in {(16, 21), (15, 20)}
    with pytest.raises(ParameterError, match="unknown ROI mode"):
        propose_rois(_two_squares(), mode="peaks")
    with pytest.raises(ParameterError, match="between 0 and 1"):
        propose_rois(_two_squares(), threshold=1.5)
    stack = asirp.Frame.from_array(np.ones((2, 8, 8), np.float32))
    with pytest.raises(InputError, match="need a 2-D map"):
        propose_rois(stack)


def test_publisher_documents_and_callbacks():
    documents, seen = [], []
    publisher = FeedbackPublisher(lambda name, doc: documents.append((name, doc)), [seen.append])
    event = ChangeEvent("run-1", 11, 10, 0.999, 12.0, 0.5, 0.02)
    publisher.change(event)
    publisher.rois("map-1", 1, propose_rois(_two_squares(), threshold=0.4))
    publisher.close_run("run-1")
    publisher.close_run("map-1")
    assert seen[0] is event and len(seen[1]) == 2
    names = [name for name, _ in documents]
    assert names == ["start", "descriptor", "event", "start", "descriptor", "event", "event", "stop", "stop"]
    change = documents[2][1]["data"]
    assert change["frame_index"] == 10 and change["confidence"] == pytest.approx(0.999)
    roi = documents[5][1]["data"]
    assert roi["rank"] == 0 and list(roi["box"]) == [4, 16, 7, 21] and "y" in json.loads(roi["motors"])
    assert documents[0][1]["asirp_source_run"] == "run-1" and documents[0][1]["purpose"] == "asirp feedback"


def test_pipeline_publishes_rois_of_assembled_maps(tmp_path):
    found = []
    square = _two_squares().data
    lines = list(square)
    stream = (
        [asirp.pipeline.RunStart("map")] + [asirp.pipeline.Item("map", i + 1, line) for i, line in enumerate(lines)] + [asirp.pipeline.RunStop("map")]
    )
    pipe = Pipeline.from_dict(
        {
            "read": {"kind": "xrf_map"},
            "xrf_map": {"shape": [40, 50], "step_um": [25, 25]},
            "restore": {"method": "identity"},
            "analyse": {"roi": {"threshold": 0.4, "motors": ["sy", "sx"], "origin": [1.0, 2.0], "step": [0.025, 0.025]}},
            "execution": {"backend": "local"},
        },  # fmt: skip
        feedback=[found.append],
    )
    pipe.run(stream, output=tmp_path)
    (rois,) = found
    assert [(r.y0, r.x0) for r in rois] == [(4, 7), (24, 29)]
    assert rois[0].motors["sy"][0] == pytest.approx(1.0 + 4 * 0.025)


# -- closed loop: coarse scan -> ROI -> fine scan --------------------------------------------------------------


class MeshSample:
    """A fragment of copper mesh (AG300, from asirp.synth.mesh_grid_map) on an empty substrate.

    Motor positions are in mm; the fragment covers y in [0.2, 0.6), x in [-0.5, -0.1).
    Readings are Poisson counts of the beam-blurred Cu Kα map.
    """

    Y0, X0, SIZE, STEP = 0.2, -0.5, 0.4, 0.005

    def __init__(self):
        n = int(round(self.SIZE / self.STEP))
        self.map = asirp.synth.mesh_grid_map("AG300", shape=(n, n), step_um=self.STEP * 1000, beam_fwhm_um=10.0, counts=200.0, seed=3).blurred.data
        self.rng = np.random.default_rng(0)

    def read(self):
        y, x = motor2.position, motor1.position
        i, j = int((y - self.Y0) / self.STEP), int((x - self.X0) / self.STEP)
        inside = 0 <= i < self.map.shape[0] and 0 <= j < self.map.shape[1] and y >= self.Y0 and x >= self.X0
        return float(self.rng.poisson(self.map[i, j] if inside else 2.0))


def test_closed_loop_coarse_scan_roi_then_fine_scan():
    sample = MeshSample()
    det = SynSignal(func=sample.read, name="det")
    RE = RunEngine({})
    agent = RoiAgent(("motor2", "motor1"), "det", refine=3, threshold=0.4, pad=1)
    token = RE.subscribe(agent)
    RE(grid_scan([det], motor2, -0.8, 0.8, 13, motor1, -0.8, 0.8, 13))
    RE.unsubscribe(token)
    assert len(agent.points) == 13 * 13
    docs, suggestions = agent.ask(batch_size=1)
    (suggestion,) = suggestions
    (ys, ye, yn), (xs, xe, xn) = suggestion["scan"]["motor2"], suggestion["scan"]["motor1"]
    # the suggested region holds the mesh fragment and little else
    overlap_y = max(0.0, min(ye, 0.6) - max(ys, 0.2))
    overlap_x = max(0.0, min(xe, -0.1) - max(xs, -0.5))
    box = (ye - ys) * (xe - xs)
    iou = overlap_y * overlap_x / (box + 0.16 - overlap_y * overlap_x)
    assert iou > 0.5, suggestion
    coarse = 1.6 / 12
    assert (ye - ys) / (yn - 1) == pytest.approx(coarse / 3) and (xe - xs) / (xn - 1) == pytest.approx(coarse / 3)
    assert docs[0]["map_shape"] == [13, 13] and agent.report()["rois"][0]["motors"]["motor2"] == (ys, ye)
    fine = RoiAgent(("motor2", "motor1"), "det")
    RE.subscribe(fine)
    RE(grid_scan([det], motor2, ys, ye, yn, motor1, xs, xe, xn))
    points = np.asarray(fine.points)
    assert len(points) == yn * xn
    assert points[:, 0].min() >= ys - 1e-9 and points[:, 0].max() <= ye + 1e-9
    inside = (points[:, 0] >= 0.2) & (points[:, 0] < 0.6) & (points[:, 1] >= -0.5) & (points[:, 1] < -0.1)
    coarse_inside = sum(1 for y, x, _ in agent.points if 0.2 <= y < 0.6 and -0.5 <= x < -0.1)
    assert inside.sum() >= 6 * coarse_inside  # the fine scan samples the fragment far more densely


def test_agent_needs_a_grid():
    agent = RoiAgent()
    agent.tell((0.0, 0.0), 1.0)
    with pytest.raises(InputError, match="at least 4 measured points"):
        agent.ask()
    for k in range(4):
        agent.tell((0.0, float(k)), 1.0)
    with pytest.raises(InputError, match="a map needs a 2-D grid"):
        agent.ask()
    with pytest.raises(InputError, match="two motor positions"):
        agent.tell((1.0,), 2.0)
