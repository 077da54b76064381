"""The Real-ESRGAN generator (RRDBNet), with the parameter names of BasicSR.

Wang et al., "Real-ESRGAN: training real-world blind super-resolution with pure
synthetic data", ICCVW 2021; the architecture is ESRGAN's Residual-in-Residual Dense
Block network (Wang et al., ECCVW 2018). The module and parameter names follow
``basicsr.archs.rrdbnet_arch.RRDBNet`` exactly (``conv_first``, ``body.N.rdbM.convK``,
``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), so a
``RealESRGAN_x4plus.pth``-style file (a state dict under ``params_ema`` or
``params``) loads as it is. asirp ships no such weights: they were trained on natural
photographs (the ASIRP paper found them weak on X-ray data) and their licence is the
user's business; this module lets users who have them compare.

The network itself always upsamples x4; BasicSR's x2 and x1 variants first fold the
image into 4 or 16 channels (pixel unshuffle). :func:`rrdbnet_from_state_dict` infers
every hyper-parameter from a state dict.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputError


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions; output ``x + 0.2 · conv5(...)``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, output ``x + 0.2 · rdb3(rdb2(rdb1(x)))``."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator (BasicSR's ``RRDBNet``).

    Parameters
    ----------
    num_in_ch, num_out_ch:
        Image channels (3 for the published RGB weights).
    scale:
        1, 2 or 4: the overall upsampling (x1 and x2 fold the input by pixel unshuffle
        so the trunk still upsamples x4).
    num_feat, num_block, num_grow_ch:
        Trunk width, number of RRDBs, growth channels of the dense blocks.
    """

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32
    ):
        super().__init__()
        self.scale = scale
        folded_in = num_in_ch * {4: 1, 2: 4, 1: 16}[scale]
        self.conv_first = nn.Conv2d(folded_in, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale < 4:
            x = F.pixel_unshuffle(x, 4 // self.scale)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class GreyRRDB(nn.Module):
    """An RRDBNet on grey images: the image copied into every input colour, the output colours averaged."""

    def __init__(self, net: RRDBNet):
        super().__init__()
        self.net = net

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        fold = 4 // self.net.scale
        colours = self.net.conv_first.in_channels // fold**2
        h, w = tiles.shape[-2:]
        # The x2/x1 variants fold the input by pixel unshuffle: pad odd sizes, crop after.
        padded = F.pad(tiles, (0, -w % fold, 0, -h % fold), mode="replicate")
        out = self.net(padded.expand(-1, colours, -1, -1)).mean(dim=1, keepdim=True)
        return out[..., : h * self.net.scale, : w * self.net.scale]


def rrdbnet_from_state_dict(state: Mapping[str, torch.Tensor], source: str | None = None) -> RRDBNet:
    """An :class:`RRDBNet` shaped for ``state`` with the weights loaded.

    Hyper-parameters are read from the tensor shapes: ``num_feat`` and the folded
    input channels from ``conv_first.weight``, ``num_grow_ch`` from
    ``body.0.rdb1.conv1.weight``, ``num_block`` from the highest ``body.N`` index,
    ``num_out_ch`` from ``conv_last.weight``; the scale from the folding (input
    channels = out channels x 1, 4 or 16 for x4, x2, x1).

    Raises
    ------
    InputError
        (naming ``source``) when the state dict is not an RRDBNet's.
    """
    required = ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight")
    missing = [key for key in required if key not in state]
    if missing:
        sample = ", ".join(list(state)[:5]) or "no tensors"
        raise InputError(
            f"not Real-ESRGAN RRDBNet weights: missing {', '.join(missing)} (the file holds {sample}...)", source
        )
    num_feat, folded_in = state["conv_first.weight"].shape[:2]
    num_grow_ch = state["body.0.rdb1.conv1.weight"].shape[0]
    num_out_ch = state["conv_last.weight"].shape[0]
    num_block = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("body."))
    fold = {1: 4, 4: 2, 16: 1}.get(folded_in // max(1, num_out_ch)) if folded_in % max(1, num_out_ch) == 0 else None
    if fold is None:
        raise InputError(
            f"RRDBNet weights with {folded_in} input and {num_out_ch} output channels match no scale (x1, x2, x4)", source
        )
    net = RRDBNet(num_out_ch, num_out_ch, fold, int(num_feat), num_block, int(num_grow_ch))
    try:
        net.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InputError(f"RRDBNet weights do not fit the architecture: {' '.join(first[:3])[:400]}", source) from None
    return net
