"""``asirp view`` on tomography scans: the projection, sinogram and slice views, against ``asirp.tomo`` itself, then in Chromium.

The views are checked against the tomography functions called directly (what
``asirp tomo recon`` runs), and bad input against the messages ``asirp tomo`` prints.
The browser test opens the tooth scan (APS, TomoPy's sample data, shipped in the
package) and goes from projection to sinogram to slice; set ``ASIRP_VIEW_SCREENSHOTS=DIR``
to keep its screenshots (``viewer-tomo.png``: docs/img).
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_view import CHROMIUM, _click_profile, _drawn, _new_page, _shots, _until

from asirp import tomo
from asirp.cli import main
from asirp.errors import InputError, ParameterError
from asirp.samples import sample_path
from asirp.view.tomography import Tomography, is_scan

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


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium); the page is tested in a real browser")
@pytest.mark.timeout(180)
def test_tomography_views_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from asirp.view.server import ViewerServer

    shots = _shots(tmp_path)
    shadowed = _scan_without_flats(tmp_path / "shadow.h5", air=False)
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
            path.fill(str(TOOTH))
            page.locator(".asirp-open button").click()
            notes = page.locator(".asirp-tomo-message")
            notes.get_by_text("tomography scan: 181 projections, 0° to 179°, detector 2 x 640 px").wait_for(timeout=30_000)
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
            views.get_by_text("slice", exact=True).click()
            notes.get_by_text(re.compile(r"slice of row 1: FBP \(ramp\), .* rotation axis at column 295\.\d\d px")).wait_for(timeout=60_000)
            _until(lambda: _drawn(raw.screenshot()), 30)
            assert not _drawn(right.screenshot())  # nothing restored yet: the check tells blank from drawn
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
