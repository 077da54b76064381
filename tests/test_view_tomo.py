"""``asirp view`` on tomography scans: the projection, sinogram and slice views, against ``asirp.tomo`` itself, then in Chromium.

The views are checked against the tomography functions called directly (what
``asirp tomo recon`` runs), and bad input against the messages ``asirp tomo`` prints.
The browser test opens the tooth scan (APS, TomoPy's sample data, shipped in the
package) and goes from projection to sinogram to slice; set ``ASIRP_VIEW_SCREENSHOTS=DIR``
to keep its screenshots (``viewer-tomo.png``: docs/img).
"""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from test_view import CHROMIUM, _click_profile, _drawn, _finish_work, _new_page, _shots, _until

from asirp import tomo
from asirp.cli import main
from asirp.errors import InputError, ParameterError
from asirp.samples import sample_path
from asirp.view.files import FrameCache
from asirp.view.images import Orientation
from asirp.view.tomography import ScanInputs, SliceOptions, Tomography, axis_labels, is_scan, shown_note

#: The tooth scan: the copy in the shared data folder where there is one, else the package's (the same file).
TOOTH = next((p for p in (Path("/work/shared/data/tomography/tooth.h5"),) if p.is_file()), sample_path("tooth"))


def _scan_without_flats(path: Path, *, air: bool) -> Path:
    """A Data Exchange scan (40 angles of a 24 x 48 px detector, darks, no flats) of a bar; with ``air`` its edge columns see the beam."""
    angles = np.linspace(0.0, 180.0, 40, endpoint=False)
    columns = np.arange(48) - 23.5
    thickness = np.clip(12 - np.abs(columns[None, :] - 6 * np.cos(np.radians(angles))[:, None]), 0, None)  # a bar off the axis
    counts = 1000.0 * np.exp(-0.05 * thickness)[:, None, :].repeat(24, axis=1) + 10.0
    if not air:
        counts[:, :, :12] = counts[:, :, -12:] = 10.0  # the detector's edges in the sample holder's shadow: only the dark
    with h5py.File(path, "w") as handle:
        handle["exchange/data"] = counts.astype(np.float32)
        handle["exchange/data_dark"] = np.full((3, 24, 48), 10.0, np.float32)
        handle["exchange/theta"] = angles
    return path


def _tiff_scan(folder: Path, scan: tomo.TomoScan, *, one_file: bool = True) -> ScanInputs:
    """``scan`` as a TIFF stack in ``folder``: its projections (one multi-page TIFF, or a folder of one TIFF each), flats, darks and angles.

    Returns the inputs ``asirp tomo`` takes beside the projections' path (``projections.tif`` or ``projections/``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if one_file:
        tifffile.imwrite(folder / "projections.tif", scan.projections.data)
    else:
        (folder / "projections").mkdir()
        for index, image in enumerate(scan.projections.data):
            tifffile.imwrite(folder / "projections" / f"proj_{index:04d}.tif", image)
    tifffile.imwrite(folder / "flats.tif", scan.flats)
    tifffile.imwrite(folder / "darks.tif", scan.darks)
    (folder / "angles.txt").write_text("# rotation angle of each projection (deg)\n" + "\n".join(f"{a!r}" for a in scan.angles_deg.tolist()))
    return ScanInputs(str(folder / "angles.txt"), "deg", str(folder / "flats.tif"), str(folder / "darks.tif"))


def _cli_error(capsys, *args: str) -> str:
    """The message ``asirp`` prints for ``args``, without its ``asirp: error:`` prefix (exit status 2)."""
    assert main(list(args)) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("asirp: error: ") and "\n" not in line
    return line.removeprefix("asirp: error: ")


def test_tomography_views_are_what_asirp_tomo_makes(tmp_path, capsys):
    path = str(TOOTH)
    assert is_scan(path) and not is_scan(f"{path}::/exchange/data") and not is_scan(str(tmp_path / "missing.h5"))
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["image"] = np.ones((8, 8))
    assert not is_scan(str(plain))
    scan = tomo.read_scan(path)
    transmission = tomo.normalise(scan)
    attenuation = tomo.minus_log(transmission)
    views = Tomography.open(path)
    assert views.describe() == "tomography scan: 181 projections, 0° to 179°, detector 2 x 640 px, 10 flats, 10 darks"
    assert (views.count("projection"), views.count("sinogram"), views.count("slice")) == (181, 2, 2)

    projections = views.frame("projection")  # every angle's transmission; the page steps through them
    np.testing.assert_array_equal(projections.data, transmission.data)
    assert projections.kind == "tomo_projection" and projections.meta["quantity"] == "transmission"
    for row in (0, 1):
        sinogram = views.frame("sinogram", row)
        np.testing.assert_array_equal(sinogram.data, attenuation.data[:, row, :])
        assert sinogram.shape == (181, 640) and sinogram.pixel_size is None and sinogram.history[-1].parameters == {"row": row}
    # The slice is the one asirp tomo recon makes (the whole chain, centre found the same way, FBP ramp).
    volume = tomo.reconstruct_scan(scan).volume
    assert views.centre.centre_px == pytest.approx(volume.meta["rotation_centre_px"])
    for row in (1, 0):
        made = views.frame("slice", row)
        np.testing.assert_array_equal(made.valid, volume.valid[row])
        np.testing.assert_allclose(made.data, volume.data[row], atol=1e-5 * float(np.abs(volume.data).max()))
        assert made.meta["row"] == row and made.meta["units"] == "1/px (attenuation per voxel)"
    assert [step.method for step in views.frame("slice", 1).history] == [
        "read", "dark_subtraction", "flat_field", "minus_log", "find_centre", "rows", "fbp",
    ]  # fmt: skip

    # A row out of range: asirp tomo's message for --rows; a projection out of range said alike.
    with pytest.raises(InputError) as row_error:
        views.frame("slice", 5)
    assert str(row_error.value) == _cli_error(capsys, "tomo", "centre", path, "--rows", "5:6")
    with pytest.raises(ParameterError, match=re.escape("projection 181 asked for but the scan has 181 projections (0 to 180)")):
        views.check("projection", 181)
    # No flats: the open beam from the air columns (said), or, with no air to see, asirp tomo's message.
    with_air = Tomography.open(str(_scan_without_flats(tmp_path / "air.h5", air=True)))
    assert "no flats, 3 darks; no flat images: open beam estimated per projection and row from the 10 outermost" in with_air.describe()
    np.testing.assert_array_equal(with_air.frame("projection").data, tomo.normalise(with_air.scan).data)
    shadowed = _scan_without_flats(tmp_path / "shadow.h5", air=False)
    with pytest.raises(InputError) as no_flats:
        Tomography.open(str(shadowed))
    assert str(no_flats.value) == _cli_error(capsys, "tomo", "centre", str(shadowed))
    assert "no flat field in the scan, and the 10 edge columns of projection 0, row 0 hold no signal" in str(no_flats.value)


def test_a_tiff_stack_opens_as_asirp_tomo_reads_it(tmp_path, capsys):
    """A TIFF stack with its angles, flats and darks (multi-page or a folder) gives the HDF5 scan's views; bad input, the CLI's messages."""
    scan = tomo.read_scan(str(TOOTH))
    hdf5 = Tomography.open(str(TOOTH))
    inputs = _tiff_scan(tmp_path / "one", scan)
    stack = str(tmp_path / "one" / "projections.tif")
    one = Tomography.open(stack, inputs)
    radians = tmp_path / "radians.npy"
    np.save(radians, np.radians(scan.angles_deg))
    in_folder = _tiff_scan(tmp_path / "folder", scan, one_file=False)  # one TIFF per projection; the angles in radians
    folder = Tomography.open(str(tmp_path / "folder" / "projections"), ScanInputs(str(radians), "rad", in_folder.flats, in_folder.darks))
    for opened in (one, folder):
        assert opened.describe() == hdf5.describe()
        np.testing.assert_allclose(opened.scan.angles_deg, scan.angles_deg, atol=1e-9)
        np.testing.assert_array_equal(opened.transmission.data, hdf5.transmission.data)
        np.testing.assert_array_equal(opened.frame("sinogram", 1).data, hdf5.frame("sinogram", 1).data)
    assert one.scan.projections.history[0].parameters["format"] == "TIFF" and len(folder.scan.projections.history[0].inputs) == 181
    # The files given come back from a workspace as absolute paths; nothing given, nothing saved.
    assert ScanInputs.from_dict(inputs.to_dict()) == inputs and ScanInputs().to_dict() == {}
    with pytest.raises(ParameterError, match="--angles-unit"):
        ScanInputs.from_dict({"angles": "a.txt", "angles_unit": "grad"})

    # Bad input: the one-line messages asirp tomo prints for the same files.
    (tmp_path / "short.txt").write_text("0\n90\n")
    tifffile.imwrite(tmp_path / "small_flat.tif", np.ones((2, 320), np.float32))
    cases = (
        (ScanInputs(), ()),  # no angles
        (ScanInputs(str(tmp_path / "short.txt")), ("--angles", str(tmp_path / "short.txt"))),
        (ScanInputs(inputs.angles, flats=str(tmp_path / "small_flat.tif")), ("--angles", inputs.angles, "--flats", str(tmp_path / "small_flat.tif"))),
        (ScanInputs(str(tmp_path / "missing.txt")), ("--angles", str(tmp_path / "missing.txt"))),
    )
    for given, options in cases:
        with pytest.raises(InputError) as refused:
            Tomography.open(stack, given)
        assert str(refused.value) == _cli_error(capsys, "tomo", "centre", stack, *options)
    assert "a TIFF stack carries no rotation angles; give an angles file" in _cli_error(capsys, "tomo", "centre", stack)


def test_a_scan_opens_in_the_work_thread(tmp_path):
    """Opening a scan (HDF5 or a TIFF stack with its inputs) runs in the page's work thread; a workspace reopens a TIFF stack with its inputs."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    assert page.busy is not None and page.status.text.startswith("<b>opening tooth.h5…</b>") and page.tomography is None
    _finish_work(page.doc)
    assert page.busy is None and page.status.text.startswith("done: opened tooth.h5 in ")
    assert page.workspace.path == f"{TOOTH}::projection" and page.tomography is not None
    # A TIFF stack, with the box ticked: first without its angles (asirp tomo's message beside Open), then with them.
    inputs = _tiff_scan(tmp_path / "tiff", page.tomography.scan)
    stack = str(tmp_path / "tiff" / "projections.tif")
    page.tomo_as_scan.active = True
    assert page.tomo_inputs.visible
    page._open_path(stack)
    _finish_work(page.doc)
    assert "a TIFF stack carries no rotation angles" in page.open_message.text and page.status.text == ""
    assert page.workspace.path == f"{TOOTH}::projection"  # the scan shown before stays
    page.tomo_angles.value, page.tomo_flats.value, page.tomo_darks.value = inputs.angles, inputs.flats, inputs.darks
    page._open_path(stack)
    _finish_work(page.doc)
    assert page.status.text.startswith("done: opened projections.tif in ") and page.workspace.path == f"{stack}::projection"
    np.testing.assert_array_equal(page.workspace.raw.data, Tomography.open(str(TOOTH)).transmission.data[0])
    page.workspace_path.value = str(tmp_path / "tiff.json")
    page._save_workspace()
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "tiff.json")], tmp_path)  # the box not ticked: the workspace says
    _finish_work(again.doc)
    assert again.tomography is not None and again.tomography.inputs == inputs and again.workspace.path == f"{stack}::projection"
    # A file opened while a scan is being read: that file stays shown.
    page.tomo_as_scan.active = False
    page._open_path(str(TOOTH))
    assert page.busy is not None
    page._open_path(inputs.flats)  # a plain TIFF image, opened at once
    _finish_work(page.doc)
    assert page.workspace.path == inputs.flats and page.status.text.endswith("not shown: another file was opened meanwhile")


def test_sinogram_axes_are_detector_columns_and_the_scans_angles():
    views = Tomography.open(str(TOOTH))
    sinogram = views.frame("sinogram", 0)
    labels = axis_labels(sinogram, Orientation())
    assert (labels.x, labels.y, labels.x_ticks) == ("detector column (px)", "θ (°)", None)
    assert list(labels.y_ticks.values()) == ["0°", "30°", "60°", "90°", "120°", "150°"]
    angles = sinogram.meta["angles_deg"]  # each tick at the row measured at its angle (pixel centres)
    assert all(angles[int(position)] == pytest.approx(float(text[:-1]), abs=0.5) for position, text in labels.y_ticks.items())
    turned = axis_labels(sinogram, Orientation(rotate=90, flip_y=True))  # the angles run along x
    assert (turned.x, turned.y) == ("θ (°)", "detector column (px)") and list(turned.x_ticks.values()) == list(labels.y_ticks.values())
    flipped = axis_labels(sinogram, Orientation(flip_y=True))  # upside down: 0° at the bottom
    at = {text: position for position, text in flipped.y_ticks.items()}
    assert at["0°"] == 180.5 and at["150°"] < at["0°"]  # the last row's centre, with 181 angles
    assert axis_labels(views.frame("slice", 0), Orientation()) is None and axis_labels(views.transmission, Orientation()) is None


def test_slice_options_reconstruct_as_asirp_tomo_recon_and_reopen_from_a_workspace(tmp_path, capsys):
    """The page's slice options (in its work thread) against reconstruct_scan; their errors against the CLI's; a workspace round trip."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state

    scan = tomo.read_scan(str(TOOTH))
    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    _finish_work(page.doc)  # the scan opened in the work thread
    page.tomo_view.active = 1  # the sinogram: its axes as measured
    assert (page.panels.raw_figure.xaxis[0].axis_label, page.panels.raw_figure.yaxis[0].axis_label) == ("detector column (px)", "θ (°)")
    assert "90°" in page.panels.raw_figure.yaxis[0].major_label_overrides.values()
    page.tomo_row.value = 1
    page.tomo_view.active = 2  # the slice: reconstructed in the work thread, the status says so
    assert page.busy is not None and page.status.text.startswith("<b>reconstructing row 1…</b>")
    _finish_work(page.doc)
    assert page.busy is None and page.status.text.startswith("done: row 1 reconstructed in ")
    assert page.workspace.path == f"{TOOTH}::slice row 1" and page.panels.raw_figure.yaxis[0].axis_label == "y (pixel)"
    centre = page.tomography.centre.centre_px
    assert page.tomo_centre.placeholder == f"registration+sharpness: {centre:.2f} px"  # the axis found, shown
    page.tomo_iterations.value = "5"
    page.tomo_centre.value = "300"
    page.tomo_algorithm.value = "sirt"
    _finish_work(page.doc)
    sirt = tomo.reconstruct_scan(scan, algorithm="sirt", iterations=5, centre=300.0).volume
    np.testing.assert_allclose(page.workspace.raw.data, sirt.data[1], atol=1e-5 * float(np.abs(sirt.data).max()))
    assert "slice of row 1: SIRT (5 iterations), attenuation per voxel (1/px), rotation axis at column 300.00 px (given)" in page.tomo_message.text
    # Options typed wrong: asirp tomo recon's one-line messages beside them, and the slice shown stays.
    out = str(tmp_path / "volume.nxs")
    for field, text, cli in ((page.tomo_centre, "middle", ("--center", "middle")), (page.tomo_iterations, "0", ("--iterations", "0")),
                             (page.tomo_centre, "700", ("--center", "700"))):  # fmt: skip
        field.value = text
        assert page.busy is None
        expected = _cli_error(capsys, "tomo", "recon", str(TOOTH), "-o", out, "--algorithm", "sirt", "--center", "300", *cli)
        assert page.tomo_slice_message.text.endswith(f">{html.escape(expected)}</span>")
        field.value = {"middle": "300", "0": "5", "700": ""}[text]
    _finish_work(page.doc)
    page.tomo_algorithm.value, page.tomo_filter.value = "fbp", "hann"  # FBP with another filter, about the axis found
    _finish_work(page.doc)
    hann = tomo.reconstruct_scan(scan, filter_name="hann").volume
    np.testing.assert_allclose(page.workspace.raw.data, hann.data[1], atol=1e-5 * float(np.abs(hann.data).max()))
    assert SliceOptions.from_dict(SliceOptions.parse("sirt", "cosine", "", "7").to_dict()) == SliceOptions("sirt", "ramp", "auto", 7)  # no filter

    page.workspace_path.value = str(tmp_path / "slice.json")
    page._save_workspace()
    saved = load_state(tmp_path / "slice.json")
    assert saved.tomography == {"view": "slice", "row": 1, "slice": SliceOptions(filter_name="hann").to_dict()}
    assert saved.tomography["slice"] | {"zingers": True} != SliceOptions(filter_name="hann").to_dict()  # every option saved
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "slice.json")], tmp_path)
    _finish_work(again.doc)
    assert (again.view, again.tomo_row.value, again.tomo_filter.value, again.workspace.path) == ("slice", 1, "hann", str(TOOTH) + "::slice row 1")
    np.testing.assert_array_equal(again.workspace.raw.data, page.workspace.raw.data)
    page.tomo_view.active = 0  # a projection of the stack, by its index
    page.frame_slider.value = 7
    page._show_image(7)
    page.workspace_path.value, page.overwrite.active = str(tmp_path / "slice.json"), True  # a frame shown proposes its own name
    page._save_workspace()
    assert "wrote" in page.workspace_message.text, page.workspace_message.text
    again._open_path(str(tmp_path / "slice.json"))
    _finish_work(again.doc)
    assert (again.view, again.workspace.index, again.workspace.path) == ("projection", 7, str(TOOTH) + "::projection")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(180)
def test_tomography_views_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from asirp.view.server import ViewerServer

    shots = _shots(tmp_path)
    shadowed = _scan_without_flats(tmp_path / "shadow.h5", air=False)
    tiff = _tiff_scan(tmp_path / "tiff", tomo.read_scan(str(TOOTH)))
    viewer = ViewerServer([], port=0, folder=tmp_path)
    viewer.start()
    try:
        with sync_playwright() as playwright:
            browser, page = _new_page(playwright)
            raw, right = page.locator(".asirp-panel-raw").first, page.locator(".asirp-panel-restored").first
            page.goto(viewer.url)
            path, message = page.locator(".asirp-path input"), page.locator(".asirp-open-message")
            path.fill(str(shadowed))  # no flats and no air: asirp tomo's message beside Open
            page.locator(".asirp-open button").click()
            message.get_by_text("hold no signal to estimate it from; give flats, or a larger air_px").wait_for(timeout=30_000)
            # The tooth as a TIFF stack: without its angles asirp tomo's message beside Open, with them the scan.
            page.locator(".asirp-tomo-as-scan input").check()
            path.fill(str(tmp_path / "tiff" / "projections.tif"))
            page.locator(".asirp-open button").click()
            message.get_by_text("a TIFF stack carries no rotation angles; give an angles file").wait_for(timeout=30_000)
            for name, value in (("angles", tiff.angles), ("flats", tiff.flats), ("darks", tiff.darks)):
                page.locator(f".asirp-tomo-{name} input").fill(value)
            page.locator(".asirp-open button").click()
            notes = page.locator(".asirp-tomo-message")
            scanned = "tomography scan: 181 projections, 0° to 179°, detector 2 x 640 px, 10 flats, 10 darks"
            notes.get_by_text(scanned).wait_for(timeout=30_000)
            print(page.locator(".asirp-status").get_by_text("done: opened projections.tif in").inner_text())
            _until(lambda: _drawn(raw.screenshot()), 30)
            page.screenshot(path=shots / "viewer-tomo-tiff.png")
            page.locator(".asirp-tomo-as-scan input").uncheck()  # the HDF5 file: a scan by its content, opened in the work thread too
            path.fill(str(TOOTH))
            page.locator(".asirp-open button").click()
            page.locator(".asirp-status").get_by_text("done: opened tooth.h5 in").wait_for(timeout=30_000)
            notes.get_by_text(scanned).wait_for(timeout=30_000)
            page.get_by_text("projection 0 of 181 (θ = 0°)").wait_for()
            _until(lambda: _drawn(raw.screenshot()), 30)
            page.screenshot(path=shots / "viewer-tomo-projection.png")
            views = page.locator(".asirp-tomo-view")
            views.get_by_text("sinogram", exact=True).click()
            notes.get_by_text("sinogram of row 0: attenuation -ln T, 181 angles (down) x 640 px").wait_for(timeout=30_000)
            _until(lambda: _drawn(raw.screenshot()), 30)
            page.screenshot(path=shots / "viewer-tomo-sinogram.png")
            go = page.locator(".asirp-tomo-go input")
            go.fill("5")  # a row out of range: asirp tomo's message for --rows 5:6, beside the field
            go.press("Enter")
            page.locator(".asirp-tomo-go-message").get_by_text("rows 5:6 asked for but the detector has 2 rows").wait_for()
            go.fill("1")
            go.press("Enter")
            notes.get_by_text("sinogram of row 1").wait_for(timeout=30_000)
            views.get_by_text("slice", exact=True).click()  # reconstructed in the page's work thread (the axis found: seconds)
            page.locator(".asirp-status").get_by_text("reconstructing row 1…").wait_for(timeout=30_000)
            started = time.perf_counter()  # meanwhile the page answers: a row typed out of range is refused beside the field
            go.fill("9")
            go.press("Enter")
            page.locator(".asirp-tomo-go-message").get_by_text("rows 9:10 asked for but the detector has 2 rows").wait_for(timeout=5_000)
            answered = time.perf_counter() - started
            assert page.locator(".asirp-status").get_by_text("reconstructing row 1…").is_visible(), "answered only after the slice"
            print(f"while reconstructing, the page answered a row typed in {answered:.2f} s")
            notes.get_by_text(re.compile(r"slice of row 1: FBP \(ramp\), .* rotation axis at column 295\.\d\d px")).wait_for(timeout=60_000)
            done = page.locator(".asirp-status").get_by_text(re.compile(r"done: row 1 reconstructed in \d"))
            done.wait_for()
            print(done.inner_text())
            assert page.locator(".asirp-tomo-centre input").get_attribute("placeholder").startswith("registration+sharpness: 295.")
            go.fill("1")  # the row shown: the message goes
            go.press("Enter")
            _until(lambda: not page.locator(".asirp-tomo-go-message").inner_text().strip(), 10)
            _until(lambda: _drawn(raw.screenshot()), 30)
            assert not _drawn(right.screenshot())  # nothing restored yet: the check tells blank from drawn
            page.locator(".asirp-tomo-corrections").get_by_text("remove rings (--rings)").click()  # asirp tomo recon --rings
            notes.get_by_text(re.compile(r"slice of row 1: FBP \(ramp\) \(rings removed\), .* rotation axis")).wait_for(timeout=60_000)
            _until(lambda: _drawn(raw.screenshot()), 30)
            # The slice restores as any image.
            page.locator(".asirp-method select").select_option("gaussian")
            page.locator(".asirp-param-sigma input").fill("1.5")
            page.locator(".asirp-restore button").click()
            page.get_by_text("done: 1: gaussian (sigma=1.5)").wait_for(timeout=60_000)
            _until(lambda: _drawn(right.screenshot()), 30)
            # A line profile across the tooth, of the raw slice and the restored one.
            _click_profile(page, raw, (0.3, 0.6), (0.75, 0.5))
            profile = page.locator(".asirp-profile").first
            # The picture for docs/viewer.md: the controls down to the notes, both panels and the profile.
            page.evaluate("window.scrollTo(0, 0)")
            page.mouse.click(1250, 800)  # away from the panels: no hover, crosshair or focus outline in the picture
            bottoms = [b["y"] + b["height"] for b in (notes.bounding_box(), profile.bounding_box()) if b is not None]
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=shots / "viewer-tomo.png", full_page=True, clip={"x": 0, "y": 0, "width": width, "height": max(bottoms) + 4})
            browser.close()
    finally:
        viewer.stop()


def _recon(scan: tomo.TomoScan, options: SliceOptions) -> tomo.Reconstruction:
    """What ``asirp tomo recon`` makes of ``scan`` with the page's ``options`` (the same keywords its options give)."""
    keywords: dict = dict(algorithm=options.algorithm, filter_name=options.filter_name, iterations=options.iterations,
                          centre=options.centre, zingers=options.zingers, rings=options.rings)
    if options.restore:
        keywords |= dict(restore=options.restore, restore_params=options.restore_parameters(), restore_target=options.restore_target)
    if options.denoise:
        keywords |= dict(denoise=options.denoise, denoise_params=options.denoise_parameters())
    return tomo.reconstruct_scan(scan, **keywords)


def test_slice_corrections_restorations_and_noise2inverse_are_what_asirp_tomo_recon_makes():
    """Zinger and ring removal, restored projections or slices, Noise2Inverse: each slice equal to reconstruct_scan's, its steps said."""
    scan = tomo.read_scan(str(TOOTH))
    views = Tomography.open(str(TOOTH))
    cases = (
        (SliceOptions.parse("fbp", "ramp", "", "100", zingers=True, rings=True), ["remove_zingers", "remove_rings"],
         "FBP (ramp) (zingers removed, rings removed)"),
        (SliceOptions.parse("fbp", "ramp", "", "100", rings=True, restore="gaussian", restore_params="sigma=1.5",
                            restore_target="projections"), ["gaussian", "remove_rings"],
         "FBP (ramp) (rings removed, projections restored with gaussian)"),
        (SliceOptions.parse("sirt", "ramp", "300", "5", restore="gaussian", restore_params="sigma=1"), ["gaussian"],
         "SIRT (5 iterations) (slices restored with gaussian)"),  # auto: the tooth's 2 rows are too thin, its slices are restored
        (SliceOptions.parse("fbp", "hann", "", "100", denoise="noise2inverse", denoise_params="steps=2 patch=16 batch=2 channels=4"),
         ["noise2inverse"], "Noise2Inverse (FBP hann, 2 training steps)"),
    )  # fmt: skip
    for options, steps, said in cases:
        made = views.slice(1, options)
        volume = _recon(scan, options).volume
        np.testing.assert_allclose(made.data, volume.data[1], atol=1e-5 * float(np.abs(volume.data).max()), err_msg=str(options))
        np.testing.assert_array_equal(made.valid, volume.valid[1])
        methods = [step.method for step in made.history]
        assert [m for m in methods if m not in ("read", "dark_subtraction", "flat_field", "minus_log", "find_centre", "rows", "fbp", "sirt",
                                                "noise2inverse")] + [m for m in methods if m == "noise2inverse"] == steps, methods  # fmt: skip
        assert [m for m in methods if m != "rows"] == [step.method for step in volume.history]  # the same steps in the same order
        assert views.has_slice(0, options)  # its neighbour made with it
        assert shown_note(views, "slice", made).startswith(f"slice of row 1: {said}, attenuation per voxel (1/px), rotation axis at column ")
    restored = next(step for step in views.slice(1, cases[1][0]).history if step.method == "gaussian")
    asked = {"requested": "projections", "restored": "projections", "reason": "restore_target='projections' was asked for"}
    assert restored.notes["restore_target"] == asked
    # Options that change nothing of the projections share the scan's corrected projections and axis.
    assert views.projections(SliceOptions(algorithm="sirt", restore="gaussian", restore_params=("sigma=1",))) is views.attenuation


def test_bad_slice_options_get_the_one_line_messages_of_asirp_tomo_recon(tmp_path, capsys):
    views = Tomography.open(str(TOOTH))
    out = str(tmp_path / "volume.nxs")

    def refused(**typed) -> str:
        with pytest.raises(ParameterError) as error:
            views.check_options(SliceOptions.from_dict(typed))
        return str(error.value)

    def cli(*args: str) -> str:
        return _cli_error(capsys, "tomo", "recon", str(TOOTH), "-o", out, *args)

    assert refused(restore="gaussian", restore_params=["sigma=-1"]) == cli("--restore", "gaussian", "-p", "sigma=-1")
    assert refused(restore="gaussian", restore_params="sigma") == cli("--restore", "gaussian", "-p", "sigma")
    assert refused(restore="richardson_lucy", restore_params="iterations=0") == cli("--restore", "richardson_lucy", "-p", "iterations=0")
    assert refused(restore="nosuch") == cli("--restore", "nosuch")
    assert refused(algorithm="sirt", denoise="noise2inverse") == cli("--algorithm", "sirt", "--denoise", "noise2inverse")
    for params in ("splits=20", "patch=7", "foo=1", "steps=x", "steps"):
        assert refused(denoise="noise2inverse", denoise_params=params) == cli("--denoise", "noise2inverse", "--denoise-param", params)
    assert "unknown Noise2Inverse parameter 'foo'; use one of splits, steps" in refused(denoise="noise2inverse", denoise_params="foo=1")
    # Choices the page offers in lists, read from a workspace: argparse's words for them.
    for key, option, value in (("restore_target", "--restore-target", "proj"), ("denoise", "--denoise", "bm3d")):
        with pytest.raises(SystemExit):
            main(["tomo", "recon", str(TOOTH), "-o", out, "--restore", "gaussian", option, value])
        said = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("asirp tomo recon: error: ")
        with pytest.raises(ParameterError, match=re.escape(said)):
            SliceOptions.from_dict({"restore": "gaussian", key: value})
    assert not list(tmp_path.iterdir())  # every one refused before any work


def test_slice_options_round_trip_through_a_workspace(tmp_path):
    """Every option saved and read back; on the page, set, reconstructed, saved and reopened to the same slice."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state

    everything = SliceOptions.parse("fbp", "cosine", "296.5", "100", zingers=True, rings=True, restore="richardson_lucy",
                                    restore_params="psf_sigma=1.2 iterations=10", restore_target="slices", denoise="noise2inverse",
                                    denoise_params="steps=20 seed=3")  # fmt: skip
    assert SliceOptions.from_dict(json.loads(json.dumps(everything.to_dict()))) == everything
    assert SliceOptions.from_dict({}) == SliceOptions()  # an older workspace: the defaults

    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    _finish_work(page.doc)
    page.tomo_row.value = 1
    page.tomo_corrections.active = [0, 1]
    page.tomo_restore.value = "gaussian"
    assert page.tomo_restore_params.visible and page.tomo_restore_target.visible and not page.tomo_denoise_params.visible
    page.tomo_restore_params.value = "sigma=1.5"
    page.tomo_view.active = 2
    _finish_work(page.doc)
    options = SliceOptions(zingers=True, rings=True, restore="gaussian", restore_params=("sigma=1.5",))
    volume = _recon(page.tomography.scan, options).volume
    np.testing.assert_allclose(page.workspace.raw.data, volume.data[1], atol=1e-5 * float(np.abs(volume.data).max()))
    assert "FBP (ramp) (zingers removed, rings removed, slices restored with gaussian)" in page.tomo_message.text
    page.tomo_restore_params.value = "sigma=-1"  # refused beside the options, with the CLI's message; the slice shown stays
    assert "method &#x27;gaussian&#x27;: sigma: must be greater than 0" in page.tomo_slice_message.text and page.busy is None
    page.tomo_restore_params.value = "sigma=1.5"
    page.workspace_path.value = str(tmp_path / "options.json")
    page._save_workspace()
    assert load_state(tmp_path / "options.json").tomography["slice"] == options.to_dict()
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "options.json")], tmp_path)
    _finish_work(again.doc)
    assert (again.tomo_corrections.active, again.tomo_restore.value, again.tomo_restore_params.value, again.tomo_restore_target.value,
            again.tomo_denoise.value) == ([0, 1], "gaussian", "sigma=1.5", "auto", "")  # fmt: skip
    assert again.workspace.path == f"{TOOTH}::slice row 1"
    np.testing.assert_array_equal(again.workspace.raw.data, page.workspace.raw.data)


def test_a_sirt_slice_is_cancelled_within_one_iteration(tmp_path):
    """SIRT's loop goes through asirp.progress: cancelled, it stops at the next iteration, in the unit and on the page (the slice shown stays)."""
    from bokeh.document import Document

    from asirp.progress import Cancelled, Observation
    from asirp.view.page import ViewerPage

    views = Tomography.open(str(TOOTH))
    views.slice(1)  # the axis found beforehand: the loop below is SIRT's only
    options = SliceOptions.parse("sirt", "ramp", "", "10000")
    seen: list[int] = []

    def report(step) -> None:
        if step.desc == "SIRT":
            seen.append(step.done)
            if step.done == 3:
                watched.cancel()

    with Observation(report) as watched, pytest.raises(Cancelled):
        views.slice(1, options)
    assert watched.stopped is not None and str(watched.stopped[-1]) == "SIRT: 3/10000 iterations" and seen[-1] == 3
    assert not views.has_slice(1, options)  # nothing kept of it

    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    _finish_work(page.doc)
    page.tomo_row.value = 1
    page.tomo_view.active = 2
    _finish_work(page.doc)
    shown = page.workspace.raw
    page.tomo_iterations.value = "10000"  # minutes on the tooth: only a cancel ends it within the test
    page.tomo_algorithm.value = "sirt"
    observation = page._observation
    assert page.busy is not None and page.cancel_button.visible and observation is not None
    started = time.perf_counter()
    while not (observation.loops and observation.loops[-1].desc == "SIRT" and observation.loops[-1].done >= 2):
        assert time.perf_counter() - started < 60, "SIRT's iterations never started"
        time.sleep(0.01)
    page._tick()
    assert re.search(r"<b>reconstructing row 1…</b> SIRT: \d+/10000 iterations, \d+\.\d s$", page.status.text), page.status.text
    page._cancel_restore()
    running = observation.loops
    cancelled = time.perf_counter()
    _finish_work(page.doc)
    seconds = time.perf_counter() - cancelled
    stopped = observation.stopped
    assert stopped is not None and stopped[-1].desc == "SIRT" and stopped[-1].done <= running[-1].done + 1 and seconds < 30
    assert re.fullmatch(rf"cancelled: reconstructing row 1 after \d+\.\d s, in SIRT: {stopped[-1].done}/10000 iterations; "
                        "the image shown before stays", page.status.text), page.status.text  # fmt: skip
    assert page.workspace.raw is shown and page.busy is None and not page.cancel_button.visible and page.tomo_slice_message.text == ""
    print(f"SIRT cancelled after {stopped[-1].done} iterations; the thread ended {seconds:.3f} s after the cancel")


def test_opening_a_scan_is_cancelled_between_blocks(tmp_path, monkeypatch):
    """The readers read projections in blocks through asirp.progress: Cancel stops opening, and the file shown before stays."""
    from bokeh.document import Document

    from asirp.progress import Cancelled, Observation
    from asirp.tomo import readers
    from asirp.view.page import ViewerPage

    monkeypatch.setattr(readers, "READ_BLOCK_BYTES", 640 * 2 * 4 * 10)  # the tooth (float32) in blocks of 10 projections
    with Observation() as watched:
        opened = Tomography.open(str(TOOTH))
    np.testing.assert_array_equal(opened.transmission.data, Tomography.open(str(TOOTH)).transmission.data)
    steps: list[str] = []

    def report(step) -> None:
        steps.append(str(step))
        if step.done == 2:
            watched.cancel()

    with Observation(report) as watched, pytest.raises(Cancelled):
        Tomography.open(str(TOOTH))
    assert str(watched.stopped[-1]) == "reading exchange/data: 2/19 blocks" and steps[0] == "reading exchange/data: 0/19 blocks"
    inputs = _tiff_scan(tmp_path / "tiff", opened.scan, one_file=False)  # a folder of TIFFs: one file an iteration
    with Observation(lambda step: step.done == 5 and watched.cancel()) as watched, pytest.raises(Cancelled):
        Tomography.open(str(tmp_path / "tiff" / "projections"), inputs)
    assert str(watched.stopped[-1]) == "reading projections: 5/181 files"

    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    _finish_work(page.doc)
    shown = page.workspace.raw
    read = ScanInputs.read

    def held(self, path):  # the read waits for the click: the cancel lands within it, whatever the machine's speed
        assert page._cancel.wait(30)
        return read(self, path)

    monkeypatch.setattr(ScanInputs, "read", held)
    page._open_path(str(TOOTH))
    assert page.busy is not None and page.cancel_button.visible
    page._cancel_restore()
    _finish_work(page.doc)
    assert re.fullmatch(r"cancelled: opening tooth\.h5 after \d+\.\d s, in reading exchange/data: 0/19 blocks; the file shown before stays",
                        page.status.text), page.status.text  # fmt: skip
    assert page.workspace.raw is shown and page.tomography is not None and not page.cancel_button.visible and page.busy is None


def test_rows_read_only_those_detector_rows_as_asirp_tomo_rows(tmp_path, capsys):
    """The rows field under the path: the scan opened holds only the rows asked for (asirp.tomo's reader with the same rows),
    bad rows get asirp tomo's one-line messages beside Open, and a workspace reopens the same rows."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage
    from asirp.view.state import load_state

    path = str(_scan_without_flats(tmp_path / "tall.h5", air=True))  # 24 detector rows
    opened = Tomography.open(path, ScanInputs(rows=(5, 9)))
    expected = tomo.read_scan(path, rows=(5, 9))
    np.testing.assert_array_equal(opened.scan.projections.data, expected.projections.data)
    np.testing.assert_array_equal(opened.scan.darks, expected.darks)
    np.testing.assert_array_equal(opened.attenuation.data, tomo.minus_log(tomo.normalise(expected)).data)
    assert opened.rows == 4 and opened.scan.shape == (40, 4, 48) and Tomography.open(path).rows == 24
    assert "detector rows 5 to 8 read (rows 5:9): row 0 here is detector row 5" in opened.describe()
    # Saved and read back as [start, stop]; a saved value that is not two integers gets --rows's message.
    assert ScanInputs(rows=(5, 9)).to_dict() == {"rows": [5, 9]}
    assert ScanInputs.from_dict(json.loads(json.dumps(ScanInputs("a.txt", rows=(5, 9)).to_dict()))).rows == (5, 9)
    with pytest.raises(ParameterError, match=re.escape("--rows expects START:STOP (detector rows), got '[5]'")):
        ScanInputs.from_dict({"rows": [5]})

    page = ViewerPage(Document(), FrameCache(), [], tmp_path)
    assert page.tomo_rows in page.scan_input_controls() and page.tomo_rows.visible  # shown whether the box is ticked or not
    for typed in ("5", "a:b", "9:5", "20:30"):  # the form (before reading), then the reader's checks (after it looked)
        page.tomo_rows.value = typed
        page._open_path(path)
        _finish_work(page.doc)
        message = _cli_error(capsys, "tomo", "centre", path, "--rows", typed)
        assert html.escape(message) in page.open_message.text, (typed, message, page.open_message.text)
        assert page.tomography is None
    page.tomo_rows.value = "5:9"
    page._open_path(path)
    _finish_work(page.doc)
    assert page.tomography is not None and page.tomography.rows == 4 and page.tomo_row.end == 3
    np.testing.assert_array_equal(page.tomography.attenuation.data, opened.attenuation.data)
    page.tomo_view.active = 1  # the sinogram of row 2 here: detector row 7
    page.tomo_row.value = 2
    _finish_work(page.doc)
    np.testing.assert_array_equal(page.workspace.raw.data, Tomography.open(path).frame("sinogram", 7).data)
    page.workspace_path.value = str(tmp_path / "rows.json")
    page._save_workspace()
    assert load_state(tmp_path / "rows.json").tomography["scan"] == {"rows": [5, 9]}
    again = ViewerPage(Document(), FrameCache(), [str(tmp_path / "rows.json")], tmp_path)  # a fresh page, its rows field empty
    _finish_work(again.doc)
    assert again.tomography is not None and again.tomography.inputs == ScanInputs(rows=(5, 9)) and again.tomo_rows.value == "5:9"
    np.testing.assert_array_equal(again.tomography.scan.projections.data, expected.projections.data)
    np.testing.assert_array_equal(again.workspace.raw.data, page.workspace.raw.data)


def test_projection_and_sinogram_views_show_the_slice_options_corrections(tmp_path):
    """Zingers, rings, projections restored: the projection and sinogram views are asirp.tomo.corrected_projections with the same options
    (made once, said under the view); options that leave the projections alone, and none, show the scan as read."""
    from bokeh.document import Document

    from asirp.view.page import ViewerPage

    scan = tomo.read_scan(str(TOOTH))
    views = Tomography.open(str(TOOTH))
    cases = (
        (SliceOptions.parse("fbp", "ramp", "", "100", zingers=True, rings=True), dict(zingers=True, rings=True),
         "zingers removed, rings removed"),
        (SliceOptions.parse("fbp", "ramp", "", "100", rings=True, restore="gaussian", restore_params="sigma=1.5", restore_target="projections"),
         dict(rings=True, restore="gaussian", restore_params={"sigma": 1.5}), "rings removed, projections restored with gaussian"),
    )  # fmt: skip
    for options, keywords, said in cases:
        assert views.corrects(options) and not views.has_projections(options)
        corrected = tomo.corrected_projections(scan, **keywords)
        shown = views.frame("projection", 0, options)
        assert views.has_projections(options) and views.frame("projection", 0, options) is shown  # made once
        np.testing.assert_array_equal(shown.data, corrected.data)
        np.testing.assert_array_equal(shown.valid, corrected.valid)
        said_projections = f"projections as attenuation -ln T with the slice options' corrections ({said}), 181 angles"
        assert shown_note(views, "projection", shown).startswith(said_projections)
        for row in (0, 1):
            sinogram = views.frame("sinogram", row, options)
            np.testing.assert_array_equal(sinogram.data, corrected.data[:, row, :])
            assert sinogram.history[-1].method == "sinogram" and sinogram.meta["row"] == row
            assert shown_note(views, "sinogram", sinogram).endswith(f"with the slice options' corrections ({said})")
        assert views.slice(1, options).history[: len(shown.history)] == shown.history  # the slice is made from what is shown
    # No corrections (none given, or a restoration of the slices, another algorithm): the scan as read, as before.
    attenuation = tomo.minus_log(tomo.normalise(scan))
    for options in (None, SliceOptions(), SliceOptions(algorithm="sirt", restore="gaussian", restore_params=("sigma=1",), restore_target="slices")):
        assert options is None or (not views.corrects(options) and views.has_projections(options))
        assert views.frame("projection", 0, options) is views.transmission
        sinogram = views.frame("sinogram", 1, options)
        np.testing.assert_array_equal(sinogram.data, attenuation.data[:, 1, :])
        assert sinogram.history[-1].parameters == {"row": 1} and shown_note(views, "sinogram", sinogram).endswith(" as read (no corrections)")
    assert shown_note(views, "projection", views.transmission).startswith("projections as transmission (P - D) / (F - D), 181 angles")

    # On the page: ticking corrects in the work thread and shows them (and says so); unticking shows the scan as read again.
    page = ViewerPage(Document(), FrameCache(), [str(TOOTH)], tmp_path)
    _finish_work(page.doc)
    assert page.tomo_slice.visible and page.workspace.source is page.tomography.transmission
    page.tomo_corrections.active = [0, 1]
    assert page.busy is not None and "correcting the projections with the slice options…" in page.tomo_message.text
    _finish_work(page.doc)
    assert page.status.text.startswith("done: projections corrected in ")
    expected = tomo.corrected_projections(scan, zingers=True, rings=True)
    np.testing.assert_array_equal(page.workspace.source.data, expected.data)
    assert "with the slice options' corrections (zingers removed, rings removed)" in html.unescape(page.tomo_message.text)
    shown = page.workspace.source
    page.tomo_algorithm.value = "sirt"  # not a correction: the view stays (no new work, the same frame)
    assert page.busy is None and page.workspace.source is shown
    page.tomo_view.active = 1
    page.tomo_row.value = 1
    page._show_view()
    _finish_work(page.doc)
    np.testing.assert_array_equal(page.workspace.source.data, expected.data[:, 1, :])
    page.tomo_corrections.active = []
    _finish_work(page.doc)
    np.testing.assert_array_equal(page.workspace.source.data, attenuation.data[:, 1, :])
    assert "as read (no corrections)" in page.tomo_message.text
    page.tomo_view.active = 0
    _finish_work(page.doc)
    assert page.workspace.source is page.tomography.transmission and "projections as transmission" in page.tomo_message.text


def test_the_rotation_axis_search_is_cancelled_at_its_next_batch_of_candidates():
    """find_centre's sharpness search loops through asirp.progress: cancelled, it stops at its next batch of candidates (nothing kept)."""
    from asirp.progress import Cancelled, Observation

    views = Tomography.open(str(TOOTH))
    found = tomo.find_centre(views.attenuation, method="sharpness")  # unobserved: as before
    seen: list[str] = []

    def report(step) -> None:
        if step.desc.startswith("rotation axis"):
            seen.append(str(step))
            if step.done == 1:
                watched.cancel()

    with Observation(report) as watched, pytest.raises(Cancelled):
        tomo.find_centre(views.attenuation, method="sharpness")
    assert watched.stopped is not None and str(watched.stopped[-1]) == seen[-1] == "rotation axis: 320 candidate centres: 1/5 batches"
    with Observation() as watched:  # observed, not cancelled: the same axis
        assert tomo.find_centre(views.attenuation, method="sharpness") == found
    # Within a slice (the axis found first): cancelled in the search, no axis and no slice kept.
    with Observation(lambda step: step.desc.startswith("rotation axis") and watched.cancel()) as watched, pytest.raises(Cancelled):
        views.slice(1)
    assert watched.stopped is not None and watched.stopped[-1].desc.startswith("rotation axis") and not views._centred
    assert not views.has_slice(1, SliceOptions())
