"""``rrdb_sr``: super-resolution with user-supplied Real-ESRGAN (RRDBNet) weights.

For users who already have ESRGAN / Real-ESRGAN generator weights (e.g.
``RealESRGAN_x4plus.pth`` or ``RealESRGAN_x2plus.pth`` from the Real-ESRGAN releases,
or their own BasicSR training) and want to compare them with the X-ray-trained
``fca_sr``. asirp neither ships nor downloads such weights. Grey images are fed as
three identical colour channels (the published weights are RGB) and the output
channels are averaged. Weights for x4 also serve x2 (the x4 result is area-averaged
by 2, as Real-ESRGAN's ``--outscale`` does).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ...errors import ParameterError
from ...frame import Frame
from ..base import Output, register
from ._method import NetworkSR, Restored, SRParams

if TYPE_CHECKING:  # torch loads when the network first runs
    import torch

    from .rrdb import RRDBNet

_NO_WEIGHTS = (
    "rrdb_sr needs Real-ESRGAN/ESRGAN generator weights, which asirp neither ships nor downloads: "
    "get a file such as RealESRGAN_x4plus.pth or RealESRGAN_x2plus.pth "
    "(https://github.com/xinntao/Real-ESRGAN/releases) on a machine with internet access, copy it here and pass "
    "weights=PATH (CLI: -p weights=PATH). For X-ray data without such weights use method 'fca_sr'"
)


class RRDBSRParams(SRParams):
    weights: str | None = Field(None, description="local RRDBNet weights file (.pth with 'params_ema' or 'params'); required")


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int) -> tuple[RRDBNet, str]:
    from .rrdb import rrdbnet_from_state_dict
    from .weights import state_dict_from_user_file

    state, digest = state_dict_from_user_file(path)
    return rrdbnet_from_state_dict(state, path).eval(), digest


@register
class RRDBSR(NetworkSR):
    """Real-ESRGAN generator (RRDBNet) with weights from a local file given by the user."""

    name = "rrdb_sr"
    task = "super-resolve with a user-supplied Real-ESRGAN (RRDBNet) generator"
    Parameters = RRDBSRParams
    selectable = False  # needs a weights file from the user

    def process(self, frame: Frame, params: RRDBSRParams) -> Output:
        if params.weights is None:
            raise ParameterError(_NO_WEIGHTS)
        return super().process(frame, params)

    def super_resolve(self, images: torch.Tensor, sigma: float | None, params: RRDBSRParams) -> Restored:
        from .degradation import area_downsample
        from .rrdb import GreyRRDB
        from .tiling import network_tiles

        path = Path(str(params.weights)).expanduser()
        net, digest = _cached(str(path), path.stat().st_mtime_ns if path.is_file() else 0)
        if net.scale < params.scale:
            raise ParameterError(f"the RRDBNet weights in {path} upsample x{net.scale}, less than scale={params.scale}")
        out = network_tiles(
            GreyRRDB(net), images, net.scale, tile=params.tile, overlap=params.overlap, desc="rrdb_sr tiles", batch_size=1
        )
        out = area_downsample(out, net.scale // params.scale)
        return Restored(out, {"weights": str(path), "native_scale": net.scale}, digest)

    def cost(self, frame_shape: tuple[int, ...], params: RRDBSRParams) -> float:
        # The 23-block x4 generator: ~3 min per megapixel of input on two CPU cores.
        return 2e-4 * float(np.prod(frame_shape))
