"""What every network super-resolution method does around its network.

:class:`NetworkSR` implements :meth:`Method.process` once for ZSSR, FCA-SR and
RRDB-SR, which only provide :meth:`NetworkSR.super_resolve` (scaled images in,
scaled images out):

1. masked pixels are filled from their neighbours (:func:`~asirp.filters.fill_masked`);
2. each image is scaled to about [0, 1] (:func:`~asirp.methods.sr.runtime.intensity_range`);
3. the network runs (tiled, batched, on a GPU when available);
4. **consistency**: the output is corrected until the forward model (beam blur and
   area averaging, :mod:`~asirp.methods.sr.degradation`) maps it back onto the input
   within the noise, and its mean is set to the input's, so intensities stay
   quantitative; for counting data the values become counts per output pixel
   (``/ scale²``), conserving the total counts like ``bicubic``;
5. the mask is upsampled by nearest neighbour (gaps stay gaps); pixel size and
   detector geometry shrink by the scale.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ...errors import ParameterError
from ...filters import fill_masked
from ...frame import Frame
from ..base import DeviceParams, Method, Output, Params

if TYPE_CHECKING:  # torch is imported when a network first runs, not when methods are listed
    import torch

#: Kinds a super-resolution network suits: maps, projections, images, detector frames.
SR_KINDS = frozenset({"xrf_map", "tomo_projection", "image", "diffraction", "scattering"})


class SRParams(DeviceParams):
    """Parameters shared by the network super-resolution methods."""

    scale: Literal[2, 4] = Field(2, description="upsampling factor along each axis (2 or 4)")
    psf_sigma: float | None = Field(
        None,
        ge=0,
        le=20,
        description="standard deviation of the beam/detector PSF in input pixels; when neither it nor beam_fwhm is given, "
        "the consistency step fits it (and zssr trains with area averaging alone)",
        json_schema_extra={"unit": "px"},
    )
    beam_fwhm: str | None = Field(
        None, description="beam FWHM as a length such as '50um' (needs the frame's pixel size); instead of psf_sigma"
    )
    consistency: bool = Field(
        True, description="correct the output until, blurred and downsampled, it matches the input within the noise"
    )
    tile: int = Field(512, ge=32, le=8192, description="largest tile side for tiled inference", json_schema_extra={"unit": "px"})
    overlap: int = Field(36, ge=0, le=1024, description="overlap of neighbouring tiles", json_schema_extra={"unit": "px"})

    @model_validator(mode="after")
    def _one_beam(self) -> SRParams:
        if self.psf_sigma is not None and self.beam_fwhm is not None:
            raise ValueError("give psf_sigma or beam_fwhm, not both")
        if self.overlap >= self.tile // 2:
            raise ValueError(f"overlap ({self.overlap}) must be less than half the tile ({self.tile})")
        return self


@dataclass
class Restored:
    """What :meth:`NetworkSR.super_resolve` returns: scaled output images and provenance."""

    images: torch.Tensor
    notes: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None


def beam_sigma(frame: Frame, params: SRParams) -> float | None:
    """The beam PSF standard deviation in input pixels, or None when unknown.

    From ``psf_sigma``, or ``beam_fwhm`` with the frame's pixel size (anisotropic
    pixels give the mean of the two widths: the model is isotropic).
    """
    if params.psf_sigma is not None:
        return float(params.psf_sigma)
    if params.beam_fwhm is None:
        return None
    if frame.pixel_size is None:
        raise ParameterError("beam_fwhm needs the frame's pixel size, which is unknown; give psf_sigma in pixels instead")
    from ...psf import beam_sigma_px

    sigma_y, sigma_x = beam_sigma_px(params.beam_fwhm, frame.pixel_size)
    return 0.5 * (sigma_y + sigma_x)


class NetworkSR(Method):
    """Base of the network super-resolution methods (see the module docstring)."""

    family = "super_resolution"
    kinds = SR_KINDS
    needs: ClassVar[frozenset[str]] = frozenset({"gpu_faster"})
    Parameters: ClassVar[type[Params]] = SRParams

    @abstractmethod
    def super_resolve(self, images: torch.Tensor, sigma: float | None, params: Any) -> Restored:
        """Upsample ``images`` ``(n, 1, h, w)`` (scaled to about [0, 1], gaps filled) by ``params.scale``.

        ``sigma`` is the beam PSF std in input pixels when known.
        """

    def process(self, frame: Frame, params: Any) -> Output:
        import torch

        from ...torch_runtime import device
        from . import degradation as deg
        from .runtime import as_array, as_batch, intensity_range

        scale = int(params.scale)
        on = device(params.device)
        sigma = beam_sigma(frame, params)
        valid_np = frame.valid if frame.is_stack else frame.valid[None]
        data_np = frame.data if frame.is_stack else frame.data[None]
        filled = np.stack([fill_masked(d, v) for d, v in zip(data_np, valid_np)])
        measured = as_batch(filled, on)
        valid = torch.from_numpy(np.array(valid_np)).to(on)[:, None]
        scaling = intensity_range(measured, valid)
        restored = self.super_resolve(scaling.forward(measured), sigma, params)
        fine = scaling.inverse(restored.images.float())
        for i, (image, mask) in enumerate(zip(data_np, valid_np)):
            if mask.any() and not np.ptp(image[mask]) > 0:  # flat: its own super-resolution (a network adds its bias)
                fine[i] = float(image[mask][0])
        nonnegative = bool((measured[valid] >= 0).all())
        if nonnegative:  # non-negative data (counts, transmission) stay non-negative
            fine = fine.clamp(min=0)
        notes: dict[str, Any] = {**restored.notes, "output_shape": [*frame.shape[:-2], *(n * scale for n in frame.shape[-2:])]}
        if params.consistency:
            fitted = sigma is None
            sigma_used = deg.fit_sigma(fine, measured, valid, scale) if sigma is None else sigma
            noise = deg.estimate_noise(measured, valid, frame.is_counting)
            fine, record = deg.enforce_consistency(
                fine, measured, valid, deg.Degradation.from_beam(scale, sigma_used), noise, nonnegative=nonnegative
            )
            notes["consistency"] = {**record.as_notes(), "psf_sigma_px": sigma_used, "psf_sigma_fitted": fitted}
        else:
            fine = deg.preserve_mean(fine, measured, valid, scale)
        if frame.is_counting:
            fine = fine / scale**2  # counts per output pixel: the total is conserved
        data = as_array(fine, frame.data.ndim)
        valid_out = np.repeat(np.repeat(frame.valid, scale, axis=-2), scale, axis=-1)
        changes: dict[str, Any] = {}
        if frame.pixel_size is not None:
            changes["pixel_size"] = frame.pixel_size.scaled(scale)
        if frame.geometry is not None:
            changes["geometry"] = frame.geometry.upsampled(scale, data.shape[-2:])
        notes["device"] = str(on)
        return Output(data, valid_out, changes=changes, notes=notes, weights_sha256=restored.weights_sha256)

