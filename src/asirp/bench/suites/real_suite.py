"""The ``real`` suite: every denoiser on real detector frames at low dose, against real references.

``asirp bench real --data DIR`` takes every file under ``DIR`` (recursively) that
:func:`asirp.io.open` reads as a detector frame: a frame of kind diffraction,
scattering or PDF (a PONI beside it or a kind stored in the file), or integer,
non-negative 2-D/3-D detector data with images of at least :data:`MIN_SIDE` pixels a
side (tomography and XRF files are left out with the reason in a ``skipped`` row). The
references are real measurements, never a model:

* **Photon-counting frames** (integer counts from a detector that says so, PILATUS
  frames with -1/-2 sentinels, or integer data whose local variance matches its mean):
  the frame is thinned binomially (``rng.binomial(counts, p)``, each photon kept with
  probability ``p``) to mean doses of :data:`DOSES` counts per measured pixel of the
  whole frame, and compared with the **truth** ``p x counts``: the expected value of
  the thinned frame given the measurement. Thinning is pixel-wise independent, so the
  crop (below) is thinned rather than the whole frame, with the same ``p``. The truth
  carries the full frame's noise, a fraction ``p`` of the thinned frame's (whose error
  variance about it is ``(1 - p) x truth``): doses needing ``p >`` :data:`MAX_P` are
  left out (a row says so), and ``p`` is in the ``raw`` row.
* **Series** (NeXus stacks such as the Lambda files; files of one folder with the same
  dataset and image shape form one series): a few single frames, each against the
  mean of the other frames of the series, scaled to the frame's total counts over the
  measured pixels (a flux normalisation: real exposures differ in flux), a real
  low-dose/high-dose pair; and the sum of the frames of the first file, thinned as
  above.
* **Integrating detectors** (CCD and image-plate-like frames: the CeO2 PI-CCD SPE, the
  AgBehenate MarCCD TIFF) record ADU, not photon counts: gain and dark offset are
  estimated from the data (:func:`gain_offset`: the variance of local second
  differences against the local mean, the photon-transfer curve; read noise is folded
  into the offset, so ``(ADU - offset) / gain`` are Poisson-equivalent counts), pixels
  at exactly 0 ADU are masked (outside the active area: a detector with a dark offset
  never reads 0 where it measures), and the equivalent counts are thinned as above.
  These rows say ``noise_model: "gain-estimated"``: approximate counts, and the CCD's
  own blur correlates neighbouring pixels, which the second differences underrate.

Each case is a crop of at most :data:`CROP` pixels a side (:data:`QUICK_CROP` with
``--quick``) centred on the beam (the PONI's) or on the frame centre; a PONI is
cropped with the frame (``poni1``/``poni2`` shifted by the crop offset). A PONI is
checked against the data first: the view, as stored or upside down (Dioptas shows
and calibrates images flipped), whose azimuthal profile has the sharper rings is used.

**Whole frames**: every frame source is also thinned whole (no crop) to
:data:`FULL_FRAME_DOSE` counts/px (``dose: "full frame"``), with the rows of
:data:`FULL_FRAME_METHODS`: ``auto``'s decision time per megapixel
(``decision_s_per_mpx``) is measured where it matters, on the detector's frame.

Rows per case (``method``): ``raw`` (the thinned frame itself), ``auto``
(``asirp.restore(frame, "auto")``: ``chosen`` is the method of its last history step,
``decision_s`` the selection time), every registered denoiser of kinds diffraction or
scattering (:data:`METHODS`, :data:`VARIANTS`), and ``gaussian_oracle``: the
``gaussian`` method with its ``sigma`` tuned on the truth (a 1-D search over
:data:`ORACLE_SIGMA_PX`; ``oracle_sigma``), an oracle no real method has. A method
that refuses the frame with an :class:`~asirp.errors.AsirpError` gives a row with
``refused``; any other exception is a bug: the row carries ``crash`` (the traceback's
last line and where it was raised) and the traceback goes to stderr. Columns:

* ``psnr_db``: PSNR on the Anscombe scale ``2 sqrt(x + 3/8)`` (values below -3/8 count
  as -3/8) over the measured pixels, with the range of the transformed truth: the
  Anscombe transform makes Poisson errors equally weighted at every intensity, so the
  figure is not dominated by the few brightest pixels;
* ``ssim``: SSIM on the same scale and pixels;
* ``time_s``: wall time of one call (the first call of each method in a run is
  preceded by an untimed warm-up);
* ``chi2_dof``: the restored frame's azimuthal profile (pyFAI, with the cropped PONI,
  else a flat geometry about the centre found on the truth) against the truth's,
  ``mean(((I - I_truth) / sigma)^2)`` over the radial bins, with ``sigma`` the Poisson
  error of the truth's profile (variance = truth): about ``1 - p`` for a thinned raw
  frame, about 1 for a single frame of a series; lower when a restoration is closer to
  the truth than the Poisson scatter of the raw data;
* ``peak_area_err``: mean relative error of the areas of the 3 strongest peaks of the
  truth's profile (:func:`asirp.analysis.find_peaks_1d`; a peak not found counts 1).

Then a summary per dose (``section: "summary"``; series frames under ``dose:
"series"``), a row per method: ``gain_db`` (mean PSNR gain over ``raw`` on the cases
where the method ran), and on the ``symmetry`` row ``margin_supervised_db`` and
``margin_oracle_db`` (mean PSNR of ``symmetry`` minus that of ``supervised``,
``gaussian_oracle``), on the ``auto`` row ``regret_db`` (mean of the best PSNR of
``raw`` and the real methods minus that of ``auto``; negative when ``auto``, which
tunes parameters, beats every method at its default parameters), ``max_regret_db``
and ``median_decision_s_per_mpx``.

Extend the method list with :data:`VARIANTS` (label -> (method, parameters)); a
registered denoiser is picked up without any edit.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, optimize, stats

from ...analysis import find_peaks_1d, psnr, ssim
from ...analysis.physics import flat_geometry
from ...api import restore
from ...errors import AsirpError, InputError, ParameterError
from ...frame import Frame
from ...geometry import Geometry
from ...kinds import Kind
from ...progress import quiet
from ...select.features import POISSON_DISPERSION, poisson_dispersion
from ..harness import BenchContext, Row, register_suite

#: Mean doses (counts per measured pixel of the whole frame) the frames are thinned to.
DOSES: tuple[float, ...] = (0.01, 0.1, 1.0, 2.0)
#: Dose (counts/px) of the whole-frame cases: ``auto`` timed on a detector's full frame.
FULL_FRAME_DOSE = 1.0
#: Rows of the whole-frame cases (besides ``raw`` and ``gaussian_oracle``).
FULL_FRAME_METHODS = ("auto", "symmetry", "symmetry(1 pass)", "supervised", "supervised(ensemble)")
#: Largest crop side, pixels (normal and ``--quick`` runs).
CROP = 512
QUICK_CROP = 256
#: Single frames of a series compared with the mean of the others (normal, quick).
SERIES_FRAMES = 4
QUICK_SERIES_FRAMES = 2
#: Smallest image side of a file taken as a detector frame, pixels.
MIN_SIDE = 64
#: Method labels run on every case besides ``raw`` and ``gaussian_oracle``; None: ``auto``
#: and every registered denoiser of kinds diffraction or scattering.
METHODS: list[str] | None = None
#: Extra rows: label -> (registered method, parameters), e.g.
#: ``{"symmetry(isotropy)": ("symmetry", {"operations": ["isotropy"]})}``.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "symmetry(pretrained)": ("symmetry", {"fine_tune_s": 0.0}),
    "symmetry(1 pass)": ("symmetry", {"ensemble": False}),  # without the flip self-ensemble
    "supervised(ensemble)": ("supervised", {"ensemble": True}),  # the baseline given the same self-ensemble
}
#: Largest thinning probability: the truth ``p x counts`` carries the full frame's noise,
#: a fraction ``p`` of the thinned frame's noise variance; above 1/2 it would hide errors.
MAX_P = 0.5
#: Range of the oracle's search over the Gaussian sigma, pixels.
ORACLE_SIGMA_PX = (0.3, 5.0)
#: Kinds of detector frames; the denoisers benchmarked declare one of the first two.
PATTERN_KINDS = ("diffraction", "scattering", "pdf")
DENOISER_KINDS = frozenset({"diffraction", "scattering"})
#: Suffixes never tried as data (calibrations and text beside the frames).
_NOT_DATA = {".poni", ".txt", ".md", ".json", ".py", ".cfg", ".ini", ".csv", ".log"}


# -- what is in the folder ---------------------------------------------------------------------


@dataclass
class Source:
    """One frame's counts (full frame) and what the benchmark knows about it."""

    name: str
    counts: np.ndarray  # int64, 0 at masked pixels
    valid: np.ndarray
    kind: Kind
    noise_model: str  # "poisson" or "gain-estimated"
    geometry: Geometry | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(self.counts[self.valid].mean())


@dataclass
class Case:
    """A low-dose crop, its truth (same crop, expected counts) and how to measure profiles."""

    section: str
    file: str
    case: str
    dose: float | str
    noise_model: str
    low: np.ndarray
    truth: np.ndarray
    valid: np.ndarray
    kind: Kind
    geometry: Geometry | None  # handed to the methods (the cropped PONI), or None
    note: str = ""
    #: Thinning probability (thinned cases): the raw frame's error variance is (1 - p) x truth.
    p: float | None = None


def _open(path: Path) -> Frame:
    from ...io import open as open_frame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_frame(path)


def _is_integer_data(frame: Frame) -> bool:
    return str(frame.meta.get("dtype", "float")).startswith(("int", "uint"))


def detector_frame_reason(frame: Frame) -> str | None:
    """Why ``frame`` is taken as a detector frame, or None when it is not one."""
    if min(frame.image_shape) < MIN_SIDE:
        return None
    if frame.kind in PATTERN_KINDS:
        return f"kind {frame.kind} from the file"
    if frame.kind == "image" and _is_integer_data(frame) and bool((frame.data[frame.valid] >= 0).all()):
        return "integer non-negative detector data"
    return None


def _second_differences(data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row second differences ``(2x_j - x_{j-1} - x_{j+1}) / sqrt(6)`` (the local noise, zero mean where
    the signal is locally linear) and the local means ``(x_{j-1} + x_j + x_{j+1}) / 3`` where all three
    pixels are measured (as :func:`asirp.select.features.poisson_dispersion`, which divides by the centre value)."""
    x = np.asarray(data, np.float64)
    second = (2.0 * x[:, 1:-1] - x[:, :-2] - x[:, 2:]) / math.sqrt(6.0)
    local = (x[:, 1:-1] + x[:, :-2] + x[:, 2:]) / 3.0
    usable = valid[:, 1:-1] & valid[:, :-2] & valid[:, 2:]
    return second[usable], local[usable]


def gain_offset(data: np.ndarray, valid: np.ndarray, *, bins: int = 24) -> tuple[float, float]:
    """Gain (ADU per Poisson-equivalent count) and offset (ADU) of an integrating detector frame.

    The photon-transfer curve from one frame: pixels are binned by their local mean
    (quantiles 2-98 %); in each bin the noise variance is the mean square of the row
    second differences (within 5 robust standard deviations: edges of rings are
    signal, not noise); a Theil-Sen line ``variance = gain x mean + c`` through the
    bins gives the gain and the offset ``-c / gain``, the level of zero variance. Read
    noise is folded into that offset, so ``(ADU - offset) / gain`` has a variance equal
    to its mean: Poisson-equivalent counts.

    Raises
    ------
    InputError
        Too few measured pixels, or no positive slope (no signal-dependent noise).
    """
    second, local = _second_differences(data, valid)
    if local.size < 1000:
        raise InputError("too few measured pixels to estimate a gain")
    edges = np.unique(np.percentile(local, np.linspace(2, 98, bins + 1)))
    index = np.digitize(local, edges) - 1
    means, variances = [], []
    for b in range(edges.size - 1):
        chosen = index == b
        if chosen.sum() < 200:
            continue
        d = second[chosen]
        spread = 1.4826 * float(np.median(np.abs(d - np.median(d))))
        kept = d[np.abs(d) <= 5 * spread] if spread > 0 else d
        means.append(float(local[chosen].mean()))
        variances.append(float(np.mean(kept**2)))
    if len(means) < 3:
        raise InputError("too few intensity levels to estimate a gain")
    slope, intercept, _, _ = stats.theilslopes(variances, means)
    if not (np.isfinite(slope) and slope > 0):
        raise InputError(f"noise variance does not grow with the signal (slope {slope:.3g}): no gain to estimate")
    return float(slope), float(-intercept / slope)


def _photon_counting(frame: Frame, image: np.ndarray, valid: np.ndarray) -> str | None:
    """Why the frame's values are photon counts, or None (an integrating detector)."""
    if not _is_integer_data(frame):
        return None
    detector_type = str(frame.meta.get("detector_type", "")).lower()
    if "photon" in detector_type and "count" in detector_type:
        return f"detector type {frame.meta['detector_type']!r}"
    if frame.meta.get("mask_sources", {}).get("negative_sentinel"):
        return "negative sentinels (photon-counting gaps)"
    ratio = poisson_dispersion(image, valid)
    if POISSON_DISPERSION[0] <= ratio <= POISSON_DISPERSION[1]:
        return f"local variance/mean {ratio:.2f}"
    return None


def _kind(frame: Frame) -> Kind:
    if frame.kind in PATTERN_KINDS:
        return frame.kind
    from ...select import guess_kind

    guessed, _ = guess_kind(frame)
    return guessed if guessed in PATTERN_KINDS else "diffraction"


def _ring_contrast(geometry: Geometry, image: np.ndarray, valid: np.ndarray) -> float:
    """High-pass energy of the azimuthal profile: large when the rings are sharp in this geometry."""
    result = geometry.integrator.integrate1d(image.astype(np.float64), 1000, unit="2th_deg", mask=~valid)
    profile = np.asarray(result.intensity, np.float64)
    profile = profile[np.isfinite(profile)]
    if profile.size < 50:
        return 0.0
    return float(np.sum((profile - ndimage.median_filter(profile, 31)) ** 2))


def _orient(source: Source) -> Source:
    """Use the view (as stored, or upside down) in which the PONI's rings are sharpest."""
    if source.geometry is None:
        return source
    stored = _ring_contrast(source.geometry, source.counts, source.valid)
    flipped = _ring_contrast(source.geometry, source.counts[::-1], source.valid[::-1])
    if flipped > 2.0 * stored:
        source.counts, source.valid = source.counts[::-1].copy(), source.valid[::-1].copy()
        source.notes.append("the PONI fits the upside-down view (as Dioptas shows it): frame flipped")
    return source


def _frame_source(frame: Frame, name: str) -> tuple[Source | None, str | None]:
    """A 2-D frame as counts (photon counting) or Poisson-equivalent counts (integrating)."""
    image = np.asarray(frame.data, np.float64)
    valid = np.asarray(frame.valid).copy()
    why = _photon_counting(frame, image, valid)
    notes = []
    if why is not None:
        counts = np.where(valid, np.rint(image), 0).astype(np.int64)
        model = "poisson"
        notes.append(f"photon counting ({why})")
    else:
        zero = valid & (image == 0)
        valid &= ~zero
        if not valid.any():
            return None, "no measured pixel above 0 ADU"
        try:
            gain, offset = gain_offset(image, valid)
        except InputError as exc:
            return None, f"integrating detector, gain not estimated: {exc.problem}"
        counts = np.where(valid, np.rint(np.maximum(image - offset, 0.0) / gain), 0).astype(np.int64)
        model = "gain-estimated"
        notes.append(f"integrating: gain {gain:.3g} ADU/count, offset {offset:.4g} ADU"
                     + (f", {int(zero.sum())} pixels at 0 ADU masked" if zero.any() else ""))
    source = Source(name, counts, valid, _kind(frame), model, frame.geometry, notes)
    return _orient(source), None


@dataclass
class Series:
    """Stacks of one folder, dataset and image shape: one series of independent exposures."""

    key: tuple[str, str, tuple[int, int]]
    paths: list[Path] = field(default_factory=list)


def discover(folder: Path) -> tuple[list[tuple[Path, Frame]], list[Series], list[Row]]:
    """The 2-D detector frames, the series of stacks, and a ``skipped`` row for every other file."""
    frames: list[tuple[Path, Frame]] = []
    series: dict[tuple[str, str, tuple[int, int]], Series] = {}
    skipped: list[Row] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in _NOT_DATA or path.name.startswith("."):
            continue
        name = str(path.relative_to(folder))
        try:
            frame = _open(path)
        except AsirpError as exc:
            skipped.append({"section": "skipped", "file": name, "note": str(exc).replace(str(path), "")[:160].strip(": ")})
            continue
        reason = detector_frame_reason(frame)
        if reason is None:
            skipped.append({"section": "skipped", "file": name,
                            "note": f"not a detector frame (kind {frame.kind}, {frame.meta.get('dtype')}, shape {frame.shape})"})
            continue
        if frame.is_stack:
            key = (str(path.parent), str(frame.meta.get("dataset")), frame.image_shape)
            series.setdefault(key, Series(key)).paths.append(path)
        else:
            frames.append((path, frame))
    return frames, list(series.values()), skipped


# -- cases -------------------------------------------------------------------------------------


def crop_region(shape: tuple[int, int], center: tuple[float, float], side: int) -> tuple[int, int, int, int]:
    """``(y0, x0, height, width)`` of a crop of at most ``side`` px centred on ``center``, inside the frame."""
    h, w = min(side, shape[0]), min(side, shape[1])
    y0 = int(np.clip(round(center[0] - h / 2), 0, shape[0] - h))
    x0 = int(np.clip(round(center[1] - w / 2), 0, shape[1] - w))
    return y0, x0, h, w


def _profile_geometry(case: Case) -> tuple[Geometry, str]:
    """The geometry of the physics figures: the case's PONI, else a flat one about the centre found on the truth."""
    if case.geometry is not None:
        return case.geometry, "PONI"
    from ...symmetry.centre import find_centre

    shape = case.truth.shape
    try:
        center = find_centre(case.truth, case.valid).center
        how = f"flat geometry about the centre found on the truth ({center[0]:.1f}, {center[1]:.1f})"
    except InputError:
        center = (shape[0] / 2, shape[1] / 2)
        how = "flat geometry about the crop centre (no centre found)"
    if not all(np.isfinite(center)):
        center, how = (shape[0] / 2, shape[1] / 2), "flat geometry about the crop centre (centre search failed)"
    return flat_geometry(shape, center), how


def _crop(source: Source, side: int) -> tuple[tuple[slice, slice], Geometry | None, str]:
    shape = source.counts.shape
    if source.geometry is not None:
        center = source.geometry.beam_center_px()
        where = "beam"
    else:
        center, where = (shape[0] / 2, shape[1] / 2), "frame centre"
    y0, x0, h, w = crop_region(shape, center, side)
    region = (slice(y0, y0 + h), slice(x0, x0 + w))
    geometry = None
    if source.geometry is not None:
        try:
            geometry = source.geometry.cropped((y0, x0), (h, w))
        except InputError as exc:
            where += f" (PONI not used: {exc.problem})"
    return region, geometry, f"{h}x{w} at {where}"


def thinned_cases(source: Source, side: int, seed: int, section: str = "thinned") -> Iterator[Case]:
    """The source's crop thinned to every dose of :data:`DOSES` (or a row-note case when the frame is too weak)."""
    region, geometry, where = _crop(source, side)
    counts, valid = source.counts[region], source.valid[region]
    mean = source.mean
    for index, dose in enumerate(DOSES):
        p = dose / mean if mean > 0 else math.inf
        label = f"{where}, thinned to {dose:g}/px"
        base = Case(section, source.name, label, dose, source.noise_model, np.zeros(0), np.zeros(0), valid,
                    source.kind, geometry, note="; ".join(source.notes))
        if p > MAX_P:
            base.note = (f"not measured: the frame has {mean:.3g} counts/px, dose {dose:g} needs p = {p:.3g} > {MAX_P:g} "
                         "(the truth would share most of the thinned frame's noise)")
            yield base
            continue
        base.p = p
        rng = np.random.default_rng([seed, index])
        base.low = rng.binomial(counts, p).astype(np.float32)
        base.truth = counts.astype(np.float64) * p
        yield base


def series_cases(series: Series, side: int, n_frames: int, seed: int) -> Iterator[Case]:
    """Single frames of a series against the flux-scaled mean of the others; then the first file's sum, thinned.

    The frames compared are spread evenly over the series; the reference of frame ``k``
    is the mean of the other frames scaled to frame ``k``'s total counts over the pixels
    measured in every frame.
    """
    lengths = [_open(path).shape[0] for path in series.paths]
    total = sum(lengths)
    if total < 3:
        return
    chosen = {int(round(i)) for i in np.linspace(0, total - 1, min(n_frames, total))}
    sums: np.ndarray | None = None
    measured: np.ndarray | None = None
    singles: list[tuple[str, int, np.ndarray]] = []  # (file, index in the file, counts)
    first: tuple[np.ndarray, np.ndarray] | None = None  # the first file's counts and validity
    position = 0
    for path in series.paths:
        stack = _open(path)
        counts = np.where(stack.valid, np.rint(stack.data), 0).astype(np.int64)
        valid = np.asarray(stack.valid.all(axis=0))
        if first is None:
            first, kind = (counts, valid), _kind(stack)
        sums = counts.sum(axis=0) if sums is None else sums + counts.sum(axis=0)
        measured = valid if measured is None else measured & valid
        singles += [(path.name, k, counts[k]) for k in range(stack.shape[0]) if position + k in chosen]
        position += stack.shape[0]
    assert first is not None and sums is not None and measured is not None
    name = series.paths[0].parent.name or str(series.paths[0].parent)
    y0, x0, h, w = crop_region(measured.shape, (measured.shape[0] / 2, measured.shape[1] / 2), side)
    region = (slice(y0, y0 + h), slice(x0, x0 + w))
    for file, k, counts in singles:
        others = (sums - counts).astype(np.float64) / (total - 1)
        scale = float(counts[measured].sum()) / max(float(others[measured].sum()), 1e-300)
        low = counts[region].astype(np.float32)
        per_px = float(low[measured[region]].mean()) if measured[region].any() else 0.0
        truth = others[region] * scale
        note = f"{int(counts[measured].sum())} counts in the whole frame"
        # Over the whole frame: a crop of a sparse frame holds too few counts to test.
        consistency = series_consistency(counts, others * scale, measured, scale / (total - 1))
        if consistency is not None:
            note += f"; whole frame vs its reference: block chi2/dof {consistency:.3g}"
            if consistency > MAX_SERIES_CHI2:
                note += (" (the frame differs from the others beyond Poisson noise: the series is not stationary, "
                         "so this pair measures the change between frames as much as the denoising)")
        yield Case("series", f"{name}/{file}",
                   f"frame {k} ({per_px:.3g}/px) vs mean of {total - 1} others x {scale:.3g}, {h}x{w} at frame centre",
                   "series", "poisson", low, truth, measured[region], kind, None, note=note)
    counts, valid = first
    source = Source(f"{name}/{series.paths[0].name} (sum of {counts.shape[0]} frames)", counts.sum(axis=0) * valid,
                    valid, kind, "poisson", None, [f"sum of the {counts.shape[0]} frames of a file"])
    yield from thinned_cases(source, side, seed, section="series sum")


#: Block side (pixels) and smallest expected counts of a block in :func:`series_consistency`.
CONSISTENCY_BLOCK = 16
CONSISTENCY_MIN_COUNTS = 5.0
#: A series pair whose block chi2/dof exceeds this is flagged as not a same-signal pair.
MAX_SERIES_CHI2 = 3.0


def series_consistency(frame: np.ndarray, reference: np.ndarray, valid: np.ndarray, reference_share: float) -> float | None:
    """Whether a frame and its reference (the scaled mean of the other frames) measure the same signal.

    Counts are summed over :data:`CONSISTENCY_BLOCK`-pixel blocks (a sparse frame has
    too few counts per pixel for a per-pixel test); over blocks expecting at least
    :data:`CONSISTENCY_MIN_COUNTS`, ``(X - R)^2 / (R (1 + s))`` has mean 1 when the
    frames are exposures of one signal (``X`` Poisson, ``R`` the reference's sum with
    variance ``s R``; ``s``: ``reference_share``, the scale over the number of other
    frames). Returns that mean (chi2 per block), or None with fewer than 10 such blocks.
    """
    b = CONSISTENCY_BLOCK
    ny, nx = (n - n % b for n in frame.shape)
    if ny == 0 or nx == 0:
        return None

    def blocks(a: np.ndarray) -> np.ndarray:
        return np.asarray(np.where(valid, a, 0.0)[:ny, :nx], np.float64).reshape(ny // b, b, nx // b, b).sum(axis=(1, 3))

    x, r = blocks(frame), blocks(reference)
    use = r >= CONSISTENCY_MIN_COUNTS
    if use.sum() < 10:
        return None
    return float(np.mean((x[use] - r[use]) ** 2 / (r[use] * (1.0 + reference_share))))


# -- methods and figures -----------------------------------------------------------------------


def denoisers() -> list[str]:
    """Registered denoisers for diffraction or scattering frames."""
    from ...methods.base import registry

    return [name for name, method in registry().items()
            if method.family == "denoising" and set(method.kinds) & DENOISER_KINDS]


def method_plan() -> dict[str, tuple[str, dict[str, Any]]]:
    """Label -> (method, parameters) of the rows between ``raw`` and ``gaussian_oracle``."""
    labels = METHODS if METHODS is not None else ["auto", *denoisers()]
    plan: dict[str, tuple[str, dict[str, Any]]] = {label: (label, {}) for label in labels}
    plan.update(VARIANTS)
    return plan


def anscombe(x: np.ndarray) -> np.ndarray:
    """``2 sqrt(x + 3/8)``, with values below -3/8 taken as -3/8."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(x, np.float64) + 0.375, 0.0))


@dataclass
class Reference:
    """What every method of a case is measured against."""

    truth_a: np.ndarray
    data_range: float
    radial: np.ndarray
    profile: np.ndarray
    sigma: np.ndarray
    used: np.ndarray
    peaks: list[Any]
    geometry: Geometry
    npt: int
    how: str


def _integrate(geometry: Geometry, image: np.ndarray, valid: np.ndarray, npt: int,
               variance: np.ndarray | None = None) -> Any:  # pyFAI's Integrate1dResult (pyFAI is untyped)
    return geometry.integrator.integrate1d(np.asarray(image, np.float64), npt, unit="q_nm^-1", mask=~valid,
                                           variance=variance)


def reference(case: Case) -> Reference:
    if not case.valid.any():
        raise InputError("no measured pixel in the crop")
    truth_a = anscombe(case.truth)
    values = truth_a[case.valid]
    span = float(values.max() - values.min())
    if span <= 0:
        raise InputError("the truth is constant over the measured pixels of the crop")
    geometry, how = _profile_geometry(case)
    npt = max(32, min(case.truth.shape) // 2)
    result = _integrate(geometry, case.truth, case.valid, npt, variance=np.maximum(case.truth, 0.0))
    profile, sigma = np.asarray(result.intensity, np.float64), np.asarray(result.sigma, np.float64)
    used = np.isfinite(profile) & np.isfinite(sigma) & (sigma > 0)
    peaks: list[Any] = []
    if used.sum() >= 5:
        try:
            peaks = sorted(_peaks(result.radial[used], profile[used]), key=lambda p: -p.height)[:3]
        except InputError:
            peaks = []
    return Reference(truth_a, span, np.asarray(result.radial), profile, sigma, used, peaks, geometry, npt, how)


def _peaks(x: np.ndarray, y: np.ndarray, **options: Any) -> list[Any]:
    """:func:`find_peaks_1d` without its fit warnings (a peak whose fit fails keeps its first estimate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        return find_peaks_1d(x, y, **options)


def _peak_area_error(ref: Reference, profile: np.ndarray) -> float | None:
    if not ref.peaks:
        return None
    ok = ref.used & np.isfinite(profile)
    try:
        found = _peaks(ref.radial[ok], profile[ok], prominence=0.5 * min(p.height for p in ref.peaks))
    except InputError:
        found = []
    errors = []
    for peak in ref.peaks:
        near = [g for g in found if abs(g.position - peak.position) <= peak.fwhm]
        if not near or peak.area <= 0:
            errors.append(1.0)
            continue
        match = min(near, key=lambda g: abs(g.position - peak.position))
        errors.append(abs(match.area - peak.area) / peak.area)
    return float(np.mean(errors))


def figures(case: Case, ref: Reference, restored: np.ndarray) -> Row:
    """psnr_db, ssim (Anscombe scale), chi2_dof and peak_area_err of a restored crop."""
    estimate = anscombe(restored)
    row: Row = {
        "psnr_db": psnr(ref.truth_a, estimate, valid=case.valid, data_range=ref.data_range),
        "ssim": ssim(ref.truth_a, estimate, valid=case.valid, data_range=ref.data_range),
    }
    profile = np.asarray(_integrate(ref.geometry, restored, case.valid, ref.npt).intensity, np.float64)
    ok = ref.used & np.isfinite(profile)
    row["chi2_dof"] = float(np.mean(((profile[ok] - ref.profile[ok]) / ref.sigma[ok]) ** 2)) if ok.any() else None
    row["peak_area_err"] = _peak_area_error(ref, profile)
    return row


def _crash(label: str, case: Case, exc: BaseException) -> str:
    """The traceback's last line and where it was raised; the whole traceback goes to stderr."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200] + where
    print(f"asirp bench real: CRASH of {label} on {case.file} [{case.case}]: {text}", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    return text


def _oracle(case: Case, ref: Reference, frame: Frame) -> tuple[float, float, np.ndarray]:
    """The Gaussian sigma (px) with the best PSNR against the truth: a grid, then a bounded refinement."""
    low, high = ORACLE_SIGMA_PX
    cache: dict[float, tuple[float, np.ndarray]] = {}

    def loss(sigma: float) -> float:
        if sigma not in cache:
            with quiet():
                out = np.asarray(restore(frame, "gaussian", sigma=float(sigma)).data)
            error = anscombe(out)[case.valid] - ref.truth_a[case.valid]
            cache[sigma] = (float(np.mean(error**2)), out)
        return cache[sigma][0]

    grid = np.geomspace(low, high, 13)
    values = [loss(float(s)) for s in grid]
    best = int(np.argmin(values))
    bracket = (float(grid[max(best - 1, 0)]), float(grid[min(best + 1, grid.size - 1)]))
    optimize.minimize_scalar(loss, bounds=bracket, method="bounded", options={"xatol": 0.01})
    sigma = min(cache, key=lambda s: cache[s][0])
    started = time.perf_counter()
    with quiet():
        out = np.asarray(restore(frame, "gaussian", sigma=sigma).data)
    return sigma, time.perf_counter() - started, out


def evaluate(case: Case, plan: dict[str, tuple[str, dict[str, Any]]], warmed: set[str]) -> Iterator[Row]:
    """The rows of one case: raw, every planned method, gaussian_oracle."""
    head: Row = {"section": case.section, "file": case.file, "case": case.case, "dose": case.dose,
                 "noise_model": case.noise_model}
    if case.low.size == 0:
        yield {**head, "method": "raw", "note": case.note}
        return
    try:
        ref = reference(case)
    except InputError as exc:
        yield {**head, "method": "raw", "note": f"not measured: {exc.problem}"}
        return
    frame = Frame(case.low, case.valid, case.kind, geometry=case.geometry)
    counts_px = float(case.low[case.valid].mean())
    yield {**head, "method": "raw", "counts_px": counts_px, "p": case.p, **figures(case, ref, case.low), "time_s": 0.0,
           "note": "; ".join(n for n in (case.note, f"profile: {ref.how}") if n)}
    for label, (method, params) in plan.items():
        row: Row = {**head, "method": label}
        try:
            with quiet():
                if label not in warmed:
                    restore(frame, method, **params)
                    warmed.add(label)
                started = time.perf_counter()
                out = restore(frame, method, **params)
                seconds = time.perf_counter() - started
        except AsirpError as exc:
            row["refused"] = str(exc).splitlines()[0][:200]
            yield row
            continue
        except ModuleNotFoundError as exc:  # an optional package of the method is missing
            row["refused"] = f"needs the optional package {exc.name!r}"
            yield row
            continue
        except Exception as exc:  # a bug: reported loudly in the row and on stderr, never hidden
            row["crash"] = _crash(label, case, exc)
            yield row
            continue
        if method == "auto":
            last = out.history[-1]
            row["chosen"] = last.method
            row["decision_s"] = float(last.notes.get("selection", {}).get("selection_seconds", math.nan))
            row["decision_s_per_mpx"] = row["decision_s"] / (case.low.size / 1e6)
        try:
            row.update(figures(case, ref, np.asarray(out.data)), time_s=seconds)
        except AsirpError as exc:  # NaN or a changed shape at measured pixels: a bug of the method
            row["crash"] = _crash(label, case, exc)
        yield row
    row = {**head, "method": "gaussian_oracle"}
    try:
        sigma, seconds, smoothed = _oracle(case, ref, frame)
    except AsirpError as exc:
        row["refused"] = str(exc).splitlines()[0][:200]
        yield row
        return
    row.update(figures(case, ref, smoothed), time_s=seconds, oracle_sigma=sigma)
    yield row


# -- summary -----------------------------------------------------------------------------------


def summary(rows: list[Row]) -> Iterator[Row]:
    """Per dose (series frames: "series"): mean gain over raw per method, symmetry's margins, auto's regret."""
    cases: dict[Any, dict[tuple[str, str], dict[str, float]]] = {}
    for row in rows:
        if "psnr_db" not in row or not math.isfinite(row["psnr_db"]):
            continue
        dose = row["dose"]
        cases.setdefault(dose, {}).setdefault((row["file"], row["case"]), {})[row["method"]] = row["psnr_db"]
    for dose, by_case in cases.items():
        labels = list(dict.fromkeys(m for psnrs in by_case.values() for m in psnrs if m != "raw"))

        def mean_difference(a: str, b: str) -> tuple[float | None, int]:
            diffs = [p[a] - p[b] for p in by_case.values() if a in p and b in p]
            return (float(np.mean(diffs)) if diffs else None), len(diffs)

        for label in labels:
            gain, n = mean_difference(label, "raw")
            row = {"section": "summary", "dose": dose, "method": label, "cases": n, "gain_db": gain}
            if label == "symmetry":
                row["margin_supervised_db"] = mean_difference("symmetry", "supervised")[0]
                row["margin_oracle_db"] = mean_difference("symmetry", "gaussian_oracle")[0]
            if label == "auto":
                regrets = [max(v for m, v in p.items() if m not in ("auto", "gaussian_oracle")) - p["auto"]
                           for p in by_case.values() if "auto" in p]
                row["regret_db"] = float(np.mean(regrets)) if regrets else None
                row["max_regret_db"] = float(np.max(regrets)) if regrets else None
                per_mpx = [r["decision_s_per_mpx"] for r in rows
                           if r["dose"] == dose and r["method"] == "auto" and "decision_s_per_mpx" in r]
                row["median_decision_s_per_mpx"] = float(np.median(per_mpx)) if per_mpx else None
            yield row


# -- the suite ---------------------------------------------------------------------------------


def real_cases(ctx: BenchContext) -> Iterator[Case | Row]:
    """Every case of the folder ``ctx.data`` (and a row for every file left out)."""
    assert ctx.data is not None
    side = QUICK_CROP if ctx.quick else CROP
    n_frames = QUICK_SERIES_FRAMES if ctx.quick else SERIES_FRAMES
    frames, series, skipped = discover(ctx.data)
    yield from skipped
    sources: list[Source] = []
    for index, (path, frame) in enumerate(frames):
        name = str(path.relative_to(ctx.data))
        source, why_not = _frame_source(frame, name)
        if source is None:
            yield {"section": "skipped", "file": name, "note": why_not}
            continue
        sources.append(source)
        yield from thinned_cases(source, side, ctx.seed + 1000 * index)
    for index, group in enumerate(series):
        yield from series_cases(group, side, n_frames, ctx.seed + 1000 * (len(frames) + index))
    for index, source in enumerate(sources):
        yield from full_frame_cases(source, ctx.seed + 1000 * index + 500)


def full_frame_cases(source: Source, seed: int) -> Iterator[Case]:
    """The whole frame thinned to :data:`FULL_FRAME_DOSE` (dose label "full frame"): auto's time per Mpx."""
    for case in thinned_cases(source, max(source.counts.shape), seed, section="full frame"):
        if case.dose == FULL_FRAME_DOSE:
            case.dose = "full frame"
            yield case


@register_suite("real", description="denoisers on real detector frames thinned to low dose, and real frame pairs (--data DIR)")
def real_suite(ctx: BenchContext) -> Iterator[Row]:
    if ctx.data is None:
        raise ParameterError("the real suite measures real detector frames: give the folder with --data DIR")
    plan = method_plan()
    warmed: set[str] = set()
    rows: list[Row] = []
    items = list(real_cases(ctx))
    full_plan = {label: plan[label] for label in FULL_FRAME_METHODS if label in plan}
    for item in ctx.track(items, desc="real cases"):
        if isinstance(item, dict):
            yield item
            continue
        for row in evaluate(item, full_plan if item.section == "full frame" else plan, warmed):
            rows.append(row)
            yield row
    yield from summary(rows)
