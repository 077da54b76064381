"""The fitted detector response (asirp.symmetry.fit_response), its use in pairing and analysis,
robustness of the pairing to undefined partner positions, and SymmetryReport.usable."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from asirp import Frame, InputError, ParameterError, synth
from asirp.geometry import Geometry
from asirp.symmetry import (
    INVERSION,
    OperationScore,
    Pairing,
    PartnerMap,
    ScatteringPlane,
    SymmetryReport,
    analyze,
    fit_response,
    mirror,
    parse,
    rotation,
)


def _polarised_powder(shape=(256, 256), dose=50.0, factor=0.95, seed=0):
    result = synth.diffraction_frame("powder", shape=shape, dose=dose, seed=seed)
    geometry = result.truth.geometry
    pol = np.asarray(geometry.integrator.polarization(shape, factor=factor), np.float64)
    truth = result.truth.data * pol
    noisy = np.random.default_rng(seed).poisson(truth).astype(np.float32)
    return Frame(noisy, result.truth.valid, kind="diffraction", geometry=geometry), pol


def _ramped_crystal(shape=(192, 192), dose=10.0, seed=3, peak=0.0):
    """A flat-plane inversion-symmetric frame times exp(0.2 x / nx), optionally plus an asymmetric peak."""
    result = synth.diffraction_frame("single_crystal", shape=shape, dose=dose, seed=seed, solid_angle=False,
                                     mask="none", beam_center=(90.3, 100.7))
    yy, xx = np.indices(shape)
    ramp = np.exp(0.2 * xx / shape[1])
    data = np.random.default_rng(seed).poisson(result.truth.data * ramp).astype(np.float32)
    if peak:  # same frame, plus an independent bright peak without a Friedel mate
        spot = peak * np.exp(-0.5 * ((yy - 40.0) ** 2 + (xx - 50.0) ** 2) / 3.0**2)
        data += np.random.default_rng(seed + 1).poisson(spot).astype(np.float32)
    return data, ScatteringPlane.flat(shape, result.meta["beam_center_px"]), ramp


# -- 1. the response fit --------------------------------------------------------------------
def test_polarisation_factor_recovered_and_isotropy_improves():
    frame, pol = _polarised_powder()
    plane = ScatteringPlane.from_geometry(frame.geometry, frame.data.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_response(plane, parse("isotropy"), frame.data, frame.valid)
    assert fit.polarization_factor == pytest.approx(0.95, abs=0.05)
    assert fit.terms_used >= 1 and fit.improvement > 1.5 and fit.chi2_after < 1.5
    assert fit.field.dtype == np.float32 and fit.field.shape == frame.data.shape
    assert float(fit.field[frame.valid].mean()) == pytest.approx(1.0, abs=1e-4)
    assert json.loads(json.dumps(fit.summary(), allow_nan=False))["polarization_factor"] == fit.polarization_factor
    truth = pol / pol[frame.valid].mean()
    assert np.corrcoef(fit.field[frame.valid], truth[frame.valid])[0, 1] > 0.99
    before = analyze(frame, local=False)
    after = analyze(frame, local=False, response=fit.field)
    for name in ("isotropy", "4-fold"):
        assert after.score(name).chi2_reduced < before.score(name).chi2_reduced
        assert after.score(name).score >= before.score(name).score
    assert after.score("isotropy").chi2_reduced < 1.1 < before.score("isotropy").chi2_reduced


def test_odd_ramp_recovered_on_a_flat_plane_without_geometry():
    data, plane, ramp = _ramped_crystal()
    valid = np.ones(data.shape, bool)
    fit = fit_response(plane, [INVERSION], data, valid)
    assert fit.polarization_factor is None  # no geometry
    # The inversion sees only odd terms (m odd); the even ones are not fitted at all.
    assert fit.terms and all(" " in term and int(term.split()[-1][:-1]) % 2 == 1 for term in fit.terms)
    assert np.corrcoef(fit.field[valid], ramp[valid])[0, 1] > 0.95
    assert fit.chi2_after < fit.chi2_before


def test_a_fit_is_remembered_by_content_only():
    data, plane, _ = _ramped_crystal()
    valid = np.ones(data.shape, bool)
    fit = fit_response(plane, [INVERSION], data, valid)
    assert fit_response(plane, [INVERSION], data.copy(), valid.copy()) is fit  # same content: no second fit
    changed = data.copy()
    changed[0, 0] += 1
    assert fit_response(plane, [INVERSION], changed, valid) is not fit
    assert fit_response(plane, [INVERSION], data, valid, degree=2) is not fit


def test_asymmetric_peak_is_trimmed_and_does_not_bend_the_field():
    data, plane, ramp = _ramped_crystal()
    with_peak, _, _ = _ramped_crystal(peak=3000.0)
    valid = np.ones(data.shape, bool)
    clean = fit_response(plane, [INVERSION], data, valid)
    fit = fit_response(plane, [INVERSION], with_peak, valid)
    assert fit.n_trimmed > clean.n_trimmed
    assert np.max(np.abs(fit.field / clean.field - 1)) < 0.01
    assert np.corrcoef(fit.field[valid], ramp[valid])[0, 1] > 0.95


def test_field_is_held_beyond_the_farthest_observation_and_bounded():
    # On a real 256² MarCCD crop with the beam near its edge, a degree-4 fit made from
    # blocks near the beam reached 1e-11..1e3 in the far corners (every partner there
    # garbage). Beyond the farthest observed pair the field now keeps its value along each
    # ray from the beam, and the whole field stays within MAX_RESPONSE of its mean.
    from asirp.symmetry.response import MAX_RESPONSE, _Model, _Observations

    plane = ScatteringPlane.flat((256, 256), (200.5, 30.5))  # pixel centres of row 200 lie on a ray
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    pix = np.stack([200 + 40 * np.sin(angles), 30 + 40 * np.cos(angles)], axis=1)  # observed within 40 px
    obs = _Observations(np.zeros(40), np.ones(40), pix, pix[::-1])
    model = _Model(plane, obs, 4, None)
    coef = np.ones(len(model.terms))
    log_f = model.log_field(coef, plane.shape)
    # Along the ray from the beam through (200, 130): 40 px out is the edge of the data, 100 px is far beyond.
    assert log_f[200, 100] == pytest.approx(log_f[200, 129], rel=1e-6)
    assert abs(log_f[200, 129]) < 10  # an unclamped r^4 term would be (100 / 128)^4 x 100 ...
    data, flat_plane, _ = _ramped_crystal(shape=(256, 256), dose=4.0)
    fit = fit_response(flat_plane, parse("isotropy"), data, np.ones(data.shape, bool), degree=4)
    assert fit.field.max() / fit.field.min() <= MAX_RESPONSE**2 * (1 + 1e-5)


def test_a_field_beyond_the_physical_bound_is_clipped_and_the_note_says_so():
    # A ramp of a factor 20 across the detector (no real smooth factor does that): the field
    # is held within MAX_RESPONSE of its mean, and the note tells the user where.
    from asirp.symmetry.response import MAX_RESPONSE

    shape = (192, 192)
    result = synth.diffraction_frame("single_crystal", shape=shape, dose=10.0, seed=3, solid_angle=False, mask="none",
                                     beam_center=(90.3, 100.7))
    ramp = np.exp(3.0 * np.indices(shape)[1] / shape[1])
    data = np.random.default_rng(3).poisson(result.truth.data * ramp).astype(np.float32)
    fit = fit_response(ScatteringPlane.flat(shape, result.meta["beam_center_px"]), [INVERSION], data,
                       np.ones(shape, bool))
    assert "held within a factor 2 of its mean" in fit.note
    assert fit.field.max() / fit.field.min() <= MAX_RESPONSE**2 * (1 + 1e-5)
    assert fit.field.max() / fit.field.min() > 3.5  # the ramp is followed up to the bound
    clean, _, _ = _ramped_crystal()
    assert "held within" not in fit_response(ScatteringPlane.flat(shape, result.meta["beam_center_px"]), [INVERSION],
                                             clean, np.ones(shape, bool)).note


@pytest.mark.parametrize("with_geometry", [True, False])
def test_sparse_frame_gives_unit_response_without_warnings(with_geometry):
    result = synth.diffraction_frame("powder", shape=(128, 128), dose=0.005, seed=2)
    frame = result.noisy
    plane = (ScatteringPlane.from_geometry(frame.geometry, frame.data.shape) if with_geometry
             else ScatteringPlane.flat(frame.data.shape, result.meta["beam_center_px"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_response(plane, parse("isotropy"), frame.data, frame.valid)
    assert fit.terms_used == 0 and not fit.fitted
    assert np.all(fit.field == 1.0) and fit.polarization_factor is None
    assert "too few" in fit.note
    assert json.dumps(fit.summary(), allow_nan=False)


def test_response_fit_rejects_bad_parameters():
    plane = ScatteringPlane.flat((32, 32), (16.0, 16.0))
    ones = np.ones((32, 32), np.float32)
    with pytest.raises(ParameterError, match="degree"):
        fit_response(plane, [INVERSION], ones, ones > 0, degree=9)
    with pytest.raises(ParameterError, match="block"):
        fit_response(plane, [INVERSION], ones, ones > 0, block=0)
    with pytest.raises(InputError, match="shape"):
        fit_response(plane, [INVERSION], np.ones((8, 8)), np.ones((8, 8), bool))
    assert fit_response(plane, [], ones, ones > 0).terms_used == 0


def test_pairing_applies_the_response_outside_the_cache():
    result = synth.diffraction_frame("powder", shape=(96, 96), dose=5.0, seed=1, beam_center=(45.3, 50.6),
                                     tilt_deg=3.0, mask="none")
    geometry, shape = result.truth.geometry, (96, 96)
    plane = ScatteringPlane.from_geometry(geometry, shape)
    yy, xx = np.indices(shape)
    response = np.exp(0.3 * (xx - 48.0) / 96.0 - 0.2 * (yy - 48.0) / 96.0).astype(np.float32)
    truth = result.truth.data.astype(np.float64)
    valid = np.ones(shape, bool)
    plain = Pairing.build(plane, [INVERSION])
    scaled = Pairing.build(plane, [INVERSION], response=response)
    again = Pairing.build(plane, [INVERSION])
    # The cached map is untouched: a later build without a response sees the solid-angle ratio only.
    assert again.maps[0] is plain.maps[0] and again.maps[0].ratio is plain.maps[0].ratio
    assert scaled.maps[0] is not plain.maps[0]
    m = plain.maps[0]
    assert isinstance(m, PartnerMap) and m.py.dtype == np.float32 and m.px.dtype == np.float32
    # A symmetric truth seen through the response: corrected partners predict every pixel.
    observed = (truth * response).astype(np.float32)
    p_plain = plain.partners(observed, valid)
    p_scaled = scaled.partners(observed, valid)
    ok = p_plain.ok[0] & p_scaled.ok[0]
    smooth = ok & (np.abs(np.gradient(truth)[0]) + np.abs(np.gradient(truth)[1]) < 0.05 * truth)
    err_plain = np.abs(p_plain.values[0][smooth] / observed[smooth] - 1)
    err_scaled = np.abs(p_scaled.values[0][smooth] / observed[smooth] - 1)
    assert np.median(err_scaled) < 0.01 < np.median(err_plain)
    # Variances scale with the square of the factor.
    factor = p_scaled.values[0][ok] / np.maximum(p_plain.values[0][ok], 1e-9)
    assert np.allclose(p_scaled.variances[0][ok], p_plain.variances[0][ok] * factor**2, rtol=1e-3, atol=1e-6)
    with pytest.raises(InputError, match="response"):
        Pairing.build(plane, [INVERSION], response=np.ones((10, 10)))
    with pytest.raises(InputError, match="positive"):
        Pairing.build(plane, [INVERSION], response=np.zeros(shape))


# -- 2. never crash, never NaN ---------------------------------------------------------------
def test_undefined_partner_positions_are_not_found_and_raise_no_warning():
    shape = (64, 64)
    flat = ScatteringPlane.flat(shape, (32.0, 32.0))
    u = flat.u().copy()
    u[:, :10, :12] = np.nan  # a geometry that gives no scattering vector there
    broken = ScatteringPlane(shape, (32.0, 32.0), None, u)
    far = Geometry.from_params(dist=0.05, poni1=-0.5, poni2=-0.5, wavelength=1e-10, pixel1=172e-6, pixel2=172e-6)
    off = ScatteringPlane.from_geometry(far, shape)  # beam metres away: no partner on the detector
    data = np.random.default_rng(0).poisson(3.0, shape).astype(np.float32)
    valid = np.ones(shape, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for op in [INVERSION, rotation(90.0), mirror(30.0)]:
            iy, ix, found = broken.partner_positions(op)
            assert np.isfinite(iy).all() and np.isfinite(ix).all()
            assert not found[:10, :12].any() and found.mean() > 0.5
            m = PartnerMap.build(broken, op)
            assert np.isfinite(m.py).all() and (m.base >= 0).all() and (m.base < data.size).all()
            p = Pairing.build(broken, [op]).partners(data, valid)
            assert np.isfinite(p.values).all() and np.isfinite(p.variances).all()
            # Partners of the undefined corner under the inversion lie in the opposite corner.
            if op is INVERSION:
                assert not p.ok[0, :10, :12].any() and not p.ok[0, -10:, -12:].any()
            p_off = Pairing.build(off, [op]).partners(data, valid)
            assert not p_off.ok.any() and np.isfinite(p_off.values).all()
        fit = fit_response(off, parse("isotropy"), data, valid)
        assert fit.terms_used == 0


@pytest.mark.parametrize("size", [128, 512])
def test_analysis_of_sparse_and_structureless_frames_raises_no_warning(size):
    shape = (size, size)
    rng = np.random.default_rng(size)
    powder = synth.diffraction_frame("powder", shape=shape, dose=0.005, seed=1).noisy
    frames = [
        powder,
        Frame(powder.data, powder.valid, kind="diffraction"),  # no geometry: centre search
        Frame(rng.poisson(0.005, shape).astype(np.float32), kind="diffraction"),
        Frame(rng.poisson(2.0, shape).astype(np.float32), kind="diffraction"),
        Frame(rng.poisson(2.0, shape).astype(np.float32), kind="diffraction", geometry=powder.geometry),
    ]
    one = np.zeros(shape, np.float32)
    one[5, 7] = 1.0
    frames.append(Frame(one, kind="diffraction"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for frame in frames:
            report = analyze(frame)
            assert all(math.isfinite(s.score) for s in report.scores if s.n_pairs >= 50)
            report.usable()
        with pytest.raises(InputError, match="every measured pixel is zero"):
            analyze(Frame(np.zeros(shape, np.float32), kind="diffraction"))


# -- 3. usable operations -------------------------------------------------------------------
def _report(scores: dict[str, float], mirrors: dict[float, float]) -> SymmetryReport:
    def score(name, value, angle=None):
        return OperationScore(name, value, 1.0, 0.0, 0.5, 1000, 1.0, value >= 0.9, angle)

    table = [score(name, value) for name, value in scores.items()]
    table += [score(f"mirror {angle:.1f}°", value, angle) for angle, value in mirrors.items()]
    table.append(score("isotropy", scores.get("isotropy", 0.2)))
    return SymmetryReport((32.0, 32.0), "given", None, (64, 64), 5.0, tuple(table), ())


def test_usable_pairs_below_the_hold_threshold():
    # Diffuse scattering with a beamstop shadow: inversion only 0.7, nothing holds.
    r = _report({"inversion": 0.7, "3-fold": 0.45, "4-fold": 0.45, "6-fold": 0.5}, {20.0: 0.8, 35.0: 0.6})
    assert r.holding == () and r.group() == []
    assert sorted(op.name for op in r.usable()) == ["inversion", "mirror 110.0°", "mirror 20.0°"]
    assert [op.name for op in r.usable(0.75)] == ["mirror 20.0°"]
    assert [op.name for op in r.usable(0.95)] == []
    # A mirror whose closure contains a tested line that fails is not added.
    r = _report({"inversion": 0.7, "3-fold": 0.1, "4-fold": 0.1, "6-fold": 0.1}, {20.0: 0.8, 110.0: 0.2})
    assert [op.name for op in r.usable()] == ["inversion"]
    # A 6-fold pattern keeps its 6-fold partners (the largest group near the best score).
    r = _report({"inversion": 0.97, "3-fold": 0.96, "4-fold": 0.3, "6-fold": 0.95}, {10.0: 0.2, 50.0: 0.1})
    assert len(r.usable()) == 5 and {"inversion", "rotation 60°"} <= {op.name for op in r.usable()}
    # NaN (too few pairs) is not vouched for; isotropy as group().
    r = _report({"inversion": math.nan, "3-fold": 0.1, "4-fold": 0.1, "6-fold": 0.1}, {0.0: 0.1})
    assert r.usable() == []
    iso = _report({"inversion": 0.99, "isotropy": 0.95, "3-fold": 0.99, "4-fold": 0.99, "6-fold": 0.99}, {})
    assert len(iso.usable()) == 7
    with pytest.raises(ParameterError):
        iso.usable(1.5)


def test_usable_on_a_diffuse_frame_with_a_beamstop_shadow():
    shape, c = (160, 160), (80.3, 79.6)
    yy, xx = np.indices(shape) + 0.5
    dy, dx = yy - c[0], xx - c[1]
    r, phi = np.hypot(dy, dx), np.arctan2(dy, dx)
    truth = 40 * np.exp(-r / 25) * (1 + 0.6 * np.cos(2 * (phi - 0.4))) + 3.0
    truth = np.where((np.abs(dy - 0.15 * dx) < 4) & (dx > 0), 0.1 * truth, truth)  # unmasked beamstop arm
    truth += 30 * np.exp(-0.5 * ((dy + dx) / 2.0) ** 2) * ((dx < 0) & (dy < 0)) * np.exp(-r / 60)  # parasitic streak
    frame = Frame(np.random.default_rng(0).poisson(truth).astype(np.float32), kind="diffraction")
    report = analyze(frame, center=c, local=False)
    assert not report.any_holds and 0.5 < report.score("inversion").score < 0.9
    names = {op.name for op in report.usable()}
    assert "inversion" in names and not any("fold" in n or "60" in n for n in names)
