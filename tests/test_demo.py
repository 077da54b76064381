"""asirp demo: the report folder a new user sees first."""

import json

import h5py
import numpy as np
import pytest

from asirp.demo import DEMO_FILES, run_demo
from asirp.errors import OutputError
from asirp.frame import Frame
from asirp.io.export import MIN_DRAWN_RATIO, draw_frame, new_figure
from asirp.samples import tooth_sinogram


def test_demo_writes_the_report_and_refuses_to_clobber_it(tmp_path):
    out = tmp_path / "report"
    demo = run_demo(out)
    for name in DEMO_FILES:
        assert (out / name).exists(), name
    for picture in out.glob("*.png"):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    mesh, tooth = summary["cases"]
    assert mesh["method"] == demo.cases[0]["method"] and "because:" in mesh["explanation"]
    assert mesh["figures"]["PSNR raw vs truth (dB)"] > 5
    assert tooth["figures"]["FRC resolution raw, even vs odd angles (px)"] >= 2
    text = (out / "summary.md").read_text()
    assert "![ag175_compare.png](ag175_compare.png)" in text
    with h5py.File(out / "ag175_restored.nxs", "r") as handle:
        processes = [name for name in handle["entry"] if name.startswith("process_")]
    assert len(processes) >= 2  # read + the chosen method
    with pytest.raises(OutputError, match="--force"):
        run_demo(out)
    run_demo(out, force=True)


def _drawn(frame):
    """Draw ``frame`` as the demo's panels do; the image axes and its colour bar axes, laid out."""
    figure = new_figure(4.6, 4.4)
    axes = figure.add_subplot()
    draw_frame(axes, frame, label="-ln(I/I0)")
    figure.canvas.draw()
    (colour_bar,) = axes.child_axes
    return axes, colour_bar


def test_sinogram_panel_is_labelled_in_degrees_and_its_colour_bar_is_as_tall_as_the_image():
    # Issue 17: the tooth sinogram had colour bars three times taller than the image and "y (pixel)" angles.
    sinogram = tooth_sinogram()
    angles = sinogram.meta["angles_deg"]
    axes, colour_bar = _drawn(sinogram)
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("detector column (pixel)", "angle (°)")
    top, bottom = sorted(axes.get_ylim())
    step = (angles[-1] - angles[0]) / (len(angles) - 1)
    assert (top, bottom) == pytest.approx((angles[0] - step / 2, angles[-1] + step / 2))
    assert axes.get_xlim() == pytest.approx((-0.5, 639.5))
    assert colour_bar.get_window_extent().height == pytest.approx(axes.get_window_extent().height, rel=1e-6)


@pytest.mark.parametrize("shape", [(96, 96), (2, 640)])
def test_images_keep_a_colour_bar_as_tall_as_themselves_and_thin_ones_stay_readable(shape):
    axes, colour_bar = _drawn(Frame(np.ones(shape, dtype=np.float32)))
    image = axes.get_window_extent()
    assert colour_bar.get_window_extent().height == pytest.approx(image.height, rel=1e-6)
    assert image.height >= MIN_DRAWN_RATIO * image.width * 0.999  # a 2 x 640 plane is not drawn as a line
    assert axes.get_ylabel() == "y (pixel)"
