"""The blur operator on a padded domain: non-circulant boundaries for FFT deconvolution.

A measured image only shows the part of the object inside the field of view, but the
pixels near its edges also received light from object points just outside it. Plain
FFT deconvolution assumes the object is periodic (the left edge continues the right
one), which creates ringing and dark or bright bands at the edges; scikit-image's
``richardson_lucy`` zero-pads instead, which darkens the edges.

asirp follows Bertero & Boccacci (2005): the object lives on a larger domain, padded
by at least the PSF half-size on every side (rounded up to an FFT-friendly size with
:func:`scipy.fft.next_fast_len`), and the data term only counts measured pixels,
through a weight ``w`` that is 1 on valid pixels and 0 on the padding and on masked
pixels. With ``H`` the (now harmlessly circular) convolution on the padded domain:

* Richardson-Lucy becomes ``u ← u · Hᵀ(w·y / Hu) / Hᵀw``;
* least squares uses the residual ``w·(y - Hu)``.

``Hᵀw`` is the normalisation that keeps a flat field flat up to the edge and keeps
masked pixels from darkening their neighbours. The transfer function (OTF) is
computed once per call.

References
----------
.. [1] M. Bertero and P. Boccacci, "A simple method for the reduction of boundary effects
       in the Richardson-Lucy approach to image deconvolution", A&A 437, 369-374 (2005).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from .._stack import fill_masked
from ._backend import Backend


def padded_shape(image_shape: tuple[int, int], margin: tuple[int, int]) -> tuple[int, int]:
    """FFT-friendly size of the domain holding the image plus ``margin`` px on each side."""
    return (
        scipy.fft.next_fast_len(image_shape[0] + 2 * margin[0], real=True),
        scipy.fft.next_fast_len(image_shape[1] + 2 * margin[1], real=True),
    )


class PaddedDomain:
    """Where the image sits inside the padded computation domain.

    Parameters
    ----------
    image_shape:
        ``(ny, nx)`` of one image.
    margin:
        Minimum padding on each side, in px, per axis.
    """

    def __init__(self, image_shape: tuple[int, int], margin: tuple[int, int]):
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.shape = padded_shape(self.image_shape, margin)
        self.top = (self.shape[0] - self.image_shape[0]) // 2
        self.left = (self.shape[1] - self.image_shape[1]) // 2
        self.window = (
            slice(self.top, self.top + self.image_shape[0]),
            slice(self.left, self.left + self.image_shape[1]),
        )
        self._pads = (
            (0, 0),
            (self.top, self.shape[0] - self.image_shape[0] - self.top),
            (self.left, self.shape[1] - self.image_shape[1] - self.left),
        )

    def embed(self, stack: np.ndarray) -> np.ndarray:
        """Place a stack ``(n, ny, nx)`` in the padded domain, zeros outside (float32)."""
        return np.pad(np.asarray(stack, dtype=np.float32), self._pads)

    def extend(self, stack: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """A smooth extension of the data over the padded domain (float32).

        Masked pixels are filled from their neighbours (normalised convolution) and the
        image is mirrored into the padding: the starting point of iterative methods and
        the input of closed-form ones, never a substitute for the weights.
        """
        filled = np.stack([fill_masked(image, mask) for image, mask in zip(stack, valid)])
        return np.pad(filled.astype(np.float32, copy=False), self._pads, mode="symmetric")

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """The image part ``(n, ny, nx)`` of a padded stack."""
        return padded[(slice(None), *self.window)]


def psf_margin(psf: np.ndarray) -> tuple[int, int]:
    """Half-size of an odd-sized centred PSF: the padding it needs on each side."""
    return psf.shape[0] // 2, psf.shape[1] // 2


def transfer_function(psf: np.ndarray, shape: tuple[int, int], dtype: type = np.float64) -> np.ndarray:
    """Real-FFT transfer function (OTF) of a centred odd-sized PSF on a domain of ``shape``.

    The PSF is placed with its centre on pixel (0, 0) (wrapped), so convolving does not
    shift the image. ``dtype`` float64 gives complex128, float32 complex64 (what the
    iterations use; half the cost).
    """
    padded = np.zeros(shape, dtype=dtype)
    ry, rx = psf_margin(psf)
    padded[: psf.shape[0], : psf.shape[1]] = psf
    padded = np.roll(padded, (-ry, -rx), axis=(0, 1))
    return scipy.fft.rfft2(padded, workers=-1)


class Convolution:
    """``H`` and ``Hᵀ`` on the padded domain for a batch of images, with one PSF.

    Parameters
    ----------
    domain:
        The padded domain.
    psf:
        Validated PSF (odd-sized, centred, unit sum; see :func:`asirp.psf.validate_psf`).
    backend:
        Array backend doing the FFTs.
    """

    def __init__(self, domain: PaddedDomain, psf: np.ndarray, backend: Backend):
        self.domain = domain
        self.backend = backend
        otf = transfer_function(psf, domain.shape, np.float32)
        #: ``‖H‖² = max |OTF|²``: the step bound of gradient methods.
        self.norm2 = float(np.max(np.abs(otf)) ** 2)
        self.otf = backend.ascomplex(otf)
        self.otf_conj = backend.conj(self.otf)

    def set_padded_psf(self, padded_psf: Any) -> None:
        """Replace the PSF by one given on the whole padded domain, centred on pixel (0, 0).

        Blind deconvolution updates the PSF there between image iterations.
        """
        self.otf = self.backend.rfft2(padded_psf)
        self.otf_conj = self.backend.conj(self.otf)

    def forward(self, u: Any) -> Any:
        """``H u``: blur (a new array)."""
        spectrum = self.backend.rfft2(u)
        spectrum *= self.otf
        return self.backend.irfft2(spectrum, self.domain.shape)

    def adjoint(self, v: Any) -> Any:
        """``Hᵀ v``: correlation with the PSF (a new array)."""
        spectrum = self.backend.rfft2(v)
        spectrum *= self.otf_conj
        return self.backend.irfft2(spectrum, self.domain.shape)
