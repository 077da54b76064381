"""Symmetry analysis and pairing (asirp.symmetry) and the physics checks (asirp.analysis.physics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asirp import Frame, InputError, ParameterError, synth
from asirp.analysis import azimuthal_profile, find_peaks_1d, orientation, pdf_transform, pseudo_voigt
from asirp.symmetry import (
    INVERSION,
    Pairing,
    PartnerMean,
    ScatteringPlane,
    analyze,
    closure,
    find_centre,
    mirror,
    parse,
    plane_for,
    rotation,
)


def _without_geometry(frame: Frame) -> Frame:
    return Frame(frame.data, frame.valid, frame.kind)


@pytest.mark.parametrize("pattern, center", [("powder", (90.37, 104.81)), ("textured", (101.62, 88.23)),
                                             ("single_crystal", (92.5, 99.14))])
def test_center_found_within_0p2_px_off_centre(pattern, center):
    result = synth.diffraction_frame(pattern, shape=(192, 192), dose=10.0, beam_center=center, seed=4)
    found = find_centre(result.noisy.data, result.noisy.valid).center
    assert max(abs(found[0] - center[0]), abs(found[1] - center[1])) < 0.2
    report = analyze(_without_geometry(result.noisy), local=False)
    assert report.center_source == "inversion correlation"
    assert np.allclose(report.center, found)


def test_center_of_a_sparse_broad_pattern_is_not_a_chance_overlap_far_off():
    # Broad rings on a smooth background at 0.03 counts/px (~2000 photons in 256²): the
    # highest correlation is often a trial centre whose small overlap correlates by chance
    # (median 69 px off); the most significant one (Fisher z sqrt(n)) is near the beam.
    center = np.array([128.2, 128.7])
    yy, xx = np.indices((256, 256)) + 0.5
    r = np.hypot(yy - center[0], xx - center[1])
    expected = 1 / (1 + r / 40) + 0.3 * np.exp(-0.5 * ((r - 60) / 10) ** 2) + 0.2 * np.exp(-0.5 * ((r - 130) / 14) ** 2) + 0.3
    expected *= 0.03 / expected.mean()
    valid = np.ones(expected.shape, bool)
    errors = [np.max(np.abs(np.subtract(find_centre(np.random.default_rng(seed).poisson(expected).astype(np.float32),
                                                    valid).center, center))) for seed in range(8)]
    assert np.median(errors) < 15


def test_geometry_centre_is_used_when_given():
    result = synth.diffraction_frame("powder", shape=(128, 128), dose=5.0, beam_center=(60.3, 70.6), tilt_deg=3.0, seed=1)
    report = analyze(result.noisy, local=False)
    assert report.center_source == "geometry"
    assert np.allclose(report.center, result.noisy.geometry.beam_center_px())


def test_inversion_holds_on_single_crystal_but_not_isotropy():
    result = synth.diffraction_frame("single_crystal", shape=(160, 160), dose=5.0, beam_center=(75.2, 83.7), seed=2)
    report = analyze(result.noisy, local=False)
    assert report.score("inversion").holds and report.score("inversion").score > 0.95
    assert not report.score("isotropy").holds
    assert [op.name for op in report.holding] == ["inversion"]


def test_isotropy_holds_on_powder_and_chi2_is_near_one():
    result = synth.diffraction_frame("powder", shape=(160, 160), dose=2.0, seed=3)
    report = analyze(result.noisy, local=False)
    iso = report.score("isotropy")
    assert report.isotropic and iso.holds
    # Pure Poisson differences: the reduced chi-square is ~1.
    assert 0.9 < iso.chi2_reduced < 1.15
    assert len(report.group()) == 7


def _six_fold(shape=(160, 160), center=(80.0, 80.0), seed=0, dose=30.0):
    yy, xx = np.indices(shape) + 0.5
    truth = np.full(shape, 0.2)
    for radius, phase in ((30.0, 10.0), (55.0, 40.0)):
        for k in range(6):
            a = math.radians(phase + 60.0 * k)
            truth += dose * np.exp(-0.5 * ((yy - center[0] - radius * math.sin(a)) ** 2
                                           + (xx - center[1] - radius * math.cos(a)) ** 2) / 2.0**2)
    noisy = np.random.default_rng(seed).poisson(truth).astype(np.float32)
    return Frame(noisy, kind="diffraction"), truth


def test_six_fold_pattern_detected():
    frame, _ = _six_fold()
    report = analyze(frame, local=False)
    assert report.score("6-fold").holds and report.score("3-fold").holds
    assert not report.score("4-fold").holds and not report.isotropic
    assert report.score("inversion").holds
    assert "6-fold" in {op.name for op in report.holding}
    assert len(report.group()) in (5, 11)  # C6 or D6 without the identity


def test_asymmetric_frame_says_nothing_holds_and_denoiser_refuses():
    shape = (128, 128)
    yy, xx = np.indices(shape) + 0.5
    rng = np.random.default_rng(5)
    truth = np.full(shape, 0.3)
    for _ in range(12):  # spots without Friedel mates
        y, x = rng.uniform(70, 120), rng.uniform(10, 118)
        truth += 40 * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 1.5**2)
    truth += 3.0 * (yy / shape[0])  # a gradient: not centrosymmetric either
    frame = Frame(rng.poisson(truth).astype(np.float32), kind="diffraction")
    report = analyze(frame, center=(64.0, 64.0), local=False)
    assert not report.any_holds
    assert report.score("inversion").score < 0.5 and report.score("inversion").p_value < 1e-6
    assert "does not apply" in report.summary()
    import asirp

    with pytest.raises(InputError, match="no symmetry holds"):
        asirp.restore(frame, "symmetric_average", center=(64.0, 64.0))


def test_local_asymmetry_flags_an_injected_peak():
    result = synth.diffraction_frame("powder", shape=(160, 160), dose=1.0, seed=6, mask="none")
    yy, xx = np.indices((160, 160)) + 0.5
    peak = 300.0 * np.exp(-0.5 * ((yy - 40.5) ** 2 + (xx - 50.5) ** 2) / 2.0**2) / (2 * math.pi * 4)
    data = result.noisy.data + np.random.default_rng(0).poisson(peak)
    report = analyze(Frame(data.astype(np.float32), kind="diffraction", geometry=result.noisy.geometry))
    assert report.isotropic  # globally the rings still dominate
    assert not report.holds_at(40, 50)
    assert report.holds_at(120, 120)
    from scipy import ndimage

    # The peak and its 7 images under the 45° rotations (whose partner it is): 8 regions.
    assert ndimage.label(report.broken)[1] == 8
    assert not analyze(result.noisy).broken.any()  # no false alarm without the peak


def test_pairing_marks_off_detector_partners_and_keeps_zeros():
    shape = (20, 30)
    plane = ScatteringPlane.flat(shape, (5.0, 8.0))  # beam near a corner
    data = np.zeros(shape, np.float32)
    data[3, 6] = 7.0
    partners = Pairing.build(plane, [INVERSION]).partners(data, np.ones(shape, bool))
    # Pixel (i, j) pairs with (2*5 - 1 - i, 2*8 - 1 - j) = (9 - i, 15 - j).
    assert partners.ok[0, 6, 9] and partners.values[0, 6, 9] == 7.0
    assert partners.ok[0, 0, 0] and partners.values[0, 0, 0] == 0.0  # a zero is a measurement
    assert not partners.ok[0, 15, 20]  # its partner (-6, -5) lies off the detector
    assert not partners.ok[0, 10:, :].any() and not partners.ok[0, :, 16:].any()
    valid = np.ones(shape, bool)
    valid[3, 6] = False  # a hot pixel: its partner pixel loses its only neighbour
    masked = Pairing.build(plane, [INVERSION]).partners(data, valid)
    assert not masked.ok[0, 6, 9]


def test_subpixel_partner_interpolation_and_variance():
    plane = ScatteringPlane.flat((8, 8), (4.25, 4.0))  # inversion maps y -> 7.5 - y: half-pixel offsets
    data = np.arange(64, dtype=np.float32).reshape(8, 8)
    p = Pairing.build(plane, [INVERSION]).partners(data, np.ones((8, 8), bool))
    # Row 2 pairs with row 5.5: the mean of rows 5 and 6; x inverts exactly.
    assert p.values[0, 2, 1] == pytest.approx(0.5 * (data[5, 6] + data[6, 6]))
    assert p.variances[0, 2, 1] == pytest.approx(0.25 * (data[5, 6] + data[6, 6]))


def test_exclusion_radius_removes_partners_near_the_centre():
    plane = ScatteringPlane.flat((64, 64), (32.0, 32.0))
    p = Pairing.build(plane, [INVERSION], exclusion_px=10.0).partners(np.ones((64, 64), np.float32), np.ones((64, 64), bool))
    # |partner - pixel| = 2 |p - c| (Chebyshev) must exceed 10 px.
    assert not p.ok[0, 32, 32] and not p.ok[0, 28, 30]
    assert p.ok[0, 20, 32] and p.ok[0, 32, 45]


def test_partners_follow_q_and_chi_on_a_tilted_detector():
    result = synth.diffraction_frame("powder", shape=(96, 96), dose=1.0, beam_center=(40.3, 52.6), tilt_deg=8.0,
                                     tilt_plane_deg=30.0, seed=0)
    geometry = result.noisy.geometry
    plane = ScatteringPlane.from_geometry(geometry, (96, 96))
    iy, ix, found = plane.partner_positions(rotation(90.0))
    ai = geometry.integrator
    q = ai.center_array((96, 96), unit="q_nm^-1", scale=True)
    chi = ai.center_array((96, 96), unit="chi_rad", scale=True)
    from scipy.ndimage import map_coordinates

    u = np.stack([q * np.cos(chi), q * np.sin(chi)])
    up = np.stack([map_coordinates(u[k], [iy[found], ix[found]], order=1) for k in range(2)])
    assert found.mean() > 0.3
    # Same |q| at the partner (u is smooth, so interpolating it is accurate to first order).
    assert np.allclose(np.hypot(*up), q[found], rtol=2e-3, atol=1e-3 * q.max())
    # 90° rotation in the q plane: (ux, uy) -> (-uy, ux)
    assert np.allclose(up[0], -u[1][found], atol=2e-3 * q.max())
    assert np.allclose(up[1], u[0][found], atol=2e-3 * q.max())
    # The flat model would be wrong by pixels on this tilted detector.
    fy, fx, _ = ScatteringPlane.flat((96, 96), plane.center).partner_positions(rotation(90.0))
    assert np.max(np.hypot(fy - iy, fx - ix)[found]) > 1.0


def test_partner_mean_under_a_mask_equals_the_mean_of_the_sampled_partners():
    # A tilted geometry (solid-angle ratios), a fitted-like response, masked pixels and gaps,
    # sub-pixel partners: the precomputed mean is Partners.mean() of every image and region.
    result = synth.diffraction_frame("powder", shape=(96, 80), dose=3.0, beam_center=(40.3, 33.6), tilt_deg=6.0, seed=2)
    plane = ScatteringPlane.from_geometry(result.noisy.geometry, (96, 80))
    response = np.exp(0.1 * np.indices((96, 80))[1] / 80.0).astype(np.float32)
    pairing = Pairing.build(plane, parse("isotropy")[:3], response=response)
    valid = np.asarray(result.noisy.valid).copy()
    valid[:, 37:40] = False  # a module gap
    valid[10, 10] = False
    mean = PartnerMean.of(pairing, valid)
    rng = np.random.default_rng(0)
    for region in (None, (slice(5, 69), slice(9, 41)), (slice(0, 96), slice(48, 80))):
        data = rng.poisson(3.0, (96, 80)).astype(np.float32)
        expected_mean, expected_count = pairing.partners(data, valid, region).mean()
        got_mean, got_count = mean(data, region)
        assert np.array_equal(got_count, expected_count)
        assert np.allclose(got_mean, expected_mean, rtol=1e-5, atol=1e-5)


def test_partner_maps_of_a_flat_plane_are_cached_and_the_cache_is_bounded(monkeypatch):
    from asirp.symmetry import pairing as pairing_module

    monkeypatch.setattr(pairing_module, "_FLAT_CACHE", pairing_module.OrderedDict())
    plane = ScatteringPlane.flat((64, 64), (31.2, 30.7))
    first = pairing_module.partner_map(plane, INVERSION)
    assert pairing_module.partner_map(ScatteringPlane.flat((64, 64), (31.2, 30.7)), INVERSION) is first
    assert pairing_module.partner_map(ScatteringPlane.flat((64, 64), (31.2, 30.8)), INVERSION) is not first
    monkeypatch.setattr(pairing_module, "_FLAT_CACHE_BYTES", 2 * first.nbytes)
    for k in range(5):
        pairing_module.partner_map(ScatteringPlane.flat((64, 64), (20.0 + k, 30.0)), INVERSION)
    assert sum(m.nbytes for m in pairing_module._FLAT_CACHE.values()) <= 2 * first.nbytes


def test_operation_parsing_and_closure():
    assert [op.name for op in parse("inversion")] == ["inversion"]
    assert len(parse("rotation6")) == 5 and len(parse("isotropy")) == 7
    group = closure([INVERSION, mirror(30.0)])
    assert sorted(op.name for op in group) == ["inversion", "mirror 120.0°", "mirror 30.0°"]
    with pytest.raises(ParameterError, match="unknown symmetry operation"):
        parse("rotation1")


def test_bad_inputs_give_clear_errors():
    zeros = Frame(np.zeros((64, 64), np.float32), kind="diffraction")
    with pytest.raises(InputError, match="every measured pixel is zero"):
        analyze(zeros)
    valid = np.zeros((64, 64), bool)
    valid[:5, :] = True
    with pytest.raises(InputError, match="symmetry analysis needs at least 10%"):
        analyze(Frame(np.ones((64, 64), np.float32), valid, kind="diffraction"))
    with pytest.raises(InputError, match="negative values"):
        analyze(Frame(np.full((64, 64), -1.0, np.float32), kind="diffraction"))
    geometry = synth.diffraction_frame("powder", shape=(64, 64), seed=0).noisy.geometry
    with pytest.raises(InputError, match="geometry is for a 64x64 detector"):
        plane_for((80, 64), None, geometry)
    with pytest.raises(ParameterError, match="outside"):
        analyze(Frame(np.ones((64, 64), np.float32), kind="diffraction"), center=(100.0, 10.0))


def test_flat_frame_holds_every_symmetry_trivially():
    frame = Frame(np.random.default_rng(0).poisson(5.0, (96, 96)).astype(np.float32), kind="diffraction")
    report = analyze(frame, center=(48.0, 48.0), local=False)
    assert report.score("inversion").holds and report.isotropic


# -- physics checks ----------------------------------------------------------------------
def test_pdf_transform_finds_a_single_pair_distance():
    q = np.linspace(0.05, 250.0, 5000)
    s = 1 + np.sin(q * 0.25) / (q * 0.25) * np.exp(-(q * 0.005) ** 2)
    r = np.linspace(0.1, 0.6, 501)
    for lorch in (True, False):
        g = pdf_transform(q, s, r, lorch=lorch)
        assert r[np.argmax(g)] == pytest.approx(0.25, abs=0.002)
    with pytest.raises(InputError):
        pdf_transform(q[::-1], s, r)


def test_peak_fit_recovers_position_width_and_area():
    x = np.linspace(0, 10, 400)
    y = pseudo_voigt(x, 4.2, 0.3, 50.0, 0.3) + pseudo_voigt(x, 7.1, 0.5, 20.0, 0.0) + 2.0 + 0.1 * x
    peaks = find_peaks_1d(x, y)
    assert [round(p.position, 2) for p in peaks] == [4.2, 7.1]
    assert peaks[0].fwhm == pytest.approx(0.3, rel=0.02)
    area_gauss = 20.0 * 0.5 * math.sqrt(math.pi / (4 * math.log(2)))
    assert peaks[1].area == pytest.approx(area_gauss, rel=0.02)


def test_orientation_and_profile_of_synthetic_frames():
    result = synth.diffraction_frame("textured", shape=(160, 160), dose=50.0, seed=3)
    k = int(np.argmax(result.meta["ring_amplitude"]))
    q0, s0 = result.meta["ring_q_nm"][k], result.meta["ring_sigma_nm"][k]
    found = orientation(result.truth, (q0 - 2 * s0, q0 + 2 * s0))
    assert abs((found.angle_deg - result.meta["orientation_deg"] + 90) % 180 - 90) < 1.0
    assert 0.3 < found.anisotropy < 1.0
    geometry = synth.diffraction_frame("powder", shape=(64, 64), seed=0, mask="none").truth.geometry
    # 3 counts per unit solid angle everywhere: the solid-angle corrected profile is flat at 3.
    data = 3.0 * geometry.integrator.solidAngleArray((64, 64))
    flat = Frame(data.astype(np.float32), kind="diffraction", geometry=geometry)
    profile = azimuthal_profile(flat, npt=40)
    good = np.isfinite(profile.intensity) & (profile.intensity > 0)
    assert np.allclose(profile.intensity[good], 3.0, rtol=0.03)
