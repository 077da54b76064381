"""Tests of asirp.counts: exact binomial thinning of photon counts."""

from __future__ import annotations

import numpy as np
import pytest

from asirp.counts import binomial_half


@pytest.mark.parametrize("count", [0, 1, 5, 63, 64, 65, 300])
def test_binomial_half_is_an_exact_binomial_thinning(count):
    draws = binomial_half(np.full(100_000, count), np.random.default_rng(count))
    assert draws.dtype == np.int64 and draws.min() >= 0 and draws.max() <= count
    # Binomial(k, 1/2): mean k/2, variance k/4 (5 standard errors).
    assert abs(draws.mean() - count / 2) <= 5 * np.sqrt(count / 4 / draws.size) + 1e-12
    if count:
        assert draws.var() == pytest.approx(count / 4, rel=0.03)
        # Symmetric about k/2: P(j) = P(k - j).
        assert abs(np.mean(draws < count / 2) - np.mean(draws > count / 2)) < 0.01


def test_binomial_half_is_the_same_without_numpys_popcount(monkeypatch):
    counts = np.random.default_rng(5).poisson(20.0, (16, 16))
    fast = binomial_half(counts, np.random.default_rng(9))
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(binomial_half(counts, np.random.default_rng(9)), fast)


def test_negative_counts_are_a_parameter_error():
    from asirp.errors import ParameterError

    with pytest.raises(ParameterError, match="non-negative counts"):
        binomial_half(np.array([3, -1, 2]), np.random.default_rng(0))
    assert binomial_half(np.zeros((0,), int), np.random.default_rng(0)).shape == (0,)
