"""``asirp view``: the modules under the page, then the page itself in a real browser.

The browser test drives Debian's Chromium (``/usr/bin/chromium``) through Playwright's
Python package against a viewer served from this process, on a small synthetic
diffraction frame written to a temporary TIFF. Screenshots go to a temporary folder,
or to ``$ASIRP_VIEW_SCREENSHOTS`` when set (CI artefacts, docs/img).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import numpy as np
import pytest

import asirp
from asirp.cli import main
from asirp.errors import InputError, OutputError, ParameterError
from asirp.frame import Frame
from asirp.methods.baseline import GaussianParams
from asirp.view import auth, images
from asirp.view.files import FrameCache, listing
from asirp.view.forms import form_spec, method_form, parse_form
from asirp.view.profiles import Line, line_profile
from asirp.view.workspace import Workspace

# -- images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "factor"),
    [((981, 1043), 1), ((1999, 1999), 1), ((2048, 2048), 2), ((2167, 2070), 3), ((4371, 4150), 5)],
)
def test_large_frames_are_sent_downsampled(shape, factor):
    assert images.downsample_factor(shape) == factor
    ny, nx = shape
    assert -(-ny // factor) * -(-nx // factor) <= max(images.OVERVIEW_PIXELS * 1.3, ny * nx if factor == 1 else 0)


def test_block_mean_and_max_skip_masked_pixels_and_keep_partial_edge_blocks():
    data = np.arange(25, dtype=np.float32).reshape(5, 5)
    valid = np.ones((5, 5), bool)
    valid[0, 0] = False  # masked: must not pull the first block's mean down
    valid[2:4, 2:4] = False  # a whole block masked
    mean, ok = images.downsample(data, valid, 2, "mean")
    assert mean.shape == ok.shape == (3, 3)
    assert mean[0, 0] == pytest.approx((1 + 5 + 6) / 3)
    assert not ok[1, 1] and ok[0, 0]
    assert mean[2, 2] == 24  # the 1-pixel corner block
    assert mean[0, 2] == pytest.approx((4 + 9) / 2)  # a half-filled edge block
    peak, _ = images.downsample(data, valid, 2, "max")
    assert peak[0, 0] == 6 and peak[2, 1] == 23


def test_display_array_masks_as_nan_and_orients_every_panel_alike():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    valid = np.array([[True, False, True], [True, True, True]])
    shown = images.display_array(data, valid, images.Orientation(), 1)
    assert np.isnan(shown[0, 1]) and shown[1, 2] == 5
    turned = images.display_array(data, valid, images.Orientation(rotate=90, flip_x=True), 1)
    assert turned.shape == (3, 2)
    np.testing.assert_array_equal(turned, np.rot90(shown)[:, ::-1])
    np.testing.assert_array_equal(images.Orientation(flip_y=True).apply(data), data[::-1])
    with pytest.raises(ValueError, match="rotation"):
        images.Orientation(rotate=45).apply(data)


def test_axes_in_pixels_or_in_the_pixel_size_turned_with_the_image():
    from asirp.units import PixelSize

    size = PixelSize(10, 25, "um")
    assert images.Axes.of(size, images.Orientation(), physical=False) == images.Axes()
    assert images.Axes.of(None, images.Orientation(), physical=True) == images.Axes()
    assert images.Axes.of(size, images.Orientation(flip_x=True), physical=True) == images.Axes(10, 25, "µm")
    assert images.Axes.of(size, images.Orientation(rotate=90), physical=True) == images.Axes(25, 10, "µm")


@pytest.mark.parametrize("rotate", images.ROTATIONS)
@pytest.mark.parametrize("flips", [(False, False), (True, False), (False, True), (True, True)])
def test_a_region_maps_between_the_image_as_read_and_as_shown(rotate, flips):
    orientation = images.Orientation(rotate, *flips)
    shape = (6, 9)
    region = (1, 4, 2, 7)  # rows 1:4, columns 2:7 of the image as read
    marked = np.zeros(shape, bool)
    marked[1:4, 2:7] = True
    i0, i1, j0, j1 = images.to_display(orientation, region, shape)
    shown = orientation.apply(marked)
    assert shown[i0:i1, j0:j1].all() and shown.sum() == (i1 - i0) * (j1 - j0)
    assert images.to_source(orientation, (i0, i1, j0, j1), shape) == region


def test_colour_limits_clip_percentiles_and_log_starts_above_zero():
    values = np.concatenate([np.linspace(0, 100, 1001), [1e6, np.nan]])
    low, high = images.colour_limits(values, (0.5, 99.5))
    assert 0 < low < 1 and 99 < high < 101  # the hot pixel and the NaN do not stretch the scale
    log_low, _ = images.colour_limits(np.array([-5.0, 0.0, 1.0, 10.0, 100.0]), (0, 100), "log")
    assert log_low == 1.0
    assert images.colour_limits(np.full(10, 3.0)) == (3.0, 4.0)
    assert images.colour_limits(np.array([np.nan]), scale="log") == (1.0, 10.0)


def test_colours_made_here_are_the_ones_bokehs_mappers_choose_and_asinh_lifts_the_faint():
    from asirp.view.panels import PALETTES, Look, coloured

    values = np.array([[-1.0, 0.0, 25.0, 50.0], [99.9, 100.0, 1e4, np.nan]], np.float32)
    index = images.colour_index(values, (0.0, 100.0), "linear", 256)
    # Bokeh's LinearColorMapper: floor((v - low) / (high - low) * N), clipped to the palette; NaN takes the masked colour.
    assert index.tolist() == [[0, 0, 64, 128], [255, 255, 255, 256]]
    log = images.colour_index(np.array([-3.0, 1.0, 10.0, 100.0, np.nan]), (1.0, 100.0), "log", 256)
    assert log.tolist() == [0, 0, 128, 255, 256]
    faint = np.array([2.0, 5.0, 50.0])  # 2 % and 5 % of the range: barely off the first colour when linear, well up in asinh
    linear_i, asinh_i = (images.colour_index(faint, (0.0, 100.0), scale, 256) for scale in ("linear", "asinh"))
    assert linear_i.tolist() == [5, 12, 128] and (asinh_i > linear_i).all() and asinh_i[1] > 50
    rgba = coloured(values, Look(palette="gray", scale="linear", limits=(0.0, 100.0)))
    palette, masked = PALETTES["gray"]
    as_hex = ["#" + bytes(c)[:3].hex() for c in rgba.ravel().view(np.uint8).reshape(-1, 4)]
    assert as_hex[2] == palette[64].lower() and as_hex[-1] == masked and rgba.dtype == np.uint32
    assert (rgba.view(np.uint8).reshape(-1, 4)[:, 3] == 255).all()  # opaque


def test_live_colour_limits_stay_while_they_jitter():
    assert images.steady_limits(None, (0.0, 100.0), "linear") == (0.0, 100.0)
    assert images.steady_limits((0.0, 100.0), (3.0, 97.0), "linear") == (0.0, 100.0)  # within 5 % of the range: kept
    assert images.steady_limits((0.0, 100.0), (0.0, 120.0), "linear") == (0.0, 120.0)
    assert images.steady_limits((1.0, 1000.0), (1.2, 1100.0), "log") == (1.0, 1000.0)  # 5 % of three decades
    assert images.steady_limits((1.0, 1000.0), (3.0, 1000.0), "log") == (3.0, 1000.0)


def test_difference_and_its_symmetric_scale():
    raw = np.array([[1.0, 2.0], [np.nan, 4.0]], np.float32)
    restored = np.array([[2.0, 2.0], [3.0, 1.0]], np.float32)
    diff = images.difference(restored, raw)
    assert diff[0, 0] == 1 and np.isnan(diff[1, 0]) and diff[1, 1] == -3
    assert images.symmetric_limits(diff, 100) == (-3.0, 3.0)
    with pytest.raises(ValueError, match="one shape"):
        images.difference(np.zeros((4, 4), np.float32), raw)


def test_ratio_and_its_log_scale_centred_on_one():
    raw = np.array([[1.0, 2.0], [np.nan, 0.0]], np.float32)
    restored = np.array([[2.0, 1.0], [3.0, 1.0]], np.float32)
    shown = images.ratio(restored, raw)
    assert shown[0, 0] == 2 and shown[0, 1] == 0.5
    assert np.isnan(shown[1, 0]) and np.isnan(shown[1, 1])  # not measured, and no ratio to a zero
    assert images.ratio_limits(shown, 100) == (0.5, 2.0)
    assert images.ratio_limits(np.ones((2, 2), np.float32)) == (0.5, 2.0)  # flat: a readable default
    with pytest.raises(ValueError, match="one shape"):
        images.ratio(np.ones((4, 4), np.float32), raw)


# -- profiles ---------------------------------------------------------------------------------


def test_line_profile_samples_pixels_and_gaps_at_masked_ones():
    image = np.tile(np.arange(10, dtype=np.float32), (6, 1))  # value = column
    line = Line(0.5, 2.5, 9.5, 2.5)  # centres of row 2, columns 0..9
    distance, values = line_profile(image, line)
    np.testing.assert_allclose(values, np.arange(10))
    np.testing.assert_allclose(distance, np.arange(10))
    image[2, 4] = np.nan
    _, gapped = line_profile(image, line)
    assert np.isnan(gapped[4]) and np.isfinite(gapped[[0, 2, 6, 9]]).all()


def test_line_profile_of_a_super_resolved_result_follows_the_same_line():
    raw = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    doubled = np.repeat(np.repeat(raw, 2, axis=0), 2, axis=1)
    line = Line(0.5, 4.0, 7.5, 4.0)
    distance, values = line_profile(doubled, line, reference_shape=raw.shape)
    assert distance[-1] == pytest.approx(7.0)  # in raw pixels
    assert values[0] == pytest.approx(0, abs=0.5) and values[-1] == pytest.approx(7, abs=0.5)


# -- forms --------------------------------------------------------------------------------


def test_form_of_a_model_has_units_bounds_defaults_and_choices():
    (sigma,) = form_spec(GaussianParams)
    assert (sigma.name, sigma.widget, sigma.text, sigma.title) == ("sigma", "text", "1.0", "sigma [px]")
    assert "> 0" in sigma.hint and "≤ 50" in sigma.hint and sigma.description
    fields = {spec.name: spec for spec in method_form("richardson_lucy")}
    assert fields["psf_sigma"].optional and fields["psf_sigma"].text == "" and fields["psf_sigma"].title == "psf_sigma [px]"
    assert fields["accelerate"].widget == "choice" and fields["accelerate"].choices == ("true", "false")
    assert fields["stop"].widget == "choice" and fields["stop"].text in fields["stop"].choices
    scale = {spec.name: spec for spec in method_form("fca_sr")}["scale"]
    assert scale.choices == ("2", "4") and scale.text == "2"
    assert method_form("auto") == []


def test_form_values_parse_and_fail_as_the_cli_does(tmp_path, capsys):
    assert parse_form("gaussian", {"sigma": "1.5"}) == {"sigma": 1.5}
    assert parse_form("gaussian", {"sigma": "1.0"}) == {}  # the default as shown: not a choice of the user
    assert parse_form("richardson_lucy", {"psf_sigma": "", "beam_fwhm": "50um", "accelerate": "false"}) == {
        "beam_fwhm": "50um", "accelerate": False,
    }  # fmt: skip
    with pytest.raises(ParameterError) as page_error:
        parse_form("gaussian", {"sigma": "-1"})
    frame = tmp_path / "frame.tif"
    asirp.save(Frame.from_array(np.random.default_rng(0).poisson(5, (32, 32))), frame)
    assert main(["restore", str(frame), "-m", "gaussian", "-p", "sigma=-1", "-o", str(tmp_path / "out.nxs")]) == 2
    assert capsys.readouterr().err.strip() == f"asirp: error: {page_error.value}"


# -- auth ---------------------------------------------------------------------------------


def test_token_is_required_only_beyond_loopback():
    assert auth.is_loopback("127.0.0.1") and auth.is_loopback("localhost") and auth.is_loopback("::1")
    assert not auth.is_loopback("0.0.0.0") and not auth.is_loopback("192.168.1.5") and not auth.is_loopback("beamline-pc")
    token = auth.new_token()
    assert len(token) >= 32 and token != auth.new_token()
    assert auth.token_ok(None, None) and auth.token_ok("anything", None)
    assert auth.token_ok(token, token) and not auth.token_ok(token[:-1], token) and not auth.token_ok(None, token)


def test_server_refuses_requests_without_the_token(tmp_path):
    from asirp.view.server import ViewerServer

    viewer = ViewerServer([], host="127.0.0.1", port=0, folder=tmp_path, token="s3cret-token").start()
    try:
        base = f"http://127.0.0.1:{viewer.port}/"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base, timeout=20)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"{base}?token=s3cret-token", timeout=20) as page:
            assert page.status == 200 and b"asirp view" in page.read()
    finally:
        viewer.stop()
    assert viewer.url == f"{base}?token=s3cret-token"
    assert ViewerServer([], host="0.0.0.0", port=0).token  # beyond loopback: a token is made up
    assert ViewerServer([], host="127.0.0.1", port=0).token is None


def test_view_command_refuses_a_missing_file_before_importing_bokeh(tmp_path):
    code = (
        "import json, sys\nfrom asirp.cli import main\n"
        "status = main(['view', 'nosuch.tif', '--no-browser'])\n"
        "print(json.dumps([status, 'bokeh' in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert json.loads(done.stdout.splitlines()[-1]) == [2, False]
    assert done.stderr.splitlines() == ["asirp: error: nosuch.tif: no such file"]


def test_a_port_in_use_is_one_line(tmp_path):
    from asirp.view.server import ViewerServer

    first = ViewerServer([], port=0, folder=tmp_path).start()
    try:
        with pytest.raises(OutputError, match=f"cannot listen on 127.0.0.1:{first.port} .*choose another --port"):
            ViewerServer([], port=first.port, folder=tmp_path).start()
    finally:
        first.stop()


# -- files and workspace ---------------------------------------------------------------------


def test_listing_and_opening_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("no image")
    asirp.save(Frame.from_array(np.ones((8, 8))), tmp_path / "b.tif")
    with h5py.File(tmp_path / "a.h5", "w") as handle:
        handle["first"] = np.ones((8, 8))
        handle["second"] = np.ones((3, 8, 8))
    assert listing(tmp_path) == ["../", "sub/", "a.h5", "b.tif"]
    with pytest.raises(InputError, match="is not a folder"):
        listing(tmp_path / "b.tif")
    cache = FrameCache()
    opened = cache.open(str(tmp_path / "a.h5"))
    assert opened.frame is None
    assert [(name.split("::")[1], shape) for name, shape in opened.choices] == [("/first", "8x8  float64"), ("/second", "3x8x8  float64")]
    stack = cache.open(opened.choices[1][0]).frame
    assert stack is not None and stack.shape == (3, 8, 8)
    assert cache.open(str(tmp_path / "b.tif")).frame is cache.open(str(tmp_path / "b.tif")).frame  # shared between pages
    with pytest.raises(InputError, match="no such file") as missing:
        cache.open(str(tmp_path / "missing.tif"))
    assert "\n" not in str(missing.value)


def test_workspace_restores_keeps_results_and_exports_like_the_cli(tmp_path):
    source = tmp_path / "frame.tif"
    asirp.save(Frame.from_array(np.random.default_rng(1).poisson(20, (3, 24, 24)).astype(np.float32)), source)
    workspace = Workspace(FrameCache())
    workspace.open(str(source))
    assert workspace.count == 3
    workspace.index = 1
    first = workspace.restore("gaussian", {"sigma": 1.5})
    second = workspace.restore("gaussian", {"sigma": 3.0})
    assert [r.label for r in workspace.shown_results] == ["1: gaussian (sigma=1.5)", "2: gaussian (sigma=3.0)"]
    assert first.frame.shape == (24, 24) and second.frame.data.std() < first.frame.data.std()
    written = workspace.export(first, str(tmp_path / "out.nxs"))
    back = asirp.open(written)
    np.testing.assert_allclose(back.data, first.frame.data)
    assert [step.method for step in back.history] == ["read", "gaussian", "read"]  # the provenance chain, then this read
    with pytest.raises(OutputError, match="exists"):
        workspace.export(second, str(tmp_path / "out.nxs"))
    assert workspace.export(second, str(tmp_path / "out.nxs"), force=True) == written
    with pytest.raises(OutputError, match="input"):
        workspace.export(first, str(source), force=True)
    with pytest.raises(OutputError, match="export writes"):
        workspace.export(first, str(tmp_path / "out.npy"))
    figure = workspace.export(first, str(tmp_path / "figure.png"))
    assert figure.read_bytes()[:4] == b"\x89PNG"
    table = workspace.export(first, str(tmp_path / "origin.txt"))  # as asirp xrf writes it
    header, *rows = table.read_text().splitlines()
    assert header.split("\t") == ["x (pixel)", "y (pixel)", "raw (counts)", "gaussian (counts)"] and len(rows) == 24 * 24
    workspace.index = 0
    assert workspace.shown_results == []  # results belong to the image they were made from


# -- the page's logic, without a browser (a Bokeh document works without one) ----------------------


def _shown(layer: dict) -> np.ndarray | None:
    """The image a layer of renderers (one per colour mapper) holds, if any; only one may hold data."""
    held = [renderer.data_source.data["image"] for renderer in layer.values() if renderer.data_source.data["image"]]
    assert len(held) <= 1
    return held[0][0] if held else None


def test_page_sends_a_large_frame_reduced_and_full_resolution_where_zoomed(tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    data = np.random.default_rng(2).poisson(10, (2048, 2048)).astype(np.float32)
    path = tmp_path / "large.npy"
    np.save(path, data)
    page = ViewerPage(Document(), FrameCache(), [str(path)], tmp_path)
    overview = _shown(page.panels.raw.overview)
    assert overview is not None and overview.shape == (1024, 1024)
    np.testing.assert_allclose(overview[3, 5], data[6:8, 10:12].mean(), rtol=1e-6)
    assert _shown(page.panels.raw.detail) is None and page.reduction.visible
    page.panels.x_range.update(start=100, end=300)
    page.panels.y_range.update(start=400, end=200)
    page._refresh_detail()
    detail = _shown(page.panels.raw.detail)
    np.testing.assert_array_equal(detail, data[150:450, 50:350])  # the region shown and a quarter of it each side
    page.panels.x_range.update(start=0, end=2048)
    page.panels.y_range.update(start=2048, end=0)
    page._refresh_detail()
    assert _shown(page.panels.raw.detail) is None


def test_page_scores_results_against_a_reference_and_shows_ratios(tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    result = asirp.synth.mesh_grid_map("AG175", step_um=25, seed=4)
    asirp.save(result.noisy, tmp_path / "noisy.nxs")
    asirp.save(result.truth, tmp_path / "truth.nxs")
    page = ViewerPage(Document(), FrameCache(), [str(tmp_path / "noisy.nxs")], tmp_path)
    restored = page.workspace.restore("gaussian", {"sigma": 1.0})
    page._refresh_results()
    page.reference_path.value = str(tmp_path / "missing.nxs")
    page._load_reference()
    assert "missing.nxs: no such file" in page.reference_message.text and "PSNR" not in page.contrast_table.text
    page.reference_path.value = str(tmp_path / "truth.nxs")
    page._load_reference()
    assert "PSNR (dB)" in page.contrast_table.text and "SSIM" in page.contrast_table.text
    for frame in (result.noisy, restored.frame):  # the figures of asirp.analysis, against the truth
        assert f"{asirp.analysis.psnr(result.truth, frame):.2f}" in page.contrast_table.text
        assert f"{asirp.analysis.ssim(result.truth, frame):.4f}" in page.contrast_table.text
    page.right_mode.active = 2
    shown = _shown(page.panels.right.overview)
    np.testing.assert_allclose(shown, images.ratio(restored.frame.data, result.noisy.data), rtol=1e-6)
    assert page.panels.right_figure.title.text == f"{restored.label} / raw"


def test_page_draws_a_map_on_its_scan_step_and_profiles_in_micrometres(tmp_path):
    from bokeh.document import Document
    from bokeh.events import Tap

    from asirp.view.page import ViewerPage

    result = asirp.synth.mesh_grid_map("AG175", step_um=25, seed=5)  # 128 x 128 points, 25 µm apart
    asirp.save(result.noisy, tmp_path / "map.nxs")
    page = ViewerPage(Document(), FrameCache(), [str(tmp_path / "map.nxs")], tmp_path)
    assert page.axis_units.visible and page.axis_units.value == "physical"
    assert (page.panels.x_range.end, page.panels.y_range.start) == (128 * 25, 128 * 25)
    assert page.panels.raw_figure.xaxis[0].axis_label == "x (µm)"
    for x, y in ((250.0, 500.0), (1250.0, 500.0)):  # clicks in µm: row 20, columns 10 to 50
        page._tap(Tap(model=page.panels.raw_figure, x=x, y=y, sx=0, sy=0))
    assert (page.line.x0, page.line.y0, page.line.x1, page.line.y1) == (10, 20, 50, 20)
    distance = page.profile_source.data["xs"][0]
    assert distance[-1] == pytest.approx(1000.0) and page.profile_figure.xaxis[0].axis_label == "distance (µm)"
    page.axis_units.value = "pixels"
    assert page.panels.x_range.end == 128 and page.line is None  # a line drawn on other axes is dropped


def test_page_restores_a_region_drawn_and_compares_it_in_place(diffraction_tiff, tmp_path):
    from bokeh.document import Document
    from bokeh.events import SelectionGeometry, Tap

    from asirp.view.page import ViewerPage

    page = ViewerPage(Document(), FrameCache(), [str(diffraction_tiff)], tmp_path)
    page.flips.active = [0]  # shown flipped left-right: the region is kept in the pixels of the image as read
    rect = {"type": "rect", "x0": 20.4, "x1": 99.6, "y0": 30.2, "y1": 90.0}
    page._region_drawn(SelectionGeometry(model=page.panels.raw_figure, geometry=rect, final=True))
    assert page.region == (30, 90, 192 - 100, 192 - 20) and page.use_region.active and page.use_region.visible
    assert page.panels.region.data["left"] == [20] and page.panels.region.data["bottom"] == [90]
    result = page.workspace.restore("gaussian", {"sigma": 2.0}, page.region)
    page._refresh_results()
    assert [step.method for step in result.frame.history] == ["read", "crop", "gaussian"]
    assert result.frame.shape == (60, 80) and result.frame.geometry is not None  # the PONI moved with the crop
    shown = page.panels.right.overview[page.panels.right.shown].data_source.data
    assert (shown["x"], shown["y"], shown["dw"], shown["dh"]) == ([20.0], [30.0], [80.0], [60.0])
    np.testing.assert_array_equal(shown["image"][0], np.where(result.frame.valid, result.frame.data, np.nan)[:, ::-1])
    for x, y in ((5.5, 60.5), (150.5, 60.5)):  # a line across the region and beyond it
        page._tap(Tap(model=page.panels.raw_figure, x=x, y=y, sx=0, sy=0))
    raw_profile, region_profile = page.profile_source.data["ys"]
    assert np.isfinite(raw_profile[[0, -1]]).all() and np.isnan(region_profile[[0, -1]]).all()
    assert np.isfinite(region_profile[40:80]).sum() > 20  # inside the region: the restored values
    assert "raw [rows 30:90, columns 92:172]" in page.contrast_table.text  # the region's own baseline
    written = page.workspace.export(result, str(tmp_path / "region.nxs"))
    assert [step.method for step in asirp.open(written).history] == ["read", "crop", "gaussian", "read"]
    page._set_region(None)
    assert page.region is None and not page.use_region.visible and page.panels.region.data["left"] == []


def _finish_work(doc) -> None:
    """Wait for the page's work threads (restorations, a workspace's, a tomography slice) and run what each posted, until none is left."""
    import threading

    while True:
        for thread in [t for t in threading.enumerate() if t.name == "asirp-view-work"]:
            thread.join(60)
        if not _run_next_ticks(doc):
            return


def _run_next_ticks(doc) -> int:
    """Run the callbacks a page posted for the server's next tick (a document without a server runs none); how many."""
    from bokeh.server.callbacks import NextTickCallback

    posted = [c for c in doc.session_callbacks if isinstance(c, NextTickCallback)]
    for callback in posted:
        doc.remove_next_tick_callback(callback)
        callback.callback()
    return len(posted)


def test_a_failing_restoration_is_one_line_beside_the_button(diffraction_tiff, tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    page = ViewerPage(Document(), FrameCache(), [str(diffraction_tiff)], tmp_path)
    page.method.value = "bicubic"
    page.fields["scale"].value = "9"  # out of range: refused by the method, as on the command line
    page._start_restore()
    _finish_work(page.doc)
    message = page.restore_message.text
    assert "method &#x27;bicubic&#x27;: scale:" in message and "\n" not in message and "Traceback" not in message
    assert not page.restore_button.disabled and page.workspace.shown_results == []


def test_a_long_richardson_lucy_shows_its_iterations_and_a_cancel_stops_it_within_one(diffraction_tiff, tmp_path):
    """The status follows the method's own loop (asirp.progress.Observation), and Cancel stops it at its next
    iteration: the page says so and where, keeps the results made before, and adds nothing."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    page = ViewerPage(Document(), FrameCache(), [str(diffraction_tiff)], tmp_path)
    earlier = page.workspace.restore("gaussian", {"sigma": 1.0})
    page._refresh_results()
    page.method.value = "richardson_lucy"
    page.fields["psf_sigma"].value = "2"
    page.fields["iterations"].value = "5000"  # minutes on this frame: only a cancel ends it within the test
    page.fields["stop"].value = "fixed"
    page._start_restore()
    observation = page._observation
    assert observation is not None and page.cancel_button.visible
    started = time.perf_counter()
    while not (observation.loops and observation.loops[-1].done >= 3):
        assert time.perf_counter() - started < 60, "the restoration's iterations never started"
        time.sleep(0.01)
    page._tick()
    assert re.search(r"<b>running richardson_lucy…</b> Richardson-Lucy \(at most 5000\): \d+/5000 iterations, \d+\.\d s$",
                     page.status.text), page.status.text
    page._cancel_restore()
    running = observation.loops  # read after the cancel: the loop stops before the one after the iteration running now
    cancelled = time.perf_counter()
    assert page.status.text.endswith("cancelling at the next iteration…")
    _finish_work(page.doc)
    seconds = time.perf_counter() - cancelled
    stopped = observation.stopped
    assert stopped is not None and stopped[-1].desc == "Richardson-Lucy (at most 5000)"
    if running:
        assert stopped[-1].done <= running[-1].done + 1
    assert stopped[-1].done < 5000 and seconds < 30
    assert re.fullmatch(r"cancelled: richardson_lucy after \d+\.\d s, in Richardson-Lucy \(at most 5000\): "
                        rf"{stopped[-1].done}/5000 iterations; nothing kept", page.status.text), page.status.text
    assert page.workspace.shown_results == [earlier] and len(page.results.options) == 1 and page.shown_result is earlier
    assert not page.cancel_button.visible and not page.restore_button.disabled and page.busy is None
    assert page.restore_message.text == ""
    print(f"cancelled after {stopped[-1].done} iterations; thread ended {seconds:.3f} s after the cancel")

def test_a_super_resolved_result_is_drawn_over_the_same_extent(tmp_path):
    from bokeh.document import Document
    from bokeh.events import Tap

    from asirp.view.page import ViewerPage

    image = Frame.from_array(np.random.default_rng(3).poisson(30, (96, 96)).astype(np.float32))
    asirp.save(image, tmp_path / "image.tif")
    page = ViewerPage(Document(), FrameCache(), [str(tmp_path / "image.tif")], tmp_path)
    result = page.workspace.restore("bicubic", {"scale": 2})
    page._refresh_results()
    shown = page.panels.right.overview[page.panels.right.shown].data_source.data
    assert shown["image"][0].shape == (192, 192) and (shown["dw"], shown["dh"]) == ([96.0], [96.0])
    for x, y in ((10.5, 48.5), (90.5, 48.5)):
        page._tap(Tap(model=page.panels.raw_figure, x=x, y=y, sx=0, sy=0))
    raw_distance, sr_distance = page.profile_source.data["xs"]
    assert raw_distance[-1] == pytest.approx(sr_distance[-1]) == pytest.approx(80.0)  # one line, in raw pixels
    assert len(sr_distance) > 1.9 * len(raw_distance)  # sampled at the result's own pixels
    page.right_mode.active = 1
    assert page.panels.right_figure.title.text.startswith("not shown: a difference needs one shape")
    assert "192 x 192" in page.contrast_table.text
    assert page.workspace.export(result, str(tmp_path / "x2.nxs")).exists()


def test_auto_shows_its_choice_and_reasons(tmp_path):
    from dataclasses import replace

    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    whole = asirp.synth.mesh_grid_map("AG175", step_um=25, seed=4).noisy
    asirp.save(replace(whole, data=whole.data[:48, :48], valid=whole.valid[:48, :48]), tmp_path / "small.nxs")  # quick to decide
    page = ViewerPage(Document(), FrameCache(), [str(tmp_path / "small.nxs")], tmp_path)
    assert page.method.value == "auto" and page.form.children[0].text.endswith("no parameters to set</span>")
    page._start_restore()
    _finish_work(page.doc)
    (result,) = page.workspace.shown_results
    assert result.label == f"1: auto → {result.frame.history[-1].method}"
    assert page.explanation.visible and "chosen:" in page.explanation.text and "because:" in page.explanation.text
    assert "selection" in result.frame.history[-1].notes  # the decision is in the provenance, as with asirp restore -m auto


def test_a_workspace_file_reopens_the_same_view(diffraction_tiff, tmp_path):
    from bokeh.document import Document
    from bokeh.events import SelectionGeometry, Tap

    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state

    cache = FrameCache()
    page = ViewerPage(Document(), cache, [str(diffraction_tiff)], tmp_path)
    page.palette.value, page.flips.active, page.right_mode.active = "magma", [1], 1
    rect = {"type": "rect", "x0": 10.0, "x1": 70.0, "y0": 20.0, "y1": 60.0}
    page._region_drawn(SelectionGeometry(model=page.panels.raw_figure, geometry=rect, final=True))
    page.workspace.restore("gaussian", {"sigma": 1.5}, None)
    page.workspace.restore("gaussian", {}, page.region)
    page._refresh_results()
    for x, y in ((5.5, 100.5), (150.5, 100.5)):
        page._tap(Tap(model=page.panels.raw_figure, x=x, y=y, sx=0, sy=0))
    page.panels.x_range.update(start=20, end=120)
    page.panels.y_range.update(start=150, end=30)
    page.workspace_path.value = str(tmp_path / "session.json")
    page._save_workspace()
    assert "wrote" in page.workspace_message.text
    saved = load_state(tmp_path / "session.json")
    assert saved.path == str(diffraction_tiff) and saved.look["palette"] == "magma" and saved.look["flips"] == [1]
    assert [r.method for r in saved.restorations] == [r.method for r in page.workspace.shown_results]
    assert saved.restorations[0].parameters["sigma"] == 1.5 and saved.restorations[1].region == page.region
    page._save_workspace()
    assert "exists" in page.workspace_message.text  # not replaced unless asked

    again = ViewerPage(Document(), cache, [str(tmp_path / "session.json")], tmp_path)
    _finish_work(again.doc)
    assert (again.palette.value, again.flips.active, again.right_mode.active) == ("magma", [1], 1)
    assert again.region == page.region and again.panels.region.data == page.panels.region.data
    assert [r.label for r in again.workspace.shown_results] == [r.label for r in page.workspace.shown_results]
    np.testing.assert_array_equal(again.workspace.shown_results[0].frame.data, page.workspace.shown_results[0].frame.data)
    assert (again.line, again.panels.x_range.start, again.panels.y_range.end) == (page.line, 20, 30)
    for name in ("xs", "label"):
        assert len(again.profile_source.data[name]) == len(page.profile_source.data[name]) == 3
    (tmp_path / "broken.json").write_text("{not json")
    again._open_path(str(tmp_path / "broken.json"))
    assert "broken.json: not a workspace file: invalid JSON at line 1" in again.open_message.text


def _stack_page(tmp_path, cache=None, name="stack.tif"):
    """A page on a 4-image stack written to ``name`` (made once per test folder)."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    source = tmp_path / name
    if not source.exists():
        asirp.save(Frame.from_array(np.random.default_rng(5).poisson(20, (4, 32, 32)).astype(np.float32)), source)
    return ViewerPage(Document(), cache or FrameCache(), [str(source)], tmp_path), source


def _tabs(page) -> dict[int, list[str]]:
    """The result tabs of every image, as the page lists them when the frame slider moves to it."""
    tabs = {}
    for index in range(page.workspace.count):
        page.frame_slider.value = index
        page._show_image(index)
        tabs[index] = [label for _, label in page.results.options]
    return tabs


def test_a_workspace_redoes_the_restorations_of_every_image_and_whole_stack_runs(tmp_path):
    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state

    page, source = _stack_page(tmp_path)
    page._show_image(1)
    page.method.value = "gaussian"
    page.fields["sigma"].value = "1.5"
    page._start_restore()
    _finish_work(page.doc)
    page.workspace.restore("gaussian", {}, (4, 20, 8, 24))  # a region of image 1
    page._show_image(3)
    page.method.value = "auto"
    page._start_restore()
    _finish_work(page.doc)
    page._show_image(2)
    page.method.value = "tikhonov"
    page.whole_stack.active = True
    page._start_restore()  # every image, decided on image 2
    _finish_work(page.doc)
    tabs = _tabs(page)
    assert tabs[1][:2] == ["1: gaussian (sigma=1.5)", "2: gaussian [rows 4:20, columns 8:24]"] and tabs[3][0].startswith("1: auto → ")
    assert all(labels[-1].endswith("tikhonov [stack, 4 images]") for labels in tabs.values()) and len(tabs[0]) == 1
    page._show_image(3)
    page.workspace_path.value = str(tmp_path / "session.json")
    page._save_workspace()
    saved = load_state(tmp_path / "session.json")
    assert [(run.method, run.index, run.images) for run in saved.runs] == [
        ("gaussian", 1, None), ("gaussian", 1, None), ("auto", 3, None), ("tikhonov", 2, (0, 4))]
    assert saved.runs[2].decision["method"] == page.workspace.results[3][0].frame.history[-1].method
    assert saved.sha256 == asirp.open(source).history[0].inputs[0]["sha256"] and saved.index == 3
    assert [r.method for r in saved.restorations] == ["auto", "tikhonov"]  # the image shown's, as older versions read them

    again = ViewerPage(page.doc.__class__(), FrameCache(), [str(tmp_path / "session.json")], tmp_path)
    assert again.status.text.startswith("<b>redoing the workspace&#x27;s restorations…</b>") and again.cancel_button.visible
    _finish_work(again.doc)
    assert "4 restorations to run again" in again.open_message.text and "color:#b00020" not in again.open_message.text
    assert again.status.text.startswith("workspace: 4 of 4 restorations done") and again.restore_message.text == ""
    assert again.workspace.index == 3 and not again.cancel_button.visible
    assert _tabs(again) == tabs
    for index in range(4):
        for made, remade in zip(page.workspace.results[index], again.workspace.results[index], strict=True):
            np.testing.assert_array_equal(remade.frame.data, made.frame.data)
            assert remade.region == made.region
    assert again.workspace.runs == page.workspace.runs  # saved again, it records the same


def test_a_workspaces_restorations_stop_on_cancel_keeping_those_made(tmp_path, monkeypatch):
    import threading

    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import PageState, Run, save_state

    page, source = _stack_page(tmp_path)
    runs = (Run("gaussian", {"sigma": 1.0}, index=0), Run("gaussian", {"sigma": 2.0}, index=1), Run("tikhonov", {}, index=0, images=(0, 4)))
    save_state(PageState(str(source), runs=runs), tmp_path / "session.json")
    reached, go, original = threading.Event(), threading.Event(), Workspace.restore

    def held(self, *args, **kwargs):
        if kwargs.get("index") == 1:  # the first made, the second waits until Cancel was pressed
            reached.set()
            go.wait(30)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Workspace, "restore", held)
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "session.json")], tmp_path)
    assert reached.wait(30)
    again._cancel_restore()
    assert "2 of 3: gaussian (sigma=2.0) on image 1," in again.status.text and "cancelling at the next iteration" in again.status.text
    go.set()
    _finish_work(again.doc)
    assert again.status.text.startswith("cancelled: the workspace's restorations after ")
    assert again.status.text.endswith("1 of 3 made again, the rest not run")
    assert [r.label for r in again.workspace.results[0]] == ["1: gaussian (sigma=1.0)"] and 1 not in again.workspace.results
    assert not again.cancel_button.visible and not again.restore_button.disabled


def test_an_old_workspace_redoes_its_restorations_on_the_image_shown(tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import FORMAT

    _, source = _stack_page(tmp_path)
    old = {"format": FORMAT, "version": 1, "path": str(source), "index": 2, "look": {"palette": "magma"},
           "restorations": [{"method": "gaussian", "parameters": {"sigma": 1.5}, "region": None}]}  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(old))
    page = ViewerPage(Document(), FrameCache(), [str(tmp_path / "old.json")], tmp_path)
    _finish_work(page.doc)
    assert page.palette.value == "magma" and page.workspace.index == 2 and "1 restoration to run again" in page.open_message.text
    assert {index: [r.label for r in kept] for index, kept in page.workspace.results.items()} == {2: ["1: gaussian (sigma=1.5)"]}
    expected = asirp.restore(asirp.open(source).images()[2], "gaussian", sigma=1.5)
    np.testing.assert_allclose(page.workspace.shown_results[0].frame.data, expected.data)


def test_stale_workspace_entries_are_said_beside_open_and_the_rest_redone(tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import PageState, Run, load_state, save_state

    page, source = _stack_page(tmp_path)
    sha256 = asirp.open(source).history[0].inputs[0]["sha256"]
    runs = (Run("gaussian", {"sigma": 1.0}, index=9), Run("no_such_method", {}, index=0), Run("gaussian", {"sigma": 2.0}, index=3),
            Run("tikhonov", {}, index=0, images=(0, 6)))
    save_state(PageState(str(source), look={"palette": "magma"}, runs=runs, sha256=sha256), tmp_path / "session.json")
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "session.json")], tmp_path)
    _finish_work(again.doc)
    message = again.open_message.text
    assert "1 restoration to run again" in message and "\n" not in message
    assert "restoration 1 (gaussian (sigma=1.0) on image 9): image 9 is beyond the 4 images of the stack; skipped" in message
    assert "restoration 2 (no_such_method on image 0): unknown method &#x27;no_such_method&#x27;; skipped" in message
    assert "restoration 4 (tikhonov on images 0:6): image 5 is beyond the 4 images of the stack; skipped" in message
    assert {index: [r.label for r in kept] for index, kept in again.workspace.results.items()} == {3: ["1: gaussian (sigma=2.0)"]}
    assert again.status.text.startswith("workspace: 1 of 1 restorations done")

    asirp.save(Frame.from_array(np.ones((4, 32, 32), np.float32)), source, force=True)  # the file changed since
    assert load_state(tmp_path / "session.json").sha256 == sha256
    changed = ViewerPage(Document(), FrameCache(), [str(tmp_path / "session.json")], tmp_path)
    _finish_work(changed.doc)
    assert "stack.tif has changed since the workspace was saved (its sha256 differs): its 4 restorations not run again" \
        in changed.open_message.text
    assert changed.workspace.results == {} and changed.palette.value == "magma" and changed.workspace.source is not None


def test_page_lists_hdf5_images_and_steps_through_a_stack(tmp_path):
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as handle:
        handle["map"] = np.ones((16, 16))
        handle["series"] = np.arange(3 * 16 * 16, dtype=np.float32).reshape(3, 16, 16)
    page = ViewerPage(Document(), FrameCache(), [str(path)], tmp_path)
    assert page.datasets.visible and [label.split()[0] for _, label in page.datasets.options] == ["(choose", "/map", "/series"]
    assert page.workspace.source is None and "choose one" in page.open_message.text
    page.datasets.value = f"{path}::/series"
    assert page.frame_slider.visible and page.frame_slider.end == 2
    page._show_image(2)
    np.testing.assert_array_equal(_shown(page.panels.raw.overview), np.arange(2 * 256, 3 * 256).reshape(16, 16))
    page._open_path(str(tmp_path / "missing.tif"))
    assert "missing.tif: no such file" in page.open_message.text and page.workspace.source is not None


def test_workspace_restores_a_whole_stack_with_progress_and_a_cancel_keeps_nothing(tmp_path):
    from threading import Event

    from asirp.view.workspace import Cancelled

    source = tmp_path / "stack.tif"
    asirp.save(Frame.from_array(np.random.default_rng(2).poisson(20, (4, 24, 24)).astype(np.float32)), source)
    workspace = Workspace(FrameCache())
    workspace.open(str(source))
    workspace.index = 2
    earlier = workspace.restore("gaussian", {"sigma": 3.0})
    seen: list[tuple[int, int]] = []
    results = workspace.restore_stack("gaussian", {"sigma": 1.0}, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)] and len(results) == 4
    for index, result in enumerate(results):  # each image restored and kept with that image, as restoring it alone would
        np.testing.assert_allclose(result.frame.data, asirp.restore(asirp.open(source).images()[index], "gaussian", sigma=1.0).data)
        assert workspace.results[index][-1] is result
    assert workspace.shown_results == [earlier, results[2]] and results[2].label == "2: gaussian (sigma=1.0) [stack, 4 images]"
    cancel = Event()  # set while image 1 is being restored: stops before image 2, and nothing of the run is kept
    with pytest.raises(Cancelled):
        workspace.restore_stack("gaussian", {"sigma": 2.0}, cancel=cancel, progress=lambda done, total: done == 1 and cancel.set())
    assert [len(workspace.results[i]) for i in range(4)] == [1, 1, 2, 1]
    with pytest.raises(Cancelled):  # one image: between the decision and the restoration
        workspace.restore("gaussian", {"sigma": 2.0}, cancel=cancel)
    assert workspace.shown_results == [earlier, results[2]]


def test_a_spectra_cube_given_or_picked_opens_as_spectra_and_its_other_images_stay_at_hand(tmp_path):
    from bokeh.document import Document

    from asirp.synth import write_xrf_cube, xrf_cube
    from asirp.view.page import ViewerPage
    from asirp.view.spectra import is_spectra

    cube = xrf_cube("AG175", shape=(20, 16), n_channels=256, elements={"Fe": 30.0}, seed=3)
    maps = str(write_xrf_cube(cube, tmp_path / "maps.h5", "maps"))  # MAPS_RAW: spectra and per-point monitors
    points = str(write_xrf_cube(cube, tmp_path / "points.h5", "points"))
    asirp.save(asirp.Frame.from_array(np.ones((8, 8), np.float32)), tmp_path / "image.h5")
    assert [is_spectra(maps), is_spectra(points), is_spectra(f"{maps}::/MAPS_RAW/livetime"), is_spectra(str(tmp_path / "image.h5"))] == [
        True, True, False, False]  # fmt: skip
    page = ViewerPage(Document(), FrameCache(), [maps], tmp_path)  # as `asirp view maps.h5`
    assert page.spectra is not None and page.spectra_path.value == maps and page.spectrum_figure.visible
    assert "an XRF spectra cube: opened as spectra" in page.open_message.text and "4 dataset(s) that read as images" in page.open_message.text
    assert page.workspace.source is None and page.datasets.visible  # no image opened; the monitors offered as images
    assert [value for value, _ in page.datasets.options[1:]] == [f"{maps}::/MAPS_RAW/{name}" for name in
                                                                 ("inputcounts", "livetime", "ouputcounts", "realtime")]  # fmt: skip
    page.datasets.value = f"{maps}::/MAPS_RAW/livetime"  # a dataset beside the spectra: an image
    assert page.workspace.source is not None and page.spectra.path == maps
    page._pick_file(points)  # picked in the file list: nothing else in the file, nothing offered
    assert page.spectra.path == points and not page.datasets.visible and "read as images" not in page.open_message.text


def test_a_workspace_of_an_element_map_makes_it_again_from_its_cube(tmp_path, monkeypatch):
    from bokeh.document import Document

    from asirp.synth import write_xrf_cube, xrf_cube
    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state
    from asirp.xrf.calibration import EnergyCalibration

    cube = xrf_cube("AG175", shape=(20, 16), n_channels=256, calibration=EnergyCalibration(0.0, 0.08), elements={"Fe": 30.0}, seed=3)
    scan = str(write_xrf_cube(cube, tmp_path / "scan.h5", "nexus"))
    monkeypatch.chdir(tmp_path)
    page = ViewerPage(Document(), FrameCache(), [Path(scan).name], tmp_path)  # a relative path: the workspace records it absolute
    page.xrf_line.value, page.normalisation.value = "Cu-Ka", "i0+livetime"
    page._make_map()
    page.palette.value = "magma"
    page.workspace.restore("gaussian", {"sigma": 1.5}, None)
    page.workspace_path.value = str(tmp_path / "map.json")
    page._save_workspace()
    saved = load_state(tmp_path / "map.json")
    assert saved.path == f"{scan}::Cu-Ka (i0+livetime)" and saved.xrf is not None
    assert (saved.xrf.spectra, saved.xrf.line, saved.xrf.normalisation) == (scan, "Cu-Ka", "i0+livetime") and saved.xrf.channels
    made = page.workspace.source

    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "map.json")], tmp_path)
    assert again.busy is not None and again.workspace.source is None  # the cube is read and the map made in the work thread
    _finish_work(again.doc)
    assert again.workspace.path == saved.path and again.spectra is not None and again.xrf_line.value == "Cu-Ka"
    np.testing.assert_array_equal(again.workspace.source.data, made.data)
    assert again.palette.value == "magma" and [r.label for r in again.workspace.shown_results] == [r.label for r in page.workspace.shown_results]
    assert again._xrf_state() == saved.xrf  # saved again, the same making
    asirp.save(asirp.Frame.from_array(np.ones((8, 8), np.float32)), tmp_path / "image.tif")
    page._open_path(str(tmp_path / "image.tif"))  # another image shown: the workspace no longer names a map
    assert page._xrf_state() is None and page._page_state().xrf is None
    Path(scan).rename(tmp_path / "moved.h5")
    gone = ViewerPage(Document(), FrameCache(), [str(tmp_path / "map.json")], tmp_path)
    _finish_work(gone.doc)
    assert "scan.h5: no such file" in gone.open_message.text and gone.workspace.source is None  # said, in asirp xrf's words


def test_spectra_name_the_line_clicked_and_make_the_map_asirp_xrf_makes(tmp_path):
    from asirp import xrf
    from asirp.synth import write_xrf_cube, xrf_cube
    from asirp.view.spectra import Spectra
    from asirp.xrf.calibration import EnergyCalibration

    cube = xrf_cube("AG175", shape=(40, 32), n_channels=512, calibration=EnergyCalibration(0.0, 0.04), elements={"Fe": 30.0}, seed=3)
    path = str(write_xrf_cube(cube, tmp_path / "scan.h5", "nexus"))
    spectra = Spectra.open(path)
    try:
        assert spectra.spectrum.shape == (512,) and spectra.energies is not None and spectra.energies[1] == pytest.approx(0.04)
        # Ar Ka and Ag La share the 2.96 keV peak: K first; Cu Kb before Os La at 8.9 keV; nothing stands out in no man's land.
        assert [spectra.line_at(e)[0] for e in (8.04, 8.9, 6.4, 2.96)] == ["Cu-Ka", "Cu-Kb", "Fe-Ka", "Ar-Ka"]  # type: ignore[index]
        assert spectra.line_at(0.01) is None
        frame, (lo, hi) = spectra.element_map("Cu-Ka", "i0+livetime")
        with xrf.open_spectra(path) as source:
            expected = xrf.element_maps(source, ["Cu-Ka"], normalisation="i0+livetime", show_progress=False)
        np.testing.assert_array_equal(frame.data, expected.normalised["Cu-Ka"].data)
        assert frame.kind == "xrf_map" and (lo, hi) == (expected.windows[0].lo, expected.windows[0].hi)
        with pytest.raises(ParameterError, match="type an element line"):
            spectra.element_map(" ", "none")
    finally:
        spectra.close()


# -- the page in a real browser ----------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _drawn(png: bytes) -> bool:
    """True when the middle of a screenshot holds an image (many colours), not a blank panel."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    ny, nx, _ = pixels.shape
    middle = pixels[ny // 5 : 4 * ny // 5, nx // 5 : 3 * nx // 5].reshape(-1, 3)
    return len(np.unique(middle, axis=0)) > 30


def _until(check, timeout_s: float = 30.0, step_s: float = 0.1) -> float:
    """Seconds until ``check()`` was true; fails after ``timeout_s``."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout_s:
            raise AssertionError(f"not true after {timeout_s} s: {check}")
        time.sleep(step_s)
    return time.perf_counter() - started


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$ASIRP_VIEW_SCREENSHOTS`` when set."""
    shots = Path(os.environ.get("ASIRP_VIEW_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _click_profile(page, panel, start: tuple[float, float], end: tuple[float, float]) -> dict:
    """Draw a line profile with two clicks on ``panel`` (at fractions of its width and height); its bounding box."""
    box = panel.bounding_box()
    assert box is not None
    for (fx, fy), said in ((start, "line profile: click the end point"), (end, "line profile along")):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.get_by_text(said).wait_for()
    _until(lambda: _drawn(page.locator(".asirp-profile").first.screenshot()), 30)
    return box


def _new_page(playwright):
    """Debian's Chromium, headless, and a page tall enough for the viewer's panels and controls."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    return browser, browser.new_page(viewport={"width": 1500, "height": 1250})


@pytest.fixture
def diffraction_tiff(tmp_path: Path) -> Path:
    """A small synthetic powder frame (with its mask) as TIFF, its PONI beside it."""
    result = asirp.synth.diffraction_frame("powder", shape=(192, 192), dose=30.0, seed=3)
    path = tmp_path / "data" / "powder.tif"
    path.parent.mkdir()
    asirp.save(result.noisy, path)
    path.with_suffix(".poni").write_text(result.noisy.geometry.to_text())
    return path


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(180)
def test_page_in_a_real_browser(diffraction_tiff, tmp_path):
    from playwright.sync_api import sync_playwright

    from asirp.view.server import ViewerServer

    shots = _shots(tmp_path)
    output = tmp_path / "restored.nxs"
    # With a token, as beyond loopback: the page's websocket must pass on the cookie the first request set.
    viewer = ViewerServer([str(diffraction_tiff)], port=0, folder=diffraction_tiff.parent, token="browser-test-token")
    assert viewer.preload() == []
    viewer.start()
    try:
        with sync_playwright() as playwright:
            browser, page = _new_page(playwright)
            raw = page.locator(".asirp-panel-raw").first
            right = page.locator(".asirp-panel-restored").first
            page.goto(viewer.url)
            _until(lambda: raw.is_visible(), 30)
            seconds = _until(lambda: _drawn(raw.screenshot()), 30)
            print(f"first image on screen {seconds:.2f} s after the page loaded")
            assert not _drawn(right.screenshot())  # nothing restored yet: the check tells blank from drawn
            page.get_by_text("diffraction, 192 x 192 px").wait_for()
            page.screenshot(path=shots / "viewer-open.png", full_page=True)

            # A bad value gets the CLI's message beside the form; then gaussian runs.
            page.locator(".asirp-method select").select_option("gaussian")
            sigma = page.locator(".asirp-param-sigma input")
            sigma.fill("-1")
            page.locator(".asirp-restore button").click()
            page.get_by_text("method 'gaussian': sigma: must be greater than 0").wait_for()
            sigma.fill("2")
            page.locator(".asirp-restore button").click()
            page.get_by_text("done: 1: gaussian (sigma=2)").wait_for(timeout=60_000)
            _until(lambda: _drawn(right.screenshot()), 30)

            # A profile: two clicks across the rings on the raw panel.
            box = _click_profile(page, raw, (0.15, 0.45), (0.65, 0.45))
            _until(lambda: _drawn(page.locator(".asirp-azimuthal").first.screenshot()), 30)  # the frame has a PONI
            page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.3 * box["height"])
            page.get_by_text("raw ", exact=False).first.wait_for()
            page.screenshot(path=shots / "viewer-restored.png", full_page=True)

            # The difference view, then export as NeXus; a second export is refused without "replace".
            page.get_by_text("restored − raw").click()

            def readout_names_the_difference() -> bool:  # the readout follows the cursor: move it until the new data arrived
                page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.3 * box["height"] + np.random.randint(5))
                return page.get_by_text("1: gaussian (sigma=2) − raw:").count() == 1

            _until(readout_names_the_difference, 30, 0.2)
            page.screenshot(path=shots / "viewer-difference.png", full_page=True)
            page.locator(".asirp-export-path input").fill(str(output))
            page.locator(".asirp-export button").click()
            page.get_by_text(f"wrote {output}").wait_for()
            page.locator(".asirp-export button").click()
            page.get_by_text("exists; use --force").wait_for()
            browser.close()
    finally:
        viewer.stop()
    restored = asirp.open(output)
    assert [step.method for step in restored.history] == ["read", "gaussian", "read"]
    assert restored.history[1].parameters["sigma"] == 2
    assert restored.geometry is not None and restored.mask_fraction == pytest.approx(asirp.open(diffraction_tiff).mask_fraction)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(180)
def test_page_colours_asinh_with_a_threshold_restores_a_whole_stack_and_cancels_in_a_real_browser(tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from asirp.view.server import ViewerServer

    shots = _shots(tmp_path)
    made = [asirp.synth.diffraction_frame("powder", shape=(192, 192), dose=30.0, seed=k).noisy for k in range(20)]
    stack = tmp_path / "series.nxs"
    asirp.save(Frame.from_array(np.stack([f.data for f in made]), np.stack([f.valid for f in made]), kind="diffraction"), stack)
    first = made[0].data[made[0].valid]
    viewer = ViewerServer([str(stack)], port=0, folder=tmp_path)
    viewer.start()

    def white(png: bytes) -> float:  # fraction of the panel's middle left white: pixels not drawn
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        ny, nx, _ = pixels.shape
        return float((pixels[ny // 5 : 4 * ny // 5, nx // 5 : 3 * nx // 5] == 255).all(axis=2).mean())

    try:
        with sync_playwright() as playwright:
            browser, page = _new_page(playwright)
            raw, right = page.locator(".asirp-panel-raw").first, page.locator(".asirp-panel-restored").first
            page.goto(viewer.url)
            page.get_by_text("diffraction, 192 x 192 px, 20 images").wait_for(timeout=30_000)
            _until(lambda: _drawn(raw.screenshot()), 30)
            # asinh, coloured by the server; a threshold hides what is below it (a bad one is said beside the field).
            page.locator(".asirp-scale select").select_option("asinh")
            box = raw.bounding_box()
            assert box is not None

            def readout_gives_the_value() -> bool:  # coloured images carry their values beside the colours, for the readout
                page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"] + np.random.randint(5))
                return page.get_by_text(re.compile(r"^x \d+, y \d+: raw [0-9.]+ \| restored")).count() == 1

            _until(readout_gives_the_value, 30, 0.2)
            threshold = page.locator(".asirp-threshold input")
            threshold.fill("lots")
            threshold.press("Enter")
            page.get_by_text("threshold: 'lots' is not a number").wait_for()
            assert white(raw.screenshot()) < 0.05
            threshold.fill(f"{np.percentile(first, 90):.1f}")
            threshold.press("Enter")
            _until(lambda: white(raw.screenshot()) > 0.6, 30)  # 90 % of the pixels are below: the background shows
            threshold.fill("")
            threshold.press("Enter")
            _until(lambda: white(raw.screenshot()) < 0.05 and _drawn(raw.screenshot()), 30)
            # Every image of the stack, with the images counted.
            page.locator(".asirp-method select").select_option("gaussian")
            page.locator(".asirp-param-sigma input").fill("2")
            page.locator(".asirp-whole-stack input").check()
            page.locator(".asirp-restore button").click()
            page.get_by_text("done: 1: gaussian (sigma=2) [stack, 20 images], 20 images in").wait_for(timeout=60_000)
            _until(lambda: _drawn(right.screenshot()), 30)
            page.screenshot(path=shots / "viewer-asinh-stack.png", full_page=True)
            # A slow restoration of the stack, cancelled while it runs: said so, and the result shown stays.
            page.locator(".asirp-method select").select_option("richardson_lucy")
            page.locator(".asirp-param-psf_sigma input").fill("2")
            page.locator(".asirp-param-iterations input").fill("1500")
            page.locator(".asirp-param-stop select").select_option("fixed")
            page.locator(".asirp-restore button").click()
            page.get_by_text(re.compile(r"image \d+ of 20, Richardson-Lucy \(at most 1500\): \d+/1500 iterations,")).wait_for(timeout=60_000)
            page.locator(".asirp-cancel button").click()  # stops within the image being restored, at its next iteration
            page.get_by_text(re.compile(r"cancelled: richardson_lucy after .* in Richardson-Lucy \(at most 1500\): \d+/1500 iterations; "
                                        "nothing kept")).wait_for(timeout=60_000)
            assert page.locator(".asirp-results select option").count() == 1 and _drawn(right.screenshot())
            assert not page.locator(".asirp-cancel button").is_visible()
            page.screenshot(path=shots / "viewer-cancelled.png", full_page=True)
            browser.close()
    finally:
        viewer.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(180)
def test_xrf_spectra_in_a_real_browser_a_peak_clicked_names_its_line_and_becomes_a_map(tmp_path):
    from playwright.sync_api import sync_playwright

    from asirp.synth import write_xrf_cube, xrf_cube
    from asirp.view.server import ViewerServer
    from asirp.view.spectra_controls import SPECTRUM_LEFT, SPECTRUM_WIDTH
    from asirp.xrf.calibration import EnergyCalibration

    shots = _shots(tmp_path)
    cube = xrf_cube("AG175", shape=(40, 32), n_channels=512, calibration=EnergyCalibration(0.0, 0.04), elements={"Fe": 30.0}, seed=3)
    scan = write_xrf_cube(cube, tmp_path / "scan.h5", "nexus")
    viewer = ViewerServer([], port=0, folder=tmp_path)
    viewer.start()
    try:
        with sync_playwright() as playwright:
            browser, page = _new_page(playwright)
            page.goto(viewer.url)
            page.locator(".asirp-spectra-path input").fill(str(tmp_path / "missing.h5"))
            page.locator(".asirp-spectra-open button").click()
            page.get_by_text("missing.h5: no such file").wait_for(timeout=30_000)  # the CLI's one-line message
            page.locator(".asirp-spectra-path input").fill(str(scan))
            page.locator(".asirp-spectra-open button").click()
            page.get_by_text("spectra: 40 x 32 points, 512 channels, 1 detector element(s), calibrated in keV").wait_for(timeout=30_000)
            spectrum = page.locator(".asirp-spectrum").first
            spectrum.scroll_into_view_if_needed()
            # Click the Cu K-alpha peak (8.04 keV) on the energy axis (0 to 511 x 0.04 keV across the plot area).
            box = spectrum.bounding_box()
            assert box is not None
            x = box["x"] + SPECTRUM_LEFT + 8.04 / (511 * 0.04) * SPECTRUM_WIDTH
            page.mouse.click(x, box["y"] + box["height"] / 2)
            line = page.locator(".asirp-xrf-line input")
            _until(lambda: line.input_value() == "Cu-Ka", 30)
            page.get_by_text(re.compile(r"Cu-Ka near 8\.\d\d keV: \d+ σ above the continuum")).wait_for()
            page.locator(".asirp-xrf-map button").click()
            page.get_by_text("Cu-Ka (none): map 40 x 32, channels").wait_for(timeout=30_000)
            page.get_by_text("xrf_map, 40 x 32 px").wait_for()
            raw = page.locator(".asirp-panel-raw").first
            _until(lambda: _drawn(raw.screenshot()), 30)
            # The map restores as any image.
            page.locator(".asirp-method select").select_option("gaussian")
            page.locator(".asirp-restore button").click()
            page.get_by_text("done: 1: gaussian in").wait_for(timeout=60_000)
            _until(lambda: _drawn(page.locator(".asirp-panel-restored").first.screenshot()), 30)
            page.screenshot(path=shots / "viewer-xrf.png", full_page=True)
            # A line typed, another normalisation; a bad one gets asirp xrf's message.
            line.fill("Xx-Ka")
            line.press("Enter")
            page.locator(".asirp-xrf-map button").click()
            page.get_by_text("unknown chemical element 'Xx'").wait_for()
            line.fill("Fe-Ka")
            line.press("Enter")
            page.locator(".asirp-xrf-normalisation select").select_option("i0+livetime")
            page.locator(".asirp-xrf-map button").click()
            page.get_by_text("Fe-Ka (i0+livetime): map 40 x 32, channels").wait_for(timeout=30_000)
            _until(lambda: page.locator(".asirp-results select option").count() == 0, 30)  # a new map: the last map's results go
            # The cube picked in the file list opens as spectra too, and says so; a dataset of it beside the spectra opens as an image.
            page.locator(".asirp-files select").select_option(str(scan))
            page.get_by_text("an XRF spectra cube: opened as spectra").wait_for(timeout=30_000)
            page.locator(".asirp-datasets select").select_option(label="/entry/scalers/i0")
            page.get_by_text("image, 40 x 32 px").wait_for(timeout=30_000)
            page.screenshot(path=shots / "viewer-xrf-file-list.png", full_page=True)
            browser.close()
    finally:
        viewer.stop()
