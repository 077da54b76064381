"""Progress on long work (issue 17): iterations of the iterative deconvolutions, frames of stacks; -q silences."""

import numpy as np
import pytest
import tifffile

from asirp import progress
from asirp.cli import main


@pytest.fixture
def bars_at_once(monkeypatch):
    """Progress shown from the first step (not after DELAY_S), and the switch restored afterwards."""
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    enabled = progress.progress_enabled()
    progress.set_progress(True)
    yield
    progress.set_progress(enabled)


@pytest.fixture
def frames(tmp_path):
    """A 64 x 64 frame and a stack of 3 of them, Poisson counts, as TIFF."""
    rng = np.random.default_rng(1)
    stack = rng.poisson(50.0, (3, 64, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "frame.tif", stack[0])
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    return tmp_path


@pytest.mark.parametrize(
    ("source", "method", "params", "bar"),
    [
        ("frame", "richardson_lucy", ["psf_sigma=1.0", "stop=fixed", "iterations=5"], "Richardson-Lucy (at most 5)"),
        ("frame", "richardson_lucy", ["psf_sigma=1.0"], "Richardson-Lucy, when to stop (split data)"),
        ("frame", "landweber", ["psf_sigma=1.0"], "Landweber (at most"),
        ("frame", "van_cittert", ["psf_sigma=1.0"], "van Cittert (at most"),
        ("frame", "blind_richardson_lucy", ["mode=free", "iterations=5", "stop=fixed"], "blind Richardson-Lucy (at most 5)"),
        ("stack", "tikhonov", ["psf_sigma=1.0"], "Tikhonov: λ by GCV"),
        ("stack", "wiener", ["psf_sigma=1.0"], "Wiener: noise-to-signal ratio"),
        ("stack", "gaussian", ["sigma=1.0"], "images"),
    ],
)
def test_long_work_shows_progress_and_quiet_silences_it(source, method, params, bar, frames, bars_at_once, capsys):
    argv = ["restore", str(frames / f"{source}.tif"), "-m", method, "-o", str(frames / "out.npy"), "--force"]
    argv += [item for param in params for item in ("-p", param)]
    assert main(argv) == 0
    shown = capsys.readouterr().err
    assert bar in shown and ("iteration" in shown or "frame" in shown or "image" in shown)
    assert main([*argv, "-q"]) == 0
    quiet_err = capsys.readouterr().err  # -q silences progress; warnings about the result stay, one line each
    assert bar not in quiet_err and all(line.startswith("asirp: warning: ") for line in quiet_err.splitlines())


def test_quick_work_prints_nothing_before_the_delay(frames, capsys):
    enabled = progress.progress_enabled()
    progress.set_progress(True)
    try:
        assert main(["restore", str(frames / "frame.tif"), "-m", "richardson_lucy", "-p", "psf_sigma=1.0",
                     "-o", str(frames / "out.npy")]) == 0
    finally:
        progress.set_progress(enabled)
    assert capsys.readouterr().err == ""  # well under DELAY_S: no bar flashes
