"""Tests of asirp.analysis: quality metrics against analytic values and scikit-image, FRC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import normalized_root_mse, structural_similarity

from asirp.analysis import FRCResult, contrast_std, frc, half_bit_threshold, nrmse, psnr, ssim
from asirp.errors import InputError, ParameterError
from asirp.frame import Frame
from asirp.units import PixelSize


@pytest.fixture
def truth() -> np.ndarray:
    """A smooth 64 x 64 image spanning exactly [0, 100] (data range 100)."""
    y, x = np.mgrid[:64, :64]
    image = np.sin(x / 5.0) * np.cos(y / 7.0) + 0.02 * x
    return 100.0 * (image - image.min()) / (image.max() - image.min())


def _gap_mask(shape: tuple[int, ...]) -> np.ndarray:
    """Detector-like mask: a 4-row module gap and a beamstop corner."""
    valid = np.ones(shape, dtype=bool)
    valid[..., 30:34, :] = False
    valid[..., :10, :10] = False
    return valid


# -- psnr ------------------------------------------------------------------------------
def test_psnr_constant_offset_is_analytic(truth):
    c = 2.5
    assert psnr(truth, truth + c) == pytest.approx(10 * math.log10(100.0**2 / c**2), rel=1e-12)


def test_psnr_uses_given_data_range(truth):
    assert psnr(truth, truth - 1.0, data_range=1000.0) == pytest.approx(60.0, rel=1e-12)


def test_psnr_identical_is_inf(truth):
    assert psnr(truth, truth.copy()) == math.inf


def test_psnr_ignores_masked_pixels(truth):
    valid = _gap_mask(truth.shape)
    estimate = truth + 2.0
    reference = psnr(truth, estimate, valid=valid)
    corrupted = estimate.copy()
    corrupted[~valid] = 1e6
    corrupted_truth = truth.copy()
    corrupted_truth[~valid] = np.nan  # NaN where masked is allowed
    assert psnr(corrupted_truth, corrupted, valid=valid) == pytest.approx(reference, rel=1e-12)
    # The default data range is taken over valid pixels only.
    span = truth[valid].max() - truth[valid].min()
    assert reference == pytest.approx(10 * math.log10(span**2 / 4.0), rel=1e-12)


def test_psnr_combines_frame_masks_with_valid(truth):
    frame_mask = _gap_mask(truth.shape)
    corrupted = truth + 1.0
    corrupted[~frame_mask] = -500.0
    frame = Frame(corrupted.astype(np.float32), frame_mask)
    extra = np.ones(truth.shape, dtype=bool)
    extra[:, 60:] = False
    both = frame_mask & extra
    span = truth[both].max() - truth[both].min()
    # float32 storage of the estimate limits the agreement to ~1e-6.
    assert psnr(truth, frame, valid=extra) == pytest.approx(10 * math.log10(span**2), rel=1e-5)


def test_psnr_of_stack_pools_all_frames(truth):
    stack = np.stack([truth, truth])
    estimate = stack + np.array([1.0, 3.0])[:, None, None]  # MSE = (1 + 9) / 2 = 5
    assert psnr(stack, estimate) == pytest.approx(10 * math.log10(100.0**2 / 5.0), rel=1e-12)
    # A 2-D mask applies to every frame of a stack.
    valid = _gap_mask(truth.shape)
    bad = estimate.copy()
    bad[:, ~valid] = 1e9
    assert psnr(stack, bad, valid=valid) == pytest.approx(psnr(stack, estimate, valid=valid), rel=1e-12)


# -- ssim ------------------------------------------------------------------------------
def test_ssim_identical_is_one(truth):
    assert ssim(truth, truth.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_skimage_without_mask(truth):
    rng = np.random.default_rng(3)
    estimate = truth + rng.normal(0, 5, truth.shape)
    expected = structural_similarity(truth, estimate, data_range=100.0)
    assert ssim(truth, estimate) == pytest.approx(expected, rel=1e-12)
    assert ssim(truth, estimate, data_range=50.0) == pytest.approx(
        structural_similarity(truth, estimate, data_range=50.0), rel=1e-12
    )


def test_ssim_ignores_masked_pixels_in_both_images(truth):
    rng = np.random.default_rng(4)
    valid = _gap_mask(truth.shape)
    estimate = truth + rng.normal(0, 5, truth.shape)
    reference = ssim(truth, estimate, valid=valid)
    bad_truth, bad_estimate = truth.copy(), estimate.copy()
    bad_truth[~valid] = 1e5
    bad_estimate[~valid] = -1e5
    assert ssim(bad_truth, bad_estimate, valid=valid) == pytest.approx(reference, rel=1e-12)
    # Identical valid pixels score 1 whatever the masked pixels hold.
    assert ssim(bad_truth, np.where(valid, truth, 7.0), valid=valid) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_stack_is_mean_of_frames(truth):
    rng = np.random.default_rng(5)
    noisy = [truth + rng.normal(0, s, truth.shape) for s in (2.0, 10.0)]
    per_frame = [structural_similarity(truth, n, data_range=100.0) for n in noisy]
    assert ssim(np.stack([truth, truth]), np.stack(noisy)) == pytest.approx(np.mean(per_frame), rel=1e-12)


def test_ssim_rejects_tiny_images():
    with pytest.raises(InputError, match="at least 7 x 7"):
        ssim(np.arange(30.0).reshape(5, 6), np.arange(30.0).reshape(5, 6))


# -- nrmse -----------------------------------------------------------------------------
def test_nrmse_known_values():
    truth = np.array([[3.0, 4.0], [3.0, 4.0]])
    estimate = truth + 1.0  # RMSE = 1
    assert nrmse(truth, estimate) == pytest.approx(1 / math.sqrt(12.5), rel=1e-12)
    assert nrmse(truth, estimate, normalisation="min-max") == pytest.approx(1.0, rel=1e-12)
    assert nrmse(truth, estimate, normalisation="mean") == pytest.approx(1 / 3.5, rel=1e-12)
    assert nrmse(truth, truth) == 0.0


@pytest.mark.parametrize("normalisation", ["euclidean", "min-max", "mean"])
def test_nrmse_matches_skimage_and_respects_mask(truth, normalisation):
    rng = np.random.default_rng(6)
    estimate = truth + rng.normal(0, 3, truth.shape)
    assert nrmse(truth, estimate, normalisation=normalisation) == pytest.approx(
        normalized_root_mse(truth, estimate, normalization=normalisation), rel=1e-12
    )
    valid = _gap_mask(truth.shape)
    corrupted = np.where(valid, estimate, 1e6)
    assert nrmse(truth, corrupted, valid=valid, normalisation=normalisation) == pytest.approx(
        normalized_root_mse(truth[valid], estimate[valid], normalization=normalisation), rel=1e-12
    )


def test_nrmse_rejects_unknown_normalisation_and_zero_denominator(truth):
    with pytest.raises(ParameterError, match="euclidean"):
        nrmse(truth, truth, normalisation="max")
    zero_mean = np.array([[-1.0, 1.0], [-1.0, 1.0]])
    with pytest.raises(InputError, match="normalisation of truth is 0"):
        nrmse(zero_mean, zero_mean + 1, normalisation="mean")


# -- contrast --------------------------------------------------------------------------
def test_contrast_std_equals_numpy_std_on_valid(truth):
    valid = _gap_mask(truth.shape)
    image = np.where(valid, truth, 1e6)
    assert contrast_std(image, valid=valid) == pytest.approx(np.std(truth[valid]), rel=1e-12)
    frame = Frame(truth.astype(np.float32), valid)  # masked pixels hold 0 in a Frame
    assert contrast_std(frame) == pytest.approx(np.std(truth.astype(np.float32)[valid]), rel=1e-6)


# -- input validation ------------------------------------------------------------------
@pytest.mark.parametrize("measure", [psnr, ssim, nrmse])
def test_shape_mismatch_names_both_shapes(measure):
    with pytest.raises(InputError, match=r"\(16, 16\).*\(16, 17\)"):
        measure(np.zeros((16, 16)), np.zeros((16, 17)))


@pytest.mark.parametrize("measure", [psnr, ssim, nrmse, lambda a, b, valid: contrast_std(a, valid=valid)])
def test_empty_valid_set_is_rejected(measure, truth):
    with pytest.raises(InputError, match="no valid pixel"):
        measure(truth, truth, valid=np.zeros(truth.shape, dtype=bool))


@pytest.mark.parametrize("measure", [psnr, ssim, nrmse])
def test_nan_at_valid_pixel_is_rejected(measure, truth):
    estimate = truth.copy()
    estimate[5, 5] = np.nan
    with pytest.raises(InputError, match="estimate holds NaN or inf at 1 valid pixel"):
        measure(truth, estimate)


def test_bad_masks_and_arrays_are_rejected(truth):
    with pytest.raises(InputError, match="boolean"):
        psnr(truth, truth, valid=np.ones(truth.shape))
    with pytest.raises(InputError, match="does not fit"):
        psnr(truth, truth, valid=np.ones((3, 3), dtype=bool))
    with pytest.raises(InputError, match="2-D image"):
        psnr(np.zeros(10), np.zeros(10))
    with pytest.raises(InputError, match="data range is 0"):
        psnr(np.ones((8, 8)), np.zeros((8, 8)))
    for bad_range in (-1.0, 0, math.nan, "wide"):
        with pytest.raises(ParameterError, match="data_range"):
            psnr(truth, truth + 1, data_range=bad_range)


# -- FRC -------------------------------------------------------------------------------
def _blurred_texture(sigma: float, seed: int = 0, shape=(128, 128), std: float = 10.0) -> np.ndarray:
    """A random texture blurred by a Gaussian of ``sigma`` px, scaled to ``std``."""
    texture = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), sigma, mode="wrap")
    return texture * (std / texture.std())


def _noisy_pair(obj: np.ndarray, seed: int, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return obj + rng.normal(0, noise, obj.shape), obj + rng.normal(0, noise, obj.shape)


def test_frc_of_band_limited_object_is_one_at_low_and_zero_at_high_frequency():
    a, b = _noisy_pair(_blurred_texture(3.0), seed=10)
    result = frc(a, b)
    assert isinstance(result, FRCResult)
    assert result.frequency[0] == 0 and result.frequency[-1] == pytest.approx(0.5)
    assert np.all(np.diff(result.frequency) == pytest.approx(1 / 128))
    assert np.isnan(result.correlation[0])
    assert np.all(result.correlation[1:6] > 0.99)
    assert abs(np.mean(result.correlation[result.frequency > 0.35])) < 0.05
    assert 2 < result.resolution_px < 20
    # The crossing lies between the two rings that bracket it.
    f_cross = 1 / result.resolution_px
    k = np.searchsorted(result.frequency, f_cross)
    assert result.correlation[k - 1] >= 1 / 7 > result.correlation[k]


def test_frc_of_independent_noise_finds_no_resolution():
    rng = np.random.default_rng(11)
    result = frc(rng.normal(size=(128, 128)), rng.normal(size=(128, 128)))
    # Nothing is shared: the curve scatters around 0 and the first crossing is at
    # the coarsest rings (inf: already below at ring 1).
    assert abs(np.nanmean(result.correlation)) < 0.05
    assert result.resolution_px > 32


def test_frc_resolution_coarsens_monotonically_with_blur():
    resolutions = [frc(*_noisy_pair(_blurred_texture(sigma), seed=12)).resolution_px for sigma in (1.0, 2.0, 4.0)]
    assert resolutions[0] < resolutions[1] < resolutions[2]
    # Gaussian blur: the crossing period grows roughly in proportion to sigma.
    assert resolutions[2] / resolutions[0] > 2


def test_frc_correlated_signal_to_nyquist_gives_sampling_limit():
    obj = np.random.default_rng(13).normal(0, 10, (64, 64))  # white signal, all frequencies
    result = frc(*_noisy_pair(obj, seed=14, noise=0.1))
    assert result.resolution_px == pytest.approx(2.0)


def test_frc_apodisation_removes_the_edge_cross():
    y, x = np.mgrid[:128, :128]
    ramp = 200.0 * (x + 0.5 * y) / 128  # not periodic: a jump at the image edges
    a, b = _noisy_pair(ramp, seed=15)
    high = slice(-10, None)
    assert np.all(frc(a, b, apodize=False).correlation[high] > 0.5)
    assert np.all(np.abs(frc(a, b).correlation[high]) < 0.2)


def test_frc_half_bit_threshold_and_physical_resolution():
    a, b = _noisy_pair(_blurred_texture(2.0), seed=16)
    result = frc(Frame(a.astype(np.float32), pixel_size=PixelSize.square(25, "um")), b, threshold="half-bit")
    np.testing.assert_allclose(result.threshold, half_bit_threshold(result.n_pixels))
    assert result.unit == "um"
    assert result.resolution == pytest.approx(25 * result.resolution_px)
    assert frc(a, b, pixel_size="0.05mm").resolution == pytest.approx(0.05 * frc(a, b).resolution_px)
    assert np.all(frc(a, b, threshold=0.5).threshold == 0.5)


def test_frc_ring_counts_cover_the_nyquist_disc():
    result = frc(*_noisy_pair(_blurred_texture(2.0, shape=(64, 64)), seed=17))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij"))
    assert result.n_pixels.sum() == np.count_nonzero(np.rint(f * 64) <= 32)
    assert result.n_pixels[0] == 1 and result.n_pixels[1] == 8


def test_frc_of_stack_sums_rings_over_frames():
    obj = _blurred_texture(2.0, shape=(64, 64))
    a, b = _noisy_pair(np.stack([obj, obj]), seed=18)
    stacked = frc(a, b)
    assert np.all(stacked.n_pixels == 2 * frc(a[0], b[0]).n_pixels)
    # Identical frames give the same curve as one frame.
    same = frc(np.stack([a[0], a[0]]), np.stack([b[0], b[0]]))
    np.testing.assert_allclose(same.correlation[1:], frc(a[0], b[0]).correlation[1:], rtol=1e-12)


def test_frc_ignores_masked_pixels():
    obj = _blurred_texture(2.0, shape=(64, 64))
    a, b = _noisy_pair(obj, seed=19)
    valid = np.ones(obj.shape, dtype=bool)
    valid[20:24, 30:34] = False
    reference = frc(a, b, valid=valid)
    a2, b2 = a.copy(), b.copy()
    a2[~valid], b2[~valid] = 1e6, np.nan
    np.testing.assert_allclose(frc(a2, b2, valid=valid).correlation[1:], reference.correlation[1:], rtol=1e-10)


def test_frc_result_arrays_are_read_only():
    result = frc(*_noisy_pair(_blurred_texture(2.0, shape=(32, 32)), seed=20))
    with pytest.raises(ValueError):
        result.correlation[1] = 0.0


def test_half_bit_threshold_formula_values():
    # van Heel & Schatz (2005), eq. 17, with their 4-digit constants.
    n = np.array([1.0, 4.0, 100.0, 1e4])
    published = (0.2071 + 1.9102 / np.sqrt(n)) / (1.2071 + 0.9102 / np.sqrt(n))
    np.testing.assert_allclose(half_bit_threshold(n), published, atol=1e-4)
    assert half_bit_threshold(1) == pytest.approx(1.0, abs=1e-12)
    assert half_bit_threshold(1e16) == pytest.approx((math.sqrt(2) - 1) / (math.sqrt(2) + 1), rel=1e-6)
    with pytest.raises(ParameterError):
        half_bit_threshold(0)


def test_frc_rejects_bad_input():
    a = np.zeros((16, 16))
    with pytest.raises(InputError, match=r"\(16, 16\).*\(16, 15\)"):
        frc(a, np.zeros((16, 15)))
    with pytest.raises(ParameterError, match="half-bit"):
        frc(a, a, threshold="1/2 bit")
    with pytest.raises(ParameterError):
        frc(a, a, threshold=1.5)
    with pytest.raises(ParameterError, match="square pixels"):
        frc(a, a, pixel_size=PixelSize(10, 20))
    with pytest.raises(InputError, match="at least 8 x 8"):
        frc(np.zeros((4, 16)), np.zeros((4, 16)))
    with pytest.raises(InputError, match="no valid pixel"):
        frc(a, a, valid=np.zeros((16, 16), dtype=bool))
