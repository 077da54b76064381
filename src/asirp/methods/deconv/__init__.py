"""Deconvolution: non-blind and blind, without edge artefacts, on numpy or torch.

A plain-numpy functional API in the style of scikit-image (numpy in, numpy out,
keyword parameters with units, a :class:`DeconvResult` out), and the registered
methods of the repertoire that wrap it (:mod:`.registered`):

=========================  =============================================================
``richardson_lucy``        Poisson maximum likelihood; acceleration, damping, RL-TV, stops
``landweber``              projected (non-negative) least-squares gradient iteration
``van_cittert``            relaxed fixed-point iteration
``wiener``                 Wiener filter, noise-to-signal ratio estimated from the data
``tikhonov``               Laplacian regulariser, weight by GCV or the discrepancy principle
``blind_richardson_lucy``  PSF and image: Gaussian σ by cross-validated likelihood, or free-form
=========================  =============================================================

Module layout: :mod:`.operator` (padded domain, Bertero-Boccacci boundaries),
:mod:`._backend` (numpy/scipy.fft or torch), :mod:`.iterative`, :mod:`.closed_form`,
:mod:`.blind`, :mod:`.stopping`, :mod:`.noise`, :mod:`.result`.
"""

from . import registered  # noqa: F401  (registers the methods)
from .blind import blind_richardson_lucy, fit_gaussian_sigma
from .closed_form import tikhonov, wiener
from .iterative import landweber, richardson_lucy, van_cittert
from .result import DeconvResult

__all__ = [
    "DeconvResult",
    "blind_richardson_lucy",
    "fit_gaussian_sigma",
    "landweber",
    "richardson_lucy",
    "tikhonov",
    "van_cittert",
    "wiener",
]
