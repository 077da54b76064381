"""Tests of asirp.psf: PSF models, validation, loading, knife-edge fit and width estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.special import erf

from asirp.errors import InputError, ParameterError
from asirp.methods.deconv.blind import estimate_gaussian_sigma
from asirp.psf import (
    FWHM_PER_SIGMA,
    beam_sigma_px,
    fwhm_to_sigma,
    gaussian_psf,
    knife_edge_fwhm,
    load_psf,
    psf_from_beam,
    psf_second_moments,
    sigma_to_fwhm,
    validate_psf,
)
from asirp.spectrum import (
    MIN_FIT_FREQUENCY,
    fit_power_spectrum,
    power_spectrum,
    spectral_sigma,
)
from asirp.units import PixelSize


def _covariance(psf: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(psf.shape, dtype=float)
    rows -= psf.shape[0] // 2
    cols -= psf.shape[1] // 2
    c_rr = (psf * rows * rows).sum()
    c_cc = (psf * cols * cols).sum()
    c_rc = (psf * rows * cols).sum()
    return np.array([[c_rr, c_rc], [c_rc, c_cc]])


# -- models ---------------------------------------------------------------------------
def test_gaussian_psf_is_normalised_odd_centred_with_the_requested_width():
    psf = gaussian_psf(2.0)
    assert psf.shape == (17, 17)  # ±4σ
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (8, 8)
    assert psf_second_moments(psf) == pytest.approx((2.0, 2.0), rel=1e-3)
    assert np.allclose(psf, psf.T) and np.allclose(psf, psf[::-1, ::-1])


def test_gaussian_psf_anisotropic_and_rotated_covariance():
    sy, sx, angle = 1.0, 2.5, 30.0
    cov = _covariance(gaussian_psf(sy, sx, angle, truncate=6.0))
    theta = math.radians(angle)
    # The sigma_x axis points along (cos θ, sin θ) in (column, row) coordinates.
    axis_x = np.array([math.sin(theta), math.cos(theta)])  # (row, col) components
    axis_y = np.array([math.cos(theta), -math.sin(theta)])
    expected = sx**2 * np.outer(axis_x, axis_x) + sy**2 * np.outer(axis_y, axis_y)
    assert cov == pytest.approx(expected, abs=2e-3)
    # 90° swaps the axes.
    assert np.allclose(gaussian_psf(1.0, 2.0, 90.0), gaussian_psf(2.0, 1.0, 0.0), atol=1e-12)


def test_gaussian_psf_zero_width_is_a_delta_and_sizes_are_odd():
    delta = gaussian_psf(0.0)
    assert delta.shape == (3, 3) and delta[1, 1] == pytest.approx(1.0)
    assert gaussian_psf(1.0, size=8).shape == (9, 9)
    assert gaussian_psf(1.0, size=(5, 7)).shape == (5, 7)


@pytest.mark.parametrize("bad", [dict(sigma_y=-1.0), dict(sigma_y=float("nan")), dict(sigma_y=1.0, truncate=0.0)])
def test_gaussian_psf_rejects_bad_widths(bad):
    with pytest.raises(ParameterError):
        gaussian_psf(**bad)


def test_fwhm_sigma_conversions():
    assert FWHM_PER_SIGMA == pytest.approx(2.354820045, rel=1e-9)
    assert sigma_to_fwhm(fwhm_to_sigma(50.0)) == pytest.approx(50.0)


def test_beam_sigma_from_physical_lengths():
    # The paper's case: a 50 µm beam scanned at 25 µm steps.
    sy, sx = beam_sigma_px("50um", "25um")
    assert sy == pytest.approx(0.8493, abs=1e-4) and sx == sy
    assert beam_sigma_px("0.05 mm", 25.0) == pytest.approx((sy, sx))
    assert beam_sigma_px((50, "um"), PixelSize(25.0, 50.0, "um")) == pytest.approx((0.8493, 0.42466), abs=1e-4)
    psf = psf_from_beam("50um", "25um")
    assert psf_second_moments(psf) == pytest.approx((0.8493, 0.8493), abs=2e-3)


@pytest.mark.parametrize("fwhm, step", [("-50um", "25um"), ("50um", "0um"), ("50 parsec", "25um"), ("50um", [25])])
def test_beam_sigma_rejects_bad_lengths(fwhm, step):
    with pytest.raises(ParameterError):
        beam_sigma_px(fwhm, step)


# -- validation -----------------------------------------------------------------------
def test_validate_psf_normalises_and_keeps_a_good_psf():
    psf = gaussian_psf(1.2)
    assert np.allclose(validate_psf(psf * 37.0), psf)  # any sum -> unit sum


def test_validate_psf_centres_even_and_off_centre_psfs():
    even = validate_psf(np.ones((4, 4)))
    assert even.shape == (5, 5) and even.sum() == pytest.approx(1.0)
    off = np.zeros((7, 7))
    off[1, 5] = 3.0
    centred = validate_psf(off)
    assert centred.shape == (1, 1) and centred[0, 0] == 1.0  # zero borders trimmed, delta centred
    shifted = np.zeros((9, 9))
    shifted[2:5, 3:6] = gaussian_psf(0.7, size=3)
    assert np.allclose(validate_psf(shifted), gaussian_psf(0.7, size=3))


def test_validate_psf_clips_rounding_noise_but_rejects_real_negative_lobes():
    psf = gaussian_psf(1.0)
    noisy = psf.copy()
    noisy[0, 0] = -1e-9 * psf.max()
    assert validate_psf(noisy).min() >= 0
    lobed = psf.copy()
    lobed[0, 0] = -0.05 * psf.max()
    with pytest.raises(ParameterError, match="negative"):
        validate_psf(lobed)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((3, 3), np.nan), "NaN"),
        (np.zeros((3, 3)), "all zero"),
        (np.ones(5), "2-D"),
        (np.ones((3, 3, 3)), "2-D"),
        ([["a"]], "numbers"),
    ],
)
def test_validate_psf_errors(bad, match):
    with pytest.raises(ParameterError, match=match):
        validate_psf(bad)


def test_validate_psf_larger_than_the_image_is_an_error():
    with pytest.raises(ParameterError, match="larger than the image"):
        validate_psf(gaussian_psf(3.0), image_shape=(16, 64))
    assert validate_psf(gaussian_psf(1.0), image_shape=(9, 9)).shape == (9, 9)


def test_load_psf_npy_and_tif(tmp_path):
    import tifffile

    psf = gaussian_psf(1.5) * 10
    np.save(tmp_path / "psf.npy", psf)
    tifffile.imwrite(tmp_path / "psf.tif", psf.astype(np.float32))
    assert np.allclose(load_psf(tmp_path / "psf.npy"), psf / psf.sum())
    assert np.allclose(load_psf(tmp_path / "psf.tif"), psf / psf.sum(), atol=1e-7)


def test_load_psf_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.npy"):
        load_psf(tmp_path / "missing.npy")
    (tmp_path / "psf.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="unsupported"):
        load_psf(tmp_path / "psf.txt")
    np.save(tmp_path / "nan.npy", np.full((3, 3), np.nan))
    with pytest.raises(InputError, match="nan.npy.*NaN"):
        load_psf(tmp_path / "nan.npy")
    (tmp_path / "broken.npy").write_bytes(b"not a numpy file")
    with pytest.raises(InputError, match="broken.npy"):
        load_psf(tmp_path / "broken.npy")


# -- knife edge -----------------------------------------------------------------------
def test_knife_edge_recovers_a_known_beam_width():
    rng = np.random.default_rng(1)
    x = np.arange(-150.0, 150.0, 5.0)  # µm, 5 µm steps
    sigma = fwhm_to_sigma(50.0)
    clean = 20 + 480 * 0.5 * (1 + erf((x - 12.0) / (np.sqrt(2) * sigma)))
    fit = knife_edge_fwhm(x, rng.poisson(clean), unit="um")
    assert fit.fwhm == pytest.approx(50.0, rel=0.03)
    assert fit.fwhm_std < 2.0 and fit.unit == "um"
    assert fit.center == pytest.approx(12.0, abs=1.0)
    assert fit.sigma == pytest.approx(sigma, rel=0.03)
    falling = knife_edge_fwhm(x, clean[::-1])  # a falling edge gives the same width
    assert falling.fwhm == pytest.approx(50.0, rel=1e-3)


@pytest.mark.parametrize(
    "positions, signal",
    [([0, 1, 2], [0, 1, 1]), (np.arange(10.0), np.ones(10)), (np.arange(10.0), np.arange(9.0))],
)
def test_knife_edge_rejects_unusable_scans(positions, signal):
    with pytest.raises(ParameterError):
        knife_edge_fwhm(positions, signal)


# -- spectra and width estimates ---------------------------------------------------------
def test_power_spectrum_of_white_noise_is_its_variance():
    noise = np.random.default_rng(2).normal(0.0, 2.0, (128, 128))
    fy, fx, power = power_spectrum(noise)
    assert power.shape == (128, 65) and fy.shape == (128, 1) and fx.shape == (1, 65)
    assert power[1:, 1:].mean() == pytest.approx(4.0, rel=0.05)


def _blurred_blobs(sigma: float, seed: int = 3, shape: tuple[int, int] = (128, 128)) -> np.ndarray:
    """A random 'natural' object (blobs of several sizes) blurred by a Gaussian, with Poisson noise."""
    rng = np.random.default_rng(seed)
    obj = np.zeros(shape)
    for size in (1, 2, 4, 8):
        mask = rng.random(shape) < 0.02 / size
        obj += gaussian_filter(mask.astype(float), size / 2.0) * 400.0 * size
    obj += 20.0
    return rng.poisson(gaussian_filter(obj, sigma, mode="wrap")).astype(float)


def test_spectral_sigma_is_close_on_a_natural_object():
    for sigma in (1.0, 2.5):
        assert spectral_sigma(_blurred_blobs(sigma)) == pytest.approx(sigma, rel=0.25)


def test_estimate_gaussian_sigma_without_refinement_is_the_spectral_fit():
    image = _blurred_blobs(1.5)
    estimate = estimate_gaussian_sigma(image, refine=False)
    assert estimate.sigma == estimate.sigma_spectrum == pytest.approx(spectral_sigma(image))
    assert "Whittle" in estimate.method
    notes = estimate.as_notes()
    assert notes["sigma_px"] == estimate.sigma and isinstance(notes["method"], str)
    # Data with negative values cannot be refined by a Poisson likelihood: said so.
    shifted = estimate_gaussian_sigma(image - image.mean(), refine=True)
    assert "negative" in shifted.method


def test_sigma_estimate_disagreement_and_uncertainty():
    from asirp.methods.deconv.blind import UNCERTAIN_BLUR_FACTOR, SigmaEstimate

    agree = SigmaEstimate(sigma=1.0, sigma_spectrum=1.2, method="likelihood")
    assert agree.disagreement == pytest.approx(1.2) and not agree.uncertain
    apart = SigmaEstimate(sigma=1.1, sigma_spectrum=4.0, method="likelihood")
    assert apart.disagreement == pytest.approx(4.0 / 1.1) and apart.uncertain
    assert SigmaEstimate(sigma=4.0, sigma_spectrum=1.1, method="likelihood").disagreement == pytest.approx(apart.disagreement)
    # Only the spectral fit (no refinement): nothing to compare.
    single = SigmaEstimate(sigma=2.0, sigma_spectrum=2.0, method="power spectrum")
    assert single.disagreement is None and not single.uncertain
    assert SigmaEstimate(sigma=UNCERTAIN_BLUR_FACTOR, sigma_spectrum=1.0, method="x").uncertain is False


def test_object_power_of_an_underflowed_fit_is_finite_or_inf_never_nan():
    import warnings

    from asirp.spectrum import SpectrumModel

    f2 = np.array([[0.0, 0.01], [0.04, 0.25]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = SpectrumModel(amplitude=0.0, slope=2.0, noise=1.0).object_power(f2)
        normal = SpectrumModel(amplitude=2.0, slope=2.0, noise=1.0).object_power(f2)
    assert np.isinf(empty[0, 0]) and np.all(empty.ravel()[1:] == 0)
    assert np.isinf(normal[0, 0]) and normal[0, 1] == pytest.approx(200.0)


@pytest.mark.parametrize("widths", [(1.0, 1.0), (1.0, 3.0)], ids=["isotropic", "anisotropic"])
def test_spectrum_fit_with_a_given_transfer_minimises_the_exact_whittle_sum(widths):
    """The fit groups frequencies (rings x transfer levels) for speed; its optimum is the per-frequency one."""
    from scipy.optimize import minimize
    from scipy.signal import fftconvolve

    from asirp.methods.deconv.operator import transfer_function

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[-10:11, -10:11]
    kernel = np.exp(-(yy / widths[0]) ** 2 / 2 - (xx / widths[1]) ** 2 / 2)
    kernel /= kernel.sum()
    scene = gaussian_filter(rng.gamma(2.0, 25.0, (256, 256)), 2.0) * 4 + 20
    image = rng.poisson(np.clip(fftconvolve(scene, kernel, mode="same"), 0, None)).astype(float)
    fy, fx, power = power_spectrum(image)
    transfer = np.abs(transfer_function(kernel, image.shape)) ** 2
    model = fit_power_spectrum(fy, fx, power, transfer)
    f2 = np.broadcast_to(fy**2 + fx**2, power.shape)
    used = f2 > MIN_FIT_FREQUENCY**2

    def exact(p: np.ndarray) -> float:  # the Whittle sum frequency by frequency, in (ln A, β, ln N₀)
        expected = np.exp(p[0]) * f2[used] ** (-p[1] / 2) * transfer[used] + np.exp(p[2])
        return float(np.sum(np.log(expected) + power[used] / expected))

    fitted = np.array([math.log(model.amplitude), model.slope, math.log(model.noise)])
    optimum = minimize(exact, fitted, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    np.testing.assert_allclose(fitted, optimum.x, atol=2e-3)
