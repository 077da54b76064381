"""A procedural pre-training corpus of detector patterns, generated on the training device.

:mod:`asirp.synth` draws a handful of idealised pattern families with exact pyFAI
geometry, which is right for benchmarks but too narrow for pre-training a denoiser
that meets real frames: real detectors show spotty rings of coarse powders, texture,
diffuse scattering, beamstop shadows (masked or not), parasitic scattering, module
gaps, hot pixels, absorption and polarisation factors, and doses from a few photons
per frame to hundreds per pixel. This module draws all of those, with their
symmetry known by construction and deliberately broken in places (unpaired spots,
one-sided streaks and shadows, imperfectly corrected response factors, and now and
then an operation that does not hold), so the network learns to weigh partners
against the pixel's own neighbourhood instead of trusting them blindly.

Everything runs in torch on the training device (a GPU when there is one): a *bank*
of noise-free patterns with their partner sampling grids is drawn, and every batch
redraws fresh Poisson noise at a log-uniform dose, splits the photons binomially
(:mod:`.inputs`), samples the partners of the input half bilinearly (``grid_sample``,
measured neighbours only, as :class:`asirp.symmetry.PartnerMap` does) and crops patches. The bank is redrawn every
``refresh`` batches. Geometry is flat (an untilted detector about a sub-pixel beam
centre): a tilt only changes where partners are, which the pairing solves at
inference; the network sees the same kind of partner average either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...symmetry.operations import INVERSION, Operation, closure, mirror, parse
from .inputs import SPLIT_RANGE, SUPPORT_NORM

#: Dose range of pre-training, mean counts per measured pixel (a Lambda frame has 0.004).
DOSE_RANGE = (0.003, 100.0)
#: Most partners a pixel can have (isotropy: 7 rotations).
MAX_OPS = 7
#: Pattern families and their drawing weights.
FAMILIES = {"powder": 0.16, "spotty": 0.16, "textured": 0.14, "crystal": 0.16, "diffuse": 0.16, "amorphous": 0.1,
            "flat": 0.06, "sparse_spots": 0.06}


@dataclass
class Pattern:
    """One noise-free pattern: relative intensity (mean 1 on valid pixels) and what is known about it."""

    truth: Any  # torch (S, S) float32
    valid: Any  # torch (S, S) bool
    center: tuple[float, float]
    operations: list[Operation]
    response: Any  # torch (S, S): the smooth factor folded into truth
    correction: float  # exponent of the response applied to partners (1 = perfect correction)


def _coords(size: int, center: tuple[float, float], device) -> tuple[Any, Any, Any, Any]:
    import torch

    idx = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    dy, dx = yy - center[0], xx - center[1]
    return dy, dx, torch.hypot(dy, dx), torch.atan2(dy, dx)


def _blur(image, sigma: float):
    """Separable Gaussian blur (sum-preserving, zero padding) of a 2-D tensor."""
    import torch

    radius = max(1, int(math.ceil(3.0 * sigma)))
    r = torch.arange(-radius, radius + 1, device=image.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    k = k / k.sum()
    x = image[None, None]
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1), padding=(radius, 0))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1), padding=(0, radius))
    return x[0, 0]


def _splat(size: int, ys, xs, weights, sigma: float, device):
    """Gaussian spots of width ``sigma`` (px) at sub-pixel positions (index coordinates), integrated weights."""
    import torch

    image = torch.zeros(size * size, device=device)
    inside = (ys >= 0) & (ys <= size - 1.001) & (xs >= 0) & (xs <= size - 1.001)
    ys, xs, weights = ys[inside], xs[inside], weights[inside]
    y0, x0 = ys.floor().long(), xs.floor().long()
    fy, fx = ys - y0, xs - x0
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
        image.index_add_(0, (y0 + dy) * size + (x0 + dx), weights * w)
    return _blur(image.view(size, size), sigma)


def _rings(rng: np.random.Generator, r, radius_max: float, n: int, width=(0.5, 3.0)):
    import torch

    out = torch.zeros_like(r)
    for _ in range(n):
        r0 = rng.uniform(4.0, radius_max)
        w = math.exp(rng.uniform(math.log(width[0]), math.log(width[1])))
        out += math.exp(rng.uniform(math.log(0.1), math.log(10.0))) * torch.exp(-0.5 * ((r - r0) / w) ** 2)
    return out


def _friedel_spots(center, ys, xs, weights):
    """Spots and their inversion partners (same intensity): Friedel pairs."""
    import torch

    cy, cx = center
    return torch.cat([ys, 2 * cy - 1 - ys]), torch.cat([xs, 2 * cx - 1 - xs]), torch.cat([weights, weights])


def draw_pattern(rng: np.random.Generator, size: int, device) -> Pattern:
    """One noise-free pattern with masks, its symmetry, and its symmetry breakers (see the module docstring)."""
    import torch

    family = str(rng.choice(list(FAMILIES), p=np.array(list(FAMILIES.values())) / sum(FAMILIES.values())))
    if rng.random() < 0.85:
        center = (size * rng.uniform(0.25, 0.75), size * rng.uniform(0.25, 0.75))
    else:  # beam near or beyond an edge: most partners missing
        center = (size * rng.uniform(-0.1, 1.1), size * rng.uniform(-0.1, 1.1))
    dy, dx, r, chi = _coords(size, center, device)
    radius_max = float(r.max())
    t = lambda a: torch.as_tensor(a, device=device, dtype=torch.float32)  # noqa: E731
    ops: list[Operation] = parse("isotropy")
    if family == "powder":
        signal = _rings(rng, r, radius_max, int(rng.integers(2, 16)))
    elif family == "amorphous":
        signal = _rings(rng, r, radius_max, int(rng.integers(2, 8)), width=(3.0, 15.0))
    elif family == "flat":
        signal = torch.zeros_like(r)
    elif family == "textured":
        chi0 = rng.uniform(0.0, 180.0)
        signal = torch.zeros_like(r)
        for _ in range(int(rng.integers(1, 8))):
            ring = _rings(rng, r, radius_max, 1)
            m, floor = float(rng.integers(1, 12)), rng.uniform(0.0, 0.6)
            signal += ring * (floor + (1 - floor) * torch.abs(torch.cos(chi - math.radians(chi0))) ** m)
        ops = closure([INVERSION, mirror(chi0)])
    elif family == "diffuse":
        angle = rng.uniform(0.0, 180.0)
        aniso = 1.0 if rng.random() < 0.4 else rng.uniform(0.3, 0.95)
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        q = torch.sqrt((dx * c + dy * s) ** 2 + (aniso * (-dx * s + dy * c)) ** 2)
        xi = math.exp(rng.uniform(math.log(0.02), math.log(0.5)))
        signal = 30.0 / (1.0 + (q * xi) ** 2) ** (rng.uniform(1.0, 2.2))
        if rng.random() < 0.5:
            signal = signal + _rings(rng, q, radius_max, int(rng.integers(1, 4)), width=(1.0, 8.0))
        if aniso < 1.0:
            ops = closure([INVERSION, mirror(angle)])
    elif family in ("spotty", "crystal", "sparse_spots"):
        ys, xs, ws = [], [], []
        if family == "spotty":
            for _ in range(int(rng.integers(2, 10))):
                n = int(math.exp(rng.uniform(math.log(10), math.log(600))))
                r0 = rng.uniform(5.0, radius_max)
                angles = t(rng.uniform(0, 2 * math.pi, n))
                radii = r0 + t(rng.normal(0, 0.4, n))
                ys.append(center[0] - 0.5 + radii * torch.sin(angles))
                xs.append(center[1] - 0.5 + radii * torch.cos(angles))
                ws.append(t(rng.gamma(0.7, 30.0, n)))
        else:
            a, b = rng.uniform(6.0, 40.0, 2)
            phi, gamma = rng.uniform(0, math.pi), math.radians(rng.uniform(50, 130))
            nmax = int(radius_max / min(a, b)) + 1
            h, k = np.meshgrid(np.arange(-nmax, nmax + 1), np.arange(0, nmax + 1), indexing="ij")
            keep = (k > 0) | ((k == 0) & (h > 0))  # one of each Friedel pair
            h, k = h[keep], k[keep]
            gx = h * a * math.cos(phi) + k * b * math.cos(phi + gamma)
            gy = h * a * math.sin(phi) + k * b * math.sin(phi + gamma)
            damp = np.exp(-(gx**2 + gy**2) / (2 * (radius_max * rng.uniform(0.3, 1.0)) ** 2))
            weight = rng.gamma(0.5, 200.0, gx.size) * damp * (rng.random(gx.size) < (0.15 if family == "sparse_spots" else 0.7))
            ys.append(t(center[0] - 0.5 + gy))
            xs.append(t(center[1] - 0.5 + gx))
            ws.append(t(weight))
        y, x, w = _friedel_spots(center, torch.cat(ys), torch.cat(xs), torch.cat(ws))
        signal = _splat(size, y, x, w, rng.uniform(0.5, 1.6), device)
        if family == "spotty" and rng.random() < 0.5:
            signal = signal + 0.2 * _rings(rng, r, radius_max, 3)
        ops = [INVERSION]
    else:  # pragma: no cover - FAMILIES is closed
        raise AssertionError(family)
    level = math.exp(rng.uniform(math.log(0.005), math.log(2.0)))
    if family == "sparse_spots":
        level *= 1e-3
    background = level * (1.0 + rng.uniform(0, 20) / (1.0 + (r / rng.uniform(5, 200)) ** 2))
    truth = signal + background
    # Symmetry breakers.
    if rng.random() < 0.3:  # unpaired spots (a second phase, a zinger, a satellite)
        n = int(rng.integers(1, 25))
        w = t(rng.gamma(0.7, 50.0, n)) * float(truth.mean())
        truth = truth + _splat(size, t(rng.uniform(0, size - 1, n)), t(rng.uniform(0, size - 1, n)), w,
                               rng.uniform(0.5, 1.5), device)
    if rng.random() < 0.2:  # parasitic streak, one-sided
        angle = rng.uniform(-math.pi, math.pi)
        along = dx * math.cos(angle) + dy * math.sin(angle)
        across = -dx * math.sin(angle) + dy * math.cos(angle)
        width = rng.uniform(0.7, 4.0)
        truth = truth + float(truth.mean()) * rng.uniform(0.5, 20) * torch.exp(-0.5 * (across / width) ** 2) * (
            along > 0) * torch.exp(-along / rng.uniform(10, 200))
    valid = torch.ones((size, size), dtype=torch.bool, device=device)
    arm_angle = rng.uniform(-math.pi, math.pi)
    arm = (torch.abs(-dx * math.sin(arm_angle) + dy * math.cos(arm_angle)) < rng.uniform(2, 8)) & (
        dx * math.cos(arm_angle) + dy * math.sin(arm_angle) > 0)
    stop = r < rng.uniform(3, 25)
    shadow = stop | (arm if rng.random() < 0.4 else torch.zeros_like(stop))
    if rng.random() < 0.6:
        valid &= ~shadow
    else:  # an unmasked shadow: few counts, asymmetric where the arm is
        truth = torch.where(shadow, truth * rng.uniform(0.0, 0.1), truth)
    if rng.random() < 0.5:  # module gaps
        for axis in (0, 1):
            period, width = int(rng.integers(40, 200)), int(rng.integers(2, 9))
            offset = int(rng.integers(0, period))
            idx = torch.arange(size, device=device)
            gap = ((idx + offset) % period) < width
            valid &= ~(gap[:, None] if axis == 0 else gap[None, :])
    if rng.random() < 0.1:  # round detector: the dead corners are masked
        valid &= torch.hypot(dy + center[0] - size / 2, dx + center[1] - size / 2) < size * rng.uniform(0.45, 0.7)
    dead = torch.rand((size, size), device=device) < 5e-4
    valid &= ~dead
    if rng.random() < 0.2:  # hot pixels left unmasked
        hot = torch.rand((size, size), device=device) < 3e-5
        truth = torch.where(hot, truth + 50.0 * float(truth.mean()), truth)
    response = torch.ones_like(truth)
    correction = 1.0
    if rng.random() < 0.5:  # absorption / polarisation / flat field, corrected imperfectly
        g = rng.uniform(-0.6, 0.6, 2)
        p = rng.uniform(0.0, 0.5)
        response = torch.exp(t(g[0]) * dx / size + t(g[1]) * dy / size) * (1 - p * (dx / radius_max) ** 2)
        correction = float(rng.uniform(0.0, 1.2))
        truth = truth * response
    if rng.random() < 0.12:  # an operation that does not hold (the selector may try one)
        ops = parse("isotropy") if ops != parse("isotropy") else [INVERSION]
    mean = truth[valid].mean() if bool(valid.any()) else torch.tensor(1.0, device=device)
    return Pattern((truth / torch.clamp(mean, min=1e-12)).float(), valid, center, ops, response.float(), correction)


class ProceduralCorpus:
    """Batches of procedural patterns on ``device`` for the ``symmetry`` and ``supervised`` recipes.

    Parameters
    ----------
    device:
        torch device ("cuda" for a GPU).
    size:
        Side of the drawn patterns (px); partners are sampled over the whole pattern,
        then ``patch`` crops are taken.
    bank:
        Patterns held at once; ``refresh``: batches between redraws of the bank.
    seed:
        Seed of the pattern parameters and of the noise.
    recipe:
        ``symmetry`` (photon split: one half in, the other half as target) or ``supervised`` (noise-free truth as target).
    """

    def __init__(self, device: str = "cpu", *, size: int = 256, bank: int = 64, refresh: int = 25, seed: int = 0,
                 recipe: str = "symmetry") -> None:
        import torch

        if recipe not in ("symmetry", "supervised"):
            raise ValueError(f"procedural batches serve the symmetry and supervised recipes, not {recipe!r}")
        self.recipe = recipe
        self.device = torch.device(device)
        self.size, self.bank_size, self.refresh = size, bank, refresh
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.calls = 0
        self._draw_bank()

    def _draw_bank(self) -> None:
        import torch

        patterns = [draw_pattern(self.rng, self.size, self.device) for _ in range(self.bank_size)]
        self.truth = torch.stack([p.truth for p in patterns])
        self.valid = torch.stack([p.valid for p in patterns])
        grids, found, ratios = [], [], []
        for p in patterns:
            g, f, q = self._partner_grid(p)
            grids.append(g)
            found.append(f)
            ratios.append(q)
        self.grid = torch.stack(grids)  # (N, K, S, S, 2)
        self.found = torch.stack(found)  # (N, K, S, S)
        self.ratio = torch.stack(ratios)  # (N, K, S, S)

    def _partner_grid(self, pattern: Pattern):
        import torch

        size, device = self.size, self.device
        idx = torch.arange(size, device=device, dtype=torch.float32)
        iy, ix = torch.meshgrid(idx, idx, indexing="ij")
        dy, dx = iy + 0.5 - pattern.center[0], ix + 0.5 - pattern.center[1]
        grid = torch.zeros((MAX_OPS, size, size, 2), device=device)
        found = torch.zeros((MAX_OPS, size, size), dtype=torch.bool, device=device)
        ratio = torch.ones((MAX_OPS, size, size), device=device)
        factor = pattern.response ** pattern.correction
        for k, op in enumerate(pattern.operations[:MAX_OPS]):
            a = op.array
            px = pattern.center[1] + a[0, 0] * dx + a[0, 1] * dy - 0.5
            py = pattern.center[0] + a[1, 0] * dx + a[1, 1] * dy - 0.5
            grid[k, ..., 0] = px / (size - 1) * 2 - 1
            grid[k, ..., 1] = py / (size - 1) * 2 - 1
            found[k] = (py >= 0) & (py <= size - 1) & (px >= 0) & (px <= size - 1)
            there = torch.nn.functional.grid_sample(factor[None, None], grid[k][None], align_corners=True)[0, 0]
            ratio[k] = factor / torch.clamp(there, min=1e-6)
        return grid, found, ratio

    def batch(self, batch_size: int, patch: int) -> dict[str, Any]:
        """One batch: ``inputs``, ``target``, ``mask``, ``scale`` and ``target_factor``, on the device.

        ``symmetry``: inputs from the thinned half ``y1``, target the other half ``y2``
        whose expectation is ``target_factor`` times the input's; ``supervised``: inputs
        from the noisy frame, target its noise-free expectation (factor 1).
        """
        import torch

        if self.calls and self.calls % self.refresh == 0:
            self._draw_bank()
        self.calls += 1
        n, size = self.truth.shape[0], self.size
        pick = torch.as_tensor(self.rng.integers(0, n, batch_size), device=self.device)
        log_low, log_high = np.log(DOSE_RANGE)
        dose = torch.as_tensor(np.exp(self.rng.uniform(log_low, log_high, batch_size)), device=self.device,
                               dtype=torch.float32)
        vf = self.valid[pick].float()
        expected = self.truth[pick] * dose[:, None, None] * vf
        noisy = torch.poisson(expected, generator=self.generator)
        if self.recipe == "symmetry":  # photon split: the network sees y1 and is scored on y2
            p = torch.as_tensor(self.rng.uniform(*SPLIT_RANGE, batch_size), device=self.device, dtype=torch.float32)
            seen = torch.binomial(noisy, p[:, None, None].expand_as(noisy).contiguous(), generator=self.generator)
            target, factor = noisy - seen, (1 - p) / p
        else:
            seen, target, factor = noisy, expected, torch.ones(batch_size, device=self.device)
        scale = torch.clamp(seen.sum((1, 2)) / torch.clamp(vf.sum((1, 2)), min=1.0), min=1e-3)
        # Partners of the seen half: bilinear over measured neighbours only, weight >= 0.5 (as PartnerMap.sample).
        k = MAX_OPS
        grid = self.grid[pick].reshape(batch_size * k, size, size, 2)
        both = torch.stack([seen * vf, vf], dim=1).repeat_interleave(k, dim=0)
        sampled = torch.nn.functional.grid_sample(both, grid, align_corners=True).view(batch_size, k, 2, size, size)
        weight = sampled[:, :, 1]
        ok = self.found[pick] & (weight >= 0.5)
        value = sampled[:, :, 0] / torch.clamp(weight, min=1e-6) * self.ratio[pick]
        count = ok.sum(1).float()
        mean = torch.where(count > 0, (value * ok).sum(1) / torch.clamp(count, min=1.0), torch.zeros_like(count))
        # Crops (one indexing operation) and flips.
        y0 = torch.as_tensor(self.rng.integers(0, size - patch + 1, batch_size), device=self.device)
        x0 = torch.as_tensor(self.rng.integers(0, size - patch + 1, batch_size), device=self.device)
        span = torch.arange(patch, device=self.device)
        rows, cols = (y0[:, None] + span)[:, :, None], (x0[:, None] + span)[:, None, :]
        which = torch.arange(batch_size, device=self.device)[:, None, None]
        seen_c, valid_c, mean_c, count_c, target_c = (a[which, rows, cols] for a in (seen, vf, mean, count, target))
        s = scale[:, None, None]
        dose_ch = (0.5 * torch.log10(s)).expand(-1, patch, patch)
        own = torch.sqrt(seen_c / s) * valid_c
        if self.recipe == "symmetry":
            inputs = torch.stack([own, valid_c, torch.sqrt(mean_c / s) * (count_c > 0),
                                  torch.clamp(count_c, max=SUPPORT_NORM) / SUPPORT_NORM, dose_ch], dim=1)
        else:
            inputs = torch.stack([own, valid_c / SUPPORT_NORM, valid_c, dose_ch], dim=1)
        flips = [d for d, flip in ((-1, self.rng.random() < 0.5), (-2, self.rng.random() < 0.5)) if flip]
        if flips:
            inputs, target_c, valid_c = inputs.flip(flips), target_c.flip(flips), valid_c.flip(flips)
        return {"inputs": inputs, "target": target_c, "mask": valid_c, "scale": scale, "target_factor": factor}
