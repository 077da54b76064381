"""The compact U-Net shared by the symmetry denoiser and its learned baselines.

One architecture for every learned method (``symmetry``, ``supervised``,
``smae_halves``, ``noise2self``), so comparisons differ only in what the network
sees and what it is trained against. The input has :data:`IN_CHANNELS` channels
(see :mod:`asirp.methods.symmetry.inputs`); the output is the log of the expected
counts per pixel relative to the frame's mean counts, so a Poisson likelihood is
the natural loss and the output is positive.

The network is residual. From the squared signal channel (the partner average, or
the own counts for the supervised recipe) it forms two fixed estimates, the value
itself and its normalised Gaussian average (σ = :data:`BASE_SIGMA_PX`, reaching
:data:`BASE_RADIUS` pixels, less than the U-Net's receptive field); the U-Net
outputs per pixel a mixing weight between the two and a multiplicative correction.
An untrained network (zero head) already gives their even mix, and training only
learns where to trust sharp detail and where to smooth, which converges in minutes on
a CPU and keeps sharp rings at high dose.

The first layer folds 2 x 2 pixels into channels (``PixelUnshuffle``) and the last
unfolds them: most work then runs at half, quarter and eighth resolution, which is
what makes a 1024² frame take well under a second on two CPU cores.

:data:`RECEPTIVE_RADIUS` is the Chebyshev radius (pixels) beyond which an input
pixel cannot influence an output pixel (how far the network looks).

:class:`PartnerUNet` is the ``symmetry`` recipe's network: the same body fed with
the pixel's own neighbourhood *and* the average of its symmetry partners, two
independent measurements of the same signal (see :mod:`.inputs` for how it is
trained without any clean image).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...filters import separable_filter
from .inputs import IN_CHANNELS, PARTNER_CHANNELS

#: Default feature width of the first level.
WIDTH = 16
#: The network works on images whose sides are multiples of this (inputs are padded).
MULTIPLE = 8
#: Receptive-field radius in pixels, worst case over the 8 x 8 pixel alignments (checked
#: with gradients by tests/test_symmetry_denoise.py).
RECEPTIVE_RADIUS = 41
#: Output log-rate clamp (relative to the mean counts): e^±12 covers any detector.
LOG_CLAMP = 12.0
#: Width (px) and reach (px) of the fixed average the network corrects.
BASE_SIGMA_PX = 1.5
BASE_RADIUS = 4
#: Floor of that average, relative to the mean counts (empty regions).
BASE_FLOOR = 0.02


def _gaussian_kernel() -> torch.Tensor:
    """1-D normalised Gaussian taps (applied along rows then columns: separable)."""
    r = torch.arange(-BASE_RADIUS, BASE_RADIUS + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (r / BASE_SIGMA_PX) ** 2)
    return g / g.sum()


def _block(c_in: int, c_out: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class CompactUNet(nn.Module):
    """Three-level U-Net on a 2x space-to-depth fold (about 140 k parameters at width 16)."""

    #: Output maps of the head per pixel: mixing logit and log correction.
    head_maps = 2
    #: Normalised 1-D Gaussian taps of :meth:`_blur` (a non-persistent buffer, registered in ``__init__``).
    kernel: torch.Tensor

    def __init__(self, in_channels: int = IN_CHANNELS, width: int = WIDTH) -> None:
        super().__init__()
        self.in_channels, self.width = in_channels, width
        self.fold = nn.PixelUnshuffle(2)
        self.enc0 = _block(4 * in_channels, width, 2)
        self.down1 = nn.Conv2d(width, 2 * width, 2, stride=2)
        self.enc1 = _block(2 * width, 2 * width, 2)
        self.down2 = nn.Conv2d(2 * width, 4 * width, 2, stride=2)
        self.mid = _block(4 * width, 4 * width, 2)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec1 = _block(4 * width, 2 * width, 1)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec0 = _block(2 * width, width, 1)
        self.head = nn.Conv2d(width, 4 * self.head_maps, 1)
        nn.init.zeros_(self.head.weight)  # start as the plain average
        assert self.head.bias is not None  # Conv2d's default bias=True
        nn.init.zeros_(self.head.bias)
        self.unfold = nn.PixelShuffle(2)
        self.register_buffer("kernel", _gaussian_kernel(), persistent=False)

    def estimates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The signal value ``signal^2`` and its normalised Gaussian average where ``support > 0``."""
        has = (x[:, 1:2] > 0).to(x.dtype)
        value = x[:, :1] ** 2 * has
        both = self._blur(torch.cat([value, has], dim=1))
        num, den = both[:, :1], both[:, 1:]
        smooth = torch.where(den > 1e-3, num / torch.clamp(den, min=1e-3), torch.ones_like(num))
        return torch.where(has > 0, value, smooth), smooth

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur of every channel (zero padding).

        The input carries no gradient (it is data), so on the CPU each plane goes
        through :func:`asirp.filters.separable_filter`: torch's CPU depthwise
        convolution took 0.44 s for the two 1024² planes of one frame, OpenCV ~2 ms.
        """
        if x.device.type == "cpu" and not x.requires_grad:
            taps = self.kernel.numpy()
            planes = x.detach().contiguous().numpy()
            out = np.empty_like(planes)
            for plane, target in zip(planes.reshape(-1, *planes.shape[-2:]), out.reshape(-1, *out.shape[-2:])):
                separable_filter(plane, taps, taps, out=target)
            return torch.from_numpy(out)
        c = x.shape[1]
        rows = self.kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
        cols = self.kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
        x = nn.functional.conv2d(x, rows, padding=(BASE_RADIUS, 0), groups=c)
        return nn.functional.conv2d(x, cols, padding=(0, BASE_RADIUS), groups=c)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net: ``(B, C, H, W)`` -> ``(B, head_maps, H, W)`` per-pixel head outputs.

        The feature maps are channels-last: oneDNN's convolutions on the CPU are faster so
        (a fine-tuning step on 4 x 128² 34 -> 28 ms, a 1 Mpx pass 0.20 -> 0.14 s on two
        cores), and the result the same within 2e-6 of outputs of order 1.
        """
        a = self.enc0(self.fold(x.contiguous(memory_format=torch.channels_last)))
        b = self.enc1(self.down1(a))
        c = self.mid(self.down2(b))
        d = self.dec1(torch.cat([self.up2(c), b], dim=1))
        e = self.dec0(torch.cat([self.up1(d), a], dim=1))
        return self.unfold(self.head(e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, 1, H, W)`` log expected counts relative to the mean; H, W multiples of 8."""
        head = self.body(x)  # (B, 2, H, W): mixing logit, log correction
        value, smooth = self.estimates(x)
        weight = torch.sigmoid(head[:, :1])
        base = torch.log(torch.clamp(weight * value + (1.0 - weight) * smooth, min=BASE_FLOOR))
        return torch.clamp(base + head[:, 1:], -LOG_CLAMP, LOG_CLAMP)


class PartnerUNet(CompactUNet):
    """The ``symmetry`` network: own neighbourhood plus partner average in, log expected counts out.

    The fixed estimates it mixes are the pixel's own value, its partners' average
    (where a partner exists) and the normalised Gaussian average of every
    measurement around the pixel, own and partners alike; the head gives per pixel
    the three mixing logits (softmax) and a log correction. Untrained, it returns
    the even mix.
    """

    head_maps = 4

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__(PARTNER_CHANNELS, width)

    def estimates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, H, W)`` own value, partner value (smooth where none), smooth average; and the smooth average."""
        own_ok = x[:, 1:2]
        has = (x[:, 3:4] > 0).to(x.dtype)
        own = x[:, :1] ** 2 * own_ok
        partner = x[:, 2:3] ** 2 * has
        both = self._blur(torch.cat([own + partner, own_ok + has], dim=1))
        num, den = both[:, :1], both[:, 1:]
        smooth = torch.where(den > 1e-3, num / torch.clamp(den, min=1e-3), torch.ones_like(num))
        own = torch.where(own_ok > 0, own, smooth)
        return torch.cat([own, torch.where(has > 0, partner, smooth), smooth], dim=1), smooth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 5, H, W)`` -> ``(B, 1, H, W)`` log expected counts relative to the frame mean."""
        head = self.body(x)
        values, _ = self.estimates(x)
        weights = torch.softmax(head[:, :3], dim=1)
        base = torch.log(torch.clamp((weights * values).sum(1, keepdim=True), min=BASE_FLOOR))
        return torch.clamp(base + head[:, 3:4], -LOG_CLAMP, LOG_CLAMP)


def build_network(recipe: str, in_channels: int, width: int) -> CompactUNet:
    """The network class a recipe uses (``symmetry``: :class:`PartnerUNet`)."""
    if recipe == "symmetry":
        return PartnerUNet(width)
    return CompactUNet(in_channels, width)


def predict(net: CompactUNet, inputs: torch.Tensor) -> torch.Tensor:
    """Network output ``(B, K, H, W)`` for ``(B, C, H, W)`` inputs of any size (padded, cropped back)."""
    padded, (h, w) = pad_to_multiple(inputs)
    return net(padded)[:, :, :h, :w]


def pad_to_multiple(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad the last two axes up to multiples of :data:`MULTIPLE` (zeros = no measurement)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
    if ph or pw:
        x = nn.functional.pad(x, (0, pw, 0, ph))
    return x, (h, w)
