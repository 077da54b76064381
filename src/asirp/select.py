"""Choosing a method for ``method="auto"``: features of a frame and a decision with reasons.

This is the interim rule set of the foundation (the adaptive, score-based selector of
issue 7 replaces :func:`choose`). The rules follow the ASIRP paper's findings:
deconvolution wins on oversampled micro-XRF maps and is the cheap first step on
tomography projections; detector frames and plain images are denoised. Parameters
are tuned without ground truth where a library offers a sound way (the J-invariant
self-supervised loss of Batson & Royer 2019, via :func:`skimage.restoration.calibrate_denoiser`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .frame import Frame
from .methods.base import registry

#: Preferred methods per kind, best first; the first one registered and usable wins.
PREFERENCES: dict[str, tuple[str, ...]] = {
    "xrf_map": ("richardson_lucy", "gaussian"),
    "tomo_projection": ("richardson_lucy", "gaussian"),
    "diffraction": ("symmetry", "gaussian"),
    "scattering": ("symmetry", "gaussian"),
    "pdf": ("symmetry", "gaussian"),
    "image": ("gaussian",),
}
#: Below this relative noise (noise σ / signal spread) smoothing cannot help.
LOW_NOISE = 0.01
#: Gaussian widths (px) tried by the J-invariant calibration.
GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Features:
    """What the selector knows about a frame (all cheap to compute)."""

    kind: str
    shape: tuple[int, ...]
    mask_fraction: float
    counting: bool
    mean_counts: float | None
    noise_sigma: float
    relative_noise: float
    pixel_size: str | None


@dataclass(frozen=True)
class Decision:
    """The chosen method, its parameters and why."""

    method: str
    parameters: dict[str, Any]
    reasons: list[str]
    features: Features
    rule_set: str = "foundation rules v1"
    candidates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        lines = [f"chosen: {self.method} {self.parameters}", "because:"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines.append(f"candidates considered (in order): {', '.join(self.candidates)}")
        return "\n".join(lines)


def features(frame: Frame) -> Features:
    """Measure the selector's features of ``frame``.

    The noise σ is the wavelet (MAD) estimate of Donoho & Johnstone as implemented by
    :func:`skimage.restoration.estimate_sigma`, on the first image of a stack.
    """
    from skimage.restoration import estimate_sigma

    image = frame.images()[0]
    values = image.data[image.valid]
    filled = np.where(image.valid, image.data, np.float32(np.median(values)))
    sigma = float(estimate_sigma(filled))
    spread = float(np.percentile(values, 99) - np.percentile(values, 1)) or float(np.abs(values).max()) or 1.0
    pixel = frame.pixel_size
    return Features(
        kind=frame.kind,
        shape=tuple(int(n) for n in frame.shape),
        mask_fraction=frame.mask_fraction,
        counting=frame.is_counting,
        mean_counts=float(values.mean()) if frame.is_counting else None,
        noise_sigma=sigma,
        relative_noise=sigma / spread,
        pixel_size=None if pixel is None else f"{pixel.y:g} x {pixel.x:g} {pixel.unit}",
    )


def _calibrate_gaussian(frame: Frame) -> tuple[float, float]:
    """Gaussian σ (px) minimising the J-invariant self-supervised loss on the first image."""
    from scipy.ndimage import gaussian_filter
    from skimage.restoration import calibrate_denoiser

    image = frame.images()[0]
    filled = np.where(image.valid, image.data, np.float32(np.median(image.data[image.valid]))).astype(np.float64)

    def smooth(array: np.ndarray, sigma: float) -> np.ndarray:
        return gaussian_filter(array, sigma)

    _, (grid, losses) = calibrate_denoiser(
        filled, smooth, denoise_parameters={"sigma": list(GAUSSIAN_SIGMAS)}, extra_output=True
    )
    best = int(np.argmin(losses))
    return float(grid[best]["sigma"]), float(losses[best])


def choose(frame: Frame) -> Decision:
    """Pick a method and its parameters for ``frame`` by the foundation rule set."""
    feats = features(frame)
    available = registry()
    preferred = PREFERENCES.get(frame.kind, PREFERENCES["image"])
    candidates = [name for name in preferred if name in available and frame.kind in available[name].kinds]
    reasons = [f"kind is {frame.kind!r}: preference order {', '.join(preferred)}"]
    missing = [name for name in preferred if name not in candidates]
    if missing:
        reasons.append(f"not available in this installation: {', '.join(missing)}")

    if feats.relative_noise < LOW_NOISE and frame.kind in ("image", "diffraction", "scattering", "pdf"):
        reasons.append(
            f"estimated noise σ={feats.noise_sigma:.3g} is {feats.relative_noise:.2%} of the signal range "
            f"(< {LOW_NOISE:.0%}): restoration would only risk bias"
        )
        return Decision("identity", {}, reasons, feats, candidates=candidates + ["identity"])
    if not candidates:
        reasons.append("no preferred method is available: falling back to the identity")
        return Decision("identity", {}, reasons, feats, candidates=["identity"])

    method = candidates[0]
    parameters: dict[str, Any] = {}
    if method == "gaussian":
        sigma, loss = _calibrate_gaussian(frame)
        parameters["sigma"] = sigma
        reasons.append(
            f"Gaussian width σ={sigma:g} px minimises the J-invariant self-supervised loss ({loss:.4g}) "
            f"over {list(GAUSSIAN_SIGMAS)}"
        )
    reasons.append(
        f"estimated noise σ={feats.noise_sigma:.3g} ({feats.relative_noise:.1%} of the signal range)"
        + (f", mean {feats.mean_counts:.3g} counts/pixel" if feats.mean_counts is not None else "")
    )
    return Decision(method, parameters, reasons, feats, candidates=candidates)
