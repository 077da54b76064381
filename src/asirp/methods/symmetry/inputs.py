"""What each learned method feeds its network and what it trains against.

The ``symmetry`` recipe gives its :class:`~.network.PartnerUNet` five channels
(:func:`symmetry_inputs`): the pixel's own counts and neighbourhood, where they
are measured, the average of the pixel's symmetry partners, how many there are, and
the dose. It is trained without any clean image by splitting the photons: binomial
thinning of a photon-counting frame with probability ``p`` gives two *independent*
Poisson frames ``y1`` (dose ``p``) and ``y2 = x - y1`` (dose ``1 - p``) of the same
signal. The network sees ``y1`` (own pixels and partners) and is scored against
``y2`` scaled by ``p / (1 - p)`` (Noise2Noise between the two halves of each photon
count; Poisson likelihood): the expected loss is the supervised one up to a
constant, at every pixel. At inference it sees the full frame, whose dose the dose
channel gives (pre-training covers 0.003 to 100 counts per pixel).

The learned baselines give the network four channels (:data:`IN_CHANNELS`):
``signal`` (square root of counts over the frame's mean counts ``s``: Poisson noise
then has a variance ~``1/(4 s)`` whatever the level), ``support`` (how many
measurements the signal averages, normalised), the own pixel's validity (a mask,
not a measurement) and ``log10(s) / 2`` (the dose, so one network serves 0.1 to
100 counts per pixel). The recipes differ in where the signal comes from:

* ``supervised``: the pixel's own noisy counts; trained against the noise-free truth
  of synthetic frames (clean/noisy pairs);
* ``smae``: the published half-split recipe: the frame rotated by 180° about the
  image centre (or a beam centre rounded to half a pixel), zeros treated as masked,
  trained with a squared error where both pixel and partner are non-zero.
"""

from __future__ import annotations

import math

import numpy as np

#: Recipes a network can be trained with.
RECIPES = ("symmetry", "supervised", "smae")
#: Partner counts are divided by this in the support channel (isotropy gives 7).
SUPPORT_NORM = 8.0
#: Input channels of the learned baselines: signal, support (partner count or measured),
#: own-pixel validity, log10 dose.
IN_CHANNELS = 4
#: Input channels of the ``symmetry`` recipe's :class:`~.network.PartnerUNet`: own signal,
#: own availability, partner signal, partner support, log10 dose (:func:`symmetry_inputs`).
PARTNER_CHANNELS = 5


#: Lowest mean counts per pixel the dose channel tells apart; the networks are not run below it.
MIN_DOSE = 1e-6


def dose_channel(scale: float, shape: tuple[int, int]) -> np.ndarray:
    return np.full(shape, 0.5 * math.log10(max(scale, MIN_DOSE)), np.float32)


#: Range of the thinning probability ``p`` of the photon split in training.
SPLIT_RANGE = (0.25, 0.75)


def symmetry_inputs(data: np.ndarray, valid: np.ndarray, partner_mean: np.ndarray, count: np.ndarray,
                    scale: float) -> np.ndarray:
    """``symmetry`` recipe channels: own counts (where ``valid``), partner average and support, dose.

    ``count`` is the number of usable partners per pixel (0: none; the network then
    works from the own neighbourhood alone).
    """
    own = np.sqrt(np.maximum(data, 0.0) / scale) * valid
    partner = np.sqrt(np.maximum(partner_mean, 0.0) / scale) * (count > 0)
    support = np.minimum(count, SUPPORT_NORM) / SUPPORT_NORM  # time series may bring more: clip to the trained range
    return np.stack([own, valid.astype(np.float32), partner, support,
                     dose_channel(scale, valid.shape)]).astype(np.float32)


def own_inputs(data: np.ndarray, valid: np.ndarray, scale: float) -> np.ndarray:
    """``supervised`` and ``noise2self`` recipes: channels from the pixel's own counts."""
    v = valid.astype(np.float32)
    signal = np.sqrt(np.maximum(data, 0.0) / scale) * v
    return np.stack([signal, v / SUPPORT_NORM, v, dose_channel(scale, valid.shape)]).astype(np.float32)


def smae_partner(data: np.ndarray, valid: np.ndarray, center: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """The published pairing: the 180°-rotated frame about the image centre or a rounded centre.

    With ``center`` (pyFAI pixels), it is rounded to the nearest half pixel (what a
    user's manual crop achieves) and the frame is flipped about it by integer index
    arithmetic; partners off the frame are missing. Returns the partner counts and
    where they exist (zeros count as missing, as in the published code).
    """
    ny, nx = data.shape
    if center is None:
        return data[::-1, ::-1].copy(), (valid[::-1, ::-1] & (data[::-1, ::-1] > 0))
    sy, sx = (int(round(2.0 * c)) - 1 for c in center)  # index i pairs with s - i
    iy, ix = np.arange(ny), np.arange(nx)
    py, px = sy - iy, sx - ix
    oky, okx = (py >= 0) & (py < ny), (px >= 0) & (px < nx)
    partner = np.zeros_like(data)
    ok = np.zeros(data.shape, bool)
    sub = np.ix_(iy[oky], ix[okx])
    partner[sub] = data[np.ix_(py[oky], px[okx])]
    ok[sub] = valid[np.ix_(py[oky], px[okx])]
    return partner, ok & (partner > 0)


def smae_inputs(data: np.ndarray, valid: np.ndarray, scale: float, center: tuple[float, float] | None) -> np.ndarray:
    """``smae`` recipe channels: the rotated partner with zeros masked."""
    partner, ok = smae_partner(data, valid, center)
    signal = np.sqrt(np.maximum(partner, 0.0) / scale) * ok
    own_ok = valid & (data > 0)
    return np.stack([signal, ok / SUPPORT_NORM, own_ok.astype(np.float32), dose_channel(scale, valid.shape)]).astype(np.float32)
