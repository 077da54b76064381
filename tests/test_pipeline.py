"""The pipeline: TOML configuration, offline runs, ordered bounded execution, failures, resume, budget, backends."""

import json
import pickle
import threading
import time

import h5py
import numpy as np
import pytest
import tifffile

import asirp
from asirp.cli import main
from asirp.errors import InputError, ParameterError
from asirp.methods.base import Method, Output, Params, registry
from asirp.online import iterate
from asirp.pipeline import (
    DaskBackend,
    FileRef,
    Item,
    LocalBackend,
    Pipeline,
    Result,
    RunStart,
    RunStop,
    ThreadBackend,
    load_config,
    parse_config,
    read_rows,
)
from asirp.pipeline.steps import WorkerSteps, process_item
from asirp.select import make_plan

pytestmark = pytest.mark.timeout(60)

GAUSS = {"read": {"kind": "diffraction"}, "restore": {"method": "gaussian", "params": {"sigma": 1.0}}}


def _frames(n=6, shape=(48, 48), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.poisson(20.0, shape).astype(np.float32) for _ in range(n)]


def _expected(array, sigma=1.0, kind="diffraction"):
    return asirp.restore(asirp.Frame.from_array(array, kind=kind), "gaussian", sigma=sigma).data


def _rows(path):
    with h5py.File(path, "r") as handle:
        data = handle["entry/data"]
        return data["sequence"][()], data["data"][()], data["mask"][()]


class Jittery(Method):
    """A test method: identity after a sleep whose length depends on the frame (out-of-order completion)."""

    name = "jittery"
    family = "reference"
    task = "identity after a variable delay (test)"

    def process(self, frame, params):
        time.sleep(0.002 + 0.02 * (float(frame.data.flat[0]) % 3))
        return Output(np.array(frame.data))


class FailsOnNegativeCorner(Method):
    """A test method: raises on frames whose first pixel is negative."""

    name = "fails_on_negative_corner"
    family = "reference"
    task = "identity, failing on purpose (test)"

    def process(self, frame, params):
        if frame.data[0, 0] < 0:
            raise ValueError("negative corner")
        return Output(np.array(frame.data))


def _stored_history(path):
    """The history a run file stores (its first frame's), as asirp.open reads it (which adds its own "read" step)."""
    *stored, read = asirp.open(path).history
    assert read.method == "read"
    return stored


# -- configuration ----------------------------------------------------------------------------------


def test_toml_config_steps_and_relative_paths(tmp_path):
    (tmp_path / "det.poni").write_text("")
    (tmp_path / "p.toml").write_text(
        """
name = "maps"
[read]
kind = "xrf_map"
poni = "det.poni"
[xrf_map]
shape = [4, 5]
step_um = [25.0, 25.0]
channels = [10, 20]
[restore]
method = "auto"
budget_s = 0.05
[analyse]
roi = { threshold = 0.6 }
[write]
output = "out"
[execution]
backend = "local"
"""
    )
    config = load_config(tmp_path / "p.toml")
    assert config.read.poni == str(tmp_path / "det.poni")
    assert config.write.output == str(tmp_path / "out")
    assert config.xrf_map.shape == (4, 5) and config.restore.budget_s == 0.05
    assert Pipeline(config).steps == ("read", "xrf_map", "restore", "analyse", "write")
    assert Pipeline.from_dict({}).steps == ("read", "restore", "write")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[restore]\nmethd = 'wiener'\n", "restore.methd: unknown key"),
        ("[restor]\nmethod = 'wiener'\n", "restor: unknown key"),
        ("[restore]\nbudget_s = -1\n", "restore.budget_s: must be greater than 0"),
        ("[execution]\nbackend = 'gpu'\n", "execution.backend: must be 'local', 'thread' or 'dask'"),
        ("[execution]\nscheduler = 'tcp://x:1'\n", "scheduler is only used with backend = 'dask'"),
        ("[read]\nkind = 'movie'\n", "unknown kind 'movie'"),
        ("[xrf_map]\nshape = [1, 5]\n", "a map needs at least 2 x 2 points"),
        ("[restore\nmethod = 'x'\n", "not valid TOML"),
    ],
)
def test_bad_pipeline_files_give_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_cli_reports_pipeline_errors_as_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[restore]\nmethd = 'x'\n")
    assert main(["run", str(path), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"asirp: error: {path}: invalid pipeline: restore.methd: unknown key"]
    with pytest.raises(ParameterError, match="execution.workers: must be greater than or equal to 1"):
        parse_config({"execution": {"workers": 0}})


# -- offline runs ----------------------------------------------------------------------------------------


def test_run_files_over_hdf5_stack_and_folder(tmp_path):
    frames = _frames(5)
    with h5py.File(tmp_path / "stack.h5", "w") as handle:
        handle["entry/data"] = np.stack(frames)
    folder = tmp_path / "tiffs"
    folder.mkdir()
    for index, frame in enumerate(frames[:3]):
        tifffile.imwrite(folder / f"img_{index:03d}.tif", frame.astype(np.int32))
    (folder / "notes.txt").write_text("not an image")
    pipe = Pipeline.from_dict({**GAUSS, "read": {"kind": "diffraction", "pattern": "*.tif"}, "execution": {"backend": "thread", "workers": 2}})
    summary = pipe.run_files([tmp_path / "stack.h5", folder], output=tmp_path / "out", progress=False)
    assert (summary.written, summary.failed, summary.lost) == (8, 0, 0)
    sequence, data, _ = _rows(summary.files["stack"])
    np.testing.assert_array_equal(sequence, [1, 2, 3, 4, 5])
    for row, frame in zip(data, frames, strict=True):
        np.testing.assert_allclose(row, _expected(frame), rtol=1e-5, atol=1e-5)
    sequence, data, _ = _rows(summary.files["tiffs"])
    np.testing.assert_array_equal(sequence, [1, 2, 3])
    np.testing.assert_allclose(data[2], _expected(frames[2]), rtol=1e-5, atol=1e-5)
    with h5py.File(summary.files["tiffs"]) as handle:
        assert handle["entry/run_uid"].asstr()[()] == "tiffs"
        assert len(handle["entry/failed/sequence"]) == 0
    assert [step.method for step in _stored_history(summary.files["tiffs"])] == ["read", "gaussian"]  # the TIFF read, the restoration


def test_a_run_file_reads_like_the_restore_output_of_the_same_stack(tmp_path):
    """One NeXus layout: asirp.open gives a pipeline run file's frames, mask, kind, geometry and history as it gives
    those of ``asirp restore``'s output of the same frames as one stack."""
    series = asirp.synth.diffraction_series(3, event_frame=None, shape=(48, 48), dose=20.0, seed=3).noisy
    assert series.geometry is not None and not series.valid.all()
    Pipeline.from_dict({**GAUSS, "execution": {"backend": "local"}}).run(iterate(series.images(), run="series"), output=tmp_path)
    asirp.save(asirp.restore(series, "gaussian", sigma=1.0), tmp_path / "restored.nxs")
    run, offline = asirp.open(tmp_path / "series.nxs"), asirp.open(tmp_path / "restored.nxs")
    assert run.shape == offline.shape == (3, 48, 48) and run.kind == offline.kind == "diffraction"
    np.testing.assert_array_equal(run.data, offline.data)
    np.testing.assert_array_equal(run.valid, offline.valid)
    assert run.geometry.to_text() == offline.geometry.to_text() and run.pixel_size == offline.pixel_size
    assert [(s.method, s.parameters) for s in run.history] == [(s.method, s.parameters) for s in offline.history]
    assert run.history[0].method == "gaussian" and run.history[0].parameters["sigma"] == 1.0


def test_cli_run_writes_one_file_per_input_and_exit_status(tmp_path, capsys):
    frames = _frames(3)
    with h5py.File(tmp_path / "stack.h5", "w") as handle:
        handle["images"] = np.stack(frames)
    (tmp_path / "p.toml").write_text("[read]\nkind = 'diffraction'\n[restore]\nmethod = 'gaussian'\n[write]\noutput = 'restored'\n")
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(tmp_path / "stack.h5"), "--backend", "local"]) == 0
    out = capsys.readouterr().out
    assert "3 written, 0 failed" in out and "0 lost" in out
    sequence, data, _ = _rows(tmp_path / "restored" / "stack.nxs")
    np.testing.assert_array_equal(sequence, [1, 2, 3])
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such file or folder" in capsys.readouterr().err


def test_cli_run_per_file_writes_one_output_per_input_file(tmp_path, capsys):
    # Issue 17: a folder gave one NeXus stack, with no option for one output per input file.
    frames = _frames(3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        tifffile.imwrite(folder / f"img_{index:03d}.tif", frame.astype(np.int32))
    (tmp_path / "p.toml").write_text("[read]\nkind = 'diffraction'\npattern = '*.tif'\n[restore]\nmethod = 'gaussian'\n")
    out = tmp_path / "restored"
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(folder), "-o", str(out), "--per-file", "--backend", "local"]) == 0
    assert "3 written, 0 failed" in capsys.readouterr().out
    assert sorted(path.name for path in out.iterdir()) == ["img_000.nxs", "img_001.nxs", "img_002.nxs"]
    for index, frame in enumerate(frames):
        sequence, data, _ = _rows(out / f"img_{index:03d}.nxs")
        np.testing.assert_array_equal(sequence, [1])
        np.testing.assert_allclose(data[0], _expected(frame), rtol=1e-5, atol=1e-5)
    tifffile.imwrite(folder / "img_000.tiff", frames[0].astype(np.int32))  # same stem as img_000.tif
    (tmp_path / "q.toml").write_text("[read]\nkind = 'diffraction'\npattern = 'img_*'\n[restore]\nmethod = 'gaussian'\n")
    assert main(["run", "-q", str(tmp_path / "q.toml"), str(folder), "-o", str(tmp_path / "other"), "--per-file"]) == 2
    assert "same run file(s) img_000" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_failing_frame_is_recorded_and_the_run_goes_on(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = _frames(4)
    for index, frame in enumerate(frames):
        np.save(folder / f"f{index}.npy", frame)
    (folder / "f2.npy").write_bytes(b"\x93NUMPY broken")  # a truncated detector file
    pipe = Pipeline.from_dict({**GAUSS, "execution": {"backend": "thread", "workers": 2}})
    summary = pipe.run_files([folder], output=tmp_path / "out", progress=False)
    assert (summary.written, summary.failed, summary.lost) == (3, 1, 0)
    sequence, data, _ = _rows(summary.files["frames"])
    np.testing.assert_array_equal(sequence, [1, 2, 4])
    np.testing.assert_allclose(data[2], _expected(frames[3]), rtol=1e-5, atol=1e-5)
    with h5py.File(summary.files["frames"]) as handle:
        assert list(handle["entry/failed/sequence"][()]) == [3]
        assert "f2.npy" in handle["entry/failed/error"].asstr()[0]
    # the CLI says so with exit status 1
    (tmp_path / "p.toml").write_text("[read]\nkind = 'diffraction'\n[restore]\nmethod = 'gaussian'\n")
    assert main(["run", "-q", str(tmp_path / "p.toml"), str(folder), "-o", str(tmp_path / "cli")]) == 1
    assert "failed frames:3" in capsys.readouterr().err


def test_failure_inside_method_recorded_with_its_error(tmp_path):
    frames = _frames(5)
    frames[1] = -frames[1]
    pipe = Pipeline.from_dict({"read": {"kind": "image"}, "execution": {"backend": "thread", "workers": 2}}, method=FailsOnNegativeCorner())
    summary = pipe.run(iterate(frames, run="r"), output=tmp_path)
    assert (summary.written, summary.failed) == (4, 1)
    assert summary.errors == {"r:2": summary.errors["r:2"]} and "ValueError: negative corner" in summary.errors["r:2"]
    np.testing.assert_array_equal(read_rows(tmp_path / "r.nxs")[0], [1, 3, 4, 5])


def test_results_written_in_order_with_bounded_in_flight_work(tmp_path):
    frames = [np.full((16, 16), float(i), np.float32) for i in range(12)]
    seen_in_flight = []
    backend = ThreadBackend(3)
    original = backend.submit

    def submit(fn, *args):
        seen_in_flight.append(sum(entry.is_frame for entry in engine._pending) + 1)
        return original(fn, *args)

    backend.submit = submit
    pipe = Pipeline.from_dict({"read": {"kind": "image"}, "execution": {"max_in_flight": 3}}, method=Jittery())
    engine = pipe.engine(output=tmp_path, backend=backend)
    summary = engine.run(iterate(frames, run="r"))
    engine.nexus.close()
    backend.close()
    assert summary.written == 12 and max(seen_in_flight) <= 3
    sequence, data, _ = _rows(tmp_path / "r.nxs")
    np.testing.assert_array_equal(sequence, np.arange(1, 13))
    np.testing.assert_array_equal(data[:, 0, 0], np.arange(12))


def test_graceful_stop_leaves_a_resumable_run_written_exactly_once(tmp_path):
    frames = _frames(8)
    pipe = Pipeline.from_dict({**GAUSS, "execution": {"backend": "thread", "workers": 2}})
    engine = pipe.engine(output=tmp_path)

    def stream():
        for obj in iterate(frames, run="series"):
            yield obj
            if isinstance(obj, Item) and obj.seq == 3:
                engine.request_stop()  # what SIGINT/SIGTERM do

    first = engine.run(stream())
    engine.nexus.close()
    engine.backend.close()
    assert first.interrupted and first.written == 3
    assert not (tmp_path / "series.nxs").exists() and (tmp_path / "series.nxs.partial").exists()
    second = pipe.run(iterate(frames, run="series"), output=tmp_path)
    assert (second.resumed, second.written, second.lost) == (3, 5, 0)
    sequence, data, _ = _rows(tmp_path / "series.nxs")
    np.testing.assert_array_equal(sequence, np.arange(1, 9))
    np.testing.assert_allclose(data[6], _expected(frames[6]), rtol=1e-5, atol=1e-5)
    assert not (tmp_path / "series.nxs.partial").exists()


# -- method under a budget -------------------------------------------------------------------------------


def test_budget_falls_back_to_the_cheapest_applicable_method():
    frame = asirp.Frame.from_array(_frames(1, (128, 128))[0], kind="diffraction")
    generous = make_plan(frame, "gaussian", {"sigma": 2.0}, budget_s=10.0)
    assert generous.method == "gaussian" and "fallback" not in generous.notes["budget"]
    tight = make_plan(frame, "richardson_lucy", {"psf_sigma": 1.0, "iterations": 50}, budget_s=1e-6)
    budget = tight.notes["budget"]
    assert tight.method == budget["fallback"] != "richardson_lucy"
    assert budget["estimated_s"] > 1e-6 and "over the budget" in budget["reason"]
    restoring = [
        cls().cost(frame.shape, cls().validate())
        for cls in registry().values()
        if frame.kind in cls.kinds and cls.family in ("denoising", "deconvolution") and not cls.needs - {"gpu_faster"}
    ]
    assert budget["fallback_estimated_s"] == pytest.approx(min(restoring))
    # the reason travels into the restored frame's provenance
    restore = {"method": "richardson_lucy", "params": {"psf_sigma": 1.0}, "budget_s": 1e-6}
    pipe = Pipeline.from_dict({"read": {"kind": "diffraction"}, "restore": restore})
    restored = pipe.process(frame)
    assert restored.history[-1].method == budget["fallback"]
    assert "over the budget" in restored.history[-1].notes["budget"]["reason"]
    from_api = asirp.restore(frame, "richardson_lucy", psf_sigma=1.0, iterations=50, budget_s=1e-6).history[-1]
    assert from_api.method == budget["fallback"] and from_api.notes["budget"] == budget  # the same plan as a pipeline's


def test_a_series_plan_estimates_once_what_the_method_estimates_per_frame():
    """Wiener without a PSF or nsr estimates a blur width and two power spectra on every frame; a plan for
    a series estimates them on its first frame, and the result on that frame is unchanged."""
    blurred = asirp.synth.mesh_grid_map("AG175", shape=(96, 96), counts=200, seed=3).noisy
    per_frame = make_plan(blurred, "wiener")
    series = make_plan(blurred, "wiener", series=True)
    assert per_frame.series is None and set(series.series) == {"psf_sigma", "spectrum"}
    assert series.params["spectrum"]["noise"] > 0 and series.fingerprint is not None
    np.testing.assert_array_equal(series.run(blurred).data, per_frame.run(blurred).data)
    step = series.run(blurred).history[-1]
    assert step.notes["series_parameters"] == series.series and step.notes["spectrum_given"]
    # what the user fixed is never replaced; a constant nsr leaves nothing to estimate
    fixed = make_plan(blurred, "wiener", {"psf_sigma": 1.2}, series=True)
    assert fixed.params["psf_sigma"] == 1.2 and set(fixed.series) == {"spectrum"}
    assert make_plan(blurred, "wiener", {"psf_sigma": 1.2, "nsr": 0.01}, series=True).series is None
    assert make_plan(blurred, "richardson_lucy", series=True).series.keys() == {"psf_sigma"}


def test_a_pipeline_run_pins_series_parameters_and_estimates_them_anew_on_drift(tmp_path):
    low = [asirp.synth.mesh_grid_map("AG175", shape=(64, 64), counts=50, seed=s).noisy for s in (1, 2, 3)]
    high = [asirp.synth.mesh_grid_map("AG175", shape=(64, 64), counts=2000, seed=s).noisy for s in (4, 5, 6)]
    steps = WorkerSteps(parse_config({"read": {"kind": "xrf_map"}}).read, "wiener", {}, None, parse_config({}).analyse)
    plan = steps.plan_for(low[0])
    same = process_item(Item("r", 2, low[1]), plan, steps)
    assert same.replanned is None and same.frame.history[-1].notes["series_parameters"] == plan.series
    changed = process_item(Item("r", 4, high[0]), plan, steps)
    assert changed.replanned is not None and "mean level changed" in changed.replanned.redecided
    assert changed.replanned.series["spectrum"]["amplitude"] > 10 * plan.series["spectrum"]["amplitude"]
    pipe = Pipeline.from_dict({"read": {"kind": "xrf_map"}, "restore": {"method": "wiener"}, "execution": {"backend": "local"}})
    summary = pipe.run(iterate([*low, *high], run="series"), output=tmp_path)
    assert summary.written == 6
    assert "series_parameters" in _stored_history(tmp_path / "series.nxs")[-1].notes


def test_auto_plan_is_made_once_per_run_and_recorded(tmp_path):
    frames = asirp.synth.diffraction_series(3, event_frame=None, shape=(64, 64), dose=20.0, seed=1).noisy.images()
    pipe = Pipeline.from_dict({"read": {"kind": "diffraction"}, "restore": {"method": "auto", "budget_s": 0.5}, "execution": {"backend": "local"}})
    summary = pipe.run(iterate(frames, run="auto"), output=tmp_path)
    assert summary.written == 3
    with h5py.File(tmp_path / "auto.nxs") as handle:
        methods = set(handle["entry/data/method"][()])
    notes = _stored_history(tmp_path / "auto.nxs")[-1].notes
    assert len(methods) == 1 and "budget" in notes and "selection" in notes


def test_auto_plan_is_decided_anew_when_the_data_drift(tmp_path):
    """A run whose counts level jumps 20x gets a new decision on the first changed frame, then reuses it."""
    low = asirp.synth.diffraction_series(3, event_frame=None, shape=(64, 64), dose=2.0, seed=1).noisy.images()
    high = asirp.synth.diffraction_series(3, event_frame=None, shape=(64, 64), dose=40.0, seed=2).noisy.images()
    steps = WorkerSteps(parse_config({"read": {"kind": "diffraction"}}).read, "auto", {}, 0.5, parse_config({}).analyse)
    plan = make_plan(low[0], "auto", budget_s=0.5, mode="online")
    same = process_item(Item("r", 2, low[1]), plan, steps)
    assert same.ok and same.replanned is None and "redecided" not in same.frame.history[-1].notes
    changed = process_item(Item("r", 4, high[0]), plan, steps)
    assert changed.ok and changed.replanned is not None
    assert "mean level changed" in changed.frame.history[-1].notes["redecided"]
    assert changed.replanned.drift(high[1]) is None  # the new plan fits the new data: reused from here on
    pipe = Pipeline.from_dict({"read": {"kind": "diffraction"}, "restore": {"method": "auto", "budget_s": 0.5},
                               "execution": {"backend": "local"}})  # fmt: skip
    summary = pipe.run(iterate([*low, *high], run="drift"), output=tmp_path)
    assert summary.written == 6
    with h5py.File(tmp_path / "drift.nxs") as handle:
        redecided = json.loads(handle["entry/redecided/data"].asstr()[()])
    assert redecided[0]["sequence"] == 4 and "mean level changed" in redecided[0]["notes"]["redecided"]
    assert {r["sequence"] for r in redecided} <= {4, 5, 6}  # frames in flight before the new plan arrived


# -- XRF maps from lines -----------------------------------------------------------------------------------


def test_xrf_map_assembled_from_snake_lines_of_spectra(tmp_path):
    rng = np.random.default_rng(3)
    ny, nx, channels = 6, 7, 32
    cube = rng.poisson(3.0, (ny, nx, channels)).astype(np.int32)
    expected = cube[:, :, 10:20].sum(axis=2).astype(np.float32)
    lines = [cube[i, ::-1] if i % 2 else cube[i] for i in range(ny)]  # snake: odd lines scanned backwards
    stream = [RunStart("map")] + [Item("map", i + 1, line) for i, line in enumerate(lines)] + [RunStop("map")]
    pipe = Pipeline.from_dict(
        {
            "read": {"kind": "xrf_map"},
            "xrf_map": {"shape": [ny, nx], "channels": [10, 20], "snake": True, "step_um": [5, 5]},
            "restore": {"method": "identity"},
            "execution": {"backend": "local"},
        }  # fmt: skip
    )
    summary = pipe.run(stream, output=tmp_path)
    assert (summary.written, summary.absorbed, summary.lost) == (1, ny, 0)
    sequence, data, mask = _rows(tmp_path / "map.nxs")
    np.testing.assert_array_equal(data[0], expected)
    assert not mask.any()


def test_xrf_partial_map_masks_missing_and_bad_lines(tmp_path):
    lines = [np.full(5, float(i)) for i in range(4)]
    lines[1] = np.ones(3)  # wrong length
    stream = [RunStart("m")] + [Item("m", i + 1, line) for i, line in enumerate(lines)] + [RunStop("m", complete=False)]
    pipe = Pipeline.from_dict({"xrf_map": {"shape": [6, 5]}, "restore": {"method": "identity"}, "execution": {"backend": "local"}})
    engine = pipe.engine(output=tmp_path)
    engine.run(stream)
    engine.nexus.close()
    sequence, data, mask = read_rows(tmp_path / "m.nxs.partial")[0], *_rows(tmp_path / "m.nxs.partial")[1:]
    np.testing.assert_array_equal(sequence, [1])
    np.testing.assert_array_equal(mask[0].any(axis=1), [False, True, False, False, True, True])
    np.testing.assert_array_equal(data[0][3], [3.0] * 5)


# -- backends and transport -------------------------------------------------------------------------------


def test_items_and_results_with_frames_pickle_for_dask():
    result = asirp.synth.diffraction_frame(shape=(32, 32))
    item = Item("r", 1, result.noisy, meta={"x": 1.0})
    again = pickle.loads(pickle.dumps(item))
    np.testing.assert_array_equal(again.payload.data, item.payload.data)
    np.testing.assert_array_equal(again.payload.valid, item.payload.valid)
    assert again.payload.geometry.poni == item.payload.geometry.poni
    steps = WorkerSteps(parse_config(GAUSS).read, "gaussian", {}, None, parse_config({}).analyse)
    out = pickle.loads(pickle.dumps(process_item(item, None, steps)))
    assert isinstance(out, Result) and out.ok and out.frame.history[-1].method == "gaussian"
    missing = process_item(Item("r", 2, FileRef("/nonexistent.tif")), None, steps)
    assert not missing.ok and "no such file" in missing.error


def test_local_thread_and_dask_backends_write_identical_files(tmp_path):
    frames = _frames(6)
    pipe = Pipeline.from_dict(GAUSS)
    outputs = {}
    dask = DaskBackend(2, processes=False)
    try:
        for name, backend in (("local", LocalBackend()), ("thread", ThreadBackend(2)), ("dask", dask)):
            summary = pipe.run(iterate(frames, run="s"), output=tmp_path / name, backend=backend)
            assert (summary.written, summary.lost) == (6, 0), name
            outputs[name] = _rows(tmp_path / name / "s.nxs")
    finally:
        dask.close()
    for name in ("thread", "dask"):
        np.testing.assert_array_equal(outputs[name][0], outputs["local"][0])
        np.testing.assert_array_equal(outputs[name][1], outputs["local"][1])


def test_dask_backend_on_a_scheduler_address(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        pipe = Pipeline.from_dict({**GAUSS, "execution": {"backend": "dask", "scheduler": cluster.scheduler_address}})
        summary = pipe.run(iterate(_frames(3), run="remote"), output=tmp_path)
    assert (summary.written, summary.lost) == (3, 0)
    np.testing.assert_allclose(_rows(tmp_path / "remote.nxs")[1][2], _expected(_frames(3)[2]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ParameterError, match="cannot reach the Dask scheduler"):
        DaskBackend(scheduler="tcp://127.0.0.1:9", connect_timeout_s=0.5)


def test_in_flight_limit_applies_backpressure_to_the_source(tmp_path):
    released = []
    gate = threading.Event()

    class Gated(Method):
        name = "gated"
        family = "reference"
        task = "waits for the test (test)"
        Parameters = Params

        def process(self, frame, params):
            gate.wait(5)
            return Output(np.array(frame.data))

    def source():
        yield RunStart("g")
        for i in range(10):
            released.append(i)
            yield Item("g", i + 1, np.zeros((8, 8), np.float32))
        yield RunStop("g")

    pipe = Pipeline.from_dict({"execution": {"backend": "thread", "workers": 2, "max_in_flight": 2}}, method=Gated())
    worker = threading.Thread(target=lambda: pipe.run(source(), output=tmp_path))
    worker.start()
    time.sleep(0.3)
    assert len(released) == 3  # 2 frames in flight and 1 waiting for room: the source is not read further
    gate.set()
    worker.join(10)
    np.testing.assert_array_equal(read_rows(tmp_path / "g.nxs")[0], np.arange(1, 11))


def test_cli_run_stops_on_sigint_and_the_same_command_resumes(tmp_path, capsys):
    import os
    import signal

    n = 300
    with h5py.File(tmp_path / "stack.h5", "w") as handle:
        handle["data"] = np.random.default_rng(0).poisson(10.0, (n, 96, 96)).astype(np.float32)
    (tmp_path / "p.toml").write_text("[read]\nkind = 'image'\n[restore]\nmethod = 'gaussian'\nparams = { sigma = 12.0 }\n[execution]\nworkers = 1\n")
    command = ["run", "-q", str(tmp_path / "p.toml"), str(tmp_path / "stack.h5"), "-o", str(tmp_path / "out")]
    partial = tmp_path / "out" / "stack.nxs.partial"

    def interrupt_once_started():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if partial.exists():  # the run has started writing (the file is open: not readable in-process)
                time.sleep(0.1)
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
                return
            time.sleep(0.005)

    timer = threading.Thread(target=interrupt_once_started)
    timer.start()
    assert main(command) == 130
    timer.join()
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err
    done = read_rows(partial)[1]
    assert 0 < done < n and not (tmp_path / "out" / "stack.nxs").exists()
    assert main(command) == 0
    assert f"{n - done} written" in capsys.readouterr().out
    np.testing.assert_array_equal(read_rows(tmp_path / "out" / "stack.nxs")[0], np.arange(1, n + 1))
