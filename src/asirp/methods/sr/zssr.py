"""``zssr``: zero-shot super-resolution, a network trained on the image itself at run time.

Shocher, Cohen & Irani, "Zero-shot super-resolution using deep internal learning",
CVPR 2018. Small patterns recur across scales within one image, so a small network
trained to undo the degradation of the image's *own* downscaled copy, ``D(y) → y``,
also undoes it one scale up, ``y → x``. No training data is needed, which suits a
beamline with a sample unlike anything seen before; the price is training time for
every image (bounded here by ``time_budget_s``).

What this implementation does:

* the degradation of the copies is the physical one
  (:class:`~asirp.methods.sr.degradation.Degradation`): the beam PSF (from
  ``psf_sigma`` or ``beam_fwhm``; area averaging alone when unknown) and area
  averaging, with noise added to the copies so they are as noisy as the image
  (the copy ``D(y)`` is smoother than ``y`` by :meth:`Degradation.noise_gain`);
* random crops with the 8 flips/rotations, L1 loss, Adam with a cosine learning-rate
  schedule over the time budget;
* a strip of the image (20 % of its longer side) is held out: training stops early
  when the loss on it has not improved for ``patience`` evaluations, and the weights
  with the best held-out loss are kept (evaluated before training too, so the result
  is never worse on it than the bicubic start: the network starts as bicubic
  interpolation plus a zero correction);
* the network works on the input grid and ends with a pixel shuffle (ESPCN), four
  times cheaper than ZSSR's original network on the interpolated image for x2;
* at the end, the geometric self-ensemble: the mean over the 8 flips/rotations;
* one network per frame: the images of a stack are trained on together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..base import register
from ._method import NetworkSR, Restored, SRParams

if TYPE_CHECKING:
    import torch


class ZSSRParams(SRParams):
    time_budget_s: float = Field(60.0, gt=0, le=86400, description="wall time for training plus inference", json_schema_extra={"unit": "s"})
    max_iterations: int = Field(3000, ge=0, le=1_000_000, description="training iterations at most")
    learning_rate: float = Field(1e-3, gt=0, le=0.1, description="initial Adam learning rate (cosine decay to 1/100)")
    channels: int = Field(32, ge=4, le=128, description="feature channels of the network")
    depth: int = Field(6, ge=3, le=16, description="convolution layers of the network")
    crop: int = Field(64, ge=8, le=512, description="side of the training crops of the image", json_schema_extra={"unit": "px"})
    batch: int = Field(8, ge=1, le=128, description="crops per training iteration")
    patience: int = Field(10, ge=1, le=1000, description="held-out evaluations without improvement before stopping")
    ensemble: bool = Field(True, description="average the 8 flipped/rotated predictions at the end")
    seed: int = Field(0, ge=0, description="seed of the crops, noise and initial weights")


@register
class ZSSR(NetworkSR):
    """Zero-shot super-resolution: a small CNN trained on the image's own downscaled copies."""

    name = "zssr"
    task = "super-resolve with a network trained at run time on the image's own downscaled copies"
    needs = frozenset({"gpu_faster", "training"})
    Parameters = ZSSRParams

    def super_resolve(self, images: torch.Tensor, sigma: float | None, params: ZSSRParams) -> Restored:
        from .zssr_net import train_and_apply

        return train_and_apply(images, sigma, params)

    def cost(self, frame_shape: tuple[int, ...], params: ZSSRParams) -> float:
        return float(params.time_budget_s)
