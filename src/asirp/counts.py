"""Photon counts: exact binomial thinning.

Splitting a Poisson image into two independent halves (split-data cross-validation
for stopping rules, blur fits and the adaptive selector) keeps each photon with
probability ½. ``numpy.random.Generator.binomial`` draws element by element (0.6 s for
a 2048² map); :func:`binomial_half` uses one random 64-bit word per pixel instead.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError

#: Counts up to this many photons are thinned with one random 64-bit word each.
_WORD_BITS = 64
#: Number of ones in each byte value (popcount when numpy has no ``bitwise_count``).
_BYTE_ONES = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _BYTE_ONES[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1)


def binomial_half(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact ``Binomial(k, ½)`` draws for an array of non-negative integer counts ``k``.

    A count of at most 64 photons keeps as many photons as there are ones among ``k``
    random bits (the popcount of one random 64-bit word masked to ``k`` bits): exact,
    and 3-10x faster than ``Generator.binomial``, which samples element by element
    (0.6 s against 0.06-0.2 s for a 2048² map). Larger counts use ``Generator.binomial``.
    """
    k = np.asarray(counts, dtype=np.int64)
    if k.size and k.min() < 0:
        raise ParameterError(f"binomial thinning needs non-negative counts, got a minimum of {int(k.min())}")
    words = rng.bit_generator.random_raw(k.size).reshape(k.shape)
    # In place where possible: every fresh 8-byte-per-pixel array costs page faults.
    mask = np.minimum(k, _WORD_BITS - 1).astype(np.uint64)
    np.left_shift(np.uint64(1), mask, out=mask)
    mask -= np.uint64(1)
    mask[k >= _WORD_BITS] = np.iinfo(np.uint64).max
    np.bitwise_and(words, mask, out=words)
    first = _popcount(words).astype(np.int64)
    large = k > _WORD_BITS
    if large.any():
        first[large] = rng.binomial(k[large], 0.5)
    return first
