"""Tests of the deconvolution repertoire (asirp.methods.deconv): correctness against known
objects and invariants, boundaries and masks, stopping, backends and the registered methods."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.signal import fftconvolve

from asirp.errors import InputError, ParameterError
from asirp.frame import Frame
from asirp.methods import get_method
from asirp.methods.deconv import (
    blind_richardson_lucy,
    landweber,
    richardson_lucy,
    tikhonov,
    van_cittert,
    wiener,
)
from asirp.psf import gaussian_psf, psf_second_moments
from asirp.units import PixelSize

BACKGROUND = 5.0


def bar_object(shape: tuple[int, int] = (48, 48), margin: int = 10) -> np.ndarray:
    """Bars and a point on a constant background, away from the edges."""
    obj = np.full(shape, BACKGROUND)
    obj[margin : shape[0] - margin, margin : margin + 2] = 60.0
    obj[margin : shape[0] - margin, margin + 6 : margin + 9] = 40.0
    obj[shape[0] // 2, shape[1] - margin - 4] = 300.0
    return obj


def blur(obj: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Blur as a measurement does: the object continues (at the background level) outside the field."""
    r = psf.shape[0] // 2
    field = np.pad(obj, r, mode="edge")
    return fftconvolve(field, psf, mode="valid")


@pytest.fixture(scope="module")
def psf() -> np.ndarray:
    return gaussian_psf(1.2)


@pytest.fixture(scope="module")
def noisy(psf: np.ndarray) -> np.ndarray:
    return np.random.default_rng(0).poisson(blur(bar_object(), psf)).astype(np.float32)


# -- Richardson-Lucy: correctness -----------------------------------------------------------
def test_rl_converges_to_the_object_from_noiseless_data(psf):
    obj = bar_object()
    observed = blur(obj, psf)
    raw_error = np.abs(observed - obj).mean()
    errors = [np.abs(richardson_lucy(observed, psf, iterations=k, backend="numpy").image - obj).mean() for k in (30, 300)]
    # Noiseless RL converges (slowly, as EM does) towards the object: the error keeps falling.
    assert errors[1] < errors[0] < raw_error and errors[1] < 0.5 * raw_error
    result = richardson_lucy(observed, psf, iterations=300, backend="numpy")
    # The point source is re-concentrated: most of its flux back in its pixel.
    y, x = obj.shape[0] // 2, obj.shape[1] - 14
    assert result.image[y, x] > 0.7 * obj[y, x] > observed[y, x]
    # The likelihood increases monotonically without acceleration (EM property).
    plain = richardson_lucy(observed, psf, iterations=30, accelerate=False, backend="numpy")
    assert np.all(np.diff(plain.log_likelihood) >= -1e-6 * np.abs(plain.log_likelihood).max())


def test_rl_flat_field_stays_flat_up_to_the_edge(psf):
    # scikit-image's richardson_lucy zero-pads ('same' convolution): after 50 iterations its
    # flat field has values from 0 in the corners to ~5x the level along the edges. The
    # Bertero-Boccacci padded domain keeps it flat to the last pixel.
    flat = np.full((40, 56), 100.0)
    for accelerate in (False, True):
        result = richardson_lucy(flat, psf, iterations=50, accelerate=accelerate, backend="numpy")
        assert np.abs(result.image / 100.0 - 1.0).max() < 0.01
        assert result.iterations_used == 50


def test_rl_masked_pixels_do_not_darken_their_neighbours(psf):
    flat = np.full((40, 40), 100.0)
    valid = np.ones(flat.shape, dtype=bool)
    valid[15:22, 10:30] = False  # a detector gap
    valid[3, 3] = False  # a dead pixel
    data = np.where(valid, flat, 0.0)  # masked pixels hold 0, as in a Frame
    result = richardson_lucy(data, psf, iterations=50, valid=valid, backend="numpy")
    assert np.abs(result.image[valid] / 100.0 - 1.0).max() < 0.01
    # Without the mask the zeros would be believed: the gap's neighbours go dark.
    naive = richardson_lucy(data, psf, iterations=50, backend="numpy")
    assert naive.image[14, 20] < 90.0


def test_rl_is_non_negative_finite_and_handles_zero_counts(psf):
    rng = np.random.default_rng(1)
    sparse = rng.poisson(0.3, (32, 32)).astype(float)  # mostly zeros
    sparse[:8] = 0.0  # a region with no counts at all
    for accelerate in (False, True):
        result = richardson_lucy(sparse, psf, iterations=40, accelerate=accelerate, tv=0.01, backend="numpy")
        assert np.isfinite(result.image).all() and (result.image >= 0).all()
    zeros = richardson_lucy(np.zeros((16, 16)), psf, iterations=5, backend="numpy")
    assert np.array_equal(zeros.image, np.zeros((16, 16), dtype=np.float32))


def test_rl_preserves_the_input_scale(noisy, psf):
    base = richardson_lucy(noisy, psf, iterations=15, backend="numpy").image
    scaled = richardson_lucy(noisy * 1000.0, psf, iterations=15, backend="numpy").image
    assert np.allclose(scaled / 1000.0, base, rtol=1e-3, atol=1e-4 * base.max())
    assert scaled.max() > 1000.0  # never clipped to [-1, 1]
    # The flux is preserved (Richardson-Lucy conserves counts).
    assert base.sum() == pytest.approx(noisy.sum(), rel=0.01)


def test_acceleration_reaches_the_plain_likelihood_in_a_third_of_the_iterations(noisy, psf):
    _reaches_in_a_third(noisy, psf)


def test_acceleration_does_not_stall_on_oversampled_maps():
    """5 µm steps under a 50 µm beam (σ ≈ 4.2 px): first-order extrapolation needed 26 of 50."""
    from asirp import synth

    result = synth.mesh_grid_map("AG175", shape=(128, 128), step_um=5.0, seed=2)
    _reaches_in_a_third(result.noisy.data, result.psf)


def _reaches_in_a_third(noisy, psf):
    plain = richardson_lucy(noisy, psf, iterations=50, accelerate=False, backend="numpy")
    fast = richardson_lucy(noisy, psf, iterations=50, accelerate=True, backend="numpy")
    target = plain.log_likelihood[-1]
    reached = int(np.argmax(fast.log_likelihood >= target)) + 1
    assert fast.log_likelihood.max() >= target
    assert reached <= 50 // 3


def test_rl_with_background_damping_and_tv_improve_on_the_raw_data(noisy, psf):
    obj = bar_object()
    raw_error = np.abs(noisy - obj).mean()
    for options in (dict(background=2.0), dict(damping=1.0), dict(tv=0.01)):
        result = richardson_lucy(noisy, psf, iterations=10, backend="numpy", **options)
        assert np.abs(result.image - obj).mean() < raw_error, options
    # TV smooths flat regions: lower standard deviation in the background than plain RL.
    plain = richardson_lucy(noisy, psf, iterations=30, backend="numpy").image
    smooth = richardson_lucy(noisy, psf, iterations=30, tv=0.05, backend="numpy").image
    assert smooth[-8:, :].std() < plain[-8:, :].std()


# -- stopping ------------------------------------------------------------------------------
def test_discrepancy_stop_reaches_the_noise_level(noisy, psf):
    result = richardson_lucy(noisy, psf, iterations=200, stop="discrepancy", backend="numpy")
    assert 1 <= result.iterations_used < 200
    assert "discrepancy" in result.stop_reason
    # The mean deviance per pixel at the last evaluated estimate is at most 1.
    deviance_per_pixel = result.stop_reason.split("per pixel ")[1].split(" <=")[0]
    assert float(deviance_per_pixel) <= 1.0


def test_binomial_split_halves_add_up_to_the_counts(psf):
    from asirp.methods.deconv.stopping import binomial_split

    counts = np.random.default_rng(4).poisson(30.0, (2, 40, 40)).astype(np.float32)
    counts[0, 0, :5] = [0, 64, 65, 1000, 3]
    valid = np.ones(counts.shape, bool)
    valid[1, 10:12, 10:12] = False
    first, second, gain = binomial_split(counts, valid, psf, seed=7)
    np.testing.assert_array_equal(gain, [1.0, 1.0])
    np.testing.assert_array_equal(first + second, np.where(valid, counts, 0))
    assert first.min() >= 0 and second.min() >= 0
    # Seeded: the same split again.
    np.testing.assert_array_equal(binomial_split(counts, valid, psf, seed=7)[0], first)


def test_split_stop_picks_an_intermediate_iteration_count(noisy, psf):
    result = richardson_lucy(noisy, psf, iterations=200, stop="split", backend="numpy")
    assert 1 <= result.iterations_used < 100
    assert "cross-validation" in result.stop_reason
    assert result.info["split_best_iterations"] == [result.iterations_used]
    # Non-integer (e.g. normalised) data are converted to approximate counts by their variance/mean ratio.
    normalised = richardson_lucy(noisy * 0.37, psf, iterations=200, stop="split", backend="numpy")
    assert normalised.info["split_gain"][0] == pytest.approx(0.37, rel=0.3)


def test_stack_is_processed_as_a_batch_with_per_frame_stopping(psf):
    rng = np.random.default_rng(5)
    clean = blur(bar_object(), psf)
    stack = np.stack([rng.poisson(clean * level) for level in (0.2, 1.0, 5.0)]).astype(np.float32)
    result = richardson_lucy(stack, psf, iterations=200, stop="discrepancy", backend="numpy")
    assert isinstance(result.iterations_used, tuple) and len(result.iterations_used) == 3
    assert result.log_likelihood.shape[0] == 3
    for i, frame in enumerate(stack):
        single = richardson_lucy(frame, psf, iterations=200, stop="discrepancy", backend="numpy")
        assert single.iterations_used == result.iterations_used[i]
        assert np.allclose(single.image, result.image[i], rtol=1e-4, atol=1e-4 * frame.max())
    # More counts bear more iterations before reaching the noise level.
    assert result.iterations_used[0] <= result.iterations_used[2]


# -- other non-blind methods ------------------------------------------------------------------
def test_wiener_and_tikhonov_recover_the_object_in_the_noiseless_limit():
    # σ = 0.8 px keeps |OTF|² above 1e-3 up to Nyquist: invertible in the noiseless limit.
    # (With σ = 1.2 the bars' finest detail is attenuated to 1e-6 and no linear filter gets it back.)
    psf = gaussian_psf(0.8)
    obj = bar_object()
    observed = blur(obj, psf)
    raw_error = np.abs(observed - obj).mean()
    for result, tolerance in (
        (wiener(observed, psf, nsr=1e-7), 0.02),
        (tikhonov(observed, psf, regularization=1e-8), 0.02),
        (tikhonov(observed, psf), 0.1),  # GCV on noiseless data: a tiny λ
        (wiener(observed, psf), 0.1),  # the fitted noise floor of noiseless data is tiny
    ):
        assert np.abs(result.image - obj).mean() < tolerance * raw_error
        assert result.iterations_used == 0 and result.stop_reason == "closed form"


def test_gcv_and_discrepancy_choose_more_regularisation_for_noisier_data(psf):
    clean = blur(bar_object(), psf)
    rng = np.random.default_rng(7)
    chosen = {}
    for choose in ("gcv", "discrepancy"):
        chosen[choose] = [
            tikhonov(clean + rng.normal(0.0, sd, clean.shape), psf, choose=choose).info["regularization"][0]
            for sd in (0.5, 5.0)
        ]
        assert chosen[choose][1] > 3 * chosen[choose][0]


def test_landweber_and_van_cittert_sharpen_noiseless_data_and_respect_constraints(psf):
    sharp = gaussian_psf(0.8)
    obj = bar_object()
    observed = blur(obj, sharp)
    raw_error = np.abs(observed - obj).mean()
    for function, iterations in ((landweber, 300), (van_cittert, 30)):
        result = function(observed, sharp, iterations=iterations, backend="numpy")
        assert np.abs(result.image - obj).mean() < 0.2 * raw_error, function.__name__
        assert np.all(np.diff(result.log_likelihood) >= -1e-3 * np.abs(result.log_likelihood).max())
    flat = landweber(np.full((24, 24), 7.0), psf, iterations=20, backend="numpy")
    assert np.allclose(flat.image, 7.0, rtol=1e-4)
    signed = np.random.default_rng(3).normal(0.0, 1.0, (24, 24))
    assert landweber(signed, psf, iterations=5, backend="numpy").image.min() >= 0
    assert van_cittert(signed, psf, iterations=5, backend="numpy").image.min() < 0  # no constraint by default


@pytest.mark.parametrize(
    "call",
    [
        lambda im, p: richardson_lucy(im, p, iterations=0),
        lambda im, p: richardson_lucy(im, p, tv=0.5),
        lambda im, p: richardson_lucy(im, p, damping=-1.0),
        lambda im, p: richardson_lucy(im, p, stop="never"),
        lambda im, p: richardson_lucy(im, p, backend="cuda"),
        lambda im, p: landweber(im, p, relaxation=2.5),
        lambda im, p: wiener(im, p, nsr=-1.0),
        lambda im, p: tikhonov(im, p, choose="lcurve"),
        lambda im, p: richardson_lucy(im, gaussian_psf(20.0)),
        lambda im, p: richardson_lucy(im, np.full((3, 3), np.nan)),
        lambda im, p: blind_richardson_lucy(im, mode="magic"),
        lambda im, p: blind_richardson_lucy(im, mode="free", psf_size=4),
        lambda im, p: blind_richardson_lucy(im, p, mode="free", stop="split"),
    ],
)
def test_bad_parameters_are_parameter_errors(noisy, psf, call):
    with pytest.raises(ParameterError):
        call(noisy, psf)


def test_bad_images_are_input_errors(psf):
    with pytest.raises(InputError, match="negative"):
        richardson_lucy(np.full((16, 16), -1.0), psf)
    with pytest.raises(InputError, match="2-D"):
        richardson_lucy(np.ones(16), psf)
    with pytest.raises(InputError, match="no valid pixel"):
        wiener(np.full((16, 16), np.nan), psf)


# -- blind ------------------------------------------------------------------------------------
def test_blind_gaussian_recovers_sigma_on_a_mesh_grid():
    from asirp.synth import mesh_grid_map

    # The paper's AG175 copper grid at 25 µm steps under a 50 µm beam: σ = 0.849 px.
    grid = mesh_grid_map("AG175", shape=(64, 64), step_um=25.0, seed=3)
    truth = grid.meta["psf_sigma_px"]
    result = blind_richardson_lucy(grid.noisy.data, iterations=5, backend="numpy")
    assert result.info["sigma_px"] == pytest.approx(truth, rel=0.10)
    assert psf_second_moments(result.psf)[0] == pytest.approx(result.info["sigma_px"], rel=0.02)
    profile = np.array(result.info["sigma_estimate"]["profile"])
    assert profile[np.argmax(profile[:, 1]), 0] == pytest.approx(result.info["sigma_px"], rel=0.05)


def test_blind_gaussian_warns_when_the_data_do_not_determine_the_blur():
    from asirp.synth import mesh_grid_map

    # AG300 at 25 µm steps: a pitch of 3.3 px, its harmonics beyond Nyquist. The power
    # spectrum and the likelihood estimates disagree by more than 1.5x: the user is told,
    # and the warning goes into the result (and the provenance notes).
    grid = mesh_grid_map("AG300", shape=(64, 64), step_um=25.0, seed=0)
    with pytest.warns(UserWarning, match="blur is poorly determined"):
        result = blind_richardson_lucy(grid.noisy.data, iterations=3, backend="numpy")
    assert "give the PSF" in result.info["warning"]
    estimate = result.info["sigma_estimate"]
    ratio = estimate["sigma_px"] / estimate["sigma_spectrum_px"]
    assert max(ratio, 1 / ratio) > 1.5
    # A grid whose blur the data do determine (AG175, as above) gets no warning.
    clear = mesh_grid_map("AG175", shape=(64, 64), step_um=25.0, seed=3)
    assert "warning" not in blind_richardson_lucy(clear.noisy.data, iterations=3, backend="numpy").info


def test_blur_fit_on_noise_free_data_reports_no_measurable_blur():
    from asirp.methods.deconv.blind import MIN_LIKELIHOOD_GAIN, SIGMA_RANGE, fit_gaussian_sigma

    # A noise-free smooth image: every σ predicts the other half equally well, so the
    # maximum of the profile is chance; the fit must say so, not pick it.
    y, x = np.mgrid[0:64, 0:64]
    clean = (1000 + 100 * np.sin(x / 15.0) * np.cos(y / 17.0)).astype(np.float32)
    for seed in (0, 1):
        estimate = fit_gaussian_sigma(clean, seed=seed, backend="numpy")
        assert estimate.sigma == pytest.approx(SIGMA_RANGE[0])
        assert "no blur measurable" in estimate.method
        assert estimate.details["likelihood_gain_nats"] < MIN_LIKELIHOOD_GAIN


def test_blind_free_form_psf_keeps_its_constraints(noisy):
    result = blind_richardson_lucy(noisy, gaussian_psf(2.0), mode="free", iterations=10, psf_size=11, backend="numpy")
    assert result.psf.shape == (11, 11)
    assert result.psf.sum() == pytest.approx(1.0) and result.psf.min() >= 0
    assert np.isfinite(result.image).all() and result.image.min() >= 0
    # The free PSF moved from the (too wide) start towards the true width (1.2 px).
    assert np.mean(psf_second_moments(result.psf)) < 2.0


# -- torch backend -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda im, p, b: richardson_lucy(im, p, iterations=12, backend=b),
        lambda im, p, b: richardson_lucy(im, p, iterations=8, damping=1.0, tv=0.01, background=1.0, backend=b),
        lambda im, p, b: landweber(im, p, iterations=10, backend=b),
        lambda im, p, b: van_cittert(im, p, iterations=3, backend=b),
        lambda im, p, b: blind_richardson_lucy(im, p, mode="free", iterations=4, backend=b),
    ],
)
def test_torch_backend_equals_numpy(noisy, psf, call):
    pytest.importorskip("torch")
    reference = call(noisy, psf, "numpy")
    other = call(noisy, psf, "torch")
    assert other.info["backend"] == "torch"
    scale = float(np.abs(reference.image).max())
    assert np.abs(other.image - reference.image).max() < 1e-4 * scale
    assert np.allclose(other.log_likelihood, reference.log_likelihood, rtol=1e-5)


# -- registered methods ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def xrf_frame(noisy) -> Frame:
    return Frame(noisy, kind="xrf_map", pixel_size=PixelSize.square(25.0, "um"), meta={"source": "scan.h5"})


def test_methods_record_parameters_and_notes(xrf_frame):
    out = get_method("richardson_lucy").run(xrf_frame, psf_sigma=1.2, iterations=7, backend="numpy")
    step = out.history[-1]
    assert step.method == "richardson_lucy"
    assert step.parameters["psf_sigma"] == 1.2 and step.parameters["iterations"] == 7
    assert step.notes["iterations_used"] == 7 and "fixed" in step.notes["stop_reason"]
    assert step.notes["psf"] == {"source": "gaussian", "sigma_px": 1.2}
    assert out.data.dtype == np.float32 and out.shape == xrf_frame.shape
    auto = get_method("richardson_lucy").run(xrf_frame, psf_sigma=1.2, backend="numpy").history[-1]
    assert auto.notes["stop"] == "split" and auto.notes["iterations_used"] >= 1
    for name in ("landweber", "van_cittert", "wiener", "tikhonov"):
        step = get_method(name).run(xrf_frame, psf_sigma=1.2).history[-1]
        assert step.method == name and step.notes["psf"]["sigma_px"] == 1.2
    assert "regularization" in get_method("tikhonov").run(xrf_frame, psf_sigma=1.2).history[-1].notes


def test_method_psf_sources(xrf_frame, tmp_path):
    rl = get_method("richardson_lucy")
    beam = rl.run(xrf_frame, beam_fwhm="50um", iterations=2, backend="numpy").history[-1].notes["psf"]
    assert beam["source"] == "beam" and beam["sigma_y_px"] == pytest.approx(0.8493, abs=1e-4)
    array = gaussian_psf(1.0)
    given = rl.run(xrf_frame, psf=array, iterations=2, backend="numpy").history[-1]
    assert given.notes["psf"]["sha256"] == hashlib.sha256(array.tobytes()).hexdigest()
    assert np.allclose(given.notes["psf"]["psf"], array) and given.parameters["psf"] == array.tolist()
    np.save(tmp_path / "beam.npy", array)
    from_file = rl.run(xrf_frame, psf_file=str(tmp_path / "beam.npy"), iterations=2, backend="numpy").history[-1]
    assert len(from_file.notes["psf"]["sha256"]) == 64 and from_file.notes["psf"]["source"] == "file"
    rotated = rl.run(xrf_frame, psf_sigma_y=1.0, psf_sigma_x=2.0, psf_angle_deg=30, iterations=2, backend="numpy")
    assert rotated.history[-1].notes["psf"]["angle_deg"] == 30


def test_beam_fwhm_needs_a_pixel_size(noisy):
    frame = Frame(noisy, kind="xrf_map")
    with pytest.raises(ParameterError, match="pixel size"):
        get_method("wiener").run(frame, beam_fwhm="50um")


@pytest.mark.parametrize(
    "params",
    [
        dict(iterations=0),
        dict(tv=1.0),
        dict(psf_sigma=-1.0),
        dict(psf_sigma=1.0, beam_fwhm="50um"),
        dict(beam_fwhm="fifty microns"),
        dict(psf_angle_deg=10.0),
        dict(psf=[[1.0, 2.0], [3.0]]),
        dict(psf=[[np.nan]]),
        dict(psf_file="/nonexistent/psf.npy"),
        dict(stop="sometimes"),
        dict(unknown_option=1),
    ],
)
def test_method_bad_parameters_are_parameter_errors(xrf_frame, params):
    with pytest.raises((ParameterError, InputError)) as info:
        get_method("richardson_lucy").run(xrf_frame, backend="numpy", **params)
    if "psf_file" in params:
        assert info.type is InputError and "psf.npy" in str(info.value)
    else:
        assert info.type is ParameterError


def test_poisson_methods_reject_negative_counts_but_offset_other_kinds(noisy, psf):
    negative = noisy - 50.0
    counting = Frame(negative, kind="xrf_map", meta={"source": "map.h5"})
    for name in ("richardson_lucy", "blind_richardson_lucy"):
        with pytest.raises(InputError, match="map.h5.*negative"):
            get_method(name).run(counting, psf_sigma=1.2, iterations=3)
    image = Frame(negative, kind="tomo_projection")
    out = get_method("richardson_lucy").run(image, psf_sigma=1.2, iterations=5, backend="numpy")
    offset = -float(negative.min())
    assert out.history[-1].notes["offset_added"] == pytest.approx(offset)
    direct = richardson_lucy(negative + offset, psf, iterations=5, backend="numpy").image
    assert np.allclose(out.data, direct - offset, atol=1e-4 * direct.max())


def test_blind_method_records_the_estimated_psf():
    from asirp.synth import mesh_grid_map

    grid = mesh_grid_map("AG175", shape=(48, 48), step_um=25.0, seed=1)
    step = get_method("blind_richardson_lucy").run(grid.noisy, iterations=3, backend="numpy").history[-1]
    assert step.notes["sigma_px"] == pytest.approx(grid.meta["psf_sigma_px"], rel=0.15)
    assert np.asarray(step.notes["estimated_psf"]).sum() == pytest.approx(1.0, abs=1e-6)


def test_masked_frame_keeps_its_mask_and_stacks_run(psf):
    data = np.random.default_rng(4).poisson(blur(bar_object(), psf)).astype(np.float32)
    valid = np.ones(data.shape, dtype=bool)
    valid[:, 20:23] = False
    frame = Frame(np.stack([data, data]), np.stack([valid, valid]), kind="xrf_map")
    out = get_method("richardson_lucy").run(frame, psf_sigma=1.2, iterations=4, backend="numpy")
    assert out.shape == frame.shape and np.array_equal(out.valid, frame.valid)
    assert out.history[-1].notes["iterations_used"] == [4, 4]
    assert np.allclose(out.data[0], out.data[1])


def test_cost_models_grow_with_size_and_iterations():
    rl = get_method("richardson_lucy")
    small = rl.cost((128, 128), rl.validate(psf_sigma=1.0, iterations=10))
    large = rl.cost((1024, 1024), rl.validate(psf_sigma=1.0, iterations=10))
    longer = rl.cost((128, 128), rl.validate(psf_sigma=1.0, iterations=40))
    assert 0 < small < longer and large > 30 * small
    for name in ("landweber", "van_cittert", "wiener", "tikhonov", "blind_richardson_lucy"):
        method = get_method(name)
        assert method.cost((256, 256), method.validate()) > 0
