"""The adaptive decision: candidates from the registry, ground-truth-free scores, reasons.

1. **Features** (:mod:`.features`) decide the family by physics: a frame blurred by
   the beam (estimated PSF σ ≥ :data:`BLUR_MIN_PX` on maps, projections, images)
   needs deconvolution; otherwise the task is denoising; with ``scale`` it is
   super-resolution. The identity (no restoration) always competes.
2. **Candidates** are the registered methods of that family that declare the
   frame's kind, are selectable and whose needs the frame meets (a PSF is
   estimated; a symmetry must hold). A time budget prunes them by their cost model
   and stops scoring once spent (anytime: the best so far wins).
3. **Scores** need no ground truth. The measurement is split into two independent
   noisy copies (:mod:`.split`: binomial thinning of counts, or recorruption of
   Gaussian data); each candidate restores both and each result predicts the other
   copy (through the PSF for deconvolution, in the object domain); the prediction
   error, extrapolated to the full dose, estimates the squared error against the
   truth (:func:`.split.full_dose_risk`). For super-resolution the image is degraded
   by the scale and restored back (self-similarity).
4. **Parameters** are tuned with the same score over each method's declared
   ``search_space``; the 1-standard-error rule keeps the most regularised value
   whose score is within one standard error of the best. Candidates the scores
   cannot separate are decided by physics (:func:`_break_ties`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from ..errors import AsirpError, InputError, ParameterError
from ..frame import Frame
from ..kinds import Kind
from ..methods.base import Method, registry
from ..methods.deconv.blind import UNCERTAIN_BLUR_FACTOR
from ..progress import progress, quiet
from .features import Features, measure, representative_image
from .split import Risk, SplitPair, full_dose_risk, poisson_weights, split

Mode = Literal["offline", "online"]
#: PSF width (px) from which a frame counts as blurred (deconvolution family).
BLUR_MIN_PX = 0.6
#: Deconvolution pays only when the blur visibly attenuates the frequencies that still
#: carry signal: the OTF at the resolvable frequency must be below this.
MAX_ATTENUATION = 0.8
#: Largest side of the window every candidate is scored on (see :func:`_score_region`).
SCORE_CROP = 256
#: Offline: the selection may take this multiple of the candidates' median estimated
#: run time on the full frame, and at least MIN_SELECTION_S seconds.
OFFLINE_BUDGET_FACTOR = 2.0
MIN_SELECTION_S = 5.0
#: Methods whose whole parameter grid is scored after the first round (one run each).
REFINE_TOP = 2
#: For counts, an estimate whose negative part exceeds this fraction of its total
#: (absolute) flux is physically inadmissible (ringing the forward model hides).
MAX_NEGATIVE_FLUX = 0.01
#: When the two blur estimators disagree by more than this factor the PSF is uncertain:
#: PSF-based methods are then tuned only over the strongly regularised half of their
#: search space (a wrong PSF makes every score favour over-deconvolution).
MAX_BLUR_DISAGREEMENT = UNCERTAIN_BLUR_FACTOR
#: Standard errors by which the identity must beat a restoration of the family the
#: features chose (deconvolution, super-resolution) to be preferred to it.
IDENTITY_TIE_ERRORS = 2.0
#: Independent splits each candidate is scored on offline (their scores are averaged):
#: the split's randomness, not the noise of one copy, dominates the ranking error.
#: Online, under a per-frame budget, one.
SPLITS = 3
#: Online: fraction of the per-frame budget one selection may use.
ONLINE_BUDGET_FRACTION = 0.2
#: Offline with a budget (``--budget``): fraction of it the decision may use (features
#: and scoring, wall clock); the chosen method must run in the rest.
OFFLINE_BUDGET_FRACTION = 0.5
RULE_SET = "asirp adaptive selection v1"


@dataclass(frozen=True)
class Candidate:
    """One (method, parameters) tried by the selector and how it scored."""

    method: str
    parameters: dict[str, Any]
    status: str
    estimated_mse: float | None = None
    standard_error: float | None = None
    predicted_psnr_db: float | None = None
    seconds: float = 0.0
    negative_flux: float = 0.0

    @property
    def admissible(self) -> bool:
        return self.negative_flux <= MAX_NEGATIVE_FLUX

    @property
    def mse(self) -> float:
        """The estimated error; infinite for a candidate that was not scored."""
        return float(self.estimated_mse) if self.estimated_mse is not None else float("inf")

    def rank_key(self) -> tuple[bool, float]:
        """Admissible estimates first, then by estimated error."""
        return (not self.admissible, self.mse)


@dataclass(frozen=True)
class Decision:
    """The chosen method and parameters, the family, the scored candidates and the reasons."""

    method: str
    parameters: dict[str, Any]
    family: str
    reasons: list[str]
    features: Features
    candidates: list[Candidate] = field(default_factory=list)
    mode: str = "offline"
    selection_seconds: float = 0.0
    kind: Kind = "image"
    rule_set: str = RULE_SET

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = self.features.to_dict()
        return out

    def explain(self) -> str:
        """A human-readable account: chosen method, reasons, the ranked candidates."""
        lines = [f"chosen: {self.method} {self.parameters}  (family: {self.family}; {self.selection_seconds:.2f} s to decide)", "because:"]
        lines += [f"  - {reason}" for reason in self.reasons]
        scored = sorted((c for c in self.candidates if c.estimated_mse is not None), key=Candidate.rank_key)
        if scored:
            scale = "on the Anscombe scale" if self.features.kind in PATTERN_KINDS and self.features.noise_model == "poisson" else "in data units²"
            lines.append(f"candidates (ground-truth-free, unbiased estimate of the full-dose mean squared error {scale}, "
                         "shown as 0 when noise takes it below; lower is better):")
            lines += [
                f"  {c.method:<24} {_short(c.parameters):<28} est. MSE {max(c.mse, 0.0):10.4g} ± {c.standard_error:.2g}"
                + (f"  ~{c.predicted_psnr_db:5.1f} dB" if c.predicted_psnr_db is not None else "")
                + ("" if c.admissible else f"  inadmissible: {c.negative_flux:.1%} negative flux")
                for c in scored
            ]
        others = [c for c in self.candidates if c.estimated_mse is None]
        lines += [f"  {c.method:<24} {_short(c.parameters):<28} {c.status}" for c in others]
        return "\n".join(lines)


def _short(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in parameters.items()) or "defaults"


def _family(features: Features, scale: int | None) -> tuple[str, str]:
    if scale is not None:
        return "super_resolution", f"an upsampling by {scale} was asked for: super-resolution methods"
    blur = features.blur_sigma_px
    attenuation, f_limit = features.blur_attenuation, features.resolvable_frequency
    if blur is not None and blur >= BLUR_MIN_PX and attenuation is not None and attenuation < MAX_ATTENUATION:
        return "deconvolution", (
            f"the image is blurred: estimated PSF σ = {blur:.2f} px ({features.blur_method}) attenuates the "
            f"highest frequency that still carries signal ({f_limit:.2f} cycles/px) to {attenuation:.0%}, "
            "so deconvolution can recover detail that denoising would leave blurred"
        )
    if blur is not None and blur >= BLUR_MIN_PX:
        return "denoising", (
            f"estimated PSF σ = {blur:.2f} px, but noise buries the signal above {f_limit:.2f} cycles/px where the "
            f"blur still passes {attenuation:.0%}: deconvolution would mostly amplify noise, so denoising"
        )
    if blur is not None:
        return "denoising", f"blur is negligible (estimated PSF σ = {blur:.2f} px < {BLUR_MIN_PX} px): denoising"
    return "denoising", f"{features.kind} frames are sharp at the detector pixel scale: denoising"


def _needs_met(method: type[Method], features: Features, frame: Frame) -> str | None:
    """None when the frame offers what the method needs, else the reason it does not."""
    if "symmetry" in method.needs:
        symmetry = features.symmetry or {}
        if not symmetry.get("holds", False):
            return "needs a symmetry that this frame does not show"
    if "geometry" in method.needs and frame.geometry is None and features.kind not in ("diffraction", "scattering", "pdf"):
        return "needs a detector geometry"
    return None


def candidate_methods(frame: Frame, features: Features, family: str) -> tuple[list[str], list[Candidate]]:
    """Registered methods eligible for ``family`` (and ``identity``), plus the excluded ones with reasons."""
    names, excluded = [], []
    for name, method in registry().items():
        if method.family != family or features.kind not in method.kinds:
            continue
        if not method.selectable:
            excluded.append(Candidate(name, {}, "not proposed automatically (needs user input)"))
            continue
        unmet = _needs_met(method, features, frame)
        if unmet:
            excluded.append(Candidate(name, {}, unmet))
            continue
        names.append(name)
    return ["identity", *names], excluded


#: Kinds whose intensities span decades and are read on a logarithmic or Poisson-weighted
#: scale (log display, azimuthal profiles fitted with Poisson errors): their counts are
#: scored on the Anscombe scale (:func:`.split.poisson_weights`), so that an error counts
#: relative to the noise of its region, not by the brightest spots alone.
PATTERN_KINDS = frozenset({"diffraction", "scattering", "pdf"})


def _pattern_center(image: Frame, features: Features) -> tuple[float, float] | None:
    """The beam centre (y, x) px of a pattern when it lies inside the frame, else None."""
    center = (features.symmetry or {}).get("center_px")
    if features.kind not in PATTERN_KINDS or center is None or not all(np.isfinite(center)):
        return None
    ny, nx = image.image_shape
    return (float(center[0]), float(center[1])) if 0 <= center[0] < ny and 0 <= center[1] < nx else None


def _score_region(image: Frame, center: tuple[float, float] | None = None) -> tuple[slice, slice]:
    """The window every candidate is scored on (all of a small image).

    A pattern with its beam centre on the detector: the SCORE_CROP² window centred on
    the beam, which holds the symmetry partners of its own pixels (inversion, mirrors
    and rotations about the centre), so symmetry methods run on it as on the whole
    frame. Otherwise the most structured window: the largest signal variance, measured
    on the Anscombe scale for counts (raw variance would pick the brightest, least
    noisy region, where restoration matters least).
    """
    ny, nx = image.image_shape
    if ny <= SCORE_CROP and nx <= SCORE_CROP:
        return slice(0, ny), slice(0, nx)
    h, w = min(ny, SCORE_CROP), min(nx, SCORE_CROP)
    if center is not None:
        y0 = int(np.clip(round(center[0] - h / 2), 0, ny - h))
        x0 = int(np.clip(round(center[1] - w / 2), 0, nx - w))
        return slice(y0, y0 + h), slice(x0, x0 + w)
    data = np.where(image.valid, image.data, 0).astype(np.float64)
    if image.is_counting:
        data = np.where(image.valid, 2.0 * np.sqrt(np.maximum(data, 0.0) + 0.375), 0.0)
    local = ndimage.uniform_filter(data**2, (h, w)) - ndimage.uniform_filter(data, (h, w)) ** 2
    coverage = ndimage.uniform_filter(image.valid.astype(np.float64), (h, w))
    well_covered = coverage >= 0.9
    # Where no window is 90 % measured (a heavily masked detector), the best-covered one.
    local = np.where(well_covered, local, -np.inf) if well_covered.any() else coverage
    cy, cx = np.unravel_index(int(np.argmax(local)), local.shape)
    y0 = int(np.clip(cy - h // 2, 0, ny - h))
    x0 = int(np.clip(cx - w // 2, 0, nx - w))
    return slice(y0, y0 + h), slice(x0, x0 + w)


def _window_geometry(frame: Frame, region: tuple[slice, slice]) -> Any:
    """The frame's geometry cut to ``region`` (None without one, or where it cannot be cut)."""
    geometry = frame.geometry
    if geometry is not None and region != (slice(0, frame.image_shape[0]), slice(0, frame.image_shape[1])):
        try:
            geometry = geometry.cropped((region[0].start, region[1].start),
                                        (region[0].stop - region[0].start, region[1].stop - region[1].start))
        except AsirpError:
            geometry = None
    return geometry


def _crop(frame: Frame, region: tuple[slice, slice], data: np.ndarray, geometry: Any) -> Frame:
    """``data`` (a copy of ``frame``'s image in ``region``) as a frame with the window's ``geometry``."""
    return Frame(data, frame.valid[region], kind=frame.kind, pixel_size=frame.pixel_size, geometry=geometry,
                 meta={}, history=())


def _located(method: Method, params: dict[str, Any], center: Any) -> dict[str, Any]:
    """``params`` with ``center`` (y, x px) for a method whose parameters take a beam centre, else as they are."""
    if center is None:
        return params
    located = {**params, "center": (float(center[0]), float(center[1]))}
    try:
        method.validate(**located)
    except AsirpError:  # no such parameter, or one of another meaning
        return params
    return located


def _psnr_from_mse(mse: float, data_range: float) -> float | None:
    return float(10 * np.log10(data_range**2 / mse)) if mse > 0 and data_range > 0 else None


def _base_parameters(method: type[Method], fixed: dict[str, Any], blur_sigma_px: float | None,
                     scale: int | None) -> dict[str, Any]:
    """What every parameter set scored for ``method`` starts from: the user's parameters it takes, the
    estimated blur as the Gaussian PSF width of a method that needs a PSF (through the field its
    parameter model declares, :meth:`~asirp.methods.base.Params.psf_width`; unless the user gave
    one) and the upsampling factor asked for."""
    model = method.Parameters
    params = {k: v for k, v in fixed.items() if k in model.model_fields}
    if "psf" in method.needs and blur_sigma_px is not None:
        for key, width in model.psf_width(round(blur_sigma_px, 3)).items():
            params.setdefault(key, width)
    if scale is not None and "scale" in model.model_fields:
        params["scale"] = scale
    return params


def _given_psf_width_field(methods: Iterable[type[Method]], fixed: dict[str, Any]) -> str | None:
    """The field among ``fixed`` (the user's parameters) that gives a Gaussian PSF width to the methods
    that need a PSF (:attr:`~asirp.methods.base.Params.psf_width_field`), if the user set one."""
    fields = {method.Parameters.psf_width_field for method in methods if "psf" in method.needs}
    return next((name for name in sorted(f for f in fields if f is not None) if name in fixed), None)


def _parameter_grid(method: type[Method], base: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter sets to score, middle of the search space first (the first round's probe)."""
    if not method.search_space:
        return [dict(base)]
    (key, values), *_ = method.search_space.items()  # the first declared key parameter
    if key in base:
        return [dict(base)]
    return _parameter_grid_order([{**base, key: value} for value in values])


def _parameter_grid_order(grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A grid ordered strongest regularisation first, put in scoring order: the probe first."""
    middle = (len(grid) - 1) // 2  # on the regularised side of the middle: a safe first probe
    return [grid[middle], *grid[:middle], *grid[middle + 1 :]]


def _within_one_error(candidate: Candidate, best: Candidate, risks: dict[tuple[str, str], Risk], band: float = 1.0) -> bool:
    """Whether ``candidate``'s score exceeds ``best``'s by at most ``band`` standard errors.

    The standard error is that of the *paired* difference when both were scored on the
    same splits (the noise of the copies, common to both scores, cancels; it is most of
    either score's own standard error), else the best's own standard error.
    """
    if candidate.estimated_mse is None or best.estimated_mse is None:
        return False
    risk, best_risk = risks.get((candidate.method, _short(candidate.parameters))), risks.get((best.method, _short(best.parameters)))
    if risk is not None and best_risk is not None and risk.terms.shape == best_risk.terms.shape:
        excess, error = risk.difference(best_risk)
        return excess <= band * error
    return candidate.estimated_mse <= best.estimated_mse + band * (best.standard_error or 0.0)


def _one_se_choice(scored: list[Candidate], grid_order: list[dict[str, Any]], risks: dict[tuple[str, str], Risk]) -> Candidate:
    """The most regularised admissible candidate (earliest in the grid) within one standard error of the best."""
    pool = [c for c in scored if c.admissible] or scored
    best = min(pool, key=lambda c: c.mse)
    ordered = sorted(pool, key=lambda c: grid_order.index(c.parameters) if c.parameters in grid_order else len(grid_order))
    return next(c for c in ordered if c is best or _within_one_error(c, best, risks))


def _break_ties(
    ranking: list[Candidate], risks: dict[tuple[str, str], Risk], family: str, noise_model: str, reasons: list[str],
    *, uncertain_psf: bool = False,
) -> Candidate:
    """The best candidate, or a physically better-grounded one the scores cannot tell from it.

    A candidate ties with the best when its score exceeds the best's by less than one
    standard error of the *paired* difference (both scored on the same split; the
    unpaired standard errors when they were scored on different regions), or
    :data:`IDENTITY_TIE_ERRORS` of them when the best is the identity but the features
    chose deblurring or super-resolution. Among the
    tied, by physics rather than by noise in the score:

    1. a restoration of the chosen family over the identity: the features already
       showed that the family pays (for deconvolution: the blur visibly attenuates
       frequencies that carry signal);
    2. an estimator derived for the data's noise model (Poisson maximum likelihood for
       counts, least squares for Gaussian noise), which also weighs correctly the
       frequencies the score cannot see (those the blur suppresses below the noise);
    3. a method that adapted to this frame (:meth:`Method.adaptation_cost`: a network
       fine-tuned on the frame's own photons over the whole frame) over one that did
       not: the score sees one window at half the dose, the adaptation the whole frame;
    4. then the lower score.

    With an ``uncertain_psf`` (deconvolution whose two blur estimates disagree) the
    burden of proof turns: a deconvolution must beat the identity by
    :data:`IDENTITY_TIE_ERRORS` paired standard errors, else the raw data are returned,
    since a wrong PSF makes artefacts (ringing, dark fringes beside edges) that a split
    score of small, noisy data cannot rule out.
    """
    best = ranking[0]
    if not best.admissible or best.estimated_mse is None:
        return best
    if uncertain_psf and family == "deconvolution" and best.method != "identity":
        identity = next((c for c in ranking if c.method == "identity"), None)
        if identity is not None and _within_one_error(identity, best, risks, IDENTITY_TIE_ERRORS):
            reasons.append(
                f"the PSF is uncertain and {best.method} does not beat the raw data by {IDENTITY_TIE_ERRORS:g} "
                f"standard errors ({best.estimated_mse:.3g} vs {identity.estimated_mse:.3g}): the raw data are kept "
                "rather than risk deconvolution artefacts; give the PSF (beam_fwhm=, psf_sigma=) to deconvolve")
            return identity
    methods = registry()
    # The identity must beat a restoration of the family the features chose clearly (two
    # standard errors); otherwise one standard error separates.
    band = IDENTITY_TIE_ERRORS if best.method == "identity" and family != "denoising" else 1.0

    def tied(candidate: Candidate) -> bool:
        return candidate.admissible and _within_one_error(candidate, best, risks, band)

    def adapted(candidate: Candidate) -> bool:
        if candidate.method == "identity":
            return False
        method = methods[candidate.method]()
        return method.adaptation_cost(method.validate(**candidate.parameters)) > 0

    def physics_key(candidate: Candidate) -> tuple[bool, bool, bool, float]:
        identity = candidate.method == "identity"  # makes no noise-model assumption
        matched = identity or noise_model in methods[candidate.method].noise_models
        return (identity and family != "denoising", not matched, not adapted(candidate),
                float(candidate.estimated_mse or 0.0))

    choice = min([best, *(c for c in ranking[1:] if tied(c))], key=physics_key)
    if choice is not best:
        if best.method == "identity":
            why = "a restoration of the chosen family"
        elif physics_key(choice)[1] != physics_key(best)[1]:
            why = f"built for {noise_model} noise"
        else:
            why = "adapted to this frame (fine-tuned on its own photons)"
        reasons.append(
            f"{choice.method} scores within one standard error of {best.method} ({choice.estimated_mse:.3g} vs "
            f"{best.estimated_mse:.3g}, paired difference), and is {why}: {choice.method} preferred"
        )
    return choice


def negative_flux(estimate: np.ndarray) -> float:
    """Fraction of the absolute flux of ``estimate`` that is negative (0 for non-negative images)."""
    total = float(np.abs(estimate).sum())
    return float(-np.minimum(estimate, 0).sum() / total) if total > 0 else 0.0


def _run_scoring(method_name: str, frame: Frame, params: dict[str, Any]) -> np.ndarray:
    from ..methods.base import get_method

    with quiet():
        return np.asarray(get_method(method_name).run(frame, **params).data)


def _sr_pair(image: Frame, scale: int) -> tuple[Frame, np.ndarray]:
    """Self-similarity pair for super-resolution: the image binned by ``scale``, and the image.

    Counts are summed (a coarser scan of the same sample is again Poisson, and the SR
    methods conserve counts, so their output is comparable pixel for pixel); other
    data are averaged.
    """
    ny, nx = (d - d % scale for d in image.image_shape)
    data = image.data[:ny, :nx].astype(np.float64)
    valid = image.valid[:ny, :nx]
    blocks = data.reshape(ny // scale, scale, nx // scale, scale)
    low = blocks.sum(axis=(1, 3)) if image.is_counting else blocks.mean(axis=(1, 3))
    low_valid = np.asarray(valid.reshape(ny // scale, scale, nx // scale, scale).all(axis=(1, 3)))
    small = Frame(np.where(low_valid, low, 0), low_valid, kind=image.kind,
                  pixel_size=None if image.pixel_size is None else image.pixel_size.scaled(1 / scale))
    return small, data


def _grid_rank(method: type[Method], params: dict[str, Any]) -> int:
    """Position of ``params`` in the method's declared search order (strongest regularisation first)."""
    if not method.search_space:
        return 0
    (key, values), *_ = method.search_space.items()
    return values.index(params[key]) if params.get(key) in values else len(values)


def _score_one(
    name: str,
    params: dict[str, Any],
    image: Frame,
    work: Frame,
    features: Features,
    family: str,
    scale: int | None,
    seed: int,
    scoring: dict[str, _Scoring],
    blur_sigma: float | None,
    splits: int,
) -> tuple[Candidate, Risk | None] | None:
    """Restore both noisy copies with ``name(params)`` and score them (:func:`.split.full_dose_risk`).

    ``blur_sigma`` (px): the PSF every candidate of the deconvolution family is judged
    through, the identity included, so that all are scored as estimates of the
    unblurred object. ``splits``: independent splits scored and averaged. ``scoring``:
    the copies and window shared by every candidate of the decision (:func:`scoring_set`).
    """
    if family == "super_resolution":
        if name == "identity":
            return None
        small, reference = _sr_pair(image, scale or 2)
        restored = _run_scoring(name, small, params)
        h, w = reference.shape
        m = restored[:h, :w]
        noise = reference if features.noise_model == "poisson" else features.noise_sigma**2
        err = (m - reference) ** 2 - noise
        mse, se = float(err.mean()), float(err.std() / np.sqrt(err.size))
        return Candidate(name, params, "scored", mse, se, _psnr_from_mse(mse, float(np.ptp(reference))),
                         negative_flux=negative_flux(m) if work.is_counting else 0.0), None
    copies, region, weights = scoring_set(image, features, splits, seed, scoring)
    geometry = scoring["set"].geometry
    risks, estimates = [], []
    for pair in copies:
        estimate_a = _run_scoring(name, _crop(image, region, pair.a, geometry), params)
        estimate_b = _run_scoring(name, _crop(image, region, pair.b, geometry), params)
        risks.append(full_dose_risk(estimate_a, estimate_b, pair, blur_sigma=blur_sigma, weights=weights))
        estimates.append(estimate_a)
    risk = Risk.mean(risks)
    counts = features.noise_model == "poisson"
    first_pair = copies[0]
    full = first_pair.scale * first_pair.b[first_pair.valid]  # a copy at the measurement's scale
    if weights is not None:  # the error is on the Anscombe scale: so is the range
        full = 2.0 * np.sqrt(np.maximum(full, 0.0) + 0.375)
    data_range = float(np.ptp(full)) if full.size else 1.0
    return Candidate(name, params, "scored", risk.mse, risk.standard_error, _psnr_from_mse(risk.mse, data_range),
                     negative_flux=max(negative_flux(e) for e in estimates) if counts else 0.0), risk


@dataclass
class _Scoring:
    """The split copies, the window and the weights every candidate of one decision is scored on."""

    copies: list[SplitPair]
    region: tuple[slice, slice]
    weights: np.ndarray | None
    #: The frame's geometry cut to the window (made once: a pyFAI integrator is slow to build).
    geometry: Any


def scoring_set(
    image: Frame, features: Features, splits: int, seed: int, cache: dict[str, _Scoring]
) -> tuple[list[SplitPair], tuple[slice, slice], np.ndarray | None]:
    """Split copies of ``image``, the window scored and, for patterns of counts, Anscombe-scale weights (made once)."""
    if "set" not in cache:
        region = _score_region(image, _pattern_center(image, features))
        data, valid = image.data[region], image.valid[region]
        copies = [split(data, valid, features.noise_model, features.noise_sigma, seed + k) for k in range(splits)]
        weights = None
        if features.kind in PATTERN_KINDS and features.noise_model == "poisson":
            weights = poisson_weights(data, valid)
        cache["set"] = _Scoring(copies, region, weights, _window_geometry(image, region))
    entry = cache["set"]
    return entry.copies, entry.region, entry.weights


def choose(
    frame: Frame,
    *,
    budget_s: float | None = None,
    mode: Mode = "offline",
    scale: int | None = None,
    fixed: dict[str, Any] | None = None,
    seed: int = 0,
) -> Decision:
    """Pick the method and parameters for ``frame`` without ground truth (see the module docstring).

    Parameters
    ----------
    frame:
        The data to restore (a stack is decided on its middle image).
    budget_s:
        The time budget per frame in seconds. Online: methods whose estimated run time
        on the full frame exceeds it are not candidates, and the selection itself may
        use :data:`ONLINE_BUDGET_FRACTION` of it (decisions are reused across frames).
        Offline: deciding and running together: the decision may use
        :data:`OFFLINE_BUDGET_FRACTION` of it by the wall clock, features included, and
        methods must be estimated to run in the rest. A fine-tuning counts against it.
    mode:
        ``"offline"`` or ``"online"``.
    scale:
        Ask for super-resolution by this factor.
    fixed:
        Parameters the user set; they are not tuned.
    seed:
        Seed of the noise split (decisions are reproducible).
    """
    started = time.perf_counter()
    fixed = dict(fixed or {})
    source = frame.meta.get("source")
    first = representative_image(frame)
    values = first.data[first.valid]
    if values.size and not np.ptp(values) > 0:
        raise InputError(f"every measured pixel has the same value ({values[0]:g}): there is no structure to "
                         "restore or to choose a method for", source)
    try:
        features = measure(frame, refine_blur=budget_s is None)
    except ParameterError as exc:  # e.g. too small to estimate a blur: the frame's problem, named with its file
        raise InputError(f"auto cannot measure this frame: {exc}", source) from None
    work = frame if frame.kind == features.kind else replace(frame, kind=features.kind)
    family, family_reason = _family(features, scale)
    reasons = [f"kind {features.kind!r} ({features.kind_source})", family_reason]
    names, excluded = candidate_methods(work, features, family)
    methods = registry()
    full_shape = work.image_shape

    base_params = {name: _base_parameters(methods[name], fixed, features.blur_sigma_px, scale) for name in names}

    def full_cost(name: str) -> float:
        method = methods[name]()
        try:
            return float(method.cost(full_shape, method.validate(**base_params[name])))
        except AsirpError:
            return float("inf")

    costs = {name: full_cost(name) for name in names}
    candidates: list[Candidate] = list(excluded)
    if budget_s is not None:
        run_budget = budget_s if mode == "online" else (1.0 - OFFLINE_BUDGET_FRACTION) * budget_s
        over = [n for n in names if n != "identity" and costs[n] > run_budget]
        candidates += [Candidate(n, base_params[n], f"skipped: estimated {costs[n]:.3g} s to run > {run_budget:.3g} s "
                                 f"left of the budget ({budget_s:g} s)") for n in over]
        names = [n for n in names if n not in over]
    if budget_s is not None:
        fraction = ONLINE_BUDGET_FRACTION if mode == "online" else OFFLINE_BUDGET_FRACTION
        selection_budget = max(0.0, fraction * budget_s - (time.perf_counter() - started))
    else:
        finite = [c for n, c in costs.items() if n != "identity" and np.isfinite(c)]
        selection_budget = max(MIN_SELECTION_S, OFFLINE_BUDGET_FACTOR * float(np.median(finite)) if finite else MIN_SELECTION_S)
    reasons.append(
        f"features measured in {time.perf_counter() - started:.2g} s; scoring budget {selection_budget:.2g} s ({mode})"
    )

    image = representative_image(work)
    width_field = _given_psf_width_field(methods.values(), fixed)
    given_width = None if width_field is None else fixed[width_field]
    blur_sigma = (given_width or features.blur_sigma_px) if family == "deconvolution" else None
    scored: dict[str, list[Candidate]] = {}
    grids = {name: _parameter_grid(methods[name], base_params[name]) for name in names}
    uncertain_psf = (family == "deconvolution" and (features.blur_disagreement or 1.0) > MAX_BLUR_DISAGREEMENT
                     and width_field is None)
    if uncertain_psf:
        for name in names:
            if "psf" in methods[name].needs and len(grids[name]) > 1:
                ordered = sorted(grids[name], key=partial(_grid_rank, methods[name]))
                grids[name] = _parameter_grid_order(ordered[: (len(ordered) + 1) // 2])
        reasons.append(
            f"the PSF is uncertain (the two blur estimators differ by a factor {features.blur_disagreement:.2g}): "
            "PSF-based methods are tuned only over their more strongly regularised settings"
        )
    scoring: dict[str, _Scoring] = {}
    risks: dict[tuple[str, str], Risk] = {}

    # With a budget the selection is anytime: wall-clock time counts (online: one split is
    # scored). Without, it is reproducible: the cost models' estimates count, so the same
    # frame gets the same decision on a busy or an idle machine.
    anytime = budget_s is not None
    splits = 1 if mode == "online" and anytime else SPLITS
    # A beam centre without a geometry: the user's, else the one the features found on the whole
    # frame, handed (in window coordinates) to the methods that take one: each scoring run
    # would otherwise search it again, on a noisy half-dose window.
    center = fixed.get("center") or (_pattern_center(image, features) if work.geometry is None else None)
    scoring_started = time.perf_counter()  # the budget is for scoring; features are measured once
    spent_estimate = 0.0

    def score(name: str, params: dict[str, Any]) -> None:
        nonlocal spent_estimate
        spent = time.perf_counter() - scoring_started if anytime else spent_estimate
        if scored and spent > selection_budget:
            candidates.append(Candidate(name, params, f"skipped: selection budget spent ({spent:.2g} s)"))
            return
        method = methods[name]()
        side = min(SCORE_CROP, max(full_shape))
        try:
            validated = method.validate(**params)
            adaptation = float(method.adaptation_cost(validated))
            estimate = 2 * splits * (float(method.cost((side, side), validated)) - adaptation)
        except AsirpError:
            validated, adaptation, estimate = None, 0.0, 0.0
        # Adapting to the frame (fine-tuning) is paid once and reused by the final run: it
        # counts against the selection's budget only when the user set one.
        charged = estimate + (adaptation if budget_s is not None else 0.0)
        if scored and spent + charged > selection_budget:
            candidates.append(Candidate(name, params, f"skipped: estimated {charged:.2g} s exceeds the remaining budget"))
            return
        spent_estimate += charged
        t0 = time.perf_counter()
        try:
            scoring_params = params
            if validated is not None:  # what the method pins on the whole frame (an analysis, a fine-tuning)
                with quiet():
                    scoring_params = method.adapted_for_scoring(work, method.validate(**_located(method, params, center)))
            if adaptation > 0:
                reasons.append(f"{name} adapted to the frame before scoring ({time.perf_counter() - t0:.2g} s, "
                               "reused by the run): it is scored as it will run")
            if center is not None and family != "super_resolution":
                _, region, _ = scoring_set(image, features, splits, seed, scoring)
                scoring_params = _located(method, scoring_params,
                                          (center[0] - region[0].start, center[1] - region[1].start))
            entry = _score_one(name, scoring_params, image, work, features, family, scale, seed, scoring, blur_sigma,
                               splits)
        except AsirpError as exc:
            candidates.append(Candidate(name, params, f"failed: {exc}"))
            return
        if entry is not None:
            candidate, risk = entry
            scored.setdefault(name, []).append(replace(candidate, parameters=params, seconds=time.perf_counter() - t0))
            if risk is not None:
                risks[(name, _short(params))] = risk

    # Round 1: every method once (middle of its search space), cheapest first.
    for name in progress(sorted(names, key=lambda n: costs[n]), desc="auto: scoring methods", unit="method"):
        score(name, grids[name][0])
    # Round 2: the rest of the grid of the best methods so far.
    leaders = sorted(scored, key=lambda n: scored[n][0].rank_key())[:REFINE_TOP]
    refinements = [(name, params) for name in leaders for params in grids[name][1:]]
    for name, params in progress(refinements, desc="auto: tuning parameters", unit="setting"):
        score(name, params)

    for entries in scored.values():
        candidates.extend(entries)
    if not scored:
        reasons.append("no candidate could be scored within the budget: the identity is returned (nothing is changed)")
        return Decision("identity", {}, family, reasons, features, candidates, mode,
                        time.perf_counter() - started, features.kind)
    ordered_grids = {name: sorted(grids[name], key=lambda p: _grid_rank(methods[name], p)) for name in scored}
    best_per_method = {name: _one_se_choice(entries, ordered_grids[name], risks) for name, entries in scored.items()}
    ranking = sorted(best_per_method.values(), key=Candidate.rank_key)
    winner = _break_ties(ranking, risks, family, features.noise_model, reasons, uncertain_psf=uncertain_psf)
    inadmissible = [c.method for c in ranking if not c.admissible]
    if inadmissible:
        reasons.append(
            f"ranked last as physically inadmissible for counts (negative flux > {MAX_NEGATIVE_FLUX:.0%}): "
            + ", ".join(sorted(set(inadmissible)))
        )
    reasons.append(
        "ranked by the estimated full-dose error of predicting an independent copy of the data"
        + (", deblurred through the PSF" if blur_sigma else "") + " ("
        + ("binomial split of the counts" if features.noise_model == "poisson" else "Gaussian recorruption")
        + ("; super-resolution scored by restoring the image downsampled by the scale" if family == "super_resolution" else "")
        + "): "
        + ", ".join(f"{c.method} {c.estimated_mse:.3g}" for c in ranking)
    )
    if len(scored.get(winner.method, [])) > 1:
        reasons.append(f"{winner.method}: parameters {_short(winner.parameters)} by the 1-standard-error rule over its search space")
    if winner.method == "identity":
        reasons.append("no method predicted the data better than the raw measurement: restoration would only add bias")
    parameters = {**winner.parameters, **fixed} if winner.method != "identity" else {}
    return Decision(winner.method, parameters, family, reasons, features, candidates, mode,
                    time.perf_counter() - started, features.kind)
