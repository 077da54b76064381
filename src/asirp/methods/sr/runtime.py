"""What the super-resolution networks share beyond the torch runtime: scaling, batches, dihedral transforms.

Device, threads and precision come from :mod:`asirp.torch_runtime` (one runtime for every
torch method).

* :func:`intensity_range` / :class:`Scaling`: the robust affine scaling that maps an
  image to roughly [0, 1] before a network sees it. Training and inference use this
  one function, so a network always sees inputs scaled the way it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...torch_runtime import to_numpy

#: Percentiles (%) of the valid input values mapped to 0 and 1 by :class:`Scaling`.
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
#: An image whose percentile span is below this fraction of its magnitude is flat
#: (float32 resolves 6e-8 of a value).
FLAT_RELATIVE_SPAN = 1e-6


@dataclass(frozen=True)
class Scaling:
    """Per-image affine map ``(v - low) / span`` to the network's working range.

    ``low`` and ``span`` are tensors of shape ``(n, 1, 1, 1)`` (one pair per image),
    in the data's own units.
    """

    low: torch.Tensor
    span: torch.Tensor

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.low) / self.span

    def inverse(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.span + self.low


def intensity_range(images: torch.Tensor, valid: torch.Tensor | None = None) -> Scaling:
    """Robust scaling of each image of ``(n, 1, h, w)``: its 0.5-99.5 % percentiles to 0-1.

    Percentiles rather than min/max so that a hot pixel or a single bright Bragg spot
    does not squash the rest of the image. A flat image (percentiles equal to float32
    precision) gets its own magnitude as span, so its values map to about 1 whatever their
    unit (1 for an all-zero image).
    """
    n = images.shape[0]
    flat = images.reshape(n, -1)
    lows, spans = [], []
    for i in range(n):
        values = flat[i] if valid is None else flat[i][valid.reshape(n, -1)[i]]
        if values.numel() > 1_000_000:  # quantile has a size limit; a strided sample is enough
            values = values[:: values.numel() // 1_000_000 + 1]
        q = torch.quantile(values.float(), torch.tensor([LOW_PERCENTILE / 100, HIGH_PERCENTILE / 100], device=values.device))
        span = q[1] - q[0]
        magnitude = float(q.abs().max())
        lows.append(q[0])
        spans.append(span if float(span) > FLAT_RELATIVE_SPAN * magnitude else torch.full_like(span, magnitude or 1.0))
    shape = (n, 1, 1, 1)
    return Scaling(torch.stack(lows).reshape(shape), torch.stack(spans).reshape(shape))


def as_batch(images: np.ndarray, on: torch.device) -> torch.Tensor:
    """A 2-D image or a ``(n, h, w)`` stack as a float32 ``(n, 1, h, w)`` tensor on ``on``."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    return torch.from_numpy(np.ascontiguousarray(array)).to(on)[:, None]


def as_array(batch: torch.Tensor, like_ndim: int) -> np.ndarray:
    """Inverse of :func:`as_batch`: ``(n, 1, h, w)`` back to 2-D (``like_ndim`` 2) or a stack."""
    array = to_numpy(batch)[:, 0]
    return array[0] if like_ndim == 2 else array


def dihedral(images: torch.Tensor, k: int) -> torch.Tensor:
    """Transform ``k`` (0-7) of the 8 flips/rotations by multiples of 90° of the last two axes."""
    out = torch.rot90(images, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out


def undo_dihedral(images: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of :func:`dihedral`."""
    out = images.flip(-1) if k >= 4 else images
    return torch.rot90(out, -(k % 4), dims=(-2, -1))
