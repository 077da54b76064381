"""The ``real`` benchmark suite on a tiny folder made here (no dependence on /work/shared)."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

import asirp
from asirp.bench import run_suite
from asirp.bench.suites import real_suite
from asirp.errors import InputError, ParameterError
from asirp.frame import Frame
from asirp.methods import base
from asirp.methods.base import Method, Output, Params

FIGURES = ("psnr_db", "ssim", "time_s", "chi2_dof", "peak_area_err")


class _Refuser(Method):
    name = "refuser_test"
    family = "denoising"
    task = "refuses every frame (test)"
    kinds = frozenset({"diffraction", "scattering"})
    selectable = False

    def process(self, frame: Frame, params: Params) -> Output:
        raise ParameterError("refuser_test refuses every frame")


class _Crasher(Method):
    name = "crasher_test"
    family = "denoising"
    task = "has a bug (test)"
    kinds = frozenset({"diffraction", "scattering"})
    selectable = False

    def process(self, frame: Frame, params: Params) -> Output:
        return Output(np.zeros(3)[np.array([10])])  # IndexError: a bug, not a refusal


def _lambda_series(folder: Path, n_files: int = 2, n_frames: int = 3, side: int = 96) -> None:
    """Files in the Lambda NeXus layout: frames in /entry/instrument/detector/data, one (1, ny, nx) pixel mask."""
    truth = asirp.synth.diffraction_frame("powder", shape=(side, side), dose=1.0, seed=11).truth
    rng = np.random.default_rng(3)
    pixel_mask = np.zeros((1, side, side), np.uint32)
    pixel_mask[0, :, side // 3] = 1  # a gap column
    for f in range(n_files):
        data = rng.poisson(np.where(truth.valid, truth.data, 0), size=(n_frames, side, side)).astype(np.int16)
        data[:, :, side // 3] = -1
        with h5py.File(folder / f"series_m2_part{f:05d}.nxs", "w") as h:
            entry = h.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            detector = entry.create_group("instrument/detector")
            h["entry/instrument"].attrs["NX_class"] = "NXinstrument"
            detector.attrs["NX_class"] = "NXdetector"
            detector["data"] = data
            detector["pixel_mask"] = pixel_mask
            detector["saturation_value"] = np.array([4095], np.uint32)
            detector["type"] = np.array([b"photon counting"], dtype=object)


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "diffraction" / "series").mkdir(parents=True)
    result = asirp.synth.diffraction_frame("powder", shape=(128, 128), dose=4.0, mask="gaps", seed=5)
    counts = np.where(result.noisy.valid, result.noisy.data, -1).astype(np.int32)  # -1 in the gaps, as PILATUS
    tifffile.imwrite(folder / "diffraction" / "powder.tif", counts)
    (folder / "diffraction" / "powder.poni").write_text(result.noisy.geometry.to_text())
    _lambda_series(folder / "diffraction" / "series")
    (folder / "README.md").write_text("not data")  # text beside the data: not even tried
    (folder / "scan.dat").write_bytes(b"\x00not an image")  # tried, and left out with a row
    return folder


def test_real_suite_quick_on_a_tiny_folder(tiny_folder, monkeypatch, capsys):
    monkeypatch.setitem(base._REGISTRY, "refuser_test", _Refuser)
    monkeypatch.setitem(base._REGISTRY, "crasher_test", _Crasher)
    monkeypatch.setattr(real_suite, "QUICK_CROP", 64)
    monkeypatch.setattr(real_suite, "DOSES", (0.1, 1.0))
    monkeypatch.setattr(real_suite, "METHODS", ["auto", "gaussian", "refuser_test", "crasher_test"])
    report = run_suite("real", quick=True, data=tiny_folder, progress=False)
    rows = report.rows
    skipped = {r["file"]: r["note"] for r in rows if r.get("section") == "skipped"}
    assert list(skipped) == ["scan.dat"] and "unknown file format" in skipped["scan.dat"]

    measured = [r for r in rows if r.get("section") in ("thinned", "series", "series sum")]
    files = {r["file"] for r in measured}
    assert "diffraction/powder.tif" in files
    assert any(f.startswith("series/series_m2_part00000.nxs") for f in files)
    assert {r["section"] for r in measured} == {"thinned", "series", "series sum"}
    for row in measured:
        if row["method"] in ("raw", "auto", "gaussian", "gaussian_oracle"):
            assert all(key in row for key in FIGURES), row
            assert math.isfinite(row["psnr_db"]) and row["noise_model"] == "poisson"
    # the oracle's sigma lies in the searched range and it is at least as good as gaussian(1)
    oracles = [r for r in measured if r["method"] == "gaussian_oracle"]
    assert len(oracles) == 2 + 2 + 2  # two doses of the TIFF, two series frames, two doses of the sum
    for oracle in oracles:
        assert real_suite.ORACLE_SIGMA_PX[0] <= oracle["oracle_sigma"] <= real_suite.ORACLE_SIGMA_PX[1]
        plain = next(r for r in measured if r["method"] == "gaussian" and r["case"] == oracle["case"] and r["file"] == oracle["file"])
        assert oracle["psnr_db"] >= plain["psnr_db"] - 1e-6
    # a refusal is a row, a crash is a loud row
    refused = [r for r in measured if r["method"] == "refuser_test"]
    assert len(refused) == 6 and all(r["refused"] == "refuser_test refuses every frame" for r in refused)
    crashed = [r for r in measured if r["method"] == "crasher_test"]
    assert len(crashed) == 6 and all(r["crash"].startswith("IndexError: index 10 is out of bounds") for r in crashed)
    assert "CRASH of crasher_test" in capsys.readouterr().err
    for auto in (r for r in measured if r["method"] == "auto"):
        assert auto["chosen"] in base.registry() and auto["decision_s"] >= 0
    # the PONI is cropped with the frame: the powder rows were measured with it
    raw_tiff = next(r for r in measured if r["file"] == "diffraction/powder.tif" and r["method"] == "raw")
    assert "PONI" in raw_tiff["note"] and "64x64 at beam" in raw_tiff["case"]
    # summary: per dose, gain over raw per method and auto's regret
    summary = [r for r in rows if r.get("section") == "summary"]
    assert {r["dose"] for r in summary} == {0.1, 1.0, "series", "full frame"}
    # the whole frame (128x128 here, no crop) at 1 count/px: auto timed per megapixel, the full-frame rows only
    full = [r for r in rows if r.get("section") == "full frame"]
    # (of FULL_FRAME_METHODS, those planned: auto of METHODS, and the two variant rows)
    assert {r["method"] for r in full} == {"raw", "auto", "symmetry(1 pass)", "supervised(ensemble)", "gaussian_oracle"}
    full_auto = next(r for r in full if r["method"] == "auto")
    assert full_auto["decision_s_per_mpx"] == pytest.approx(full_auto["decision_s"] / (128 * 128 / 1e6))
    assert next(r for r in summary if r["method"] == "auto" and r["dose"] == "full frame")["median_decision_s_per_mpx"] > 0
    # auto's regret: the best of raw and the methods run (at their defaults) minus auto, per case
    series_auto = next(r for r in summary if r["method"] == "auto" and r["dose"] == "series")
    regrets = []
    for auto in (r for r in measured if r["method"] == "auto" and r["dose"] == "series"):
        same = [r for r in measured if r["case"] == auto["case"] and r["file"] == auto["file"] and "psnr_db" in r]
        regrets.append(max(r["psnr_db"] for r in same if r["method"] not in ("auto", "gaussian_oracle")) - auto["psnr_db"])
    assert series_auto["regret_db"] == pytest.approx(np.mean(regrets))
    assert all("gain_db" in r for r in summary)
    assert "| section |" in report.to_markdown()


def test_real_suite_needs_a_folder():
    with pytest.raises(ParameterError, match="--data"):
        run_suite("real", quick=True, progress=False)


def test_gain_offset_of_a_simulated_ccd():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    photons = 20 + 200 * np.exp(-((np.hypot(yy - 128, xx - 128) - 60) ** 2) / 800)
    adu = 100 + 3.0 * rng.poisson(photons) + rng.normal(0, 2.0, photons.shape)
    gain, offset = real_suite.gain_offset(np.rint(adu), np.ones(adu.shape, bool))
    assert gain == pytest.approx(3.0, rel=0.15)
    # read noise (4 ADU^2) is folded into the offset: 100 - 4/3 ADU
    assert offset == pytest.approx(100 - 4 / 3, abs=6)
    with pytest.raises(InputError, match="too few"):
        real_suite.gain_offset(np.ones((10, 10)), np.ones((10, 10), bool))


def test_crop_geometry_moves_the_beam_with_the_crop():
    result = asirp.synth.diffraction_frame("powder", shape=(128, 160), dose=1.0, seed=2)
    geometry = result.noisy.geometry
    cy, cx = geometry.beam_center_px()
    y0, x0, h, w = real_suite.crop_region((128, 160), (cy, cx), 64)
    cropped = geometry.cropped((y0, x0), (h, w))
    assert cropped.detector_shape == (64, 64)
    assert cropped.beam_center_px() == pytest.approx((cy - y0, cx - x0), abs=1e-6)
    q_full = geometry.integrator.qArray((128, 160))[y0 : y0 + h, x0 : x0 + w]
    np.testing.assert_allclose(cropped.integrator.qArray((64, 64)), q_full, rtol=1e-5)  # pyFAI: float32
    # a crop never leaves the frame
    assert real_suite.crop_region((100, 300), (5.0, 295.0), 64) == (0, 236, 64, 64)


def test_series_consistency_tells_a_same_signal_pair_from_a_changed_pattern():
    rng = np.random.default_rng(0)
    expected = rng.gamma(0.5, 2.0, (256, 256))
    valid = np.ones(expected.shape, bool)
    frame = rng.poisson(expected).astype(np.float32)
    others = np.mean([rng.poisson(expected) for _ in range(49)], axis=0)
    assert real_suite.series_consistency(frame, others, valid, 1 / 49) == pytest.approx(1.0, abs=0.2)
    moved = np.roll(expected, 40, axis=1)  # the pattern changed between the frame and the others
    changed = np.mean([rng.poisson(moved) for _ in range(49)], axis=0)
    assert real_suite.series_consistency(frame, changed, valid, 1 / 49) > real_suite.MAX_SERIES_CHI2
    assert real_suite.series_consistency(frame[:20, :20], others[:20, :20], valid[:20, :20], 1 / 49) is None
