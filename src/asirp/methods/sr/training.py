"""Training of FCA-SR: pretraining on the synthetic corpus, fine-tuning on a user's images.

Both are the same loop. Each step draws sharp crops ``x`` (random image, position
and flip/rotation), degrades them with the physical forward model
(:class:`~asirp.methods.sr.degradation.Degradation`: a Gaussian beam of random width,
area averaging, Poisson noise of a random count level and sometimes Gaussian read
noise), scales the pair by the noisy input's percentiles exactly as inference does
(:func:`~asirp.methods.sr.runtime.intensity_range`) and minimises the L1 distance
between the network's output and ``x``. Adam with a cosine learning-rate decay.

Fine-tuning is self-supervised: a user's own images play the part of ``x`` (they are
re-degraded to make the inputs), so a beamline's typical structures are learnt
without any high-resolution reference. Start from the shipped weights (``init``).

Training is resumable: a checkpoint (network, optimiser, random generator, step)
is written every ``checkpoint_every`` steps and at the end; resuming continues the
same random sequence, so an interrupted and resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ...errors import InputError, ParameterError
from ...io.atomic import atomic_output
from ...progress import progress
from .degradation import Degradation
from .fca import FCANet
from .runtime import dihedral, intensity_range
from .weights import fca_payload, read_checkpoint


class TrainConfig(BaseModel):
    """Everything that defines a training run (stored in checkpoints and weight files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: int = Field(2, description="upsampling factor (2 or 4)")
    steps: int = Field(1000, ge=1, description="optimisation steps")
    batch: int = Field(8, ge=1, description="crops per step")
    patch: int = Field(48, ge=8, description="side of the input crops (coarse pixels)")
    learning_rate: float = Field(2e-3, gt=0, description="initial Adam learning rate")
    channels: int = Field(32, ge=4)
    groups: int = Field(2, ge=1)
    blocks: int = Field(2, ge=1)
    sigma_min: float = Field(0.0, ge=0, description="smallest beam std, coarse pixels")
    sigma_max: float = Field(1.2, ge=0, description="largest beam std, coarse pixels")
    counts_min: float = Field(5.0, gt=0, description="lowest Poisson count level at the bright end")
    counts_max: float = Field(5000.0, gt=0, description="highest Poisson count level at the bright end")
    noise_free_fraction: float = Field(0.1, ge=0, le=1, description="fraction of crops without Poisson noise")
    read_noise_max: float = Field(0.02, ge=0, description="largest Gaussian read noise, in units of the bright end")
    seed: int = Field(0, ge=0)
    checkpoint_every: int = Field(100, ge=1)
    init: str | None = Field(None, description="weights to start from (tensors of matching shape are copied)")

    def validate_ranges(self) -> None:
        if self.scale not in (2, 4):
            raise ParameterError(f"scale must be 2 or 4, got {self.scale}")
        if self.sigma_max < self.sigma_min or self.counts_max < self.counts_min:
            raise ParameterError("sigma_max must be >= sigma_min and counts_max >= counts_min")


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the network, its steps, time and held-out figures."""

    net: FCANet
    steps: int
    seconds: float
    record: dict[str, Any]


def _sample(
    images: list[np.ndarray], config: TrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: scaled noisy coarse inputs and the matching scaled sharp targets."""
    size = config.patch * config.scale
    picks = torch.randint(0, len(images), (config.batch,), generator=generator).tolist()
    crops = []
    for i in picks:
        image = images[i]
        top = int(torch.randint(0, image.shape[0] - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, image.shape[1] - size + 1, (1,), generator=generator))
        turn = int(torch.randint(0, 8, (1,), generator=generator))
        crops.append(dihedral(torch.from_numpy(image[top : top + size, left : left + size]), turn))
    fine = torch.stack(crops)[:, None].float()
    n = config.batch
    sigma = config.sigma_min + (config.sigma_max - config.sigma_min) * torch.rand(n, generator=generator)
    log_counts = math.log(config.counts_min) + (math.log(config.counts_max) - math.log(config.counts_min)) * torch.rand(n, generator=generator)
    counts = torch.exp(log_counts)
    counts[torch.rand(n, generator=generator) < config.noise_free_fraction] = math.inf
    read = config.read_noise_max * torch.rand(n, generator=generator) * (torch.rand(n, generator=generator) < 0.3)
    coarse = Degradation(config.scale, config.scale * sigma).degrade(fine, peak_counts=counts, read_noise=read, generator=generator)
    scaling = intensity_range(coarse)
    return scaling.forward(coarse), scaling.forward(fine)


def _usable(images: list[np.ndarray], config: TrainConfig) -> list[np.ndarray]:
    size = config.patch * config.scale
    usable = [np.ascontiguousarray(image, dtype=np.float32) for image in images if min(image.shape) >= size]
    if not usable:
        raise InputError(f"no training image is at least {size} x {size} pixels (patch {config.patch} x scale {config.scale})")
    return usable


def _initial_weights(net: FCANet, init: str) -> int:
    """Copy every tensor of ``init`` whose name and shape match; returns how many were copied."""
    content = read_checkpoint(init)
    state = content.get("state_dict", content.get("model", content))
    own = net.state_dict()
    matching = {key: value for key, value in state.items() if key in own and own[key].shape == value.shape}
    if not matching:
        raise InputError("no tensor of these weights fits the FCA-SR network", init)
    own.update(matching)
    net.load_state_dict(own)
    return len(matching)


def _save_atomic(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` through :func:`~asirp.io.atomic.atomic_output` (replacing ``path``: checkpoints are rewritten)."""
    with atomic_output(path.absolute(), force=True, inputs=()) as temporary:
        torch.save(payload, temporary)


def validation_gain(net: FCANet, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean PSNR gain (dB) of the network over bicubic interpolation on held-out batches."""
    gains = []
    net.eval()
    with torch.no_grad():
        for coarse, fine in batches:
            bicubic = F.interpolate(coarse, scale_factor=net.scale, mode="bicubic", align_corners=False)
            mse_net = F.mse_loss(net(coarse), fine, reduction="none").mean(dim=(1, 2, 3))
            mse_bic = F.mse_loss(bicubic, fine, reduction="none").mean(dim=(1, 2, 3))
            gains.append(float((10 * torch.log10(mse_bic / mse_net)).mean()))
    net.train()
    return float(np.mean(gains))


def train(
    config: TrainConfig,
    images: list[np.ndarray],
    *,
    checkpoint: Path,
    validation: list[np.ndarray] | None = None,
    resume: bool = False,
    time_limit_s: float | None = None,
    corpus: str = "user images",
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train (or fine-tune) FCA-SR on sharp ``images``; see the module docstring.

    Parameters
    ----------
    config:
        The run's settings (also the architecture).
    images:
        Sharp 2-D images scaled so that 1 is about the bright end.
    checkpoint:
        Checkpoint file, written every ``config.checkpoint_every`` steps and at the end.
    validation:
        Held-out images for the PSNR gain over bicubic reported in the record.
    resume:
        Continue from ``checkpoint`` (its config must equal ``config``).
    time_limit_s:
        Stop (with a checkpoint) after this wall time, seconds; resume later.
    corpus:
        Words describing the images, for the record.
    device:
        Where the network trains (:func:`asirp.torch_runtime.device`); batches are drawn on
        the CPU with the seeded generator, so a run draws the same crops on every device.
    """
    config.validate_ranges()
    images = _usable(images, config)
    torch.manual_seed(config.seed)
    net = FCANet(config.scale, config.channels, config.groups, config.blocks)
    torch.nn.init.zeros_(net.tail.weight)  # start as bicubic interpolation
    if net.tail.bias is not None:
        torch.nn.init.zeros_(net.tail.bias)
    if config.init is not None:
        _initial_weights(net, config.init)
    net.to(device)  # before the optimiser: a resumed optimiser state is cast to its parameters' device
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    step, seconds = 0, 0.0
    if resume:
        state = read_checkpoint(checkpoint)
        if state.get("config") != config.model_dump():
            raise InputError("the checkpoint was written with other settings; resume with the same options", checkpoint)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, seconds = int(state["step"]), float(state["seconds"])
    val_batches = []
    if validation:
        val_config = config.model_copy(update={"batch": 16})
        val_generator = torch.Generator().manual_seed(config.seed + 12345)
        val_batches = [_sample(_usable(validation, val_config), val_config, val_generator) for _ in range(4)]
        val_batches = [(coarse.to(device), fine.to(device)) for coarse, fine in val_batches]

    def save_checkpoint() -> None:
        _save_atomic(
            {"config": config.model_dump(), "model": net.state_dict(), "optimizer": optimizer.state_dict(),
             "generator": generator.get_state(), "step": step, "seconds": seconds},
            checkpoint,
        )

    started = time.perf_counter() - seconds
    net.train()
    bar = progress(range(step, config.steps), desc=f"train sr x{config.scale}", total=config.steps - step, unit="step")
    for step_index in bar:
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step_index / config.steps)))
        coarse, fine = _sample(images, config, generator)
        loss = F.l1_loss(net(coarse.to(device)), fine.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step = step_index + 1
        seconds = time.perf_counter() - started
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint()
        if time_limit_s is not None and seconds >= time_limit_s:
            save_checkpoint()
            break
    record = {
        "summary": (
            f"asirp train sr on {corpus}: {step} steps of {config.batch} crops of {config.patch} px, "
            f"beam sigma {config.sigma_min}-{config.sigma_max} px, {config.counts_min:g}-{config.counts_max:g} counts"
        ),
        "config": config.model_dump(),
        "steps": step,
        "seconds": round(seconds, 1),
        "n_images": len(images),
        "corpus": corpus,
    }
    if val_batches:
        record["validation_gain_over_bicubic_db"] = round(validation_gain(net, val_batches), 3)
    return TrainResult(net.eval(), step, seconds, record)


def write_weights(result: TrainResult, path: Path) -> Path:
    """Write the trained network as an FCA-SR weights file (atomically) and return its path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"the folder {path.parent} does not exist", path)
    _save_atomic(fca_payload(result.net, result.record), path)
    return path
