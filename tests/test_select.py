"""Adaptive selection without ground truth: splits, features, decisions, streams, provenance."""

import numpy as np
import pytest

import asirp
from asirp import Frame, analysis, synth
from asirp.select import Selector, choose, full_dose_risk, guess_kind, measure, split
from asirp.select.decide import Candidate, _break_ties, negative_flux
from asirp.select.split import Risk


def _flat_poisson(mean=20.0, shape=(128, 128), seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(mean, shape).astype(np.float32)


def test_binomial_split_gives_two_independent_half_dose_copies():
    counts = _flat_poisson(40.0)
    pair = split(counts, np.ones(counts.shape, bool), "poisson", 0.0, seed=1)
    np.testing.assert_array_equal(pair.a + pair.b, counts)
    assert pair.a.mean() == pytest.approx(20.0, rel=0.02) and pair.b.var() == pytest.approx(20.0, rel=0.1)
    assert abs(np.corrcoef((pair.a - 20).ravel(), (pair.b - 20).ravel())[0, 1]) < 0.03


def test_gaussian_recorruption_copies_are_uncorrelated():
    rng = np.random.default_rng(2)
    clean = np.zeros((128, 128), np.float32)
    noisy = clean + rng.normal(0, 3.0, clean.shape).astype(np.float32)
    pair = split(noisy, np.ones(clean.shape, bool), "gaussian", 3.0, seed=3)
    assert abs(np.corrcoef(pair.a.ravel(), pair.b.ravel())[0, 1]) < 0.03
    assert pair.a.var() == pytest.approx(18.0, rel=0.1)  # 2σ²


@pytest.mark.parametrize("offset", [0.0, 2.0])
def test_full_dose_risk_is_unbiased_for_a_fixed_prediction(offset):
    """Predicting the true mean (+ an offset c) of the other copy scores ~(2c)², the full-dose error, with no ground truth."""
    counts = _flat_poisson(30.0, (256, 256), seed=4)
    pair = split(counts, np.ones(counts.shape, bool), "poisson", 0.0, seed=5)
    constant = np.full(counts.shape, 15.0 + offset)
    mse, se, _ = full_dose_risk(constant, constant, pair)
    assert mse == pytest.approx((2 * offset) ** 2, abs=4 * se + 0.2)


@pytest.mark.parametrize("noise", ["poisson", "gaussian"])
def test_full_dose_risk_extrapolates_the_variance_to_the_full_dose(noise):
    """Identity and a box smoother on a flat field: the scores are their full-dose MSEs in data
    units, not their half-dose ones, so smoothing is not overrated."""
    from scipy import ndimage

    rng = np.random.default_rng(6)
    shape = (256, 256)
    data = rng.poisson(40.0, shape).astype(np.float32) if noise == "poisson" else rng.normal(10.0, 2.0, shape).astype(np.float32)
    pair = split(data, np.ones(shape, bool), noise, 2.0, seed=7)
    full_variance = 40.0 if noise == "poisson" else 2.0**2  # identity on the full data
    mse, se, _ = full_dose_risk(pair.a, pair.b, pair)
    assert mse == pytest.approx(full_variance, abs=4 * se + 0.02 * full_variance)
    box_a, box_b = (ndimage.uniform_filter(x, 3, mode="nearest") for x in (pair.a, pair.b))
    mse_box, se_box, _ = full_dose_risk(box_a, box_b, pair)
    assert mse_box == pytest.approx(full_variance / 9, abs=4 * se_box + 0.05 * full_variance)


def test_object_domain_score_penalises_noise_amplification_the_data_domain_hides():
    """Deconvolution scored through the PSF: an over-iterated (noise-amplifying) result
    predicts the data as well as a good one once re-blurred, but not in the object domain."""
    result = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25.0, counts=60, seed=925)
    sigma = result.meta["psf_sigma_px"]
    pair = split(result.noisy.data, result.noisy.valid, "poisson", 0.0, seed=0)
    from asirp.methods.deconv import landweber
    from asirp.psf import gaussian_psf

    def scores(iterations: int, floor: float) -> float:
        a, b = (landweber(x, gaussian_psf(sigma), iterations=iterations).image for x in (pair.a, pair.b))
        return full_dose_risk(a, b, pair, blur_sigma=sigma, otf_floor=floor).mse

    # Data domain (floor 1): 300 iterations look about as good as 30; object domain: clearly worse.
    assert scores(300, 0.2) > 1.3 * scores(30, 0.2)
    assert scores(300, 0.2) / scores(30, 0.2) > scores(300, 1.0) / scores(30, 1.0)


def test_kind_is_guessed_only_when_the_file_does_not_say():
    powder = synth.diffraction_frame("powder", shape=(128, 128), dose=20.0, mask="none", seed=1).noisy
    as_image = Frame(powder.data, kind="image")
    assert guess_kind(powder) == ("diffraction", "metadata")
    assert guess_kind(as_image)[0] == "diffraction"
    saxs = synth.diffraction_frame("saxs", shape=(128, 128), dose=20.0, mask="none", seed=1).noisy
    assert guess_kind(Frame(saxs.data, kind="image"))[0] == "scattering"
    grid = synth.mesh_grid_map("AG175", shape=(64, 64), seed=1).noisy
    assert guess_kind(Frame(grid.data, kind="image"))[0] == "image"


def test_features_noise_model_and_blur():
    grid = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25, counts=60, seed=2)
    feats = measure(grid.noisy, symmetry=False)
    assert feats.noise_model == "poisson" and feats.counts_per_pixel == pytest.approx(grid.noisy.data.mean(), rel=1e-6)
    assert feats.blur_sigma_px == pytest.approx(grid.meta["psf_sigma_px"], rel=0.15)
    rng = np.random.default_rng(0)
    smooth = Frame((np.add.outer(np.arange(96.0), np.arange(96.0)) + rng.normal(0, 2.0, (96, 96))).astype(np.float32))
    assert measure(smooth, blur=False).noise_model == "gaussian"


def test_noise_model_of_images_that_are_not_counting_kinds():
    """Integer projections spanning 120-1100 counts are Poisson (a global σ²/mean says 0.56);
    a camera with a gain of 3 is not."""
    phantom = synth.tomo_phantom(96, n_slices=24, seed=101)
    projections = synth.tomo_projections(phantom, n_angles=12, beam_fwhm_px=3.0, photons=1000.0, seed=7).noisy
    assert measure(projections, blur=False).noise_model == "poisson"
    rng = np.random.default_rng(0)
    camera = Frame((3 * rng.poisson(200, (128, 128))).astype(np.float32))
    assert measure(camera, blur=False).noise_model == "gaussian"


def test_blurred_map_gets_a_deconvolution_that_beats_the_raw_data():
    grid = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25, counts=60, seed=3)
    decision = choose(grid.noisy)
    assert decision.family == "deconvolution" and decision.method != "identity"
    restored = asirp.api.restore_with(grid.noisy, decision)
    assert analysis.psnr(grid.truth, restored) > analysis.psnr(grid.truth, grid.noisy) + 1.0
    text = decision.explain()
    assert "blurred" in text and "est. MSE" in text


def test_noiseless_smooth_image_is_left_alone():
    y, x = np.mgrid[0:96, 0:96]
    clean = Frame((1000 + 100 * np.sin(x / 15.0) * np.cos(y / 17.0)).astype(np.float32))
    decision = choose(clean)
    assert decision.method == "identity"


def test_budget_prunes_expensive_methods_with_reasons():
    grid = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25, counts=60, seed=4)
    decision = choose(grid.noisy, budget_s=1e-6, mode="online")
    skipped = [c for c in decision.candidates if c.status.startswith("skipped")]
    assert skipped and all("budget" in c.status for c in skipped)
    assert decision.method == "identity"  # nothing fits: nothing is changed, and it says so
    assert any("budget" in reason or "identity" in reason for reason in decision.reasons)


def test_an_offline_budget_bounds_the_decision_by_the_wall_clock():
    """--budget 4: the decision takes at most half of it (features included) and says what it skipped."""
    frame = synth.diffraction_frame("powder", shape=(384, 384), dose=2.0, seed=31).noisy
    decision = choose(frame, budget_s=4.0)
    # One candidate may overrun by its own scoring time: ~1.5 s here, twice that when another job shares the 2 cores.
    assert decision.selection_seconds < 0.5 * 4.0 + 3.0
    assert any(c.status.startswith("skipped") and "budget" in c.status for c in decision.candidates)


def test_estimated_mse_is_the_full_dose_error_in_data_units():
    """Flat Poisson(50) image: the identity's estimate is its true MSE, 50 (it was printed as 12.4, a quarter)."""
    image = Frame(_flat_poisson(50.0, (192, 192), seed=12), np.ones((192, 192), bool), kind="image")
    decision = choose(image)
    identity = next(c for c in decision.candidates if c.method == "identity" and c.estimated_mse is not None)
    assert identity.estimated_mse == pytest.approx(50.0, abs=4 * identity.standard_error + 2.0)
    assert "full-dose mean squared error in data units" in decision.explain()


def test_a_constant_frame_is_refused_in_one_line_naming_the_file_without_warnings(tmp_path):
    import warnings

    import tifffile

    tifffile.imwrite(tmp_path / "zeros.tif", np.zeros((64, 64), np.uint16))
    frame = asirp.io.open(tmp_path / "zeros.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(asirp.InputError, match=r"zeros.tif: every measured pixel has the same value \(0\)"):
            choose(frame)


def test_an_uncertain_psf_keeps_the_raw_data_unless_a_deconvolution_clearly_wins():
    rng = np.random.default_rng(3)
    shared = rng.normal(10.0, 5.0, 4000)
    wiggle = 0.3 * np.where(np.arange(4000) % 2, 1.0, -1.0)  # paired standard error ≈ 0.005
    raw = _risk(shared)
    for offset, expected in ((-0.006, "identity"), (-0.05, "landweber")):  # 1.2 and 10 paired errors better
        lw = _risk(shared + offset + wiggle)
        ranking = [Candidate("landweber", {"iterations": 30}, "scored", lw.mse, lw.standard_error),
                   Candidate("identity", {}, "scored", raw.mse, raw.standard_error)]
        risks = {("landweber", "iterations=30"): lw, ("identity", "defaults"): raw}
        reasons: list[str] = []
        chosen = _break_ties(ranking, risks, "deconvolution", "poisson", reasons, uncertain_psf=True)
        assert chosen.method == expected
        assert (expected == "identity") == any("the PSF is uncertain" in r for r in reasons)
        # A certain PSF: the deconvolution wins the tie (the features showed the blur matters).
        assert _break_ties(ranking, risks, "deconvolution", "poisson", []).method == "landweber"


def _risk(terms):
    terms = np.asarray(terms, dtype=float)
    return Risk(float(terms.mean()), float(terms.std() / np.sqrt(terms.size)), terms)


def test_ties_are_broken_by_the_noise_model_and_clear_wins_are_not():
    rng = np.random.default_rng(0)
    shared = rng.normal(10.0, 5.0, 4000)  # the noise both candidates see on the same split
    lw = _risk(shared)
    wiggle = 0.3 * np.where(np.arange(4000) % 2, 1.0, -1.0)  # paired standard error 0.3/√4000 ≈ 0.005
    close = _risk(shared + 0.001 + wiggle)  # within one paired standard error of landweber
    far = _risk(shared + 0.05 + wiggle)  # ten beyond it, yet within the unpaired one (5/√4000 ≈ 0.08)
    landweber = Candidate("landweber", {"iterations": 30}, "scored", lw.mse, lw.standard_error)
    for risk, expected in ((close, "richardson_lucy"), (far, "landweber")):
        rl = Candidate("richardson_lucy", {"iterations": 10}, "scored", risk.mse, risk.standard_error)
        reasons: list[str] = []
        risks = {("landweber", "iterations=30"): lw, ("richardson_lucy", "iterations=10"): risk}
        chosen = _break_ties([landweber, rl], risks, "deconvolution", "poisson", reasons)
        assert chosen.method == expected
        assert bool(reasons) == (expected == "richardson_lucy")
    # Gaussian data: the least-squares estimator keeps its (tied) win.
    rl = Candidate("richardson_lucy", {"iterations": 10}, "scored", close.mse, close.standard_error)
    risks = {("landweber", "iterations=30"): lw, ("richardson_lucy", "iterations=10"): close}
    assert _break_ties([landweber, rl], risks, "deconvolution", "gaussian", []).method == "landweber"


def test_ties_between_denoisers_go_to_the_one_adapted_to_the_frame():
    """symmetry (fine-tuned on the frame) and supervised tie on the score: the adapted one is chosen, and said."""
    rng = np.random.default_rng(1)
    shared = rng.normal(10.0, 5.0, 4000)
    wiggle = 0.3 * np.where(np.arange(4000) % 2, 1.0, -1.0)
    sup, sym = _risk(shared), _risk(shared + 0.001 + wiggle)
    risks = {("supervised", "defaults"): sup, ("symmetry", "defaults"): sym}
    ranking = [Candidate("supervised", {}, "scored", sup.mse, sup.standard_error),
               Candidate("symmetry", {}, "scored", sym.mse, sym.standard_error)]
    reasons: list[str] = []
    assert _break_ties(ranking, risks, "denoising", "poisson", reasons).method == "symmetry"
    assert "adapted to this frame" in reasons[0]
    # Without fine-tuning symmetry adapts to nothing: the better score keeps its win.
    ranking[1] = Candidate("symmetry", {"fine_tune_s": 0.0}, "scored", sym.mse, sym.standard_error)
    risks[("symmetry", "fine_tune_s=0")] = risks.pop(("symmetry", "defaults"))
    assert _break_ties(ranking, risks, "denoising", "poisson", []).method == "supervised"


def test_poisson_weights_score_counts_on_the_anscombe_scale():
    """A constant prediction off by 10 % of a bright and a weak half: the weighted score is the
    Anscombe-scale error (both halves count alike), the plain one is dominated by the bright half."""
    from asirp.select.split import poisson_weights

    rng = np.random.default_rng(8)
    mean = np.where(np.arange(256)[None, :] < 128, 400.0, 4.0) * np.ones((256, 1))
    counts = rng.poisson(mean).astype(np.float32)
    valid = np.ones(counts.shape, bool)
    pair = split(counts, valid, "poisson", 0.0, seed=9)
    prediction = 0.5 * mean * 1.1  # of a binomial half
    weights = poisson_weights(counts, valid)
    weighted = full_dose_risk(prediction, prediction, pair, weights=weights)
    anscombe = np.mean((2 * np.sqrt(2 * prediction + 0.375) - 2 * np.sqrt(mean + 0.375)) ** 2)
    assert weighted.mse == pytest.approx(anscombe, rel=0.15)
    plain = full_dose_risk(prediction, prediction, pair)
    assert plain.mse == pytest.approx(np.mean((0.1 * mean) ** 2), rel=0.1)


def test_symmetry_is_scored_fine_tuned_once_and_the_run_reuses_it():
    """auto fine-tunes the symmetry network on the whole frame once, scores the split copies with the
    tuned weights file, and keeps the user-facing parameters in the decision."""
    from asirp.methods.base import get_method
    from asirp.methods.symmetry import training

    frame = synth.diffraction_frame("powder", shape=(96, 96), dose=2.0, seed=21).noisy
    calls: list[int] = []
    original = training.train
    training.train = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        decision = choose(frame, fixed={"fine_tune_s": 0.6})
    finally:
        training.train = original
    assert len(calls) == 1  # once on the whole frame, not once per split copy
    symmetry = [c for c in decision.candidates if c.method == "symmetry"]
    assert symmetry and symmetry[0].estimated_mse is not None and symmetry[0].parameters.get("weights") is None
    # The scoring parameters: the tuned weights (from the cache now), an ordinary weights file.
    method = get_method("symmetry")
    scoring = method.adapted_for_scoring(frame, method.validate(fine_tune_s=0.6))
    assert scoring["fine_tune_s"] == 0.0 and scoring["weights"].endswith(".pt")
    out = asirp.restore(frame, "symmetry", weights=scoring["weights"], fine_tune_s=0.0)
    assert out.history[-1].notes["fine_tuning"]["steps"] == 0
    assert any("symmetry adapted to the frame before scoring" in r for r in decision.reasons)


def test_uncertain_psf_limits_deconvolution_to_strong_regularisation():
    """AG300 at 25 µm defeats the power-spectrum blur estimate: tune only the regularised half."""
    grid = synth.mesh_grid_map("AG300", shape=(96, 96), step_um=25, counts=100, seed=925)
    decision = choose(grid.noisy)
    assert decision.features.blur_disagreement > 1.5
    assert any("PSF is uncertain" in reason for reason in decision.reasons)
    tried = {(c.method, c.parameters.get("iterations")) for c in decision.candidates if c.estimated_mse is not None}
    assert ("richardson_lucy", 40) not in tried and ("landweber", 300) not in tried
    assert decision.parameters.get("iterations", 0) <= 30


def test_negative_flux_makes_an_estimate_inadmissible():
    assert negative_flux(np.array([1.0, 2.0, 3.0])) == 0.0
    assert negative_flux(np.array([-1.0, 1.0, 2.0])) == pytest.approx(0.25)


def test_stream_selector_reuses_decisions_until_the_data_change():
    selector = Selector(budget_s=5.0)
    frames = [synth.mesh_grid_map("AG175", shape=(64, 64), counts=60, seed=s).noisy for s in (1, 2)]
    plan, first = selector.plan(frames[0])
    reused, second = selector.plan(frames[1])
    assert first.startswith("decided anew") and second.startswith("reused") and reused is plan
    assert plan.decision is not None and plan.budget is not None and plan.budget["budget_s"] == 5.0
    brighter = synth.mesh_grid_map("AG175", shape=(64, 64), counts=600, seed=3).noisy
    _, third = selector.plan(brighter)
    assert "mean level changed" in third and selector.decisions == 2


def test_auto_records_the_decision_in_provenance():
    grid = synth.mesh_grid_map("AG175", shape=(64, 64), counts=60, seed=5).noisy
    restored = asirp.restore(grid, "auto")
    selection = restored.history[-1].notes["selection"]
    assert selection["method"] == restored.history[-1].method
    assert selection["reasons"] and selection["features"]["kind"] == "xrf_map"
    assert any(c["status"] == "scored" for c in selection["candidates"])


def test_quick_noise_sigma_measures_the_noise_on_a_sloped_edged_image():
    from asirp.select.features import quick_noise_sigma

    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:128, 0:128]
    signal = 50.0 + 0.5 * x + 200.0 * (x > 64)  # a slope and a sharp edge
    valid = np.ones(signal.shape, bool)
    valid[:, 30:33] = False  # a masked column gap breaks no triple into fake edges
    for sigma in (0.5, 3.0, 12.0):
        noisy = signal + rng.normal(0.0, sigma, signal.shape)
        assert quick_noise_sigma(noisy, valid) == pytest.approx(sigma, rel=0.06)
    assert np.isnan(quick_noise_sigma(signal, np.zeros(signal.shape, bool)))


# -- very sparse real-like frames: a result or a one-line AsirpError, never another exception ------

#: Parameters that keep the slow learned methods to a second or two on these tiny frames.
_CHEAP = {"zssr": {"max_iterations": 20, "time_budget_s": 2.0, "ensemble": False}, "noise2self": {"steps": 10}}


def _sparse_frames() -> dict[str, Frame]:
    rng = np.random.default_rng(15)
    spots = np.zeros((96, 96), np.float32)
    spots[20, 30], spots[70, 50], spots[40, 80] = 50, 80, 30
    powder = synth.diffraction_frame("powder", shape=(96, 96), dose=0.005, mask="gaps", seed=15).noisy
    return {
        # 0.005 counts/px, no geometry: the selector's split copies hold a few counts each
        "poisson 0.005/px": Frame(rng.poisson(0.005, (128, 128)).astype(np.float32), kind="diffraction"),
        "three bright spots": Frame(spots, kind="diffraction"),
        "powder 0.005/px with PONI": powder,
        "stack of 0.005/px frames": Frame(rng.poisson(0.005, (3, 64, 64)).astype(np.float32), kind="diffraction"),
    }


@pytest.mark.parametrize("name", list(_sparse_frames()))
def test_auto_on_very_sparse_frames_restores_or_refuses_in_one_line(name):
    """The Lambda frame of issue 15 (0.004 counts/px) crashed auto with IndexError: a NaN beam centre cast to int."""
    frame = _sparse_frames()[name]
    try:
        restored = asirp.restore(frame, "auto")
    except asirp.AsirpError as exc:
        assert "\n" not in str(exc)
    else:
        assert restored.shape == frame.shape and np.isfinite(restored.data).all()


@pytest.mark.parametrize("name", list(_sparse_frames()))
def test_every_method_on_very_sparse_frames_restores_or_refuses_in_one_line(name):
    from asirp.methods.base import registry

    frame = _sparse_frames()[name]
    for method in registry():
        try:
            restored = asirp.restore(frame, method, **_CHEAP.get(method, {}))
        except asirp.AsirpError as exc:
            assert "\n" not in str(exc), method
        else:
            assert np.isfinite(restored.data[restored.valid]).all(), method


def test_a_stack_whose_middle_image_is_masked_is_decided_on_a_measured_one():
    rng = np.random.default_rng(16)
    data = rng.poisson(5.0, (3, 64, 64)).astype(np.float32)
    valid = np.ones(data.shape, bool)
    valid[1] = False
    frame = Frame(np.where(valid, data, 0), valid, kind="diffraction")
    from asirp.select.features import representative_image

    np.testing.assert_array_equal(representative_image(frame).data, data[0])  # nearest measured image
    decision = choose(frame)  # was "every pixel is masked: nothing to restore"
    assert decision.features.counts_per_pixel == pytest.approx(5.0, rel=0.05)
    try:
        restored = asirp.restore(frame, "auto")
    except asirp.AsirpError as exc:  # the chosen method may still refuse the stack as a whole
        assert "\n" not in str(exc)
    else:
        assert restored.shape == data.shape


def test_radial_profile_of_an_all_zero_image_is_empty():
    from asirp.select.kind import radial_profile

    r2, profile = radial_profile(np.zeros((32, 32)), np.ones((32, 32), bool))
    assert r2 == 0.0 and isinstance(profile, np.ndarray) and profile.size == 0


def test_score_region_of_a_heavily_masked_frame_is_its_best_covered_window():
    from asirp.select.decide import SCORE_CROP, _score_region

    rng = np.random.default_rng(17)
    side = 2 * SCORE_CROP
    valid = np.zeros((side, side), bool)
    valid[:, side - SCORE_CROP // 2 :] = True  # only a strip is measured: no window is 90 % measured
    frame = Frame(np.where(valid, rng.poisson(3.0, (side, side)), 0).astype(np.float32), valid, kind="diffraction")
    rows, cols = _score_region(frame)
    assert cols.stop == side and valid[rows, cols].mean() == pytest.approx(0.5)  # was the empty top-left corner
