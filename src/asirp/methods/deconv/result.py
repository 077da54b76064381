"""What every deconvolution returns, and the input checks they all share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...errors import InputError, ParameterError


@dataclass(frozen=True)
class DeconvResult:
    """Result of a deconvolution.

    Attributes
    ----------
    image:
        The restored image, float32, same shape as the input (a 2-D image or a
        ``(n, ny, nx)`` stack), in the same units as the input (scale preserved).
    iterations_used:
        Iterations performed: an int for one image, a tuple with one count per frame
        for a stack (automatic stopping may stop frames at different iterations).
        0 for the closed-form methods.
    stop_reason:
        Why the iterations stopped, in words (``"fixed iteration count"``, ``"discrepancy
        principle: mean deviance 0.98 <= 1"``...), or ``"closed form"``.
    log_likelihood:
        Log-likelihood of the data under the method's noise model at the estimate of
        each iteration (Poisson ``Σ w·(y log μ − μ)`` for Richardson-Lucy, i.e. without
        the data-only constant ``−Σ log y!``; Gaussian with the estimated noise variance
        for least squares), shape ``(iterations,)`` or ``(n, iterations)`` for a stack
        (NaN after a frame stopped). With acceleration it is evaluated at the
        extrapolated point each update starts from. Empty when not tracked.
    psf:
        The PSF used (blind methods: the estimated one), normalised to unit sum.
    info:
        Method-specific quantities (chosen regularisation, estimated noise, σ...).
    """

    image: np.ndarray
    iterations_used: int | tuple[int, ...]
    stop_reason: str
    log_likelihood: np.ndarray = field(default_factory=lambda: np.zeros(0))
    psf: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Checked inputs as stacks: ``data``/``valid`` of shape ``(n, ny, nx)``."""

    data: np.ndarray
    valid: np.ndarray
    is_stack: bool

    def output(self, stack: np.ndarray) -> np.ndarray:
        """Give a result stack the input's dimensionality back (float32)."""
        stack = np.asarray(stack, dtype=np.float32)
        return stack if self.is_stack else stack[0]

    def per_frame(self, values: Any) -> Any:
        """An int (one image) or a tuple (stack) from per-frame values."""
        values = [int(v) for v in np.atleast_1d(values)]
        return tuple(values) if self.is_stack else values[0]


def prepare_inputs(image: ArrayLike, valid: ArrayLike | None = None, *, non_negative: bool = False) -> Inputs:
    """Check an image or stack and its mask; NaN/inf pixels are treated as masked.

    Parameters
    ----------
    image:
        2-D image ``(ny, nx)`` or 3-D stack ``(n, ny, nx)`` of real numbers.
    valid:
        Boolean mask of the same shape, True where measured; default all measured.
    non_negative:
        Require non-negative values at measured pixels (Poisson methods); negative
        values are an :class:`~asirp.errors.InputError`.
    """
    try:
        data = np.array(image, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"image must be an array of real numbers: {exc}") from None
    if data.ndim not in (2, 3):
        raise InputError(f"expected a 2-D image or a 3-D stack (n, ny, nx), got {data.ndim}-D of shape {data.shape}")
    if min(data.shape[-2:]) < 2:
        raise InputError(f"image of shape {data.shape} is too small to deconvolve")
    if valid is None:
        mask = np.ones(data.shape, dtype=bool)
    else:
        mask = np.asarray(valid)
        if mask.shape != data.shape:
            raise InputError(f"valid mask shape {mask.shape} differs from image shape {data.shape}")
        mask = mask.astype(bool)
    mask = mask & np.isfinite(data)
    if not mask.reshape(-1, *data.shape[-2:]).any(axis=(1, 2)).all():
        raise InputError("an image (or a frame of the stack) has no valid pixel")
    data = np.where(mask, data, np.float32(0))
    if non_negative and (data < 0).any():
        count = int((data < 0).sum())
        raise InputError(
            f"{count} valid pixels are negative (minimum {float(data.min()):.4g}); Poisson deconvolution needs "
            "non-negative counts (subtract less background, or mask those pixels)"
        )
    is_stack = data.ndim == 3
    if not is_stack:
        data, mask = data[None], mask[None]
    return Inputs(data=data, valid=mask, is_stack=is_stack)


def check_iterations(iterations: int) -> int:
    """A positive iteration count or a :class:`ParameterError`."""
    if isinstance(iterations, bool) or not isinstance(iterations, int | np.integer) or iterations < 1:
        raise ParameterError(f"iterations must be a positive integer, got {iterations!r}")
    return int(iterations)
