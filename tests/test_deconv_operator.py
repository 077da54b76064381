"""Tests of the blur operators of the deconvolutions (asirp.methods.deconv.operator): the
separable real-space operator against scipy's convolution and against the FFT operator,
which operator is chosen for which PSF, and transfer functions of PSFs larger than
their domain (small, non-square images)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from asirp.methods.deconv import richardson_lucy
from asirp.methods.deconv._backend import get_backend
from asirp.methods.deconv.operator import (
    SPATIAL_MAX_TAPS,
    Convolution,
    PaddedDomain,
    SeparableConvolution,
    blur_operator,
    separable_factors,
    transfer_function,
)
from asirp.psf import estimated_gaussian_psf, gaussian_psf, validate_psf


def lopsided_separable_psf() -> np.ndarray:
    """A separable but asymmetric PSF (a comet tail along both axes): catches flipped kernels."""
    ky = np.array([0.05, 0.1, 0.5, 0.25, 0.1])
    kx = np.array([0.6, 0.3, 0.1])
    return np.outer(ky, kx)


@pytest.mark.parametrize(
    ("psf", "separable"),
    [
        (gaussian_psf(1.5), True),
        (gaussian_psf(2.5, 0.8), True),  # anisotropic along the axes
        (lopsided_separable_psf(), True),
        (gaussian_psf(2.5, 0.8, angle_deg=30.0), False),  # rotated ellipse
        (np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]) / 5.0, False),  # a cross
    ],
)
def test_separable_factors_reproduce_the_psf_or_refuse(psf, separable):
    factors = separable_factors(psf)
    assert (factors is not None) == separable
    if factors is not None:
        ky, kx = factors
        np.testing.assert_allclose(np.outer(ky, kx), psf, atol=1e-12)
        assert ky.sum() > 0 and kx.sum() > 0


def test_separable_operator_equals_scipy_convolution_and_its_adjoint():
    psf = lopsided_separable_psf()
    image_shape = (40, 52)
    domain = PaddedDomain(image_shape, (psf.shape[0] // 2, psf.shape[1] // 2), fft_sizes=False)
    operator = SeparableConvolution(domain, separable_factors(psf))
    rng = np.random.default_rng(1)
    u = rng.random((2, *domain.shape)).astype(np.float32)
    v = rng.random((2, *domain.shape)).astype(np.float32)
    blurred = operator.forward(u)
    for frame, result in zip(u, blurred):
        expected = fftconvolve(frame.astype(np.float64), psf, mode="same")
        # Exact away from the domain's border (the measured window is at least a PSF half-size inside).
        np.testing.assert_allclose(result[domain.window], expected[domain.window], rtol=1e-5, atol=1e-6)
    # <Hu, v> = <u, Hᵀv> (both with a zero object outside the domain).
    assert np.isclose(np.vdot(blurred, v), np.vdot(u, operator.adjoint(v)), rtol=1e-5)
    # ‖H‖² of a non-negative unit-sum PSF is 1 (its DC gain).
    assert operator.norm2 == pytest.approx(1.0, rel=1e-6)


def test_separable_and_fft_operators_agree_where_it_matters():
    psf = lopsided_separable_psf()
    image_shape = (37, 45)
    spatial = blur_operator(image_shape, psf, get_backend("numpy"))
    fft = blur_operator(image_shape, psf, get_backend("numpy"), spatial=False)
    assert isinstance(spatial, SeparableConvolution) and isinstance(fft, Convolution)
    assert fft.domain.shape[0] >= spatial.domain.shape[0]
    rng = np.random.default_rng(2)
    # An object on the support, embedded in each domain; a residual on the image window.
    obj = rng.random((1, image_shape[0] + 4, image_shape[1] + 2)).astype(np.float32)
    residual = rng.random((1, *image_shape)).astype(np.float32)
    results = []
    for operator in (spatial, fft):
        domain = operator.domain
        u = np.zeros((1, *domain.shape), dtype=np.float32)
        u[(slice(None), *domain.support)] = obj
        r = domain.embed(residual)
        results.append((domain.crop(operator.forward(u)), operator.adjoint(r)[(slice(None), *domain.support)]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("psf", "backend", "spatial", "expected"),
    [
        (gaussian_psf(2.0), "numpy", True, "separable"),
        (gaussian_psf(2.0, 1.0, angle_deg=30.0), "numpy", True, "fft"),
        (gaussian_psf(SPATIAL_MAX_TAPS / 8.0 + 1.0), "numpy", True, "fft"),  # too many taps: FFTs are cheaper
        (gaussian_psf(2.0), "numpy", False, "fft"),  # blind deconvolution changes the PSF
        (gaussian_psf(2.0), "torch", True, "fft"),  # GPU path
    ],
)
def test_blur_operator_choice(psf, backend, spatial, expected):
    if backend == "torch":
        pytest.importorskip("torch")
    assert blur_operator((64, 64), psf, get_backend(backend), spatial=spatial).name == expected


def test_richardson_lucy_is_the_same_with_either_operator():
    pytest.importorskip("torch")
    psf = lopsided_separable_psf()
    rng = np.random.default_rng(3)
    obj = np.full((48, 48), 5.0)
    obj[10:38, 12:15] = 80.0
    obj[24, 30] = 400.0
    image = rng.poisson(fftconvolve(np.pad(obj, 4, mode="edge"), psf, mode="valid")).astype(np.float32)
    spatial = richardson_lucy(image, psf, iterations=15, backend="numpy")
    fft = richardson_lucy(image, psf, iterations=15, backend="torch")
    assert (spatial.info["convolution"], fft.info["convolution"]) == ("separable", "fft")
    np.testing.assert_allclose(spatial.image, fft.image, rtol=0, atol=1e-4 * float(fft.image.max()))
    np.testing.assert_allclose(spatial.log_likelihood, fft.log_likelihood, rtol=1e-5)


@pytest.mark.parametrize("shape", [(9, 11), (11, 9), (4, 13), (13, 4), (12, 16)])
def test_transfer_function_of_a_psf_larger_than_its_domain_is_the_circular_convolution(shape):
    # Issue 17: an 11 x 11 PSF on a 9 x 11 image (the noise estimate of the blur fit) crashed.
    psf = lopsided_separable_psf() if shape == (12, 16) else gaussian_psf(2.0, 1.3, angle_deg=20.0)
    image = np.random.default_rng(4).random(shape)
    ry, rx = psf.shape[0] // 2, psf.shape[1] // 2
    expected = np.zeros(shape)  # circular convolution, term by term
    for (i, j), weight in np.ndenumerate(psf):
        expected += weight * np.roll(image, (i - ry, j - rx), axis=(0, 1))
    blurred = np.fft.irfft2(np.fft.rfft2(image) * transfer_function(psf, shape), s=shape)
    np.testing.assert_allclose(blurred, expected, atol=1e-12)


@pytest.mark.parametrize(("sigma", "image_shape"), [(1.125, (9, 11)), (1.5, (16, 12)), (0.6, (5, 40)), (1.0, (64, 64))])
def test_estimated_gaussian_psf_fits_in_the_image(sigma, image_shape):
    psf = estimated_gaussian_psf(sigma, image_shape)
    assert psf.shape[0] <= image_shape[0] and psf.shape[1] <= image_shape[1]
    assert psf.shape[0] % 2 == psf.shape[1] % 2 == 1 and psf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(validate_psf(psf, image_shape), psf, rtol=1e-12)
    if psf.shape == gaussian_psf(sigma).shape:  # nothing to cut: the plain Gaussian
        np.testing.assert_array_equal(psf, gaussian_psf(sigma))
