"""Self-supervised tomography denoising in the spirit of Noise2Inverse (Hendriksen et al. 2020).

The projections are split into ``K`` interleaved subsets (projection ``i`` goes to
subset ``i mod K``, so each covers the whole half turn). Each subset is reconstructed
on its own: ``x_1 ... x_K``. Their noise is independent (different projections,
independent photon noise), while the object is the same. A small CNN learns to map
the mean of ``K - 1`` subset reconstructions to the remaining one; since the target's
noise is independent of the input and has zero mean, minimising the squared error
learns the clean slice (the Noise2Noise argument), without any clean data. The
result is the average over the ``K`` choices of the held-out subset.

The network is trained on the data it denoises (no pre-trained weights, nothing
shipped), on random patches of the slices, on the CPU within a few minutes for
typical benchmark volumes; run a long training under ``flock`` when sharing a
machine. Its weights' sha256 goes into the provenance step.

Reference: A. A. Hendriksen, D. M. Pelt, K. J. Batenburg, "Noise2Inverse:
Self-supervised deep convolutional denoising for tomography", IEEE Trans. Comput.
Imaging 6, 1320-1335 (2020).
"""

from __future__ import annotations

import hashlib
import inspect
import io
from dataclasses import replace

import numpy as np

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import TimedStep
from ..progress import progress
from ..torch_runtime import DeviceName, to_numpy
from ..torch_runtime import device as torch_device
from .reconstruct import FilterName, fbp


def subset_reconstructions(frame: Frame, splits: int, *, centre: float | None, filter_name: FilterName = "ramp") -> np.ndarray:
    """FBP of each of ``splits`` interleaved angle subsets: ``(splits, nz, N, N)`` float32.

    FBP is linear and each subset's angular weights add up to π, so the mean of the
    subset reconstructions equals the reconstruction from all projections when the
    subsets have equal sizes.
    """
    angles = np.asarray(frame.meta["angles_deg"], dtype=np.float64)
    volumes = []
    for index in range(splits):
        chosen = np.arange(index, angles.size, splits)
        subset = replace(frame, data=frame.data[chosen], valid=frame.valid[chosen],
                         meta={**frame.meta, "angles_deg": angles[chosen].tolist()})
        volumes.append(np.asarray(fbp(subset, centre=centre, filter_name=filter_name).data))
    return np.stack(volumes)


#: What ``denoise_params`` (``asirp tomo recon --denoise-param``) may set: :func:`noise2inverse`'s keywords but the
#: rotation axis and the FBP filter, which are the reconstruction's own (``--center``, ``--filter``).
PARAMETERS: tuple[str, ...] = ("splits", "steps", "patch", "batch", "channels", "learning_rate", "seed", "threads", "device")
_WHOLE = ("splits", "steps", "patch", "batch", "channels", "seed", "threads")


def check_parameters(shape: tuple[int, ...], **params: object) -> None:
    """Refuse Noise2Inverse parameters for projections of ``shape`` ``(n_angles, ny, nx)`` before any work, in one line.

    Unknown names, values of the wrong type, and the ranges :func:`noise2inverse` needs
    (parameters not given take its defaults).
    """
    unknown = [name for name in params if name not in PARAMETERS]
    if unknown:
        raise ParameterError(f"unknown Noise2Inverse parameter {unknown[0]!r}; use one of {', '.join(PARAMETERS)}")
    for name, value in params.items():
        whole = name in _WHOLE
        if (whole and (isinstance(value, bool) or not isinstance(value, int))) or (
                name == "learning_rate" and (isinstance(value, bool) or not isinstance(value, int | float))):  # fmt: skip
            raise ParameterError(f"Noise2Inverse parameter {name} must be {'a whole number' if whole else 'a number'}, got {value!r}")
    if "device" in params and params["device"] not in ("auto", "cpu", "cuda"):
        raise ParameterError(f"Noise2Inverse parameter device must be auto, cpu or cuda, got {params['device']!r}")
    n_angles, nx = int(shape[0]), int(shape[-1])
    defaults = {name: given.default for name, given in inspect.signature(noise2inverse).parameters.items() if name in PARAMETERS}
    get = defaults | params
    splits, patch = int(get["splits"]), int(get["patch"])
    if not 2 <= splits <= 8 or n_angles < 4 * splits:
        raise ParameterError(f"splits must be 2 to 8 with at least 4 projections each; got {splits} for {n_angles} projections")
    if patch % 4 or not 8 <= patch <= nx:
        raise ParameterError(f"patch must be a multiple of 4 between 8 and the slice side {nx}, got {patch}")
    if get["steps"] < 1 or get["batch"] < 1 or get["channels"] < 4 or not get["learning_rate"] > 0:
        raise ParameterError("steps, batch must be >= 1, channels >= 4 and learning_rate > 0")


def _network(channels: int):
    """A two-level U-Net (~4·10⁴ parameters at 16 channels): small enough to train on a CPU."""
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1))

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = channels
            self.enc1, self.enc2, self.mid = block(1, c), block(c, 2 * c), block(2 * c, 2 * c)
            self.up2, self.dec2 = nn.ConvTranspose2d(2 * c, 2 * c, 2, stride=2), block(4 * c, c)
            self.up1, self.dec1 = nn.ConvTranspose2d(c, c, 2, stride=2), block(2 * c, c)
            self.out = nn.Conv2d(c, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            e1 = self.enc1(x)
            e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
            m = self.mid(nn.functional.max_pool2d(e2, 2))
            d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
            return x + self.out(d1)  # residual: the network learns the noise to remove

    return UNet()


def _weights_sha256(net) -> str:
    import torch

    buffer = io.BytesIO()
    torch.save({key: value.cpu() for key, value in net.state_dict().items()}, buffer)  # the same on every device
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def noise2inverse(
    frame: Frame,
    *,
    centre: float | None = None,
    splits: int = 4,
    steps: int = 300,
    patch: int = 48,
    batch: int = 8,
    channels: int = 16,
    learning_rate: float = 2e-3,
    seed: int = 0,
    threads: int = 2,
    filter_name: FilterName = "ramp",
    device: DeviceName = "auto",
) -> Frame:
    """Reconstruct and denoise a volume from attenuation projections by Noise2Inverse.

    Parameters
    ----------
    frame:
        Attenuation projections ``(n_angles, ny, nx)`` with ``meta["angles_deg"]``.
    centre:
        Rotation axis column, px (default ``nx // 2``).
    splits:
        Number ``K`` of angle subsets (2 to 8; at least 4 projections each).
    steps:
        Training steps (Adam).
    patch:
        Side of the training patches, px (multiple of 4, at most the slice side).
    batch:
        Patches per step.
    channels:
        Width of the U-Net's first level.
    learning_rate:
        Adam step size (cosine decay to 1/10 over the training).
    seed:
        Seed of the network's initialisation and of the patch sampling.
    threads:
        torch CPU threads (2 at most on a shared machine).
    filter_name:
        FBP filter of the subset reconstructions.
    device:
        Where the network trains and runs: ``"auto"`` (a CUDA GPU when present), ``"cpu"``
        or ``"cuda"`` (:func:`asirp.torch_runtime.device`). Patches are drawn on the CPU
        with the seeded generator, so every device sees the same training data.

    Returns
    -------
    Frame
        The denoised volume, as :func:`~asirp.tomo.reconstruct.fbp` returns it, with a
        ``"noise2inverse"`` step (training loss, weights sha256) instead of ``"fbp"``.
    """
    import torch

    if not frame.is_stack or "angles_deg" not in frame.meta:
        raise InputError("noise2inverse needs attenuation projections (n_angles, ny, nx) with angles", frame.meta.get("source"))
    check_parameters(frame.shape, splits=splits, steps=steps, patch=patch, batch=batch, channels=channels,
                     learning_rate=learning_rate)  # fmt: skip
    step = TimedStep("noise2inverse", centre_px=None if centre is None else float(centre), splits=splits, steps=steps,
                patch=patch, batch=batch, channels=channels, learning_rate=learning_rate, seed=seed,
                filter_name=filter_name, network="2-level U-Net, residual")
    subsets = subset_reconstructions(frame, splits, centre=centre, filter_name=filter_name)
    full = fbp(frame, centre=centre, filter_name=filter_name)  # mask, metadata and the reference scale
    scale = float(np.std(full.data[full.valid])) or 1.0
    subsets /= scale
    others = (subsets.sum(axis=0, keepdims=True) - subsets) / (splits - 1)  # input for each held-out subset

    on = torch_device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = _network(channels).to(on)  # initialised on the CPU (seeded): the same start on every device
        optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, eta_min=learning_rate / 10)
        nz, size = subsets.shape[1], subsets.shape[-1]
        losses = []
        for _ in progress(range(steps), desc="Noise2Inverse training", unit="step"):
            held = rng.integers(splits, size=batch)
            z = rng.integers(nz, size=batch)
            y0 = rng.integers(size - patch + 1, size=batch)
            x0 = rng.integers(size - patch + 1, size=batch)
            flips = rng.integers(2, size=(batch, 2)).astype(bool)

            def crop(stack: np.ndarray) -> torch.Tensor:
                tiles = [stack[h, k, a : a + patch, b : b + patch] for h, k, a, b in zip(held, z, y0, x0, strict=True)]
                tiles = [t[::-1] if f[0] else t for t, f in zip(tiles, flips, strict=True)]
                tiles = [t[:, ::-1] if f[1] else t for t, f in zip(tiles, flips, strict=True)]
                return torch.from_numpy(np.ascontiguousarray(np.stack(tiles)[:, None])).to(on)

            inputs, targets = crop(others), crop(subsets)
            loss = torch.nn.functional.mse_loss(net(inputs), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.detach())  # read after the loop: no host synchronisation per step
        net.eval()
        denoised = np.zeros(subsets.shape[1:], dtype=np.float32)
        pad = (-size) % 4  # the U-Net halves twice
        with torch.no_grad():
            for subset in range(splits):
                for start in range(0, nz, 8):
                    slab = torch.from_numpy(np.ascontiguousarray(others[subset, start : start + 8, None])).to(on)
                    slab = torch.nn.functional.pad(slab, (0, pad, 0, pad), mode="reflect") if pad else slab
                    denoised[start : start + 8] += to_numpy(net(slab)[:, 0, :size, :size])
        weights = _weights_sha256(net)
        losses = torch.stack(losses).tolist()
    finally:
        torch.set_num_threads(previous_threads)
    denoised *= scale / splits
    tail = losses[-max(1, steps // 10) :]
    notes = {"loss_first": losses[0], "loss_final_mean": float(np.mean(tail)), "loss_every_10": losses[::10],
             "value_scale": scale, "training_patches": steps * batch}
    step.parameters["centre_px"] = float(full.meta["rotation_centre_px"])
    result = step.apply(frame, np.where(full.valid, denoised, 0), notes=notes, valid=full.valid, kind="image",
                        pixel_size=full.pixel_size, meta=full.meta, weights_sha256=weights)
    return result
