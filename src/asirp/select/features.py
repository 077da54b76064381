"""What the selector knows about a frame before restoring anything.

Cheap measurements that decide which family of methods applies and prune the
candidates: the kind of data, the noise model and level, the blur width, symmetry
scores for detector patterns, size, mask fraction and, for stacks, how similar
consecutive frames are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..errors import AsirpError
from ..frame import Frame
from ..kinds import Kind
from .kind import guess_kind
from .split import NoiseModel

#: Ratio variance/mean accepted as Poisson statistics for integer, non-negative data.
POISSON_DISPERSION = (0.6, 1.7)
#: Median of the χ² distribution with one degree of freedom.
CHI2_1_MEDIAN = 0.4549


@dataclass(frozen=True)
class Features:
    """Measured features of a frame (all in data units unless stated)."""

    kind: Kind
    kind_source: str
    shape: tuple[int, ...]
    mask_fraction: float
    noise_model: NoiseModel
    counts_per_pixel: float | None
    noise_sigma: float
    relative_noise: float
    blur_sigma_px: float | None
    blur_method: str | None
    #: Ratio (≥ 1) of the refined blur estimate to the independent power-spectrum one, or
    #: its inverse: near 1 when both agree; large when the image defeats one of them
    #: (a strongly periodic object), i.e. when the PSF is uncertain.
    blur_disagreement: float | None
    resolvable_frequency: float | None
    blur_attenuation: float | None
    symmetry: dict[str, Any] | None
    temporal_correlation: float | None
    pixel_size: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def representative_image(frame: Frame) -> Frame:
    """The image of a stack used to measure features and score candidates.

    The middle one, or the measured image nearest the middle when the middle image is
    entirely masked (a frame is only required to have one measured pixel somewhere).
    """
    if not frame.is_stack:
        return frame
    middle = frame.shape[0] // 2
    measured = [i for i in range(frame.shape[0]) if frame.valid[i].any()]  # a Frame has one at least
    index = min(measured, key=lambda i: (abs(i - middle), i))
    return replace(frame, data=frame.data[index], valid=frame.valid[index])


def noise_sigma(data: np.ndarray, valid: np.ndarray) -> float:
    """Noise standard deviation by the wavelet MAD estimate (Donoho & Johnstone 1994).

    Masked pixels are filled with the median first so gaps do not look like edges.
    """
    from ..noise import wavelet_sigma

    return wavelet_sigma(np.where(valid, data, np.float32(np.median(data[valid]))))


def _second_differences(data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row second differences ``d = (2x_j − x_{j−1} − x_{j+1})/√6``, the centre values ``x_j``
    and where all three pixels are measured. Where the signal is locally linear, ``d`` has
    the local noise variance and zero mean."""
    x = np.asarray(data, dtype=np.float64)
    centre = x[:, 1:-1]
    second = (2.0 * centre - x[:, :-2] - x[:, 2:]) / math.sqrt(6.0)
    return second, centre, valid[:, 1:-1] & valid[:, :-2] & valid[:, 2:]


def quick_noise_sigma(data: np.ndarray, valid: np.ndarray) -> float:
    """Noise standard deviation as 1.4826·median|d| of the row second differences.

    A few times cheaper than :func:`noise_sigma` (no wavelet transform, no median fill)
    and robust to edges in the same way; used where the estimate is compared only with
    itself (a stream's drift check). NaN when no three neighbours are measured.
    """
    second, _, usable = _second_differences(data, valid)
    return float(1.4826 * np.median(np.abs(second[usable]))) if usable.any() else float("nan")


def poisson_dispersion(data: np.ndarray, valid: np.ndarray) -> float:
    """Noise variance over the local mean (1 for Poisson counts, the gain for a camera).

    From the second difference along rows, ``d = (2x_j − x_{j−1} − x_{j+1})/√6``, whose
    variance is the local noise variance where the signal is locally linear: the
    median of ``d²/x_j`` over positive pixels, divided by the median of χ²₁ (0.455).
    Local, so it holds for signal-dependent noise over a wide range of levels (a
    projection from 120 to 1100 counts), where a global σ²/mean does not.
    """
    second, centre, usable = _second_differences(data, valid)
    usable &= centre > 0
    if not usable.any():
        return float("inf")
    return float(np.median(second[usable] ** 2 / centre[usable]) / CHI2_1_MEDIAN)


def noise_model_of(data: np.ndarray, valid: np.ndarray, counting: bool) -> NoiseModel:
    """``"poisson"`` for non-negative integer counts whose variance matches their mean, else ``"gaussian"``.

    Counting kinds (XRF, diffraction...) with integer values are Poisson by physics;
    for other kinds integer data are Poisson only when their :func:`poisson_dispersion`
    is within :data:`POISSON_DISPERSION` (an uncalibrated camera with a gain is not).
    """
    values = data[valid]
    integer = bool(np.all(values >= 0) and np.all(values == np.rint(values)))
    if not integer:
        return "gaussian"
    if counting:
        return "poisson"
    dispersion = poisson_dispersion(data, valid)
    return "poisson" if POISSON_DISPERSION[0] <= dispersion <= POISSON_DISPERSION[1] else "gaussian"


def temporal_correlation(frame: Frame) -> float | None:
    """Mean Pearson correlation of consecutive images of a stack (None for one image)."""
    if not frame.is_stack or frame.shape[0] < 2:
        return None
    values = []
    for i in range(frame.shape[0] - 1):
        both = frame.valid[i] & frame.valid[i + 1]
        a, b = frame.data[i][both], frame.data[i + 1][both]
        if a.size > 2 and a.std() > 0 and b.std() > 0:
            values.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(values)) if values else None


def blur_width(image: Frame, refine: bool) -> tuple[float | None, str | None, float | None]:
    """Gaussian PSF width (px) estimated from the image (see :func:`asirp.methods.deconv.blind.estimate_gaussian_sigma`),
    how it was estimated, and the disagreement of its two estimators (None unrefined).

    ``refine`` adds the cross-validated likelihood refinement (accurate to a few %,
    seconds); without it the power-spectrum fit takes ~0.1 s but may be 10-25 % off.
    """
    from ..methods.deconv.blind import estimate_gaussian_sigma

    nonnegative = bool((image.data[image.valid] >= 0).all())
    estimate = estimate_gaussian_sigma(image.data, image.valid, refine=refine and nonnegative)
    return float(estimate.sigma), str(estimate.method), estimate.disagreement


#: The signal carries information up to the frequency where its power falls below
#: this multiple of the white-noise floor.
SIGNAL_TO_NOISE_POWER = 2.0


def resolvable_frequency(image: Frame, noise_variance: float) -> float:
    """Highest spatial frequency (cycles/px) at which the signal power exceeds the noise.

    The radially averaged windowed periodogram (:func:`asirp.spectrum.power_spectrum`,
    normalised so white noise of variance v has power v) is compared with the noise
    variance; the highest radial bin (width 0.01 cycles/px) still above
    :data:`SIGNAL_TO_NOISE_POWER` × v marks the limit (the highest, not the first
    drop: periodic objects such as mesh grids have their power in harmonics with
    noise between them). Beyond it, detail is buried in noise, so a deconvolution
    there only amplifies noise.
    """
    from ..spectrum import power_spectrum

    fy, fx, power = power_spectrum(image.data, image.valid)
    radius = np.sqrt(fy**2 + fx**2)
    bins = np.clip((radius / 0.01).astype(int), 0, 70)
    sums = np.bincount(bins.ravel(), weights=power.ravel(), minlength=71)
    counts = np.bincount(bins.ravel(), minlength=71)
    profile = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    above = np.nonzero(profile[2:51] > SIGNAL_TO_NOISE_POWER * noise_variance)[0]
    return float((above[-1] + 2) * 0.01) if above.size else 0.02


def symmetry_scores(image: Frame) -> dict[str, Any] | None:
    """Symmetry analysis of a detector pattern, when the symmetry package is installed."""
    try:
        from ..symmetry import analyze
    except ImportError:
        return None
    try:
        report = analyze(image, local=False)  # the scores; the local map is the methods' job
    except AsirpError as exc:  # e.g. not photon counts: symmetry methods are then not candidates
        return {"holds": False, "error": str(exc)}
    summary = report.to_dict()
    summary["holds"] = report.any_holds
    return summary


def measure(frame: Frame, *, blur: bool = True, refine_blur: bool = True, symmetry: bool = True) -> Features:
    """Measure the selector's features of ``frame`` (on its representative image).

    ``refine_blur=False`` trades blur accuracy for speed (online use under a budget).
    """
    image = representative_image(frame)
    kind, kind_source = guess_kind(frame)
    values = image.data[image.valid]
    sigma = noise_sigma(image.data, image.valid)
    model = noise_model_of(image.data, image.valid, counting=kind in ("xrf_map", "diffraction", "scattering", "pdf"))
    spread = float(np.percentile(values, 99) - np.percentile(values, 1)) or float(np.abs(values).max()) or 1.0
    blur_sigma, blur_method, disagreement = (
        blur_width(image, refine_blur) if blur and kind in ("xrf_map", "tomo_projection", "image") else (None, None, None)
    )
    scores = symmetry_scores(image) if symmetry and kind in ("diffraction", "scattering", "pdf") else None
    noise_variance = float(values.mean()) if model == "poisson" else sigma**2
    f_limit = resolvable_frequency(image, noise_variance) if blur_sigma is not None else None
    attenuation = (
        float(np.exp(-2.0 * np.pi**2 * blur_sigma**2 * f_limit**2)) if blur_sigma is not None and f_limit is not None else None
    )
    pixel = frame.pixel_size
    return Features(
        kind=kind,
        kind_source=kind_source,
        shape=tuple(int(n) for n in frame.shape),
        mask_fraction=frame.mask_fraction,
        noise_model=model,
        counts_per_pixel=float(values.mean()) if model == "poisson" else None,
        noise_sigma=sigma,
        relative_noise=sigma / spread,
        blur_sigma_px=blur_sigma,
        blur_method=blur_method,
        blur_disagreement=disagreement,
        resolvable_frequency=f_limit,
        blur_attenuation=attenuation,
        symmetry=scores,
        temporal_correlation=temporal_correlation(frame),
        pixel_size=None if pixel is None else f"{pixel.y:g} x {pixel.x:g} {pixel.unit}",
    )
