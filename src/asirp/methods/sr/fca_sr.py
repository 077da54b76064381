"""``fca_sr``: super-resolution with the shipped Fourier-channel-attention network.

The network (:class:`~asirp.methods.sr.fca.FCANet`) was pretrained by
``asirp train sr`` on X-ray-like data made here (mesh-grid and textured micro-XRF
maps, tomography projections and slices of random phantoms, micrographs, detector
frames), degraded by a Gaussian beam of random width, area averaging and
Poisson/Gaussian noise of random level, so it needs neither a PSF nor training at
run time. Users fine-tune it on their own beamline's images with
``asirp train sr IMAGES... --out my.pt`` and pass ``weights="my.pt"``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from ..base import register
from ._method import NetworkSR, Restored, SRParams

if TYPE_CHECKING:  # torch loads when the network first runs
    import torch

    from .fca import FCANet


class FCASRParams(SRParams):
    weights: str | None = Field(
        None, description="FCA-SR weights file (.pt from 'asirp train sr'); default: the weights shipped with asirp"
    )


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, scale: int, expected: str | None) -> tuple[FCANet, str, dict[str, Any]]:
    # Keyed by modification time, so a retrained file at the same path is reloaded.
    from .weights import load_fca

    return load_fca(path, scale=scale, expected_sha256=expected)


def fca_network(scale: int, weights: str | Path | None = None) -> tuple[FCANet, str, dict[str, Any]]:
    """The FCA-SR network for ``scale`` with its weights' sha256 and training record.

    ``weights`` None loads the shipped file and checks it against
    :data:`~asirp.methods.sr.weights.SHIPPED_SHA256`.
    """
    from .weights import SHIPPED_SHA256, shipped_path

    path = shipped_path(scale) if weights is None else Path(weights).expanduser()
    expected = SHIPPED_SHA256.get(scale) if weights is None else None
    mtime = path.stat().st_mtime_ns if path.is_file() else 0
    return _cached(str(path), mtime, scale, expected)


@register
class FCASR(NetworkSR):
    """Pretrained compact DFCAN-style network (Fourier channel attention), x2 or x4.

    Blind: trained over a range of beam widths and noise levels; the beam width, when
    given, is used by the consistency step (fitted to the data otherwise).
    """

    name = "fca_sr"
    task = "super-resolve with a pretrained Fourier-channel-attention network (DFCAN-style)"
    Parameters = FCASRParams

    def super_resolve(self, images: torch.Tensor, sigma: float | None, params: FCASRParams) -> Restored:
        from .tiling import network_tiles

        net, digest, training = fca_network(params.scale, params.weights)
        out = network_tiles(net, images, params.scale, tile=params.tile, overlap=params.overlap, desc="fca_sr tiles")
        notes = {"weights": "shipped" if params.weights is None else str(params.weights), "trained": training.get("summary", "")}
        return Restored(out, notes, digest)

    def cost(self, frame_shape: tuple[int, ...], params: FCASRParams) -> float:
        # Measured: ~10 s per megapixel of input on two CPU cores (x2 and x4 alike).
        return 1e-5 * float(np.prod(frame_shape))
