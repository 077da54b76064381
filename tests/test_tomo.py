"""asirp.tomo: readers, corrections, centre, reconstruction, restoration, provenance, figures, CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from asirp import tomo
from asirp.analysis import psnr
from asirp.cli import main
from asirp.errors import InputError, ParameterError
from asirp.io import open as open_frame
from asirp.io import save
from asirp.methods.base import registry
from asirp.samples import sample_path
from asirp.synth import tomo_phantom, tomo_projections
from asirp.tomo.noise2inverse import noise2inverse, subset_reconstructions
from asirp.tomo.orthoslices import orthoslices, write_figures
from asirp.tomo.readers import scan_from_synth
from asirp.tomo.reconstruct import FourierProjector, angular_weights
from asirp.tomo.restore import MIN_PROJECTION_SIDE, choose_target

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return tomo_phantom(32, n_slices=12, seed=21)


@pytest.fixture(scope="module")
def low_dose(phantom):
    return tomo_projections(phantom, n_angles=60, photons=30.0, beam_fwhm_px=2.5, seed=22)


def _raw(n=12, ny=4, nx=10, seed=0):
    """Projections with known transmission: P = D + T (F - D)."""
    rng = np.random.default_rng(seed)
    transmission = rng.uniform(0.2, 1.0, (n, ny, nx))
    flat = rng.uniform(900, 1100, (ny, nx))
    dark = rng.uniform(90, 110, (ny, nx))
    return transmission, flat, dark, dark + transmission * (flat - dark)


def _write_dxchange(path, projections, flats, darks, theta, units="degrees"):
    with h5py.File(path, "w") as handle:
        handle["exchange/data"] = projections.astype(np.float32)
        handle["exchange/data_white"] = flats.astype(np.float32)
        handle["exchange/data_dark"] = darks.astype(np.float32)
        handle["exchange/theta"] = theta
        handle["exchange/theta"].attrs["units"] = units


# -- readers ------------------------------------------------------------------------------


def test_data_exchange_reader(tmp_path):
    transmission, flat, dark, raw = _raw()
    path = tmp_path / "scan.h5"
    theta = np.linspace(0, np.pi, 12, endpoint=False)
    _write_dxchange(path, raw, np.stack([flat] * 3), np.stack([dark] * 2), theta, units="rad")
    scan = tomo.read_scan(path)
    assert scan.shape == (12, 4, 10) and scan.flats.shape == (3, 4, 10) and scan.darks.shape == (2, 4, 10)
    np.testing.assert_allclose(scan.angles_deg, np.degrees(theta))  # radians converted by @units
    assert scan.projections.kind == "tomo_projection" and scan.projections.meta["quantity"] == "counts"
    step = scan.projections.history[-1]
    assert step.method == "read" and step.inputs[0]["name"] == str(path) and len(step.inputs[0]["sha256"]) == 64
    rows = tomo.read_scan(path, rows=(1, 3))
    np.testing.assert_allclose(rows.projections.data, raw[:, 1:3].astype(np.float32))
    with pytest.raises(InputError, match="rows 2:9"):
        tomo.read_scan(path, rows=(2, 9))


def test_nxtomo_reader_splits_frames_by_image_key(tmp_path):
    transmission, flat, dark, raw = _raw(n=6)
    keys = np.array([2, 2, 1, 0, 0, 0, 3, 0, 0, 0, 1])
    frames = np.concatenate([[dark, dark, flat], raw[:3], [raw[0] * 0], raw[3:], [flat]])
    angles = np.array([0, 0, 0, 0, 30, 60, 75, 90, 120, 150, 180.0])
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as handle:
        entry = handle.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = entry.create_group("instrument/detector")
        detector["data"] = frames.astype(np.float32)
        detector["image_key"] = keys
        detector["x_pixel_size"] = 6.5e-7
        detector["y_pixel_size"] = 6.5e-7
        entry["sample/rotation_angle"] = angles
        entry["sample/rotation_angle"].attrs["units"] = "degree"
    scan = tomo.read_scan(path)
    np.testing.assert_allclose(scan.projections.data, raw.astype(np.float32))
    np.testing.assert_allclose(scan.angles_deg, [0, 30, 60, 90, 120, 150])
    assert scan.flats.shape[0] == 2 and scan.darks.shape[0] == 2
    assert scan.projections.pixel_size.x == pytest.approx(0.65) and scan.projections.pixel_size.unit == "um"
    assert scan.projections.history[-1].parameters["n_invalid_frames"] == 1


def test_tiff_stack_with_angles_file(tmp_path):
    transmission, flat, dark, raw = _raw(n=5)
    tifffile.imwrite(tmp_path / "proj.tif", raw.astype(np.float32))
    tifffile.imwrite(tmp_path / "flat.tif", flat.astype(np.float32))
    tifffile.imwrite(tmp_path / "dark.tif", dark.astype(np.float32))
    (tmp_path / "angles.txt").write_text("# angle (deg)\n0\n36\n72, 108\n144\n")
    scan = tomo.read_scan(tmp_path / "proj.tif", angles=tmp_path / "angles.txt", flats=tmp_path / "flat.tif",
                          darks=tmp_path / "dark.tif")
    np.testing.assert_allclose(scan.angles_deg, [0, 36, 72, 108, 144])
    np.testing.assert_allclose(tomo.normalise(scan).data, transmission, rtol=1e-4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(raw):
        tifffile.imwrite(folder / f"p_{index:03d}.tif", image.astype(np.float32))
    np.save(tmp_path / "angles.npy", np.radians([0, 36, 72, 108, 144]))
    again = tomo.read_scan(folder, angles=tmp_path / "angles.npy", angles_unit="rad")
    np.testing.assert_allclose(again.projections.data, raw.astype(np.float32))
    np.testing.assert_allclose(again.angles_deg, [0, 36, 72, 108, 144])
    with pytest.raises(InputError, match="carries no rotation angles"):
        tomo.read_scan(tmp_path / "proj.tif")


def test_projection_and_angle_counts_must_agree(tmp_path):
    transmission, flat, dark, raw = _raw(n=12)
    path = tmp_path / "scan.h5"
    _write_dxchange(path, raw, flat[None], dark[None], np.linspace(0, 180, 11, endpoint=False))
    with pytest.raises(InputError, match=r"scan.h5: 12 projections but 11 angles"):
        tomo.read_scan(path)
    (tmp_path / "angles.txt").write_text("0 1 2\n")
    with pytest.raises(InputError, match="12 projections but 3 angles"):
        tomo.read_scan(path, angles=tmp_path / "angles.txt")


def test_non_monotonic_angles_are_sorted_or_refused():
    projections = np.arange(4)[:, None, None] * np.ones((4, 3, 3))
    scan = tomo.make_scan(projections, [0.0, 90.0, 45.0, 135.0], flats=np.ones((3, 3)))
    np.testing.assert_allclose(scan.angles_deg, [0, 45, 90, 135])
    np.testing.assert_allclose(scan.projections.data[:, 0, 0], [0, 2, 1, 3])  # projections follow their angles
    assert scan.projections.history[-1].notes["sorted_by_angle"] is True
    with pytest.raises(InputError, match=r"angle 2 \(45°\) follows 90°"):
        tomo.make_scan(projections, [0.0, 90.0, 45.0, 135.0], sort_angles=False)
    with pytest.raises(InputError, match="not a finite number"):
        tomo.make_scan(projections, [0.0, np.nan, 45.0, 135.0])


# -- corrections --------------------------------------------------------------------------


def test_flat_dark_correction_and_minus_log_are_exact():
    transmission, flat, dark, raw = _raw()
    scan = tomo.make_scan(raw, np.arange(12) * 15.0, flats=flat, darks=dark)
    corrected = tomo.normalise(scan)
    assert corrected.meta["quantity"] == "transmission"
    np.testing.assert_allclose(corrected.data, transmission, rtol=1e-4)
    attenuation = tomo.minus_log(corrected)
    np.testing.assert_allclose(attenuation.data, -np.log(transmission), atol=2e-4)
    assert [s.method for s in attenuation.history] == ["read", "dark_subtraction", "flat_field", "minus_log"]
    with pytest.raises(InputError, match="run asirp.tomo.subtract_dark first"):
        tomo.flat_field(scan.projections, scan)


def test_minus_log_floor_caps_attenuation():
    transmission = np.array([[[1.0, 0.5], [1e-5, 0.0]]] * 3)
    frame = tomo.normalise(tomo.make_scan(transmission, [0.0, 60.0, 120.0], flats=np.ones((2, 2))))
    attenuation = tomo.minus_log(frame, floor=1e-3)
    np.testing.assert_allclose(attenuation.data[0], [[0.0, np.log(2)], [np.log(1e3), np.log(1e3)]], rtol=1e-5)
    assert attenuation.history[-1].notes["floored_fraction"] == pytest.approx(0.5)
    with pytest.raises(ParameterError, match="floor"):
        tomo.minus_log(frame, floor=0.0)


def test_missing_darks_and_flats_have_documented_handling():
    transmission, flat, dark, raw = _raw()
    no_dark = tomo.normalise(tomo.make_scan(flat * transmission, np.arange(12.0), flats=flat))
    np.testing.assert_allclose(no_dark.data, transmission, rtol=1e-5)
    assert "taken as 0" in no_dark.history[-2].notes["dark"]
    # Without flats the open beam is read from the air columns at both edges.
    beam = np.linspace(800.0, 1000.0, 12)[:, None, None]  # beam decay over the scan
    sample = np.ones((12, 4, 30))
    sample[:, :, 8:22] = 0.4
    air_only = tomo.normalise(tomo.make_scan(beam * sample, np.arange(12.0)), air_px=5)
    np.testing.assert_allclose(air_only.data, sample, rtol=1e-5)
    assert "outermost" in air_only.history[-1].notes["flat"]
    with pytest.raises(InputError, match="no flat field in the scan"):
        tomo.normalise(tomo.make_scan(np.zeros((12, 4, 30)), np.arange(12.0)))


def test_zero_flat_field_is_an_error_naming_pixels_or_interpolated():
    transmission, flat, dark, raw = _raw()
    flat[1, 2] = dark[1, 2]  # dead pixel: flat not above the dark
    flat[3, 7] = 0.0
    scan = tomo.make_scan(raw, np.arange(12.0), flats=flat, darks=dark)
    with pytest.raises(InputError, match=r"2 detector pixel\(s\): \(row 1, col 2\), \(row 3, col 7\)"):
        tomo.normalise(scan)
    fixed = tomo.normalise(scan, zero_flat="interpolate")
    assert fixed.history[-1].notes["interpolated_pixels"] == [[1, 2], [3, 7]]
    expected = 0.5 * (fixed.data[:, 1, 1] + fixed.data[:, 1, 3])
    np.testing.assert_allclose(fixed.data[:, 1, 2], expected, rtol=1e-6)
    dead_row = flat.copy()
    dead_row[0] = 0
    with pytest.raises(InputError, match="whole rows are dead"):
        tomo.normalise(tomo.make_scan(raw, np.arange(12.0), flats=dead_row, darks=dark), zero_flat="interpolate")


def test_zinger_removal_replaces_injected_outliers():
    rng = np.random.default_rng(3)
    clean = rng.poisson(np.full((6, 40, 40), 400.0)).astype(np.float32)
    hits = rng.random(clean.shape) < 0.002
    spiked = np.where(hits, clean + 3000, clean)
    frame = tomo.make_scan(spiked, np.arange(6.0) * 30).projections
    cleaned = tomo.remove_zingers(frame)
    assert np.abs(cleaned.data - clean).max() < 150  # every zinger (+3000) gone; the median is within noise (σ = 20)
    replaced = cleaned.history[-1].notes["replaced_pixels"]
    assert hits.sum() <= replaced <= hits.sum() + 0.001 * clean.size  # few false positives


def test_ring_removal_reduces_stripes():
    # A cylinder (radius 80 px) on a 256-column detector; four columns respond off: rings.
    t = np.arange(256) - 128.0
    line = 2 * 0.01 * np.sqrt(np.clip(80.0**2 - t**2, 0, None))
    rng = np.random.default_rng(4)
    counts = rng.poisson(1e5 * np.exp(-np.broadcast_to(line, (90, 3, 256)))).astype(np.float32)
    attenuation = tomo.minus_log(tomo.normalise(tomo.make_scan(counts, np.arange(90) * 2.0, flats=np.full((3, 256), 1e5))))
    columns = [70, 101, 140, 170]
    offsets = np.zeros(256, np.float32)
    offsets[columns] = [0.05, -0.04, 0.06, -0.05]
    striped = attenuation.derive(attenuation.data + offsets, attenuation.history[-1])
    cleaned = tomo.remove_rings(striped)
    stripe = lambda frame: np.abs((frame.data - attenuation.data).mean(axis=0))[:, columns].mean()  # noqa: E731
    assert stripe(cleaned) < stripe(striped) / 10
    others = np.setdiff1d(np.arange(256), columns)
    np.testing.assert_array_equal(cleaned.data[..., others], striped.data[..., others])  # the rest untouched
    assert sorted({c for _, c in cleaned.history[-1].notes["stripe_pixels"]}) == columns


# -- centre and reconstruction ------------------------------------------------------------


@pytest.mark.parametrize("method", ["registration", "sharpness", "auto"])
def test_centre_finding_recovers_a_known_shift(method):
    result = tomo_projections(tomo_phantom(64, n_slices=6, seed=4), n_angles=60, photons=1000.0, beam_fwhm_px=1.5, seed=5)
    shift = 2.6
    shifted = ndimage.shift(result.noisy.data.astype(float), (0, 0, shift), order=3, mode="nearest")
    scan = tomo.make_scan(shifted, result.meta["angles_deg"], flats=np.full(shifted.shape[1:], 1000.0))
    estimate = tomo.find_centre(tomo.minus_log(tomo.normalise(scan)), method=method)
    assert abs(estimate.centre_px - (32 + shift)) < 0.5, estimate


def test_fbp_of_phantom_projections_matches_the_phantom(phantom):
    result = tomo_projections(phantom, n_angles=120, photons=1e6, beam_fwhm_px=0, seed=2)
    volume = tomo.fbp(tomo.minus_log(tomo.normalise(scan_from_synth(result))))
    assert volume.kind == "image" and volume.shape == phantom.shape
    assert psnr(phantom, volume) > 26
    assert volume.history[-1].method == "fbp" and volume.meta["rotation_centre_px"] == 16


def test_projector_pair_is_adjoint_and_weights_cover_half_a_turn():
    rng = np.random.default_rng(0)
    projector = FourierProjector(24, np.linspace(0, 180, 17), size=24)
    x, y = rng.random((2, 24, 24)), rng.random((2, 17, 24))
    for centre in (12.0, 10.3):
        lhs = np.sum(projector.project(x, centre).astype(float) * y)
        rhs = np.sum(x * projector.backproject(y, centre).astype(float))
        assert lhs == pytest.approx(rhs, rel=1e-3)
    np.testing.assert_allclose(angular_weights(np.arange(0, 180, 3.0)), np.pi / 60)
    weights = angular_weights(np.linspace(0, 180, 61))  # 0° and 180° are one direction: they share
    assert weights.sum() == pytest.approx(np.pi) and weights[0] == pytest.approx(weights[-1])


def test_sirt_improves_with_iterations(phantom):
    result = tomo_projections(phantom, n_angles=60, photons=1e5, beam_fwhm_px=0, seed=3)
    attenuation = tomo.minus_log(tomo.normalise(scan_from_synth(result)))
    volumes = [tomo.sirt(attenuation, iterations=n) for n in (2, 8, 30)]
    scores = [psnr(phantom, volume) for volume in volumes]
    assert scores[0] < scores[1] < scores[2], scores
    residuals = volumes[-1].history[-1].notes["relative_residual"]
    assert all(b <= a + 1e-6 for a, b in zip(residuals, residuals[1:]))


def test_reconstruction_rejects_bad_inputs(phantom):
    result = tomo_projections(phantom, n_angles=20, photons=1e4, seed=4)
    counts = scan_from_synth(result).projections
    with pytest.raises(InputError, match="needs attenuation"):
        tomo.fbp(counts)
    attenuation = tomo.minus_log(tomo.normalise(scan_from_synth(result)))
    with pytest.raises(ParameterError, match="outside the detector"):
        tomo.fbp(attenuation, centre=40.0)
    with pytest.raises(ParameterError, match="unknown filter"):
        tomo.fbp(attenuation, filter_name="box")
    with pytest.raises(ParameterError, match="unknown reconstruction algorithm"):
        tomo.reconstruct(attenuation, "art")


# -- restoration, denoising ---------------------------------------------------------------


def test_restoring_projections_improves_the_volume_at_low_dose(phantom, low_dose):
    scan = scan_from_synth(low_dose)
    plain = tomo.reconstruct_scan(scan, centre=16.0).volume
    smoothed = tomo.reconstruct_scan(scan, centre=16.0, restore="gaussian", restore_params={"sigma": 1.0},
                                     restore_target="projections").volume  # 12 rows: auto would restore slices
    assert psnr(phantom, smoothed) > psnr(phantom, plain) + 2.0
    methods = [step.method for step in smoothed.history]
    assert methods == ["read", "dark_subtraction", "gaussian", "flat_field", "minus_log", "find_centre", "fbp"]
    assert smoothed.history[2].notes["batches"] == 4  # 60 projections in batches of 16


@pytest.mark.skipif("richardson_lucy" not in registry(), reason="deconvolution repertoire not installed")
def test_deconvolving_projections_improves_the_volume_at_low_dose(phantom, low_dose):
    scan = scan_from_synth(low_dose)
    plain = tomo.reconstruct_scan(scan, centre=16.0).volume
    sigma = low_dose.meta["psf_sigma_px"]
    deconvolved = tomo.reconstruct_scan(scan, centre=16.0, restore="richardson_lucy", restore_params={"psf_sigma": sigma},
                                        restore_target="projections").volume
    assert psnr(phantom, deconvolved) > psnr(phantom, plain) + 2.0


def test_a_restoration_that_refines_the_grid_keeps_flat_and_centre_consistent(phantom):
    result = tomo_projections(phantom, n_angles=40, photons=1e4, beam_fwhm_px=1.5, seed=9)
    scan = scan_from_synth(result)
    plain = tomo.reconstruct_scan(scan, centre=16.0).volume
    fine = tomo.reconstruct_scan(scan, centre=16.0, restore="bicubic", restore_params={"scale": 2},
                                 restore_target="projections").volume
    assert fine.shape == (24, 64, 64) and fine.meta["rotation_centre_px"] == 32.5  # (16 + 0.5) * 2 - 0.5
    blocks = fine.data.reshape(12, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)) * 2  # 1/px of the finer grid -> coarse
    inside = plain.valid & fine.valid.reshape(12, 2, 32, 2, 32, 2).all(axis=(1, 3, 5))
    assert abs(psnr(phantom, blocks, valid=inside) - psnr(phantom, plain, valid=inside)) < 1.0  # interpolation: same volume


def test_restore_slices_and_bad_restoration_parameters(low_dose):
    scan = scan_from_synth(low_dose)
    result = tomo.reconstruct_scan(scan, centre=16.0, restore="gaussian", restore_params={"sigma": 0.8},
                                   restore_target="slices")
    assert [s.method for s in result.volume.history][-2:] == ["fbp", "gaussian"]
    with pytest.raises(ParameterError, match="sigma"):
        tomo.restore_projections(scan.projections, "gaussian", sigma=-1.0)
    with pytest.raises(InputError, match="tomo_projection"):
        tomo.restore_projections(result.volume, "gaussian")


def test_noise2inverse_subsets_average_to_the_full_fbp_and_training_is_recorded(low_dose):
    attenuation = tomo.minus_log(tomo.normalise(scan_from_synth(low_dose)))
    subsets = subset_reconstructions(attenuation, 4, centre=16.0)
    full = tomo.fbp(attenuation, centre=16.0)
    np.testing.assert_allclose(subsets.mean(axis=0)[:, full.valid[0]], full.data[:, full.valid[0]], atol=1e-4)
    volume = noise2inverse(attenuation, centre=16.0, splits=4, steps=3, patch=16, batch=2, channels=4)
    step = volume.history[-1]
    assert step.method == "noise2inverse" and len(step.weights_sha256) == 64 and volume.shape == full.shape
    np.testing.assert_array_equal(volume.valid, full.valid)
    with pytest.raises(ParameterError, match="splits"):
        noise2inverse(attenuation, splits=20)


@pytest.mark.slow
def test_noise2inverse_denoises_a_low_dose_volume(phantom, low_dose):
    attenuation = tomo.minus_log(tomo.normalise(scan_from_synth(low_dose)))
    plain = tomo.fbp(attenuation, centre=16.0)
    denoised = noise2inverse(attenuation, centre=16.0, steps=200, patch=24)
    assert psnr(phantom, denoised) > psnr(phantom, plain) + 2.0


# -- outputs, CLI -------------------------------------------------------------------------


def _tooth_like_file(path, phantom):
    result = tomo_projections(phantom, n_angles=40, photons=2000.0, beam_fwhm_px=1.5, seed=8)
    counts = result.noisy.data + 100.0
    _write_dxchange(path, counts, np.full((2, *counts.shape[1:]), 2100.0), np.full((2, *counts.shape[1:]), 100.0),
                    np.asarray(result.meta["angles_deg"]))


def test_volume_nexus_file_has_the_full_process_chain(tmp_path, phantom):
    path = tmp_path / "scan.h5"
    _tooth_like_file(path, phantom)
    result = tomo.reconstruct_scan(tomo.read_scan(path), restore="gaussian", restore_params={"sigma": 0.7},
                                   restore_target="projections", zingers=True, rings=True)
    written = save(result.volume, tmp_path / "volume.nxs")
    with h5py.File(written, "r") as handle:
        names = sorted(name for name in handle["entry"] if name.startswith("process_"))
        methods = [handle["entry"][name]["method"].asstr()[()] for name in names]
        read = handle["entry"][names[0]]
        assert read["input_files"].asstr()[0] == str(path) and len(read["input_sha256"].asstr()[0]) == 64
        assert handle["entry/data"].attrs["asirp_kind"] == "image"
        assert handle["entry/data/data"].shape == phantom.shape
    assert methods == ["read", "remove_zingers", "dark_subtraction", "gaussian", "flat_field", "minus_log",
                       "remove_rings", "find_centre", "fbp"]


def test_orthoslices_and_profiles_written_as_png(tmp_path, low_dose):
    scan = scan_from_synth(low_dose)
    before = tomo.reconstruct_scan(scan, centre=16.0).volume
    after = tomo.reconstruct_scan(scan, centre=16.0, restore="gaussian", restore_params={"sigma": 1.0}).volume
    planes = orthoslices(before, (3, 10, 20))
    np.testing.assert_array_equal(planes["xy"].data, before.data[3])
    np.testing.assert_array_equal(planes["xz"].data, before.data[:, 10, :])
    np.testing.assert_array_equal(planes["yz"].data, before.data[:, :, 20])
    paths = write_figures({"before": before, "after": after}, tmp_path / "figs", point=(3, 10, 20), prefix="t")
    assert [p.name for p in paths] == ["t_orthoslices.png", "t_profiles.png"]
    assert all(p.read_bytes()[:8] == PNG for p in paths)
    with pytest.raises(InputError, match="outside the volume"):
        orthoslices(before, (20, 0, 0))


def test_cli_tomo_recon_and_centre(tmp_path, phantom, capsys):
    path = tmp_path / "scan.h5"
    _tooth_like_file(path, phantom)
    out = tmp_path / "vol.nxs"
    status = main(["-q", "tomo", "recon", str(path), "-o", str(out), "--restore", "gaussian", "-p", "sigma=0.8",
                   "--figures", str(tmp_path / "figs"), "--point", "3,16,16"])
    assert status == 0 and out.exists()
    assert (tmp_path / "figs" / "vol_orthoslices.png").read_bytes()[:8] == PNG
    assert main(["tomo", "centre", str(path)]) == 0
    printed = capsys.readouterr().out
    assert float(printed.strip().splitlines()[-1].split()[0]) == pytest.approx(16.0, abs=0.5)
    assert main(["tomo", "recon", str(path), "-o", str(out)]) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err
    assert main(["tomo", "recon", str(path), "--angles", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "x.nxs")]) == 2
    assert "angles file not found" in capsys.readouterr().err


def test_cli_tomo_recon_checks_its_figures_first_and_they_obey_force(tmp_path, capsys):
    # Issue 17: an existing figure was replaced without --force, after the volume was written.
    source = str(sample_path("tooth"))
    out, figures = tmp_path / "v.nxs", tmp_path / "f"
    figures.mkdir()
    older = figures / "v_profiles.png"
    older.write_bytes(b"an older picture")
    assert main(["-q", "tomo", "recon", source, "-o", str(out), "--figures", str(figures)]) == 2
    assert "v_profiles.png: exists; use --force" in capsys.readouterr().err
    assert not out.exists() and older.read_bytes() == b"an older picture"
    (tmp_path / "afile").write_text("not a folder")
    assert main(["-q", "tomo", "recon", source, "-o", str(out), "--figures", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and not out.exists()
    assert main(["-q", "tomo", "recon", source, "-o", str(out), "--figures", str(figures), "--force"]) == 0
    assert out.exists() and older.read_bytes()[:8] == PNG

def test_restore_target_auto_follows_the_projection_size():
    target, reason = choose_target((181, 2, 640))
    assert target == "slices" and "2x640 px" in reason and str(MIN_PROJECTION_SIDE) in reason
    assert choose_target((90, MIN_PROJECTION_SIDE, 640))[0] == "projections"
    assert choose_target((181, 2, 640), "projections") == ("projections", "restore_target='projections' was asked for")
    with pytest.raises(ParameterError, match="restore_target"):
        choose_target((181, 2, 640), "volume")


def test_readme_tomography_line_on_the_shipped_sample(tmp_path, capsys):
    # Issue 17: `--restore auto` on the 2-row tooth exited 2 ("too small to fit a Gaussian OTF"), naming no file.
    source = str(sample_path("tooth"))
    out = tmp_path / "v.nxs"
    assert main(["-q", "tomo", "recon", source, "-o", str(out), "--restore", "auto", "--figures", str(tmp_path / "f")]) == 0
    printed = capsys.readouterr().out
    assert "restored the slices: projections of 2x640 px are thinner than" in printed
    assert (tmp_path / "f" / "v_orthoslices.png").read_bytes()[:8] == PNG
    restored = next(step for step in open_frame(out).history if "selection" in step.notes)
    assert restored.notes["restore_target"] == {"requested": "auto", "restored": "slices",
                                                "reason": printed.split("restored the slices: ")[1].splitlines()[0]}
    # Asking for the projections of a 2-row scan fails in one line naming the file and the way out.
    assert main(["-q", "tomo", "recon", source, "-o", str(tmp_path / "p.nxs"), "--restore", "auto",
                 "--restore-target", "projections"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"asirp: error: {source}: restoring the projections (2x640 px) with auto: ")
    assert error.endswith("--restore-target slices)") and "\n" not in error
    assert not (tmp_path / "p.nxs").exists()
