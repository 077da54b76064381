"""Tests of the synthetic ground-truth generators against analytic facts and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d, fftconvolve

from asirp.errors import InputError, ParameterError
from asirp.frame import Frame
from asirp.geometry import Geometry
from asirp.synth import (
    GRIDS,
    PATTERNS,
    Sawtooth,
    SynthResult,
    diffraction_frame,
    diffraction_series,
    gaussian_psf,
    mesh_grid_map,
    tomo_phantom,
    tomo_projections,
)
from asirp.synth.mesh import copper_coverage


def _q(result: SynthResult) -> np.ndarray:
    """q (nm^-1) of every pixel, from the geometry attached to the frame."""
    return result.truth.geometry.integrator.center_array(result.truth.image_shape, unit="q_nm^-1")


def _chi(result: SynthResult) -> np.ndarray:
    return result.truth.geometry.integrator.center_array(result.truth.image_shape, unit="chi_rad")


def _radial_profile(result: SynthResult, bin_nm: float) -> tuple[np.ndarray, np.ndarray]:
    q = _q(result)
    valid = result.truth.valid
    edges = np.arange(0.0, q.max() + bin_nm, bin_nm)
    total, _ = np.histogram(q[valid], edges, weights=result.truth.data[valid])
    count, _ = np.histogram(q[valid], edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    keep = count > 0
    return centres[keep], total[keep] / count[keep]


def _second_moment_sigma(kernel: np.ndarray) -> float:
    half = kernel.shape[0] // 2
    offsets = np.arange(-half, half + 1)
    return float(np.sqrt(np.sum(kernel.sum(axis=0) * offsets**2)))


# -- determinism ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: mesh_grid_map(shape=(32, 32), seed=seed),
        lambda seed: diffraction_frame("single_crystal", shape=(64, 64), seed=seed),
        lambda seed: tomo_projections(tomo_phantom(16, n_slices=4, seed=seed), n_angles=8, seed=seed),
    ],
    ids=["mesh", "diffraction", "tomo"],
)
def test_same_seed_same_arrays_other_seed_differs(make):
    first, again, other = make(3), make(3), make(4)
    for name in ("truth", "blurred", "noisy"):
        np.testing.assert_array_equal(getattr(first, name).data, getattr(again, name).data)
        np.testing.assert_array_equal(getattr(first, name).valid, getattr(again, name).valid)
    assert not np.array_equal(first.noisy.data, other.noisy.data)
    assert not np.array_equal(first.truth.data, other.truth.data)


# -- mesh grids -------------------------------------------------------------------------


@pytest.mark.parametrize("grid", ["AG175", "AG300"])
@pytest.mark.parametrize("rotation_deg", [0.0, 30.0])
def test_mesh_copper_fraction_matches_bar_coverage(grid, rotation_deg):
    result = mesh_grid_map(grid, shape=(96, 96), step_um=25.0, counts=100.0, background=2.0,
                           rotation_deg=rotation_deg, seed=1)
    spec = GRIDS[grid]
    expected = 1.0 - (spec.hole_um / spec.pitch_um) ** 2
    fraction = (result.truth.data.mean() - 2.0) / (100.0 - 2.0)
    assert fraction == pytest.approx(expected, rel=0.03)
    assert result.meta["copper_fraction"] == pytest.approx(expected)
    assert result.truth.data.min() >= 2.0 - 1e-4 and result.truth.data.max() <= 100.0 + 1e-4


def test_mesh_area_averaging_at_coarse_steps():
    # 50 µm steps are coarser than the 37 µm bars: point sampling would alias, area averaging keeps the mean.
    result = mesh_grid_map("AG175", shape=(64, 64), step_um=50.0, counts=1.0, background=0.0, seed=2)
    assert result.truth.data.mean() == pytest.approx(GRIDS["AG175"].copper_fraction, rel=0.03)
    assert 0.0 < np.median(result.truth.data) < 1.0  # many pixels are partly copper


def test_mesh_pitch_from_fft():
    step = 25.0
    result = mesh_grid_map("AG175", shape=(128, 128), step_um=step, seed=5)
    for axis in (0, 1):
        profile = result.truth.data.mean(axis=axis) - result.truth.data.mean()
        spectrum = np.abs(np.fft.rfft(profile, n=8192))
        frequency = np.fft.rfftfreq(8192)[np.argmax(spectrum)]  # cycles per pixel
        assert step / frequency == pytest.approx(145.0, rel=0.01)


def test_mesh_psf_normalised_with_beam_sigma():
    result = mesh_grid_map("AG300", shape=(32, 32), step_um=25.0, beam_fwhm_um=50.0)
    sigma = 50.0 / (2.0 * math.sqrt(2.0 * math.log(2.0))) / 25.0
    psf = result.psf
    assert psf.shape[0] == psf.shape[1] and psf.shape[0] % 2 == 1 and psf.shape[0] >= 3
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.meta["psf_sigma_px"] == pytest.approx(sigma) == pytest.approx(0.85, abs=0.005)
    assert _second_moment_sigma(psf) == pytest.approx(sigma, rel=0.01)
    assert psf.shape[0] // 2 >= 4 * sigma  # covers +-4 sigma
    assert gaussian_psf(0.1).shape == (3, 3)


def test_mesh_blur_is_convolution_of_the_continued_sample():
    result = mesh_grid_map("AG175", shape=(48, 40), step_um=25.0, beam_fwhm_um=60.0, rotation_deg=10.0, seed=7)
    truth, blurred, psf = result.truth.data.astype(float), result.blurred.data.astype(float), result.psf
    m = psf.shape[0] // 2
    # Interior: exactly the convolution of the truth map.
    np.testing.assert_allclose(blurred[m:-m, m:-m], convolve2d(truth, psf, mode="valid"), rtol=1e-5)
    # Edges: the convolution of the sample that continues outside the map, not of a zero-padded map.
    meta = result.meta
    field = copper_coverage((48 + 2 * m, 40 + 2 * m), GRIDS["AG175"], step_um=25.0, rotation_deg=10.0,
                            offset_um=meta["offset_um"], origin_px=(-m, -m), supersample=meta["supersample"])
    field = meta["background"] + (meta["counts"] - meta["background"]) * field
    np.testing.assert_allclose(blurred, fftconvolve(field, psf, mode="valid"), rtol=1e-4, atol=1e-3)
    zero_padded = convolve2d(truth, psf, mode="same")
    assert np.abs(zero_padded[0] - blurred[0]).mean() > 0.1 * blurred[0].mean()


def test_mesh_without_beam_has_no_psf():
    result = mesh_grid_map(shape=(16, 16), beam_fwhm_um=0.0)
    assert result.psf is None
    np.testing.assert_array_equal(result.blurred.data, result.truth.data)


def test_mesh_noise_is_poisson_about_the_blurred_map():
    result = mesh_grid_map("AG175", shape=(96, 96), counts=50.0, seed=11)
    blurred, noisy = result.blurred.data.astype(float), result.noisy.data.astype(float)
    assert result.noisy.kind == "xrf_map" and result.noisy.pixel_size.x == 25.0 and result.noisy.pixel_size.unit == "um"
    np.testing.assert_array_equal(noisy, np.round(noisy))
    standard_error = math.sqrt(blurred.sum()) / blurred.size
    assert abs(noisy.mean() - blurred.mean()) < 4 * standard_error
    assert np.mean((noisy - blurred) ** 2 / blurred) == pytest.approx(1.0, abs=0.05)  # variance = mean


def test_sawtooth_stripes_removed_by_i0_normalisation():
    saw = Sawtooth(period_s=60.0, depth=0.3, dwell_s=0.05, i0_counts=1e5)
    result = mesh_grid_map("AG175", shape=(64, 96), step_um=10.0, counts=200.0, background=20.0, sawtooth=saw, seed=2)
    blurred, noisy = result.blurred.data.astype(float), result.noisy.data.astype(float)
    i0, factor = result.meta["i0"], result.meta["beam_factor"]
    assert i0.shape == factor.shape == (64, 96)
    assert factor.max() <= 1.0 and factor.min() >= 0.7 - 1e-9
    np.testing.assert_allclose(i0 / saw.i0_counts, factor, rtol=0.02)
    stripes_raw = (noisy / blurred).mean(axis=1)
    stripes_normalised = (noisy * saw.i0_counts / i0 / blurred).mean(axis=1)
    assert stripes_raw.min() < 0.8  # dark stripes: the beam lost up to 30 %
    assert np.var(stripes_raw) > 10 * np.var(stripes_normalised)
    assert stripes_normalised.mean() == pytest.approx(1.0, abs=0.01)


def test_sawtooth_rejects_bad_depth():
    with pytest.raises(ParameterError, match="depth"):
        Sawtooth(depth=1.0)
    with pytest.raises(ParameterError, match="dwell_s"):
        Sawtooth(dwell_s=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": "AG200"}, "AG175, AG300"),
        ({"step_um": 0.0}, "step_um"),
        ({"counts": -1.0}, "counts"),
        ({"background": -1.0}, "background"),
        ({"shape": (2, 64)}, "shape"),
        ({"shape": 64}, "shape"),
        ({"seed": -1}, "seed"),
        ({"rotation_deg": float("nan")}, "rotation_deg"),
        ({"sawtooth": 0.3}, "Sawtooth"),
    ],
)
def test_mesh_bad_arguments(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        mesh_grid_map(**kwargs)


# -- diffraction frames ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [("powder", "diffraction"), ("textured", "diffraction"), ("single_crystal", "diffraction"),
     ("saxs", "scattering"), ("saxs_fibre", "scattering"), ("pdf", "pdf")],
)
def test_every_pattern_honours_dose_and_kind(pattern, kind):
    result = diffraction_frame(pattern, shape=(96, 96), dose=7.0, seed=2)
    valid = result.noisy.valid
    assert result.truth.kind == result.noisy.kind == kind
    assert result.psf is None and isinstance(result.noisy.geometry, Geometry)
    np.testing.assert_array_equal(result.truth.valid, valid)
    np.testing.assert_array_equal(result.blurred.data, result.truth.data)
    assert result.truth.data[valid].mean() == pytest.approx(7.0, rel=1e-5)
    noisy = result.noisy.data[valid].astype(float)
    np.testing.assert_array_equal(noisy, np.round(noisy))
    assert abs(noisy.mean() - 7.0) < 5 * math.sqrt(7.0 / noisy.size)
    assert set(PATTERNS) == {"powder", "textured", "single_crystal", "saxs", "saxs_fibre", "pdf"}


def test_single_crystal_truth_has_friedel_symmetry():
    result = diffraction_frame("single_crystal", shape=(128, 128), mask="none", seed=4)
    truth = result.truth.data.astype(float)
    assert result.meta["beam_center_px"] == pytest.approx((64.0, 64.0))
    assert len(result.meta["reflections"]) >= 5
    np.testing.assert_allclose(truth, truth[::-1, ::-1], rtol=1e-3, atol=1e-4 * truth.max())
    assert truth.max() > 20 * np.median(truth)  # spots on a weak background
    # No mirror symmetry in general: the lattice is random, only inversion holds.
    assert not np.allclose(truth, truth[::-1, :], rtol=1e-2)


def test_powder_radial_profile_peaks_at_ring_positions():
    result = diffraction_frame("powder", shape=(256, 256), mask="none", seed=6)
    rings, sigmas = result.meta["ring_q_nm"], result.meta["ring_sigma_nm"]
    assert len(rings) >= 3
    bin_nm = 0.05
    centres, profile = _radial_profile(result, bin_nm)
    for ring, sigma in zip(rings, sigmas):
        window = np.abs(centres - ring) < 3 * sigma
        peak = centres[window][np.argmax(profile[window])]
        assert peak == pytest.approx(ring, abs=0.1 * sigma + bin_nm)
        far = np.abs(centres - ring) > 3 * sigma
        nearest_far = np.abs(centres[far] - ring).argsort()[:2]
        assert profile[window].max() > 2 * profile[far][nearest_far].max()


def test_textured_orientation_recovered_from_chi_profile():
    result = diffraction_frame("textured", shape=(192, 192), mask="none", seed=9)
    strongest = int(np.argmax(result.meta["ring_amplitude"]))
    ring, sigma = result.meta["ring_q_nm"][strongest], result.meta["ring_sigma_nm"][strongest]
    on_ring = np.abs(_q(result) - ring) < sigma
    folded = np.degrees(_chi(result)[on_ring]) % 180.0
    edges = np.arange(0.0, 181.0, 4.0)
    total, _ = np.histogram(folded, edges, weights=result.truth.data[on_ring])
    count, _ = np.histogram(folded, edges)
    found = 0.5 * (edges[:-1] + edges[1:])[np.argmax(total / np.maximum(count, 1))]
    expected = result.meta["orientation_deg"]
    difference = (found - expected + 90.0) % 180.0 - 90.0
    assert abs(difference) <= 4.0
    assert 0.0 <= expected < 180.0


def test_saxs_has_huge_dynamic_range_and_fibre_is_two_fold():
    saxs = diffraction_frame("saxs", shape=(128, 128), mask="beamstop", seed=1)
    values = saxs.truth.data[saxs.truth.valid]
    assert values.max() / values.min() > 1e3
    assert saxs.meta["first_minimum_q_nm"] == pytest.approx(4.493 / saxs.meta["radius_nm"])
    fibre = diffraction_frame("saxs_fibre", shape=(128, 128), mask="none", seed=1)
    truth = fibre.truth.data.astype(float)
    np.testing.assert_allclose(truth, truth[::-1, ::-1], rtol=1e-3, atol=1e-5 * truth.max())
    # Equatorial streak along the orientation, long-period arcs on the meridian at 2 pi / L.
    q, chi = _q(fibre), _chi(fibre)
    q_long = fibre.meta["ring_q_nm"][0]
    assert q_long == pytest.approx(2 * math.pi / fibre.meta["long_period_nm"])
    angle = np.radians(fibre.meta["orientation_deg"])
    equator = np.abs(np.sin(chi - angle)) < 0.1
    meridian = np.abs(np.cos(chi - angle)) < 0.1
    inner = np.abs(q - 0.6 * q_long) < 0.03
    arc = np.abs(q - q_long) < 0.03
    assert truth[inner & equator].mean() > 3 * truth[inner & meridian].mean()
    assert truth[arc & meridian].mean() > 3 * truth[inner & meridian].mean()


def test_pdf_rings_follow_fcc_nickel():
    result = diffraction_frame("pdf", shape=(256, 256), mask="none", seed=0)
    a = result.meta["lattice_nm"]
    rings = result.meta["ring_q_nm"]
    assert rings[:2] == pytest.approx([2 * math.pi * math.sqrt(3) / a, 4 * math.pi / a])  # 111, 200
    assert len(rings) > 10
    centres, profile = _radial_profile(result, 0.5)
    beyond_small_angle = centres > 20.0
    strongest = centres[beyond_small_angle][np.argmax(profile[beyond_small_angle])]
    assert strongest == pytest.approx(rings[0], abs=1.5)


def test_masks_of_each_kind():
    shape = (128, 160)
    gaps = diffraction_frame("powder", shape=shape, mask="gaps", seed=3)
    meta = gaps.meta
    valid = gaps.noisy.valid
    assert meta["gap_rows"] and meta["gap_columns"]
    assert not valid[meta["gap_rows"], :].any() and not valid[:, meta["gap_columns"]].any()
    for y, x in meta["hot_pixels"]:
        assert not valid[y, x]
    assert not valid[64, 80] and not valid[63, 79]  # beamstop at the centre
    assert np.all(gaps.noisy.data[~valid] == 0) and np.all(gaps.truth.data[~valid] == 0)

    stop = diffraction_frame("powder", shape=shape, mask="beamstop", seed=3)
    invalid = ~stop.noisy.valid
    assert invalid[64, 80] and not invalid.all(axis=1).any() and not invalid.all(axis=0).any()
    assert 0.0 < invalid.mean() < 0.15
    # The beamstop is the same disk in both; only the gaps and hot pixels differ.
    np.testing.assert_array_equal(~valid & invalid, invalid)

    none = diffraction_frame("powder", shape=shape, mask="none", seed=3)
    assert none.noisy.valid.all()
    # Same seed, same pattern whatever the mask: only the dose normalisation differs.
    ratio = none.truth.data[stop.noisy.valid] / stop.truth.data[stop.noisy.valid]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)


@pytest.mark.parametrize("tilt_deg", [0.0, 4.0])
def test_off_centre_beam_matches_geometry(tilt_deg):
    centre = (40.0, 90.5)
    result = diffraction_frame("powder", shape=(128, 128), beam_center=centre, tilt_deg=tilt_deg,
                               tilt_plane_deg=30.0, mask="beamstop", seed=1)
    geometry = result.noisy.geometry
    assert geometry.beam_center_px() == pytest.approx(centre, abs=1e-6)
    assert result.meta["beam_center_px"] == pytest.approx(centre, abs=1e-6)
    assert result.meta["tilt_deg"] == pytest.approx(tilt_deg, abs=1e-6)
    assert (geometry.poni["rot1"] != 0.0 or geometry.poni["rot2"] != 0.0) == (tilt_deg != 0.0)
    q = _q(result)
    assert np.unravel_index(np.argmin(q), q.shape) in {(39, 90), (40, 90), (39, 89), (40, 89), (39, 91), (40, 91)}
    assert not result.noisy.valid[40, 90]  # the beamstop follows the beam


def test_user_geometry_is_used():
    geometry = Geometry.from_params(dist=0.1, poni1=0.005, poni2=0.006, wavelength=1e-10,
                                    pixel1=172e-6, pixel2=172e-6, max_shape=(64, 64))
    result = diffraction_frame("powder", shape=(64, 64), geometry=geometry, mask="none")
    assert result.noisy.geometry is geometry
    assert result.meta["beam_center_px"] == pytest.approx(geometry.beam_center_px())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"pattern": "laue"}, ParameterError, "powder, textured, single_crystal, saxs, saxs_fibre, pdf"),
        ({"dose": 0.0}, ParameterError, "dose"),
        ({"mask": "holes"}, ParameterError, "gaps, beamstop, none"),
        ({"shape": (16, 64)}, ParameterError, "shape"),
        ({"beam_center": (500.0, 10.0)}, ParameterError, "outside"),
        ({"tilt_deg": 60.0}, ParameterError, "tilt"),
        ({"tilt_deg": "steep"}, ParameterError, "tilt_deg"),
        ({"geometry": "file.poni"}, ParameterError, "Geometry"),
    ],
)
def test_diffraction_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        diffraction_frame(**{"shape": (64, 64), **kwargs})


def test_geometry_conflicts_are_refused():
    geometry = Geometry.from_params(dist=0.1, poni1=0.005, poni2=0.006, wavelength=1e-10,
                                    pixel1=172e-6, pixel2=172e-6, max_shape=(64, 64))
    with pytest.raises(ParameterError, match="not both"):
        diffraction_frame(shape=(64, 64), geometry=geometry, beam_center=(3.0, 3.0))
    with pytest.raises(InputError, match="64x64"):
        diffraction_frame(shape=(96, 96), geometry=geometry)


# -- series -----------------------------------------------------------------------------


def test_series_event_frame_detectable():
    series = diffraction_series(12, event_frame=7, pattern="powder", shape=(128, 128), dose=5.0, seed=3)
    assert series.noisy.shape == (12, 128, 128) and series.noisy.is_stack
    assert series.meta["event_frame"] == 7 and series.meta["event"] == "new_ring"
    truth = series.truth.data
    np.testing.assert_array_equal(truth[0], truth[6])
    np.testing.assert_array_equal(truth[7], truth[11])
    assert not np.array_equal(truth[6], truth[7])
    assert not np.array_equal(series.noisy.data[0], series.noisy.data[1])  # independent noise
    valid = series.noisy.valid[0]
    assert truth[0][valid].mean() == pytest.approx(5.0, rel=1e-5)
    noisy = series.noisy.data.astype(float)[:, valid]
    change = [np.sum((noisy[k] - noisy[k - 1]) ** 2 / (noisy[k] + noisy[k - 1] + 1.0)) for k in range(1, 12)]
    assert int(np.argmax(change)) + 1 == 7
    new_ring = series.meta["event_ring_q_nm"]
    widest = max(series.meta["ring_sigma_nm"] + [series.meta["event_ring_sigma_nm"]])
    assert all(abs(new_ring - q) > 3 * widest for q in series.meta["ring_q_nm"])  # a resolved new ring


def test_series_ring_shift_moves_rings_by_strain():
    series = diffraction_series(4, event_frame=2, event="ring_shift", event_strain=0.03, pattern="powder",
                                shape=(192, 192), mask="none", seed=8)
    before = SynthResult(series.truth.images()[0], series.truth.images()[0], series.noisy.images()[0], None, {})
    after = SynthResult(series.truth.images()[3], series.truth.images()[3], series.noisy.images()[3], None, {})
    strongest = int(np.argmax(series.meta["ring_amplitude"]))
    ring = series.meta["ring_q_nm"][strongest]
    peaks = []
    for frame in (before, after):
        centres, profile = _radial_profile(frame, 0.02)
        window = np.abs(centres - ring * 1.015) < 0.05 * ring
        peaks.append(centres[window][np.argmax(profile[window])])
    assert peaks[0] == pytest.approx(ring, abs=0.05)
    assert peaks[1] == pytest.approx(ring * 1.03, abs=0.05)


def test_series_without_event_and_bad_arguments():
    static = diffraction_series(3, event_frame=None, shape=(64, 64))
    assert static.meta["event_frame"] is None
    np.testing.assert_array_equal(static.truth.data[0], static.truth.data[2])
    with pytest.raises(ParameterError, match="event_frame"):
        diffraction_series(5, event_frame=5, shape=(64, 64))
    with pytest.raises(ParameterError, match="colour"):
        diffraction_series(5, shape=(64, 64), colour="red")
    with pytest.raises(ParameterError, match="new_ring, ring_shift"):
        diffraction_series(5, shape=(64, 64), event="melt")


# -- tomography -------------------------------------------------------------------------


def test_tomo_phantom_is_a_particle_with_fine_features():
    volume = tomo_phantom(64, seed=2)
    assert volume.shape == (64, 64, 64) and volume.dtype == np.float32 and volume.min() >= 0.0
    line_max = max(volume.sum(axis=1).max(), volume.sum(axis=2).max())
    assert line_max == pytest.approx(2.0, rel=1e-4)
    inside = volume[volume > 0]
    typical = np.median(inside)
    assert np.sum(volume > 3 * typical) >= 6  # heavy inclusions, a few voxels each
    assert np.sum(volume > 3 * typical) < 0.01 * inside.size
    boundaries = (volume > 0) & (volume < 0.6 * typical)  # thin grain boundaries
    assert 0.02 < boundaries.sum() / inside.size < 0.5
    yy, xx = np.ogrid[:64, :64]
    outside = (yy - 32) ** 2 + (xx - 32) ** 2 > 32**2
    assert not volume[:, outside].any()
    assert tomo_phantom(32, n_slices=5).shape == (5, 32, 32)


def test_tomo_projection_at_zero_degrees_is_beer_lambert_sum():
    volume = tomo_phantom(32, n_slices=6, seed=1)
    result = tomo_projections(volume, n_angles=12, beam_fwhm_px=2.0, photons=500.0, seed=1)
    assert result.truth.shape == result.noisy.shape == (12, 6, 32)
    assert result.noisy.kind == "tomo_projection"
    assert result.meta["angles_deg"] == pytest.approx(list(np.arange(12) * 15.0))
    assert result.noisy.meta["angles_deg"] == result.meta["angles_deg"]
    np.testing.assert_allclose(result.truth.data[0], 500.0 * np.exp(-volume.sum(axis=1)), rtol=1e-4)
    assert -np.log(result.truth.data.min() / 500.0) == pytest.approx(result.meta["line_integral_max"], rel=1e-4)


def test_tomo_blur_and_noise():
    volume = tomo_phantom(32, n_slices=16, seed=3)
    result = tomo_projections(volume, n_angles=20, beam_fwhm_px=3.0, photons=800.0, seed=3)
    sigma = 3.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    assert result.meta["psf_sigma_px"] == pytest.approx(sigma)
    assert _second_moment_sigma(result.psf) == pytest.approx(sigma, rel=0.01)
    truth, blurred = result.truth.data.astype(float), result.blurred.data.astype(float)
    m = result.psf.shape[0] // 2
    np.testing.assert_allclose(blurred[5, m:-m, m:-m], convolve2d(truth[5], result.psf, mode="valid"), rtol=1e-5)
    assert blurred[:, :, :].std() < truth.std()  # blur smooths
    noisy = result.noisy.data.astype(float)
    assert abs(noisy.mean() - blurred.mean()) < 4 * math.sqrt(blurred.sum()) / blurred.size
    sharp = tomo_projections(volume, n_angles=4, beam_fwhm_px=0.0, seed=3)
    assert sharp.psf is None
    np.testing.assert_array_equal(sharp.blurred.data, sharp.truth.data)


def test_tomo_default_call_and_volume_outside_circle():
    default = tomo_projections()
    assert default.noisy.shape == (90, 64, 64)
    assert 1.0 <= default.meta["line_integral_max"] <= 3.0
    square = np.zeros((2, 16, 16))
    square[:, 0, 0] = 0.5  # a corner voxel: outside the inscribed circle
    wide = tomo_projections(square, n_angles=4, beam_fwhm_px=0.0)
    assert wide.meta["circle"] is False and wide.noisy.shape[2] > 16
    assert isinstance(wide.noisy, Frame)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: tomo_projections(np.zeros((8, 8)), n_angles=4), InputError, "3-D"),
        (lambda: tomo_projections(np.zeros((2, 8, 6)), n_angles=4), InputError, "square"),
        (lambda: tomo_projections(-np.ones((2, 8, 8)), n_angles=4), InputError, "non-negative"),
        (lambda: tomo_projections(np.zeros((2, 8, 8)), n_angles=0), ParameterError, "n_angles"),
        (lambda: tomo_projections(np.zeros((2, 8, 8)), photons=0.0), ParameterError, "photons"),
        (lambda: tomo_projections(np.zeros((2, 8, 8)), beam_fwhm_px=-1.0), ParameterError, "beam_fwhm_px"),
        (lambda: tomo_phantom(8), ParameterError, "size"),
    ],
)
def test_tomo_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
