"""Micro-XRF: readers of every layout, scan geometry, calibration, windows, channel adding,
normalisation, orientation, exports, configuration and the CLI, against known answers."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from asirp.cli.xrf import overrides
from asirp.errors import InputError, OutputError, ParameterError
from asirp.io import open as open_frame
from asirp.methods.base import registry
from asirp.synth import Sawtooth, write_xrf_cube, xrf_cube
from asirp.units import PixelSize
from asirp.xrf import (
    DetectorResolution,
    EnergyCalibration,
    MapAxes,
    Normalisation,
    channel_sums,
    crop,
    element_maps,
    find_overlaps,
    fit_two_peaks,
    flip,
    from_array,
    grid_from_position_maps,
    grid_from_positions,
    grid_from_shape,
    load_config,
    make_window,
    make_windows,
    open_spectra,
    parse_line,
    read_maps_override,
    rotate,
    transpose,
    window_sums,
    write_nexus_maps,
    write_png,
    write_txt,
)
from asirp.xrf.export import txt_table
from asirp.xrf.normalise import normalise, row_stripes
from asirp.xrf.restore import check_restoration, method_parameters

CAL = EnergyCalibration(0.0, 0.04)  # 512 channels up to 20.5 keV
APS_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "xrf" / "2xfm_0011_2xfm3__0.h5"


@pytest.fixture(scope="module")
def cube():
    """A small AG175 cube: 16 x 12 points, 512 channels, sawtooth beam, dead time, two detector elements."""
    return xrf_cube(
        "AG175", shape=(16, 12), n_channels=512, calibration=CAL, elements={"Fe": 20.0},
        sawtooth=Sawtooth(period_s=4.0, depth=0.4, dwell_s=0.05), n_detectors=2, position_jitter_um=0.8, seed=5,
    )  # fmt: skip


def _direct(cube, window):
    """The window's counts by a plain numpy sum over the whole in-memory cube."""
    return cube.counts.sum(axis=0)[..., window.lo : window.hi].sum(axis=-1)


# -- lines, calibration ---------------------------------------------------------------------


def test_line_names_energies_and_window_around_cu_ka():
    assert parse_line("Cu-Ka").energy_kev == pytest.approx(8.041, abs=0.005)
    assert parse_line("cu_ka").name == parse_line("CuKa").name == parse_line("Cu").name == "Cu-Ka"
    assert parse_line("Fe-Kb").energy_kev == pytest.approx(7.058, abs=0.005)
    assert parse_line("Pb-La").energy_kev == pytest.approx(10.54, abs=0.02)
    assert parse_line("Pb_L").name == "Pb-La"
    window = make_window("Cu-Ka", CAL, 512, DetectorResolution())
    fwhm = DetectorResolution().fwhm_kev(8.041)
    assert window.lo_kev <= 8.028 and window.hi_kev >= 8.048  # both Kα components inside
    assert window.lo_kev == pytest.approx(8.028 - fwhm, abs=CAL.slope_kev)  # ±1 FWHM beyond the components
    assert window.hi_kev == pytest.approx(8.048 + fwhm, abs=CAL.slope_kev)
    for bad in ("Xx-Ka", "Cu-Kz", "H-Kb"):
        with pytest.raises(ParameterError):
            make_window(bad, CAL, 512)


def test_energy_and_channel_windows_and_overlaps():
    windows = make_windows({"Co": "Co-Ka", "Fe-Kb": "Fe-Kb", "roi": "ch:10-19", "band": "7.9-8.2keV"}, CAL, 512)
    roi, band = windows[2], windows[3]
    assert (roi.lo, roi.hi, roi.width) == (10, 20, 10)
    assert band.lo == 198 and band.hi == 206  # channel centres 7.92 .. 8.20 keV
    text = [str(o) for o in find_overlaps(windows, CAL)]
    assert any("Co / Fe-Kb" in t and "shared channels" in t for t in text)
    assert any("Fe-Kb line at 7.058 keV lies inside" in t for t in text)
    with pytest.raises(ParameterError, match="unique"):
        make_windows(["Cu-Ka", "Cu"], CAL, 512)


def test_calibration_that_maps_the_line_outside_the_spectrum_is_refused():
    with pytest.raises(ParameterError, match="outside the spectrum"):
        make_window("Cu-Ka", EnergyCalibration(0.0, 0.005), 1024)  # 0-5.1 keV: Cu Kα at channel 1608
    with pytest.raises(ParameterError, match="slope"):
        EnergyCalibration(0.0, -0.01)
    clipped = make_window("4-30keV", CAL, 512)
    assert clipped.clipped and clipped.hi == 512


def test_calibration_inverse_and_maps_override(tmp_path):
    cal = EnergyCalibration(-0.01, 0.01, 2e-7)
    channels = np.array([0.0, 100.5, 2047.0])
    assert np.allclose(cal.channel(cal.energy(channels)), channels)
    text = "VERSION: 5.0\nCAL_OFFSET_[E_OFFSET]: -0.0041840752\nCAL_SLOPE_[E_LINEAR]: 0.0095216077\n" \
        "CAL_QUAD_[E_QUADRATIC]: 0.0\nFWHM_OFFSET: 0.09721764\nFWHM_FANOPRIME: 0.00022440446\nCOHERENT_SCT_ENERGY: 10.0\n"
    (tmp_path / "p.txt").write_text(text)
    parameters = read_maps_override(tmp_path / "p.txt")
    assert parameters.calibration.slope_kev == pytest.approx(0.0095216077)
    assert parameters.incident_energy_kev == 10.0
    # The MAPS resolution model: sigma^2 = (offset/2.3548)^2 + 2.96 * fanoprime * E.
    sigma = np.sqrt((0.09721764 / 2.3548) ** 2 + 2.96 * 0.00022440446 * 8.0)
    assert parameters.resolution.fwhm_kev(8.0) == pytest.approx(2.3548 * sigma, rel=1e-4)
    (tmp_path / "empty.txt").write_text("VERSION: 5.0\n")
    with pytest.raises(InputError, match="CAL_OFFSET"):
        read_maps_override(tmp_path / "empty.txt")


def test_two_peak_fit_recovers_the_calibration():
    true = EnergyCalibration(0.031, 0.0101)
    channels = np.arange(2048)
    spectrum = 5.0 + np.zeros(2048)
    for energy, area in ((2.957, 4000.0), (8.041, 9000.0)):
        centre, sigma = true.channel(energy), 6.0
        spectrum += area / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((channels - centre) / sigma) ** 2)
    counts = np.random.default_rng(0).poisson(spectrum)
    fit = fit_two_peaks(counts, (2.957, 8.041), guess=EnergyCalibration(0.0, 0.01))
    assert fit.calibration.slope_kev == pytest.approx(true.slope_kev, rel=2e-3)
    assert fit.calibration.channel(8.041) == pytest.approx(true.channel(8.041), abs=0.3)
    with pytest.raises(InputError, match="no clear peak"):
        fit_two_peaks(np.full(2048, 7.0), (2.957, 8.041), guess=EnergyCalibration(0.0, 0.01))


# -- scan geometry ----------------------------------------------------------------------------


def _scan_positions(ny, nx, step_y, step_x, snake, jitter, seed=0, fast="x"):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:ny, 0:nx]
    if snake:
        cols[1::2] = cols[1::2, ::-1]
    x = 100.0 - cols.ravel() * step_x + rng.normal(0, jitter, ny * nx)  # the x motor moves negatively
    y = 7.0 + rows.ravel() * step_y + rng.normal(0, jitter, ny * nx)
    return (x, y, cols.ravel(), rows.ravel()) if fast == "x" else (y, x, rows.ravel(), cols.ravel())


@pytest.mark.parametrize("snake", [False, True])
def test_grid_shape_step_and_snake_from_jittery_positions(snake):
    x, y, cols, rows = _scan_positions(9, 13, 10.0, 25.0, snake, jitter=0.8)
    grid = grid_from_positions(x, y, unit="um")
    assert grid.shape == (9, 13) and grid.snake is snake and grid.fast_motor == "x"
    assert grid.step.y == pytest.approx(10.0, rel=0.01) and grid.step.x == pytest.approx(25.0, rel=0.01)
    # Column 0 is the smallest x: the x motor ran negatively, so point (r, c) lands in column 12 - c.
    assert np.array_equal(grid.cell, rows * 13 + (12 - cols))
    assert grid.col_values[0] == pytest.approx(100.0 - 12 * 25.0, abs=1.0)


def test_grid_with_the_y_motor_fast_and_shape_order():
    x, y, _, _ = _scan_positions(6, 8, 5.0, 5.0, False, jitter=0.2, fast="y")
    grid = grid_from_positions(x, y)
    assert grid.fast_motor == "y" and grid.shape == (8, 6)
    snake = grid_from_shape((3, 4), snake=True)
    assert snake.cell.tolist() == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]


def test_duplicated_missing_and_off_grid_points():
    x, y, _, _ = _scan_positions(4, 5, 10.0, 10.0, False, jitter=0.0)
    x, y = np.append(x, x[6]), np.append(y, y[6])  # point 6 measured twice
    grid = grid_from_positions(x, y)
    values = np.arange(21, dtype=float)
    with pytest.raises(InputError, match="more than once"):
        grid.place(values)
    node = np.unravel_index(grid.cell[6], grid.shape)
    mean, valid = grid.place(values, duplicates="mean")
    assert valid.all() and mean[node] == pytest.approx((6 + 20) / 2)
    last, _ = grid.place(values, duplicates="last")
    assert last[node] == 20
    short = grid_from_positions(x[:17], y[:17])  # an aborted scan: the last 3 nodes never measured
    grid_values, grid_valid = short.place(np.ones(17))
    assert grid_valid.sum() == 17 and not grid_valid[3, :3].any() and grid_values[3, 0] == 0  # x ran negatively
    with pytest.raises(InputError, match="regular grid"):
        grid_from_positions(np.random.default_rng(1).uniform(0, 100, 50), np.random.default_rng(2).uniform(0, 100, 50))
    with pytest.raises(InputError, match="never moves"):
        grid_from_positions(np.arange(10.0), np.zeros(10))


def test_transposed_position_maps_label_rows_as_x():
    rows, cols = np.mgrid[0:5, 0:7].astype(float)
    grid = grid_from_position_maps(x=rows * 3.0, y=cols * 2.0, unit="mm")
    assert (grid.row_motor, grid.col_motor) == ("x", "y")
    step = grid.step
    assert (step.y, step.x, step.unit) == (pytest.approx(3.0), pytest.approx(2.0), "mm")


# -- readers, channel adding -----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["pyxrf", "maps", "nexus", "points"])
def test_every_layout_reads_the_same_maps_as_a_direct_sum(cube, tmp_path, layout):
    path = write_xrf_cube(cube, tmp_path / f"{layout}.h5", layout, snake=layout == "points")
    with open_spectra(path) as source:
        assert source.n_points == 16 * 12 and source.n_channels == 512
        assert {"live_time", "icr", "ocr"} <= set(source.scalers)
        calibration = None if source.calibration is not None else CAL
        maps = element_maps(source, ["Cu-Ka", "Fe-Ka"], calibration=calibration, spectrum=True, show_progress=False)
    window = maps.windows[0]
    assert np.array_equal(maps.counts["Cu-Ka"].data, _direct(cube, window))
    assert maps.counts["Cu-Ka"].kind == "xrf_map"
    if layout != "maps":  # MAPS_RAW has no positions: no step unless given
        assert maps.counts["Cu-Ka"].pixel_size.to("um").x == pytest.approx(25.0, rel=0.01)
    assert np.array_equal(maps.spectrum, cube.counts.sum(axis=(0, 1, 2)))
    step = maps.counts["Cu-Ka"].history[0]
    assert step.method == "xrf_channel_add" and len(step.inputs[0]["sha256"]) == 64


def test_chunked_streaming_equals_in_memory(cube, tmp_path):
    path = write_xrf_cube(cube, tmp_path / "c.h5", "pyxrf", chunk_mb=0.01)
    windows = make_windows(["Cu-Ka", "Ar-Ka", "ch:0-511"], CAL, 512)
    with open_spectra(path, detectors=[0, 1]) as source:
        assert source.n_blocks(int(0.02e6)) > 4  # many small blocks
        streamed = channel_sums(source, windows, spectrum=True, chunk_mb=0.02, show_progress=False)
    memory = channel_sums(from_array(list(cube.counts)), windows, spectrum=True, chunk_mb=1e3, show_progress=False)
    assert np.array_equal(streamed.sums, memory.sums)
    assert np.array_equal(streamed.spectrum, memory.spectrum)
    block = cube.counts[0].reshape(-1, 512)
    assert np.array_equal(window_sums(block, windows)[:, 2], block.sum(axis=1))


def test_maps_wrong_axis_order_and_mismatched_scalers(tmp_path):
    counts = np.ones((6, 5, 300), dtype=np.int32)
    with h5py.File(tmp_path / "maps.h5", "w") as f:
        f["MAPS_RAW/data_a"] = counts  # channels last: wrong for MAPS
        f["MAPS_RAW/livetime"] = np.ones((1, 6, 5), dtype=np.float32)
    with pytest.raises(InputError, match="wrong axis order"):
        open_spectra(tmp_path / "maps.h5")
    with h5py.File(tmp_path / "pyxrf.h5", "w") as f:
        f["xrfmap/detsum/counts"] = counts
        f["xrfmap/scalers/name"] = np.array([b"i0"])
        f["xrfmap/scalers/val"] = np.ones((6, 4, 1))
    with pytest.raises(InputError, match=r"scalers/val has shape \(6, 4, 1\)"):
        open_spectra(tmp_path / "pyxrf.h5")
    with pytest.raises(InputError, match="one value per scan point"):
        from_array(counts, scalers={"i0": np.ones(29)})


def test_nexus_channels_first_is_caught_and_readable_with_channel_axis(tmp_path):
    counts = np.random.default_rng(0).poisson(2.0, (300, 6, 5)).astype(np.int32)
    with h5py.File(tmp_path / "n.h5", "w") as f:
        f["entry/data/counts"] = counts
        f["entry/data/counts"].attrs["interpretation"] = "spectrum"
    with pytest.raises(InputError, match="channel_axis=0"):
        open_spectra(tmp_path / "n.h5")
    with open_spectra(tmp_path / "n.h5", channel_axis=0) as source:
        sums = channel_sums(source, make_windows(["ch:10-20"], None, 300), show_progress=False)
    assert np.array_equal(sums.total[:, 0], counts[10:21].sum(axis=0).ravel())
    with h5py.File(tmp_path / "list.h5", "w") as f:
        f["entry/data/spectra"] = np.ones((30, 128), dtype=np.int32)
        f["entry/data/spectra"].attrs["interpretation"] = "spectrum"
    with pytest.raises(InputError, match="needs motor positions"):
        open_spectra(tmp_path / "list.h5")
    with open_spectra(tmp_path / "list.h5", shape=(5, 6), snake=True) as source:
        assert source.grid.shape == (5, 6) and source.grid.snake


@pytest.mark.skipif(not APS_FILE.is_file(), reason="the shared APS 2-ID-E example is not available")
def test_real_aps_maps_raw_file():
    with open_spectra(APS_FILE) as source:
        assert (source.layout, source.grid.shape, len(source.detectors), source.n_channels) == ("maps", (11, 9), 4, 2048)
        assert source.calibration.slope_kev == pytest.approx(0.0095216077)
        maps = element_maps(source, ["Ar-Ka", "Fe-Ka", "Cu-Ka"], normalisation="livetime", spectrum=True, show_progress=False)
    spectrum = maps.spectrum
    assert spectrum.sum() == 295352  # all four elements, every point
    ar = maps.counts["Ar-Ka"].data
    assert ar.mean() > 5 * maps.counts["Cu-Ka"].data.mean() / 2  # argon (air) is the strongest line here
    # The first column dwells 2.4 times longer (fly-scan turnaround): live-time normalisation evens it out.
    raw_ratio = ar[:, 0].mean() / ar[:, 1:].mean()
    normalised = maps.normalised["Ar-Ka"].data
    assert raw_ratio > 2.0 and normalised[:, 0].mean() / normalised[:, 1:].mean() == pytest.approx(1.0, abs=0.15)


# -- normalisation ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def striped():
    """A cube with a deep, fast sawtooth (stripes every few rows) and a larger map for row statistics."""
    return xrf_cube("AG175", shape=(40, 32), n_channels=512, calibration=CAL, sawtooth=Sawtooth(period_s=10, depth=0.4, dwell_s=0.05), seed=3)


def test_normalisations_remove_the_sawtooth_stripes(striped):
    source = from_array(striped.counts[0], scalers=striped.scalers, calibration=CAL)
    window = make_window("Cu-Ka", CAL, 512)
    reference = striped.expected_window(window.lo, window.hi)
    floor = row_stripes(np.random.default_rng(1).poisson(reference), reference)  # Poisson noise alone
    stripes = {}
    for method in ("none", "livetime", "i0", "i0+livetime", "ar"):
        norm = Normalisation.parse(method, ar_smooth="auto")
        maps = element_maps(source, ["Cu-Ka"], normalisation=norm, show_progress=False)
        frame = maps.normalised["Cu-Ka"]
        stripes[method] = row_stripes(frame.data, reference, frame.valid)
        assert frame.history[-1].method == "xrf_normalise" and frame.history[-1].parameters["beam"] == norm.beam
    assert stripes["none"] > 4 * floor
    assert stripes["i0"] < stripes["none"] / 3 and stripes["i0+livetime"] < 1.5 * floor
    assert stripes["ar"] < stripes["none"] / 2
    assert stripes["livetime"] > stripes["none"] / 2  # dead time is not the beam: live time alone keeps the stripes


def test_dead_time_and_live_time_corrections_remove_the_dead_time_bias():
    # Copper bars count faster than the holes, so they lose more to dead time (live 53-71 % here):
    # the raw bar/hole contrast is 19 % low; either correction restores it.
    heavy = xrf_cube("AG175", shape=(40, 32), n_channels=512, calibration=CAL, dead_time_s=3e-5, cu_counts=300, seed=3)
    source = from_array(heavy.counts[0], scalers=heavy.scalers, calibration=CAL)
    window = make_window("Cu-Ka", CAL, 512)
    bars, holes = heavy.mesh.blurred.data > 180, heavy.mesh.blurred.data < 60

    def contrast(image):
        return image[bars].sum() / image[holes].sum()

    true = contrast(heavy.expected_window(window.lo, window.hi))
    for method in ("livetime", "deadtime"):
        corrected = element_maps(source, ["Cu-Ka"], normalisation=method, show_progress=False).normalised["Cu-Ka"].data
        assert contrast(corrected) == pytest.approx(true, rel=0.03)
    raw = element_maps(source, ["Cu-Ka"], show_progress=False).counts["Cu-Ka"].data
    assert contrast(raw) < 0.85 * true
    for text in ("livetime+deadtime", "i0+ar", "lifetime"):
        with pytest.raises(ParameterError):
            Normalisation.parse(text)


def test_zero_live_time_points_are_masked_and_all_zero_is_an_error(cube):
    scalers = {k: v.copy() for k, v in cube.scalers.items()}
    scalers["live_time"][2, 3] = 0.0
    source = from_array(list(cube.counts), scalers=scalers, calibration=CAL)
    maps = element_maps(source, ["Cu-Ka"], normalisation="livetime", show_progress=False)
    frame = maps.normalised["Cu-Ka"]
    assert not frame.valid[2, 3] and frame.valid.sum() == 16 * 12 - 1
    assert frame.history[-1].notes["masked_points"] == 1
    scalers["live_time"][:] = 0.0
    with pytest.raises(InputError, match="no scan point has a usable normaliser"):
        element_maps(from_array(list(cube.counts), scalers=scalers, calibration=CAL), ["Cu-Ka"], normalisation="livetime", show_progress=False)
    with pytest.raises(InputError, match="no i0 scaler"):
        element_maps(from_array(list(cube.counts), calibration=CAL), ["Cu-Ka"], normalisation="i0", show_progress=False)


def test_per_detector_live_time_is_applied_before_summing(cube):
    windows = make_windows(["Cu-Ka"], CAL, 512)
    sums = channel_sums(from_array(list(cube.counts)), windows, show_progress=False)
    live = np.stack([np.full(192, 1.0), np.full(192, 0.5)])  # element 2 was live half the time
    result = normalise(sums, {"live_time": live}, Normalisation(detector="livetime"))
    expected = sums.sums[0, :, 0] * 1.0 + sums.sums[1, :, 0] * 1.0  # mean/live = 1 for each element's constant time
    assert np.allclose(result.values[:, 0], expected) and result.parameters["per_detector"]


# -- orientation -----------------------------------------------------------------------------


def _points(frame):
    planes = MapAxes.of(frame).planes()
    return sorted(zip(np.round(planes["x"].ravel(), 6), np.round(planes["y"].ravel(), 6), frame.data.ravel().tolist(), strict=True))


def test_flip_rotate_transpose_keep_every_pixel_at_its_motor_position(cube):
    frame = element_maps(from_array(list(cube.counts), x=cube.x_um, y=cube.y_um, calibration=CAL), ["Cu-Ka"], show_progress=False).counts["Cu-Ka"]
    original = _points(frame)
    for changed in (flip(frame, "lr"), flip(frame, "ud"), rotate(frame, 90), rotate(frame, -90), transpose(frame), rotate(flip(frame, "lr"), 270)):
        assert _points(changed) == original
    turned = rotate(frame, 90)
    assert turned.shape == (12, 16) and MapAxes.of(turned).row_motor == "x"
    assert np.array_equal(turned.data, np.rot90(frame.data))
    assert [s.method for s in turned.history][-1] == "xrf_rotate"
    assert np.array_equal(rotate(frame, 360).data, frame.data)
    with pytest.raises(ParameterError):
        rotate(frame, 45)


def test_transpose_swaps_a_non_square_step_and_crop_by_coordinates():
    source = from_array(np.ones((6, 8, 32), dtype=np.int32), step=PixelSize(10.0, 25.0))
    frame = element_maps(source, ["ch:0-3"], show_progress=False).counts["ch:0-3"]
    assert transpose(frame).pixel_size == PixelSize(25.0, 10.0)
    cropped = crop(frame, x=("25um", "0.1mm"), y=(10, 30))
    assert cropped.shape == (3, 4)
    axes = MapAxes.of(cropped)
    assert axes.col_values.tolist() == [25.0, 50.0, 75.0, 100.0] and axes.row_values.tolist() == [10.0, 20.0, 30.0]
    assert crop(frame, rows=(1, 3), cols=(0, 2)).shape == (2, 2)
    with pytest.raises(ParameterError):
        crop(frame, x=(500, 600))


# -- exports ---------------------------------------------------------------------------------


def test_txt_has_one_row_per_measured_point_in_physical_units(cube, tmp_path):
    maps = element_maps(from_array(list(cube.counts), x=cube.x_um, y=cube.y_um, calibration=CAL), ["Cu-Ka", "Fe-Ka"], show_progress=False)
    frames = {name: flip(frame, "ud") for name, frame in maps.counts.items()}
    path = write_txt(frames, tmp_path / "maps.txt")
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["x (um)", "y (um)", "Cu-Ka (counts)", "Fe-Ka (counts)"]
    table = np.loadtxt(path, skiprows=1)
    assert table.shape == (16 * 12, 4)
    assert table[:, 0].min() == 0 and table[:, 0].max() == pytest.approx(11 * 25.0, rel=0.01)  # relative µm
    assert table[:, 2].sum() == maps.counts["Cu-Ka"].data.sum()
    first = table[0]  # displayed row 0 after the up-down flip is the last scan line: largest y
    assert first[1] == pytest.approx(table[:, 1].max())
    names, absolute = txt_table(frames, relative=False)
    assert absolute[:, 1].max() == pytest.approx(MapAxes.of(frames["Cu-Ka"]).row_values.max())
    with pytest.raises(OutputError):
        write_txt(frames, tmp_path / "maps.png")


def test_nexus_png_and_provenance_round_trip(cube, tmp_path):
    source = from_array(list(cube.counts), x=cube.x_um, y=cube.y_um, scalers=cube.scalers, calibration=CAL)
    maps = element_maps(source, ["Cu-Ka", "Fe-Ka"], normalisation="i0+livetime", spectrum=True, show_progress=False)
    path = write_nexus_maps(
        {"counts": maps.counts, "normalised": maps.normalised},
        tmp_path / "m.nxs",
        spectrum=(maps.spectrum, CAL.energies(512)),
        summary=maps.summary(),
    )
    back = open_frame(f"{path}::/Cu-Ka_normalised")
    assert np.allclose(back.data, maps.normalised["Cu-Ka"].data) and back.kind == "xrf_map"
    assert [s.method for s in back.history] == ["xrf_channel_add", "xrf_normalise", "read"]
    assert back.history[1].parameters == {"beam": "i0", "detector": "livetime", "live_time": "live_time", "per_detector": False, "i0": "i0"}
    with h5py.File(path) as f:
        assert f.attrs["default"] == "Cu-Ka_normalised"
        assert f["xrf/spectrum/counts"][()].sum() == cube.counts.sum()
        assert json.loads(f["xrf/summary/data"][()])["windows"][0]["name"] == "Cu-Ka"
    png = write_png(maps.counts["Cu-Ka"], tmp_path / "cu.png", compare=maps.normalised["Cu-Ka"], colour="copper", limits=("p5", "p95"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError):
        write_png(maps.counts["Cu-Ka"], tmp_path / "x.png", colour="no-such-colour")
    with pytest.raises(ParameterError, match="increase"):
        write_png(maps.counts["Cu-Ka"], tmp_path / "x.png", limits=(10, 5))


# -- restoration, configuration, CLI ---------------------------------------------------------


def test_restoration_parameters_from_beam_size_and_step():
    frame = element_maps(from_array(np.ones((6, 8, 32), dtype=np.int32), step=PixelSize(25.0, 25.0)), ["ch:0-3"], show_progress=False).counts[
        "ch:0-3"
    ]
    with pytest.raises(ParameterError, match="takes no PSF"):
        method_parameters("gaussian", frame, beam_fwhm="50um")
    with pytest.raises(ParameterError, match="not iterative"):
        method_parameters("gaussian", frame, iterations=5)
    assert method_parameters("gaussian", frame, params={"sigma": 2.0}) == {"sigma": 2.0}
    if "richardson_lucy" in registry():
        fields = registry()["richardson_lucy"].Parameters.model_fields
        kwargs = method_parameters("richardson_lucy", frame, beam_fwhm="50um", iterations=10)
        if "beam_fwhm" in fields:
            assert kwargs["beam_fwhm"] == "50um"
        else:
            assert kwargs["psf_sigma"] == pytest.approx(50 / 2.3548 / 25, rel=1e-3)
    no_step = element_maps(from_array(np.ones((6, 8, 32), dtype=np.int32)), ["ch:0-3"], show_progress=False).counts["ch:0-3"]
    with pytest.raises(ParameterError, match="either"):
        method_parameters("gaussian", frame, beam_fwhm="50um", psf_sigma=1.0)
    with pytest.raises(ParameterError, match="scan step"):
        method_parameters("gaussian", no_step, beam_fwhm="50um")


def test_auto_restoration_parameters_and_checks_before_work():
    frame = element_maps(from_array(np.ones((6, 8, 32), dtype=np.int32), step=PixelSize(25.0, 25.0)), ["ch:0-3"], show_progress=False).counts[
        "ch:0-3"
    ]
    kwargs = method_parameters("auto", frame, beam_fwhm="50um", iterations=5)
    assert kwargs == {"psf_sigma": pytest.approx(50 / 2.3548 / 25, rel=1e-3), "iterations": 5}  # the selector's fixed PSF
    check_restoration("auto", beam_fwhm="50um", iterations=5, params={"sigma": 1.0})
    with pytest.raises(ParameterError, match="'iteratons'"):
        check_restoration("auto", params={"iteratons": 5})
    with pytest.raises(ParameterError, match="unknown method 'autoo'"):
        check_restoration("autoo")
    with pytest.raises(ParameterError, match="sigma"):
        check_restoration("gaussian", params={"sigma": -1.0})
    oblong = element_maps(from_array(np.ones((6, 8, 32), dtype=np.int32), step=PixelSize(25.0, 50.0)), ["ch:0-3"], show_progress=False).counts[
        "ch:0-3"
    ]
    with pytest.raises(ParameterError, match="isotropic psf_sigma"):
        method_parameters("auto", oblong, beam_fwhm="50um")


def test_cli_xrf_auto_chooses_per_map_and_a_bad_method_fails_before_reading(cube, tmp_path, capsys, monkeypatch):
    # Issue 17: `-m auto` said "unknown method 'auto'", after channel adding had started.
    from asirp.cli import main
    from asirp.xrf import workflow

    write_xrf_cube(cube, tmp_path / "scan.h5", "nexus")
    common = [
        "-q",
        "xrf",
        str(tmp_path / "scan.h5"),
        "-e",
        "Cu-Ka,Fe-Ka",
        "--step",
        "25um",
        "--beam-fwhm",
        "50um",
        "--formats",
        "nxs",
        "-o",
        str(tmp_path / "out"),
    ]
    assert main([*common, "-m", "auto"]) == 0
    assert "(auto)" in capsys.readouterr().out
    restored = open_frame(f"{tmp_path / 'out' / 'scan_maps.nxs'}::/Cu-Ka_restored")
    step = next(step for step in restored.history if "selection" in step.notes)
    assert step.notes["selection"]["method"] == step.method and step.method in registry()

    def no_reading(*args, **kwargs):
        raise AssertionError("spectra were opened before the method was checked")

    monkeypatch.setattr(workflow, "open_spectra", no_reading)
    for method, message in (("autoo", "unknown method 'autoo'"), ("gaussian", "takes no PSF")):
        assert main([*common, "--force", "-m", method, "--iterations", "3"]) == 2
        assert message in capsys.readouterr().err


def test_cli_xrf_checks_every_output_before_writing_any(cube, tmp_path, capsys, monkeypatch):
    # Issue 17: outputs are checked before any work; a map file that exists fails before the first file is written.
    from asirp.cli import main
    from asirp.xrf import workflow

    write_xrf_cube(cube, tmp_path / "scan.h5", "nexus")
    out = tmp_path / "out"
    out.mkdir()
    common = ["-q", "xrf", str(tmp_path / "scan.h5"), "-e", "Cu-Ka,Fe-Ka", "--formats", "nxs,png,txt", "-o", str(out)]
    older = out / "scan_Fe-Ka_counts.png"  # named after a map: known once the maps are made
    older.write_bytes(b"an older picture")
    assert main(common) == 2
    assert "scan_Fe-Ka_counts.png: exists" in capsys.readouterr().err
    assert list(out.iterdir()) == [older] and older.read_bytes() == b"an older picture"

    def no_reading(*args, **kwargs):
        raise AssertionError("spectra were opened before the outputs were checked")

    (out / "scan_maps.nxs").write_bytes(b"an older file")  # named after the input: checked before reading
    with monkeypatch.context() as patch:
        patch.setattr(workflow, "open_spectra", no_reading)
        assert main(common) == 2
    assert "scan_maps.nxs: exists" in capsys.readouterr().err
    assert main([*common, "--force"]) == 0
    assert older.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CONFIG = """
[data]
file = "scan.h5"

[elements]
lines = ["Cu-Ka", "Fe-Ka"]
colours = {{ "Cu-Ka" = "copper" }}

[normalise]
method = "ar+livetime"
ar_smooth = "auto"

[scan]
step = "25um"
flip = ["lr"]

[restore]
method = "gaussian"
params = {{ sigma = 1.0 }}

[output]
directory = "out"
formats = [{formats}]
"""


def test_config_parse_override_and_unknown_keys(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG.format(formats='"txt"'))
    config = load_config(tmp_path / "c.toml", {"restore": {"iterations": None, "params": {"sigma": 2.0}}, "scan": {"step": "10um"}})
    assert config.data_path() == str(tmp_path / "scan.h5") and config.output.directory == tmp_path / "out"
    assert config.restore.params == {"sigma": 2.0} and config.scan.step == "10um" and config.scan.flip == ["lr"]
    assert config.normalise.normalisation() == Normalisation("ar", "livetime", ar_smooth="auto")
    (tmp_path / "bad.toml").write_text("[scan]\nstepp = '25um'\n")
    with pytest.raises(ParameterError, match=r"\[scan\] stepp: unknown key"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "bad2.toml").write_text("[normalise]\nmethod = 'livetime+deadtime'\n")
    with pytest.raises(ParameterError, match="not both"):
        load_config(tmp_path / "bad2.toml")
    with pytest.raises(InputError, match="not valid TOML"):
        (tmp_path / "bad3.toml").write_text("[scan\n")
        load_config(tmp_path / "bad3.toml")


def test_cli_runs_a_config_with_overrides(cube, tmp_path, capsys):
    from asirp.cli import build_parser, main

    write_xrf_cube(cube, tmp_path / "scan.h5", "nexus")
    (tmp_path / "c.toml").write_text(CONFIG.format(formats='"nxs", "txt", "png"'))
    assert main(["xrf", "-c", str(tmp_path / "c.toml"), "--iterations", "3", "-q"]) == 2  # gaussian is not iterative
    assert "not iterative" in capsys.readouterr().err
    assert main(["xrf", "-c", str(tmp_path / "c.toml"), "--formats", "txt,nxs", "--normalise", "i0", "-q"]) == 0
    out = tmp_path / "out"
    table = np.loadtxt(out / "scan_restored.txt", skiprows=1)
    assert table.shape == (16 * 12, 4)
    with h5py.File(out / "scan_maps.nxs") as f:
        steps = [f["Cu-Ka_restored"][k]["method"][()].decode() for k in sorted(f["Cu-Ka_restored"]) if k.startswith("process_")]
    assert steps == ["xrf_channel_add", "xrf_normalise", "xrf_flip", "gaussian"]
    args = build_parser().parse_args(["xrf", "scan.h5", "-e", "Cu-Ka,Zn-Ka", "--window", "roi=ch:10-20", "--crop-x", "0:100", "--step", "5um"])
    values = overrides(args)
    assert values["elements"]["lines"] == ["Cu-Ka", "Zn-Ka"] and values["elements"]["windows"] == {"roi": {"channels": [10, 20]}}
    assert values["scan"]["crop_x"] == ("0", "100") and values["restore"]["method"] is None
    assert main(["xrf", "-c", str(tmp_path / "c.toml"), "-q"]) == 2  # outputs exist: refused without --force
    assert "exists" in capsys.readouterr().err


# -- synthetic cube --------------------------------------------------------------------------


def test_synthetic_cube_is_deterministic_and_written_block_by_block(cube, tmp_path):
    lazy = xrf_cube(
        "AG175", shape=(16, 12), n_channels=512, calibration=CAL, elements={"Fe": 20.0},
        sawtooth=Sawtooth(period_s=4.0, depth=0.4, dwell_s=0.05), n_detectors=2, position_jitter_um=0.8, seed=5, generate=False,
    )  # fmt: skip
    path = write_xrf_cube(lazy, tmp_path / "lazy.h5", "nexus", chunk_mb=0.005)
    with h5py.File(path) as f:
        assert np.array_equal(f["entry/data/counts"][()], cube.counts.sum(axis=0))
    window = make_window("Cu-Ka", CAL, 512)
    expected = cube.expected_window(window.lo, window.hi, measured=True).sum()
    assert abs(_direct(cube, window).sum() - expected) < 4 * np.sqrt(expected)
    assert np.all(cube.live_fraction < 1) and np.all(cube.scalers["live_time"] <= cube.scalers["real_time"])


def test_snip_background_and_line_significance():
    from asirp.xrf.spectrum import line_significance, snip_background

    channels = np.arange(512)
    continuum = 40.0 - 0.05 * channels
    sigma = DetectorResolution().sigma_kev(8.041) / CAL.slope_kev  # 1.8 channels
    peak = 3000.0 / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((channels - CAL.channel(8.041)) / sigma) ** 2)
    spectrum = np.random.default_rng(0).poisson(continuum + peak)
    background = snip_background(spectrum, 12, smooth=5)
    window = slice(190, 212)
    assert background[window].sum() == pytest.approx(continuum[window].sum(), rel=0.15)
    signals = {s.window.name: s for s in line_significance(spectrum, ["Cu-Ka", "Fe-Ka"], CAL, DetectorResolution())}
    assert signals["Cu-Ka"].net == pytest.approx(3000.0, rel=0.05) and signals["Cu-Ka"].significance > 50
    assert abs(signals["Fe-Ka"].significance) < 5
    with pytest.raises(InputError):
        snip_background([1.0, -2.0, 3.0], 2)


@pytest.mark.skipif("richardson_lucy" not in registry(), reason="the deconvolution repertoire is not registered")
def test_richardson_lucy_on_maps_with_the_beam_psf_sharpens_the_mesh(cube):
    from asirp.analysis import contrast_std
    from asirp.xrf import restore_maps

    source = from_array(list(cube.counts), x=cube.x_um, y=cube.y_um, calibration=CAL)
    maps = element_maps(source, ["Cu-Ka"], show_progress=False)
    restored = restore_maps(maps.counts, "richardson_lucy", beam_fwhm="50um", iterations=10)["Cu-Ka"]
    assert restored.history[-1].method == "richardson_lucy" and restored.history[-1].parameters["beam_fwhm"] == "50um"
    assert restored.pixel_size == maps.counts["Cu-Ka"].pixel_size and restored.meta["scan_axes"] == maps.counts["Cu-Ka"].meta["scan_axes"]
    assert contrast_std(restored) > 1.2 * contrast_std(maps.counts["Cu-Ka"])  # the beam blur is partly undone
    # Counts are conserved up to what the padded (edge-aware) deconvolution puts just outside this small map.
    assert restored.data.sum() == pytest.approx(maps.counts["Cu-Ka"].data.sum(), rel=0.1)


@pytest.mark.slow
def test_xrf_benchmark_suite_quick():
    from asirp.bench import run_suite

    report = run_suite("xrf", quick=True, progress=False)
    rows = report.rows
    stripes = {row["method"]: row["reduction"] for row in rows if row["section"] == "stripes" and "0%" in row["case"]}
    assert stripes["i0"] > 3 and stripes["ar, ar_smooth=1"] > 2 and stripes["livetime"] < 1.5
    accuracy = [row for row in rows if row["section"] == "accuracy"]
    assert accuracy[1]["ssim"] > accuracy[0]["ssim"]  # Richardson-Lucy sharpens the mesh
    memory = {row["method"]: row for row in rows if row["section"] == "memory"}
    assert all(row["peak_rss_mb"] < 2000 for row in memory.values())
