"""The engine of ``zssr``: its network, the crops of the image, and the training loop (see :mod:`.zssr`)."""

from __future__ import annotations

import math
import time
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputError
from ...progress import progress
from ._method import Restored
from .degradation import Degradation
from .runtime import dihedral, undo_dihedral
from .tiling import network_tiles


class TrainingOptions(Protocol):
    """What the training needs of the ``zssr`` method's (frozen) parameters, :class:`asirp.methods.sr.zssr.ZSSRParams`,
    named here so that the network module does not import the method module that imports it."""

    @property
    def scale(self) -> int: ...

    @property
    def seed(self) -> int: ...

    @property
    def crop(self) -> int: ...

    @property
    def batch(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def depth(self) -> int: ...

    @property
    def learning_rate(self) -> float: ...

    @property
    def max_iterations(self) -> int: ...

    @property
    def time_budget_s(self) -> float: ...

    @property
    def patience(self) -> int: ...

    @property
    def ensemble(self) -> bool: ...

    @property
    def tile(self) -> int: ...

    @property
    def overlap(self) -> int: ...


#: Evaluations of the held-out loss happen every this many iterations.
EVAL_EVERY = 20


class ZSSRNet(nn.Module):
    """``depth`` 3x3 convolutions with ReLU on the input grid, pixel shuffle, plus bicubic interpolation."""

    def __init__(self, scale: int, channels: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        tail = nn.Conv2d(channels, scale**2, 3, padding=1)
        nn.init.zeros_(tail.weight)
        if tail.bias is not None:
            nn.init.zeros_(tail.bias)
        self.body = nn.Sequential(*layers, tail)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bicubic = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return bicubic + F.pixel_shuffle(self.body(x), self.scale)


class _Ensemble(nn.Module):
    """Mean of a network's predictions over the 8 flips/rotations of its input."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([undo_dihedral(self.net(dihedral(x, k)), k) for k in range(8)]).mean(dim=0)


def _split(images: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training area and held-out strip (20 % of the longer side), both cut to whole multiples of ``scale``."""
    images = images[..., : images.shape[-2] // scale * scale, : images.shape[-1] // scale * scale]
    h, w = images.shape[-2:]
    along_x = w >= h
    length = w if along_x else h
    held = max(4 * scale, int(round(0.2 * length / scale)) * scale)
    if length - held < 4 * scale or min(h, w) < 4 * scale:
        raise InputError(f"image of {h}x{w} pixels is too small for zssr x{scale} (needs at least {8 * scale} px along one side)")
    cut = (length - held) // scale * scale
    if along_x:
        return images[..., :cut], images[..., cut : cut + held]
    return images[..., :cut, :], images[..., cut : cut + held, :]


def _crops(area: torch.Tensor, size: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random ``size x size`` crops of the images in ``area``, each randomly flipped/rotated."""
    n, _, h, w = area.shape
    picks = torch.randint(0, n, (count,), generator=generator).tolist()
    tops = torch.randint(0, h - size + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, w - size + 1, (count,), generator=generator).tolist()
    turns = torch.randint(0, 8, (count,), generator=generator).tolist()
    return torch.stack([dihedral(area[i, :, t : t + size, s : s + size], k) for i, t, s, k in zip(picks, tops, lefts, turns)])


def _noise_std(images: torch.Tensor) -> float:
    """Gaussian noise std of the scaled images (wavelet MAD estimate, median over the stack)."""
    from ...noise import wavelet_sigma

    return float(np.median([wavelet_sigma(image) for image in images[:, 0].cpu().numpy()]))


def train_and_apply(images: torch.Tensor, sigma: float | None, params: TrainingOptions) -> Restored:
    """Train a ZSSR network on ``images`` (scaled, gaps filled) within the budget and apply it (see :mod:`.zssr`)."""
    started = time.perf_counter()
    scale = int(params.scale)
    on = images.device
    generator = torch.Generator().manual_seed(params.seed)
    torch.manual_seed(params.seed)
    model = Degradation.from_beam(scale, sigma or 0.0)
    train_area, held_out = _split(images, scale)
    size = min(params.crop, *train_area.shape[-2:]) // scale * scale
    # Noise the copies back up to the image's level: D(y) has noise_gain x the variance of y.
    extra_noise = _noise_std(images) * math.sqrt(max(0.0, 1.0 - model.noise_gain()))
    noise_generator = torch.Generator(device=on).manual_seed(params.seed + 1)

    def son(fine: torch.Tensor) -> torch.Tensor:
        coarse = model(fine)
        return coarse + extra_noise * torch.randn(coarse.shape, generator=noise_generator, device=on)

    net = ZSSRNet(scale, params.channels, params.depth).to(on)
    optimizer = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
    val_input, val_target = son(held_out), held_out

    def held_out_loss() -> float:
        net.eval()
        with torch.no_grad():
            loss = float(F.l1_loss(net(val_input), val_target))
        net.train()
        return loss

    held_out_loss()  # warm-up: the first call pays one-off costs
    timer = time.perf_counter()
    best_loss = initial_loss = held_out_loss()
    # Inference (8x for the ensemble) must fit in the budget too: reserve its time,
    # extrapolated from the held-out evaluation just timed (with a safety factor).
    seconds_per_pixel = (time.perf_counter() - timer) / val_input.numel()
    reserve = 2.0 * seconds_per_pixel * images.numel() * (8 if params.ensemble else 1)
    best_state = {key: value.clone() for key, value in net.state_dict().items()}
    best_iteration, stale, iteration, reason = 0, 0, 0, "max_iterations"
    for iteration in progress(range(1, params.max_iterations + 1), desc="zssr training", total=params.max_iterations):
        elapsed = time.perf_counter() - started
        if elapsed + reserve >= params.time_budget_s:
            reason, iteration = "time_budget_s", iteration - 1
            break
        fraction = min(1.0, elapsed / max(1e-9, params.time_budget_s - reserve))
        for group in optimizer.param_groups:
            group["lr"] = params.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction)))
        fine = _crops(train_area, size, params.batch, generator).to(on)
        loss = F.l1_loss(net(son(fine)), fine)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if iteration % EVAL_EVERY == 0:
            current = held_out_loss()
            if current < best_loss:
                best_loss, best_iteration, stale = current, iteration, 0
                best_state = {key: value.clone() for key, value in net.state_dict().items()}
            else:
                stale += 1
                if stale >= params.patience:
                    reason = "early stopping (held-out loss stopped improving)"
                    break
    if iteration % EVAL_EVERY and (current := held_out_loss()) < best_loss:  # the last steps count too
        best_loss, best_iteration = current, iteration
        best_state = net.state_dict()
    net.load_state_dict(best_state)
    predictor = _Ensemble(net) if params.ensemble else net
    out = network_tiles(predictor, images, scale, tile=params.tile, overlap=params.overlap, desc="zssr tiles")
    notes = {
        "iterations": iteration,
        "best_iteration": best_iteration,
        "stopped_by": reason,
        "held_out_l1_initial": initial_loss,
        "held_out_l1_best": best_loss,
        "training_s": time.perf_counter() - started,
        "degradation_sigma_px": model.sigma_px,
    }
    return Restored(out, notes)
