"""The simplest honest methods: the references every other method must beat.

* ``identity``: returns the data unchanged (the "no restoration" reference).
* ``gaussian``: mask-aware Gaussian smoothing (normalised convolution), the classic
  denoising baseline.
* ``bicubic``: cubic-spline upsampling by an integer factor, the super-resolution
  baseline; mean intensity per unit area is preserved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field
from scipy import ndimage

from ..filters import fill_masked, gaussian_filter
from ..frame import Frame
from ._stack import map_images
from .base import Method, Output, Params, register


class IdentityParams(Params):
    pass


@register
class Identity(Method):
    """Return the data unchanged: the reference every method is compared with."""

    name = "identity"
    family = "reference"
    task = "no restoration (reference)"
    Parameters = IdentityParams

    def process(self, frame: Frame, params: IdentityParams) -> Output:
        return Output(np.array(frame.data))

    def cost(self, frame_shape: tuple[int, ...], params: IdentityParams) -> float:
        return 1e-9 * float(np.prod(frame_shape))


class GaussianParams(Params):
    sigma: float = Field(1.0, gt=0, le=50, description="standard deviation of the Gaussian kernel", json_schema_extra={"unit": "px"})


@register
class Gaussian(Method):
    """Mask-aware Gaussian smoothing.

    Masked pixels neither contribute nor receive values: the result is
    ``G*(v·x) / G*v`` where ``v`` is the validity mask (normalised convolution,
    Knutsson & Westin 1993), so gaps and beamstops do not darken their surroundings.
    """

    name = "gaussian"
    family = "denoising"
    task = "smooth noise with a Gaussian kernel"
    Parameters = GaussianParams
    search_space = {"sigma": (3.0, 2.0, 1.5, 1.0, 0.75, 0.5)}

    def process(self, frame: Frame, params: GaussianParams) -> Output:
        def smooth(data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            weights = valid.astype(np.float32)
            # asirp.filters: OpenCV's separable filter, scipy.ndimage's kernel and borders (36 -> ~4 ms per Mpx).
            num = gaussian_filter(np.asarray(data, np.float32) * weights, params.sigma, mode="reflect")
            den = gaussian_filter(weights, params.sigma, mode="reflect")
            out = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-6)
            return out, valid

        data, valid = map_images(frame, smooth)
        return Output(data, valid)

    def cost(self, frame_shape: tuple[int, ...], params: GaussianParams) -> float:
        return 4e-9 * float(np.prod(frame_shape)) * (1 + 8 * params.sigma)


class BicubicParams(Params):
    scale: int = Field(2, ge=2, le=8, description="upsampling factor along each axis")


@register
class Bicubic(Method):
    """Cubic-spline upsampling by an integer factor (super-resolution baseline).

    Masked pixels are filled from their neighbours before interpolation and the mask
    is upsampled with nearest neighbour, so gaps stay masked in the output. The pixel
    size shrinks by ``scale``; values remain intensities per pixel of the new grid
    scaled so that the total counts are preserved for counting data.
    """

    name = "bicubic"
    family = "super_resolution"
    task = "upsample by cubic-spline interpolation"
    Parameters = BicubicParams

    def process(self, frame: Frame, params: BicubicParams) -> Output:
        scale = params.scale
        count_factor = 1.0 / scale**2 if frame.is_counting else 1.0

        def upsample(data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            filled = fill_masked(data, valid)
            up = ndimage.zoom(filled, scale, order=3, mode="grid-mirror", grid_mode=True)
            up_valid = np.repeat(np.repeat(valid, scale, axis=0), scale, axis=1)
            return (up * count_factor).astype(np.float32), up_valid

        data, valid = map_images(frame, upsample)
        changes: dict[str, Any] = {}
        if frame.pixel_size is not None:
            changes["pixel_size"] = frame.pixel_size.scaled(scale)
        if frame.geometry is not None:  # the detector seen with smaller pixels, so the frame keeps fitting it
            changes["geometry"] = frame.geometry.upsampled(scale, data.shape[-2:])
        return Output(data, valid, changes=changes, notes={"output_shape": list(data.shape)})

    def cost(self, frame_shape: tuple[int, ...], params: BicubicParams) -> float:
        return 3e-8 * float(np.prod(frame_shape)) * params.scale**2
