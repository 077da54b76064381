"""Training the compact U-Net: synthetic corpus, user frames, checkpoints, fine-tuning.

One loop serves the three recipes of :mod:`.inputs`, on the CPU or a GPU. A
*source* yields training batches ``(inputs, target, mask, scale)`` on the fly:

* :class:`~.procedural.ProceduralCorpus`: varied procedural patterns drawn on the
  training device (how the shipped weights are pre-trained, see its module);
* :class:`SyntheticCorpus`: noise-free frames from :func:`asirp.synth.diffraction_frame`
  (powder, textured, single_crystal, saxs, saxs_fibre, pdf; off-centre beams, tilt up
  to 5°, gaps/beamstop/no mask; seeds from :data:`TRAIN_SEED` on, never those of the
  benchmark), each drawn at a fresh log-uniform dose in 0.1-100 counts per pixel
  with fresh Poisson noise every time it is used;
* :class:`FrameSource`: the user's measured frames, symmetry from :func:`analyze`,
  augmented by binomial thinning (keeping each photon with probability ``p`` gives an
  exact lower-dose Poisson frame whose pixels stay independent).

The ``symmetry`` recipe never needs a clean image: the photons of each frame are
split binomially into an input half and a target half (:mod:`.inputs`).

The loss is the Poisson deviance ``2 [x log(x/mu) - (x - mu)]`` per pixel on the
loss mask (squared error on ``x/s`` for the ``smae`` recipe, as published), divided
by ``sqrt(s)`` so frames of every dose give gradients of comparable noise.

:func:`fine_tuned` adapts the symmetry network to the user's own frame at run time
within a time budget and caches the result per detector, symmetry and data folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, ParameterError
from ...frame import Frame
from ...progress import progress
from ...symmetry import INVERSION, Pairing, PartnerMean, ScatteringPlane, analyze, mirror, parse
from .inputs import IN_CHANNELS, RECIPES, SPLIT_RANGE, own_inputs, smae_inputs, smae_partner, symmetry_inputs

#: First seed of the synthetic training corpus (the benchmark uses seeds below 10 000).
TRAIN_SEED = 100_000
#: First seed of the held-out frames used to report the validation loss during training.
HELDOUT_SEED = 900_000
#: Patterns of the synthetic corpus.
PATTERNS = ("powder", "textured", "single_crystal", "saxs", "saxs_fibre", "pdf")
#: Dose range of the corpus, counts per pixel.
DOSE_RANGE = (0.1, 100.0)


@dataclass
class Sample:
    inputs: np.ndarray  # (C, H, W)
    target: np.ndarray  # (H, W) counts (or expected counts for supervised)
    mask: np.ndarray  # (H, W) float 0/1: pixels in the loss
    scale: float  # mean counts per pixel of the input
    target_factor: float = 1.0  # expected target / expected input (photon split: (1 - p) / p)


@dataclass(frozen=True)
class _Item:
    """A frame ready for sampling: expected counts (synthetic) or measured counts (user)."""

    counts: np.ndarray
    valid: np.ndarray
    pairing: Pairing
    center: tuple[float, float]
    noise_free: bool


def known_operations(pattern: str, meta: dict[str, Any]) -> list:
    """The symmetry a synthetic pattern has by construction (its generator's physics)."""
    if pattern in ("powder", "saxs", "pdf"):
        return parse("isotropy")
    if pattern in ("textured", "saxs_fibre"):
        return [INVERSION, mirror(float(meta["orientation_deg"]))]
    return [INVERSION]


@dataclass(frozen=True)
class PhotonSplit:
    """Two independent Poisson halves of one frame's counts (binomial thinning with probability ``p``).

    ``scale`` is the mean counts per measured pixel of ``seen``, computed once: many
    crops of a large frame share one split.
    """

    seen: np.ndarray
    target: np.ndarray
    factor: float  # (1 - p) / p: expected target over expected seen counts
    scale: float


def photon_split(counts: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> PhotonSplit:
    """Binomial split of measured counts, with p drawn in :data:`SPLIT_RANGE`.

    Only measured pixels with counts are drawn, single photons as one uniform each (a
    Bernoulli draw) and the rest binomially: 39 -> 15 ms for 1 Mpx at 1 count/px, 16 -> 2 ms at
    0.02; a fine-tuning run splits a frame ~30 times.
    """
    p = float(rng.uniform(*SPLIT_RANGE))
    flat, measured = counts.ravel(), np.asarray(valid, bool).ravel()
    single = np.flatnonzero(measured & (flat == 1))
    several = np.flatnonzero(measured & (flat > 1))
    drawn = np.zeros(flat.size, np.float32)
    drawn[single] = rng.random(single.size, np.float32) < p
    drawn[several] = rng.binomial(flat[several].astype(np.int64), p)
    seen = drawn.reshape(counts.shape)
    n_measured = max(int(np.count_nonzero(measured)), 1)
    return PhotonSplit(seen, counts - seen, (1.0 - p) / p,
                       max(float(seen.sum(dtype=np.float64)) / n_measured, 1e-3))


def build_sample(item: _Item, recipe: str, rng: np.random.Generator, patch: int, dose: float | None = None,
                 thin: float | None = None, split: PhotonSplit | None = None,
                 partner_mean: PartnerMean | None = None) -> Sample:
    """One training sample: a fresh noisy realisation of ``item`` and a random ``patch`` crop.

    ``split`` (``symmetry`` recipe, measured frames): a :func:`photon_split` of the item's
    counts to crop from instead of drawing one (a batch of crops can share one split of
    a large frame). ``partner_mean``: the item's pairing under its mask, precomputed
    (many crops of one frame).
    """
    valid = item.valid
    if item.noise_free:
        assert dose is not None, "a noise-free item is drawn at a dose"
        expected = item.counts * (dose / float(item.counts[valid].mean()))
        noisy = np.where(valid, rng.poisson(expected), 0).astype(np.float32)
    else:
        expected = None
        noisy = item.counts if thin is None else rng.binomial(item.counts.astype(np.int64), thin).astype(np.float32)
    factor = 1.0
    if recipe == "symmetry":  # photon split: y1 in, y2 = x - y1 as target
        split = split if split is not None else photon_split(noisy, valid, rng)
        noisy, split_target, factor, scale = split.seen, split.target, split.factor, split.scale
    else:
        scale = max(float(noisy[valid].mean()), 1e-3)
    ny, nx = valid.shape
    y0 = int(rng.integers(0, ny - patch + 1))
    x0 = int(rng.integers(0, nx - patch + 1))
    crop = (slice(y0, y0 + patch), slice(x0, x0 + patch))
    if recipe == "symmetry":
        if partner_mean is not None:
            mean, count = partner_mean(noisy, crop)
        else:
            mean, count = item.pairing.partners(noisy, valid, crop).mean()  # partners of the crop only
        inputs = symmetry_inputs(noisy[crop], valid[crop], mean, count, scale)
        target, mask = split_target[crop], valid[crop]
    elif recipe == "supervised":
        if expected is None:
            raise ParameterError("the supervised recipe needs synthetic clean/noisy pairs, not measured frames")
        inputs, target, mask = own_inputs(noisy, valid, scale), expected.astype(np.float32), valid
        inputs, target, mask = inputs[:, crop[0], crop[1]], target[crop], mask[crop]
    else:
        inputs = smae_inputs(noisy, valid, scale, item.center)
        _, ok = smae_partner(noisy, valid, item.center)
        target, mask = noisy, valid & ok & (noisy > 0)
        inputs, target, mask = inputs[:, crop[0], crop[1]], target[crop], mask[crop]
    mask = mask.astype(np.float32)
    if rng.random() < 0.5:  # flips keep the pixel-partner relation: pure augmentation
        inputs, target, mask = inputs[:, :, ::-1], target[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        inputs, target, mask = inputs[:, ::-1], target[::-1], mask[::-1]
    return Sample(np.ascontiguousarray(inputs), np.ascontiguousarray(target), np.ascontiguousarray(mask), scale, factor)


class SyntheticCorpus:
    """Noise-free synthetic frames with their known symmetry, resampled at random doses."""

    def __init__(self, n_frames: int, *, shape: tuple[int, int] = (256, 256), seed: int = TRAIN_SEED,
                 recipe: str = "symmetry") -> None:
        from ... import synth

        rng = np.random.default_rng(seed)
        self.items: list[_Item] = []
        self.recipe = recipe
        for i in progress(range(n_frames), desc="synthetic corpus", unit="frame"):
            pattern = PATTERNS[i % len(PATTERNS)]
            ny, nx = shape
            center = (ny * (0.5 + rng.uniform(-0.15, 0.15)), nx * (0.5 + rng.uniform(-0.15, 0.15)))
            mask = str(rng.choice(["gaps", "gaps", "beamstop", "none"]))
            result = synth.diffraction_frame(
                pattern, shape=shape, dose=10.0, beam_center=center, tilt_deg=float(rng.uniform(0.0, 5.0)),
                tilt_plane_deg=float(rng.uniform(0.0, 360.0)), mask=mask, seed=seed + i)
            geometry = result.truth.geometry
            assert geometry is not None  # every synthetic diffraction frame has its geometry
            plane = ScatteringPlane.from_geometry(geometry, shape)
            ops = known_operations(pattern, result.meta)
            pairing = Pairing.build(plane, ops) if recipe == "symmetry" else Pairing.build(plane, [])
            self.items.append(_Item(np.asarray(result.truth.data, np.float32), np.asarray(result.truth.valid),
                                    pairing, plane.center, True))

    def sample(self, rng: np.random.Generator, patch: int) -> Sample:
        item = self.items[int(rng.integers(len(self.items)))]
        dose = math.exp(rng.uniform(math.log(DOSE_RANGE[0]), math.log(DOSE_RANGE[1])))
        return build_sample(item, self.recipe, rng, patch, dose=dose)


class FrameSource:
    """The user's measured frames (2-D or stacks), for self-supervised fine-tuning."""

    def __init__(self, frames: Sequence[Frame], *, recipe: str = "symmetry", thinning: tuple[float, float] = (0.3, 1.0)) -> None:
        if recipe == "supervised":
            raise ParameterError("measured frames have no clean reference: fine-tune with the symmetry recipe")
        self.items: list[_Item] = []
        self.recipe, self.thinning = recipe, thinning
        for frame in frames:
            report = analyze(frame, local=False)
            if recipe == "symmetry" and not report.holding:
                raise InputError("no symmetry holds in this frame, so it cannot train the symmetry network "
                                 "(see asirp.symmetry.analyze)", frame.meta.get("source"))
            plane = report.plane
            assert plane is not None
            pairing = Pairing.build(plane, report.group())
            for image in frame.images():
                if min(image.image_shape) < 64:
                    raise InputError(f"frame of {image.image_shape} px is too small to train on (64 px at least)",
                                     image.meta.get("source"))
                self.items.append(_Item(np.asarray(image.data, np.float32), np.asarray(image.valid), pairing,
                                        plane.center, False))
        if not self.items:
            raise InputError("no frames to train on")

    def sample(self, rng: np.random.Generator, patch: int) -> Sample:
        item = self.items[int(rng.integers(len(self.items)))]
        thin = float(rng.uniform(*self.thinning))
        return build_sample(item, self.recipe, rng, min(patch, *item.valid.shape), thin=None if thin >= 0.999 else thin)


def loss_fn(output: Any, batch: dict[str, Any], recipe: str) -> Any:
    """Mean loss over the masked pixels of a batch; ``output`` is the network's ``(B, K, H, W)``."""
    import torch

    scale = batch["scale"][:, None, None]
    mask = batch["mask"]
    x = batch["target"]
    log_rate = output[:, 0]
    if recipe == "smae":
        per_pixel = (torch.exp(log_rate) - x / scale) ** 2
    else:
        factor = batch["target_factor"][:, None, None] if "target_factor" in batch else 1.0
        mu = factor * scale * torch.exp(log_rate)
        xlogx = torch.where(x > 0, x * torch.log(torch.clamp(x, min=1e-12) / mu), torch.zeros_like(x))
        per_pixel = 2.0 * (xlogx - (x - mu)) / torch.sqrt(factor * scale)
    return (per_pixel * mask).sum() / torch.clamp(mask.sum(), min=1.0)


def _collate(samples: list[Sample]) -> dict[str, Any]:
    import torch

    return {
        "inputs": torch.from_numpy(np.stack([s.inputs for s in samples])),
        "target": torch.from_numpy(np.stack([s.target for s in samples])),
        "mask": torch.from_numpy(np.stack([s.mask for s in samples])),
        "scale": torch.tensor([s.scale for s in samples], dtype=torch.float32),
        "target_factor": torch.tensor([s.target_factor for s in samples], dtype=torch.float32),
    }


@dataclass
class TrainResult:
    """A trained network and how its training went."""

    net: Any
    steps: int
    train_loss: list[float] = field(default_factory=list)
    heldout_loss: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


def _batch(source: Any, rng: np.random.Generator, batch_size: int, patch: int, device: Any) -> dict[str, Any]:
    """A batch on ``device``: procedural sources draw it there, the others are collated from samples."""
    if hasattr(source, "batch"):
        return source.batch(batch_size, patch)
    return {k: v.to(device) for k, v in _collate([source.sample(rng, patch) for _ in range(batch_size)]).items()}


def train(
    source: Any,
    *,
    recipe: str = "symmetry",
    steps: int = 1000,
    minutes: float | None = None,
    batch_size: int = 8,
    patch: int = 128,
    lr: float = 1e-3,
    init: str | PathLike[str] | None = None,
    checkpoint: str | PathLike[str] | None = None,
    heldout: Sequence[Sample] | dict[str, Any] = (),
    eval_every: int = 100,
    seed: int = 0,
    threads: int | None = 2,
    width: int | None = None,
    callback: Callable[[int, float], None] | None = None,
    device: str = "cpu",
    net: Any = None,
) -> TrainResult:
    """Train (or fine-tune, or resume) the compact U-Net.

    Parameters
    ----------
    source:
        Where samples come from.
    recipe:
        ``"symmetry"``, ``"supervised"`` or ``"smae"``.
    steps:
        Optimiser steps in total (a resumed run continues to this number).
    minutes:
        Wall-clock budget; training stops at whichever of ``steps``/``minutes`` comes first.
    batch_size, patch:
        Samples per step and their side (pixels, a multiple of 8).
    lr:
        Adam learning rate, decayed by a cosine to 1/20 over ``steps`` (or ``minutes``).
    init:
        Weights file to start from (fine-tuning); ignored when resuming.
    checkpoint:
        File to save the state to every ``eval_every`` steps and at the end; an
        existing checkpoint is resumed.
    heldout:
        Fixed samples on which the loss is reported every ``eval_every`` steps.
    threads:
        torch CPU threads (2 on the shared machine).
    width:
        Feature width of a fresh network's first level; None: :data:`.network.WIDTH`.
    device:
        torch device to train on ("cuda" with a GPU; a procedural source must be on it).
    net:
        A network to continue training in place (run-time fine-tuning); ``init`` is then ignored.
    """
    import torch

    from .network import WIDTH, build_network, predict

    if recipe not in RECIPES:
        raise ParameterError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if patch % 8 or patch < 32:
        raise ParameterError(f"patch must be a multiple of 8 and at least 32 px, got {patch}")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    fresh = net is None
    net = (build_network(recipe, IN_CHANNELS, width or WIDTH) if fresh else net).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    result = TrainResult(net, 0)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state.get("recipe") != recipe:
            raise InputError(f"checkpoint was written by a {state.get('recipe')!r} run, not {recipe!r}", str(ckpt))
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        result.steps, result.train_loss, result.heldout_loss = state["step"], state["train_loss"], state["heldout_loss"]
        rng = np.random.default_rng([seed, result.steps])
    elif init is not None and fresh:
        from .weights import _read

        blob = _read(Path(init))
        net.load_state_dict(blob["state_dict"])
    def set_lr(step: int, elapsed: float) -> None:
        # Cosine decay over the steps or the time budget, whichever runs out first.
        frac = min(1.0, max(step / max(steps, 1), elapsed / (60.0 * minutes) if minutes else 0.0))
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac)))

    held: dict[str, Any] | None
    if isinstance(heldout, dict):  # a batch already (procedural sources)
        held = {k: v.to(device) for k, v in heldout.items()}
    else:
        held = {k: v.to(device) for k, v in _collate(list(heldout)).items()} if heldout else None

    def evaluate() -> float:
        assert held is not None
        net.eval()
        with torch.no_grad():
            value = float(loss_fn(predict(net, held["inputs"]), held, recipe))
        net.train()
        return value

    def save() -> None:
        if ckpt is not None:
            from ...io.atomic import atomic_output

            with atomic_output(ckpt, force=True, inputs=()) as tmp:
                torch.save({"recipe": recipe, "state_dict": net.state_dict(), "optimizer": opt.state_dict(),
                            "step": result.steps, "train_loss": result.train_loss,
                            "heldout_loss": result.heldout_loss}, tmp)

    started = time.perf_counter()
    if held is not None and result.steps == 0:
        result.heldout_loss.append((0, evaluate()))
    net.train()
    bar = progress(range(result.steps, steps), desc=f"train {recipe}", total=steps - result.steps, unit="step")
    for step in bar:
        set_lr(step, time.perf_counter() - started)
        batch = _batch(source, rng, batch_size, patch, device)
        loss = loss_fn(predict(net, batch["inputs"]), batch, recipe)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        result.steps = step + 1
        result.train_loss.append(loss.item())
        if hasattr(bar, "set_postfix") and step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(result.train_loss[-50:]):.4f}")
        if callback is not None:
            callback(result.steps, float(loss))
        if result.steps % eval_every == 0:
            if held is not None:
                result.heldout_loss.append((result.steps, evaluate()))
            save()
        if minutes is not None and time.perf_counter() - started > 60.0 * minutes:
            break
    if held is not None and (not result.heldout_loss or result.heldout_loss[-1][0] != result.steps):
        result.heldout_loss.append((result.steps, evaluate()))
    save()
    result.seconds = time.perf_counter() - started
    net.eval()
    return result


def pretrain(recipe: str, output: str | PathLike[str], *, minutes: float, device: str = "cpu", seed: int = 0,
             batch_size: int = 32, patch: int = 128, size: int = 256, bank: int = 96, refresh: int = 25, lr: float = 1e-3,
             width: int | None = None, force: bool = False) -> TrainResult:
    """Pre-train the ``symmetry`` or ``supervised`` network on the procedural corpus and write its weights.

    How the shipped weights are made (on a GPU: ``device="cuda"``); the held-out loss
    is measured on a fixed batch of patterns drawn with another seed.
    """
    from .procedural import DOSE_RANGE as PROCEDURAL_DOSES
    from .procedural import FAMILIES, ProceduralCorpus

    source = ProceduralCorpus(device, size=size, bank=bank, refresh=refresh, seed=seed, recipe=recipe)
    held = ProceduralCorpus(device, size=size, bank=32, seed=seed + 999_983, recipe=recipe).batch(64, patch)
    result = train(source, recipe=recipe, steps=10_000_000, minutes=minutes, batch_size=batch_size, patch=patch,
                   lr=lr, heldout=held, eval_every=500, seed=seed, threads=None, width=width, device=device)
    meta = {"corpus": "procedural", "families": list(FAMILIES), "dose_range": list(PROCEDURAL_DOSES),
            "pattern_size": size, "bank": bank, "refresh": refresh, "batch": batch_size, "patch": patch, "device": device, "seed": seed,
            "heldout_curve": result.heldout_loss[-8:]}
    save_weights(result, output, recipe, meta, force=force)
    return result


def weights_blob(net: Any, recipe: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The ``torch.save`` dict of a weights file that :func:`.weights.load_weights` reads."""
    return {
        "recipe": recipe,
        "width": net.width,
        "in_channels": net.in_channels,
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": meta,
    }


def save_weights(result: TrainResult, path: str | PathLike[str], recipe: str, meta: dict[str, Any], *, force: bool = False) -> Path:
    """Write a weights file (atomic) that :func:`.weights.load_weights` reads."""
    import torch

    from ...io.atomic import atomic_output

    blob = weights_blob(result.net, recipe, {**meta, "steps": result.steps, "seconds": round(result.seconds, 1),
                                              "heldout_loss": result.heldout_loss[-1][1] if result.heldout_loss else None})
    with atomic_output(Path(path), force=force, inputs=()) as tmp:
        torch.save(blob, tmp)
    return Path(path)


def heldout_samples(recipe: str, n: int = 12, patch: int = 128, seed: int = HELDOUT_SEED) -> list[Sample]:
    """Fixed validation samples from held-out synthetic seeds (one per pattern and dose)."""
    corpus = SyntheticCorpus(max(len(PATTERNS), n // 2), seed=seed, recipe=recipe)
    rng = np.random.default_rng(seed)
    doses = np.geomspace(DOSE_RANGE[0], DOSE_RANGE[1], 4)
    return [build_sample(corpus.items[i % len(corpus.items)], recipe, rng, patch, dose=float(doses[i % 4]))
            for i in range(n)]


class _ImageSource:
    """The images being denoised, as a fine-tuning source with their pairing (thinned for augmentation)."""

    def __init__(self, images: Sequence[tuple[np.ndarray, np.ndarray]], pairing: Pairing) -> None:
        self.items = [_Item(np.asarray(d, np.float32), np.asarray(v), pairing, pairing.plane.center, False)
                      for d, v in images]
        self._uses = 0
        self._item = self.items[0]
        self._split: PhotonSplit | None = None
        self._mean: PartnerMean | None = None
        self._mask_keys = [np.packbits(item.valid).tobytes() for item in self.items]
        self._means: dict[bytes, PartnerMean] = {}

    #: Crops drawn from one photon split before a new split is drawn (four batches of four
    #: share one): splitting a 1 Mpx frame costs ~40 ms, a step ~80 ms; on the CeO2 Pilatus
    #: frame at 1 count/px, 84 -> 125 steps in the default 5 s, denoised MSE 0.543 -> 0.520.
    CROPS_PER_SPLIT = 16

    def sample(self, rng: np.random.Generator, patch: int) -> Sample:
        if self._uses % self.CROPS_PER_SPLIT == 0:
            index = int(rng.integers(len(self.items)))
            self._item, self._mean = self.items[index], self._partner_mean(index)
            self._split = photon_split(self._item.counts, self._item.valid, rng)
        self._uses += 1
        item = self._item
        return build_sample(item, "symmetry", rng, min(patch, *item.valid.shape) // 8 * 8, split=self._split,
                            partner_mean=self._mean)

    #: Distinct masks whose :class:`PartnerMean` is kept (the images of a stack share one mask as a rule;
    #: each costs 16 bytes per pixel and operation).
    MASKS_KEPT = 2
    #: Largest :class:`PartnerMean` built (bytes): beyond it (a 16 Mpx detector under seven operations
    #: would need 1.8 GB) crops sample their partners directly (2.3x slower per crop, no memory kept).
    MAX_PARTNER_MEAN_BYTES = 512 * 2**20

    def _partner_mean(self, index: int) -> PartnerMean | None:
        """Item ``index``'s pairing precomputed under its mask (None once :data:`MASKS_KEPT` other masks are kept)."""
        key = self._mask_keys[index]
        if key not in self._means:
            item = self.items[index]
            size = 16 * item.valid.size * len(item.pairing.maps)
            if len(self._means) >= self.MASKS_KEPT or size > self.MAX_PARTNER_MEAN_BYTES:
                return None
            self._means[key] = PartnerMean.of(item.pairing, item.valid)
        return self._means[key]


#: Fine-tuned networks of this process, by cache key (a stream reuses them).
_TUNED: dict[str, tuple[Any, dict[str, Any]]] = {}
#: Learning rate of run-time fine-tuning (the pre-training's final rate).
FINE_TUNE_LR = 2e-4


def _cache_dir() -> Path:
    import os

    root = os.environ.get("ASIRP_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                             os.path.expanduser("~/.cache"), "asirp")
    return Path(root) / "symmetry"


def fine_tuned(net: Any, digest: str, images: Sequence[tuple[np.ndarray, np.ndarray]], pairing: Pairing, scale: float,
               steps: int, seconds: float, *, key_extra: str = "", seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """The symmetry network fine-tuned on ``images`` for ``steps`` steps (at most ``seconds``), or the cached one.

    A fixed number of steps (seeded) makes the tuned weights reproducible; the time
    bound stops a slow or loaded machine early (``info["stopped_early"]``). The
    cache key is the base weights' sha256, the number of steps, the image shape, the operations, the
    beam centre (0.1 px), the dose (within a factor of 2) and ``key_extra`` (the data folder: one detector and
    sample): a series or a rerun reuses the tuned weights without training again,
    from memory or from the cache folder (``ASIRP_CACHE_DIR``, default
    ``~/.cache/asirp/symmetry``). A cache file is an ordinary weights file
    (``weights=`` of the ``symmetry`` method takes it). Returns the network and what
    was done (``cache_file``: that file, None where the cache folder is not writable).
    """
    import copy
    import hashlib
    import json

    import torch

    shape = images[0][0].shape
    if any(np.any(d[v] != np.round(d[v])) for d, v in images):
        return net, {"seconds": 0.0, "steps": 0, "cached": False,
                     "skipped": "not photon counts (non-integer values): the photon split does not apply"}
    key_text = json.dumps([digest, steps, list(shape), [op.name for op in pairing.operations],
                           [round(c, 1) for c in pairing.plane.center], key_extra, SPLIT_RANGE,
                           round(math.log2(max(scale, 1e-6)))])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    if key in _TUNED:
        tuned, info = _TUNED[key]
        return tuned, {**info, "cached": True}
    path = _cache_dir() / f"{key}.pt"
    tuned = copy.deepcopy(net)
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            info = {**blob["meta"]["fine_tuning"], "cached": True, "cache_file": str(path)}
            if not info.get("stopped_early"):  # a run cut short by the time bound is redone, not reused
                tuned.load_state_dict(blob["state_dict"])
                _TUNED[key] = (tuned.eval(), info)
                return tuned, info
        except Exception:  # a corrupt cache entry is retrained and replaced, never trusted
            path.unlink(missing_ok=True)
    for p in tuned.parameters():
        p.requires_grad_(True)
    patch = max(32, min(128, min(shape) // 8 * 8))
    if min(shape) < 32:
        return net, {"seconds": 0.0, "steps": 0, "cached": False, "skipped": "image smaller than 32 px"}
    from ...torch_runtime import module_device

    result = train(_ImageSource(images, pairing), recipe="symmetry", steps=steps, minutes=seconds / 60.0,
                   batch_size=4, patch=patch, lr=FINE_TUNE_LR, seed=seed, threads=None, net=tuned,
                   device=str(module_device(tuned)))  # tuned where the network is (the method's device)
    tuned = result.net.eval()
    for p in tuned.parameters():
        p.requires_grad_(False)
    info = {"seconds": round(result.seconds, 2), "steps": result.steps, "steps_asked": steps,
            "stopped_early": result.steps < steps, "cached": False,
            "loss_first": float(np.mean(result.train_loss[:10])) if result.train_loss else None,
            "loss_last": float(np.mean(result.train_loss[-10:])) if result.train_loss else None}
    _TUNED[key] = (tuned, info)
    try:
        from ...io.atomic import atomic_output

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, force=True, inputs=()) as tmp:
            torch.save(weights_blob(tuned, "symmetry", {"fine_tuned_from": digest, "fine_tuning": info}), tmp)
        info["cache_file"] = str(path)
    except OSError:  # a read-only home: the tuned weights live for this process only
        info["cache_file"] = None
    return tuned, info
