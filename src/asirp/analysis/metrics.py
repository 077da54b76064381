"""Image quality against a ground truth (PSNR, SSIM, NRMSE) and the contrast measure.

All measures accept numpy arrays or :class:`~asirp.frame.Frame` objects, 2-D images
``(ny, nx)`` or stacks ``(n, ny, nx)``, and an optional boolean ``valid`` mask (True =
use the pixel) that is combined with the frames' own masks. Masked pixels (detector
gaps, beamstop, dead pixels) never enter a figure: detectors write arbitrary values
there and a restoration may put anything there.

The formulas are those of :mod:`skimage.metrics`, applied to the valid pixels only, so
that without a mask the values equal scikit-image's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.metrics import mean_squared_error, normalized_root_mse, structural_similarity

from ..errors import InputError, ParameterError
from ._inputs import ImageLike, prepare

#: Normalisations of :func:`nrmse`, as in :func:`skimage.metrics.normalized_root_mse`.
NRMSE_NORMALISATIONS: tuple[str, ...] = ("euclidean", "min-max", "mean")

#: Side of the square SSIM window (scikit-image's default for uniform windows), pixels.
_SSIM_WIN = 7


def _data_range(truth_values: np.ndarray, data_range: float | None) -> float:
    """The dynamic range used by PSNR and SSIM: given, or max - min of the valid truth."""
    if data_range is None:
        span = float(truth_values.max() - truth_values.min())
        if span == 0:
            raise InputError(
                "truth is constant over the valid pixels, so its data range is 0; pass data_range explicitly"
            )
        return span
    try:
        span = float(data_range)
    except (TypeError, ValueError):
        span = math.nan
    if not (0 < span < math.inf):
        raise ParameterError(f"data_range must be a positive finite number, got {data_range!r}")
    return span


def psnr(
    truth: ImageLike,
    estimate: ImageLike,
    *,
    valid: ArrayLike | None = None,
    data_range: float | None = None,
) -> float:
    """Peak signal-to-noise ratio of ``estimate`` against ``truth``, in dB.

    ``PSNR = 10 log10(R**2 / MSE)`` with the mean squared error taken over the valid
    pixels. For a stack the MSE and the range are those of all valid pixels of the
    stack (one figure for the whole stack, as for a 3-D volume).

    Parameters
    ----------
    truth, estimate:
        Arrays or Frames of one shape, 2-D or 3-D.
    valid:
        Optional boolean mask, True = use the pixel; combined with the frames' masks.
        A 2-D mask applies to every frame of a stack.
    data_range:
        Peak-to-peak range ``R`` of the signal, in data units. Default: max - min of
        ``truth`` over the valid pixels. Pass the detector or physical range to
        compare figures between images.

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the valid pixels are identical.

    Raises
    ------
    InputError
        Shapes differ, no pixel is valid, a valid pixel is NaN/inf, or ``truth`` is
        constant and no ``data_range`` is given.
    ParameterError
        ``data_range`` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[0.0, 10.0], [5.0, 5.0]])
    >>> round(psnr(truth, truth + 1.0), 6)  # 10 log10(10**2 / 1**2)
    20.0
    """
    prepared = prepare((truth, estimate), ("truth", "estimate"), valid)
    t, e = (array[prepared.valid] for array in prepared.arrays)
    peak = _data_range(t, data_range)
    mse = mean_squared_error(t, e)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))


def _fill_masked_from_truth(truth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``truth`` with each masked pixel replaced by the nearest valid truth value.

    Written here because scikit-image has no masked SSIM: filling both images with the
    same plausible values makes masked pixels add no difference to the SSIM windows
    of their valid neighbours and keeps the windows' local mean and variance close to
    the signal's, whatever the detector wrote in the gaps.
    """
    if valid.all():
        return truth
    nearest = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return truth[tuple(nearest)]


def ssim(
    truth: ImageLike,
    estimate: ImageLike,
    *,
    valid: ArrayLike | None = None,
    data_range: float | None = None,
) -> float:
    """Mean structural similarity of ``estimate`` to ``truth`` over the valid pixels.

    The SSIM map is that of :func:`skimage.metrics.structural_similarity` (7 x 7
    uniform window, K1 = 0.01, K2 = 0.03). Masked pixels are first filled, in both
    images, with the value of the nearest valid truth pixel so they do not bias their
    neighbours; the map is then averaged over the valid pixels at least 3 pixels from
    the image edge (scikit-image crops the same border). Without a mask the result
    equals scikit-image's. A stack is scored frame by frame (SSIM is a 2-D measure)
    and the frames' scores are averaged (frames without a usable pixel left out).

    Parameters
    ----------
    truth, estimate:
        Arrays or Frames of one shape, 2-D or 3-D, each image at least 7 x 7 pixels.
    valid:
        Optional boolean mask, True = use the pixel; combined with the frames' masks.
    data_range:
        Dynamic range of the signal, in data units; default max - min of ``truth``
        over all valid pixels (of the whole stack, so every frame uses one range).

    Returns
    -------
    float
        Mean SSIM, 1 for identical valid pixels, dimensionless, at most 1.

    Raises
    ------
    InputError
        Shapes differ, images smaller than 7 x 7, no valid pixel (away from the
        edge), a valid NaN/inf, or a constant ``truth`` without ``data_range``.
    ParameterError
        ``data_range`` is not a positive finite number.
    """
    prepared = prepare((truth, estimate), ("truth", "estimate"), valid)
    t, e = prepared.arrays
    mask = prepared.valid
    if min(t.shape[-2:]) < _SSIM_WIN:
        raise InputError(f"SSIM needs images of at least {_SSIM_WIN} x {_SSIM_WIN} pixels, got shape {t.shape}")
    peak = _data_range(t[mask], data_range)
    if t.ndim == 2:
        t, e, mask = t[None], e[None], mask[None]
    pad = (_SSIM_WIN - 1) // 2
    interior = np.zeros(t.shape[-2:], dtype=bool)
    interior[pad:-pad, pad:-pad] = True
    scores = []
    for t_image, e_image, v_image in zip(t, e, mask, strict=True):
        use = v_image & interior
        if not use.any():
            continue
        filled = _fill_masked_from_truth(t_image, v_image)
        _, ssim_map = structural_similarity(
            filled, np.where(v_image, e_image, filled), win_size=_SSIM_WIN, data_range=peak, full=True
        )
        scores.append(ssim_map[use].mean(dtype=np.float64))
    if not scores:
        raise InputError(f"no valid pixel lies at least {pad} pixels from the image edge, where SSIM is defined")
    return float(np.mean(scores))


def nrmse(
    truth: ImageLike,
    estimate: ImageLike,
    *,
    valid: ArrayLike | None = None,
    normalisation: str = "euclidean",
) -> float:
    """Normalised root mean squared error of ``estimate`` against ``truth``.

    ``NRMSE = sqrt(MSE) / D`` over the valid pixels (all frames of a stack), where the
    denominator ``D`` of the valid truth values is, as in
    :func:`skimage.metrics.normalized_root_mse`:

    * ``"euclidean"``: ``sqrt(mean(truth**2))``;
    * ``"min-max"``: ``max(truth) - min(truth)``;
    * ``"mean"``: ``mean(truth)``.

    Returns
    -------
    float
        Dimensionless; 0 for identical valid pixels.

    Raises
    ------
    InputError
        Shapes differ, no valid pixel, a valid NaN/inf, or ``D`` is 0 (e.g. the
        ``"mean"`` normalisation of a zero-mean truth).
    ParameterError
        Unknown ``normalisation``.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[3.0, 4.0], [3.0, 4.0]])
    >>> round(nrmse(truth, truth + 1.0, normalisation="min-max"), 6)
    1.0
    """
    if not isinstance(normalisation, str) or normalisation.lower() not in NRMSE_NORMALISATIONS:
        raise ParameterError(
            f"unknown NRMSE normalisation {normalisation!r}; use one of {', '.join(NRMSE_NORMALISATIONS)}"
        )
    prepared = prepare((truth, estimate), ("truth", "estimate"), valid)
    t, e = (array[prepared.valid] for array in prepared.arrays)
    try:
        with np.errstate(divide="raise", invalid="raise"):
            return float(normalized_root_mse(t, e, normalization=normalisation.lower()))
    except FloatingPointError:
        raise InputError(
            f"the {normalisation!r} normalisation of truth is 0 over the valid pixels, so NRMSE is undefined"
        ) from None


def contrast_std(image: ImageLike, *, valid: ArrayLike | None = None) -> float:
    """Contrast as the standard deviation of intensity over the valid pixels.

    The contrast measure of the ASIRP paper (Li et al. 2024): on their micro-XRF map
    it rose from 25.13 (raw) to 40.82 after Richardson-Lucy deconvolution. Population
    standard deviation (``ddof=0``) of all valid pixels (of all frames of a stack), in
    the image's intensity units. It needs no ground truth, but it also rises with
    noise and ringing, so compare it only between restorations of one image.

    Raises
    ------
    InputError
        No valid pixel, or a valid pixel is NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> contrast_std(np.array([[1.0, 3.0], [1.0, 3.0]]))
    1.0
    """
    prepared = prepare((image,), ("image",), valid)
    return float(np.std(prepared.arrays[0][prepared.valid], dtype=np.float64))
