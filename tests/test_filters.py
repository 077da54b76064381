"""Tests of asirp.filters: OpenCV separable filtering with scipy.ndimage's semantics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from asirp import filters
from asirp.errors import ParameterError
from asirp.filters import BORDERS, gaussian_filter, gaussian_kernel1d, separable_filter


@pytest.mark.parametrize("mode", sorted(BORDERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [0.0, 0.7, 2.5])
def test_gaussian_filter_equals_scipy(mode, dtype, sigma):
    image = np.random.default_rng(0).poisson(20.0, (37, 52)).astype(dtype)
    image[5:9, 40:50] = 300.0  # an edge near the border
    ours = gaussian_filter(image, sigma, mode=mode)
    theirs = ndimage.gaussian_filter(image.astype(np.float64), sigma, mode=mode)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=2e-6 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_gaussian_kernel_is_scipys():
    for sigma, truncate in ((1.0, 4.0), (2.3, 3.0), (0.2, 4.0)):
        taps = gaussian_kernel1d(sigma, truncate)
        impulse = np.zeros(41)
        impulse[20] = 1.0
        reference = ndimage.gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")
        radius = taps.size // 2
        np.testing.assert_allclose(taps, reference[20 - radius : 21 + radius], rtol=1e-12)
        assert taps.sum() == pytest.approx(1.0)


def test_separable_filter_correlates_with_an_asymmetric_kernel():
    rng = np.random.default_rng(1)
    image = rng.random((30, 44)).astype(np.float32)
    ky, kx = np.array([0.1, 0.2, 0.7]), np.array([0.5, 0.3, 0.1, 0.05, 0.05])
    out = np.empty_like(image)
    result = separable_filter(image, ky, kx, out=out)
    assert result is out
    reference = ndimage.correlate(image.astype(np.float64), np.outer(ky, kx), mode="constant")
    np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-6)
    # Integer input becomes float32, the input is not modified.
    counts = rng.poisson(5.0, (12, 12))
    before = counts.copy()
    assert separable_filter(counts, ky, kx).dtype == np.float32
    np.testing.assert_array_equal(counts, before)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gaussian_filter(np.ones((4, 4, 4)), 1.0), "2-D"),
        (lambda: separable_filter(np.ones((8, 8)), np.ones(2), np.ones(3)), "odd"),
        (lambda: gaussian_filter(np.ones((8, 8)), 1.0, mode="wrap"), "boundary mode"),
        (lambda: gaussian_filter(np.ones((8, 8)), -1.0), "Gaussian width"),
        (lambda: gaussian_filter(np.ones((8, 8)), float("nan")), "Gaussian width"),
    ],
)
def test_bad_arguments_are_parameter_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_symmetry_network_blur_is_the_same_on_either_path():
    torch = pytest.importorskip("torch")
    from asirp.methods.symmetry.network import CompactUNet

    net = CompactUNet()
    x = torch.rand(2, 2, 40, 48)
    fast = net._blur(x)  # OpenCV on the CPU
    reference = net._blur(x.clone().requires_grad_(True)).detach()  # torch's convolutions
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)


def test_without_opencv_the_results_come_from_scipy(monkeypatch):
    from asirp.methods.deconv._backend import get_backend
    from asirp.methods.deconv.operator import blur_operator
    from asirp.psf import gaussian_psf

    image = np.random.default_rng(2).random((33, 40)).astype(np.float32)
    ky, kx = np.array([0.1, 0.2, 0.7]), np.array([0.5, 0.3, 0.2])
    fast = {mode: separable_filter(image, ky, kx, mode=mode) for mode in BORDERS}
    monkeypatch.setattr(filters, "cv2", None)
    monkeypatch.setattr(filters, "FAST", False)
    for mode, expected in fast.items():
        slow = separable_filter(image, ky, kx, mode=mode)
        assert slow.dtype == np.float32
        np.testing.assert_allclose(slow, expected, rtol=1e-5, atol=1e-6)
    # The deconvolutions then prefer FFTs to slow real-space passes.
    assert blur_operator((64, 64), gaussian_psf(2.0), get_backend("numpy")).name == "fft"


@pytest.mark.parametrize("opencv", [True, False])
def test_fill_masked_reaches_a_wide_dead_area_like_the_full_resolution_fill(monkeypatch, opencv):
    """The corners outside a round detector need Gaussians hundreds of pixels wide: filled on block
    sums they agree with the full-resolution normalised convolution to a small fraction of the
    signal's variation, and measured pixels are kept exactly."""
    if not opencv:
        monkeypatch.setattr(filters, "cv2", None)
    y, x = np.mgrid[:300, :260]
    data = (100 + 50 * np.sin(x / 40) + 30 * np.cos(y / 30)).astype(np.float32)
    valid = (y - 150) ** 2 + (x - 130) ** 2 < 120**2
    valid[140:150, :100] = False  # a beamstop arm
    fast = filters.fill_masked(data, valid)
    monkeypatch.setattr(filters, "FULL_RESOLUTION_SIGMA", 1e9)
    exact = filters.fill_masked(data, valid)
    assert np.array_equal(fast[valid], data[valid])
    assert np.all(np.isfinite(fast))
    assert np.mean(np.abs(fast - exact)[~valid]) < 0.02 * np.ptp(data)
    assert np.array_equal(fast[140:150, 40:60], exact[140:150, 40:60])  # narrow gaps: full resolution
