"""The deconvolution methods of the repertoire: thin :class:`~asirp.methods.base.Method` wrappers.

Each method takes its PSF from one of (at most one may be given):

* ``psf_sigma``: an isotropic Gaussian, σ in px;
* ``psf_sigma_y`` / ``psf_sigma_x`` (+ ``psf_angle_deg``): an anisotropic, rotated Gaussian;
* ``beam_fwhm``: a beam FWHM as a length (``"50um"``), converted with the frame's
  physical pixel size (scan step);
* ``psf_file``: a ``.npy`` or ``.tif`` file (its sha256 goes into the history);
* ``psf``: an array given programmatically (kept in the parameters as a list, with
  its sha256 in the notes);

and otherwise estimate a Gaussian from the image (:func:`asirp.methods.deconv.blind.estimate_gaussian_sigma`),
recording the estimate and how it was obtained. Everything that decides the result
(the PSF, the iterations used and why they stopped, chosen regularisation) goes
into the history step's notes.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal, overload

import numpy as np
from pydantic import Field, field_validator, model_validator

from ...errors import InputError, ParameterError
from ...frame import Frame
from ...history import sha256_of_file
from ...psf import beam_sigma_px, estimated_gaussian_psf, gaussian_psf, load_psf, validate_psf
from ...spectrum import SpectrumModel
from ...units import parse_length
from ..base import DeviceParams, Method, Output, Params, register
from .blind import blind_richardson_lucy, estimate_gaussian_sigma
from .closed_form import fit_wiener_spectrum, tikhonov, wiener
from .iterative import StopName, landweber, richardson_lucy, van_cittert
from .operator import padded_shape
from .result import DeconvResult

Backend = Literal["auto", "numpy", "torch"]
#: Seconds per padded pixel and FFT-based iteration (4 real FFTs + a dozen array
#: passes), measured at 1024² on a 2-core x86 laptop-class CPU: ~18 ms per iteration.
#: Separable PSFs (real-space passes) run 2-4x faster; the model stays pessimistic for
#: them so that the selector's budget, counted with it, keeps its decisions.
SECONDS_PER_PIXEL_ITERATION = 1.6e-8
#: Iterations used when nothing decides otherwise (MATLAB deconvlucy's default), and the
#: cap of automatic stopping.
DEFAULT_ITERATIONS = 10
MAX_AUTOMATIC_ITERATIONS = 200


class PSFParams(Params):
    """Where the PSF comes from (at most one source; none: estimated from the image)."""

    psf_width_field: ClassVar[str | None] = "psf_sigma"

    psf_sigma: float | None = Field(None, gt=0, le=50, description="isotropic Gaussian PSF width", json_schema_extra={"unit": "px"})
    psf_sigma_y: float | None = Field(None, gt=0, le=50, description="Gaussian PSF width along its own y axis", json_schema_extra={"unit": "px"})
    psf_sigma_x: float | None = Field(None, gt=0, le=50, description="Gaussian PSF width along its own x axis", json_schema_extra={"unit": "px"})
    psf_angle_deg: float = Field(0.0, ge=-180, le=180, description="rotation of the PSF's x axis towards +row", json_schema_extra={"unit": "deg"})
    beam_fwhm: str | None = Field(None, description="beam FWHM as a length, e.g. '50um' (needs the frame's pixel size)")
    psf_file: str | None = Field(None, description="PSF array file (.npy or .tif)")
    psf: list[list[float]] | None = Field(None, description="PSF array (rows of values), normalised to unit sum")

    @field_validator("psf", mode="before")
    @classmethod
    def _array_to_list(cls, value: Any) -> Any:
        return np.asarray(value, dtype=float).tolist() if isinstance(value, np.ndarray) else value

    @field_validator("beam_fwhm")
    @classmethod
    def _check_length(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                length, _ = parse_length(value)
            except ParameterError as exc:
                raise ValueError(str(exc)) from None
            if not length > 0:
                raise ValueError(f"beam FWHM must be a positive length, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> PSFParams:
        sources = [
            name
            for name, given in (
                ("psf_sigma", self.psf_sigma is not None),
                ("psf_sigma_y/psf_sigma_x", self.psf_sigma_y is not None or self.psf_sigma_x is not None),
                ("beam_fwhm", self.beam_fwhm is not None),
                ("psf_file", self.psf_file is not None),
                ("psf", self.psf is not None),
            )
            if given
        ]
        if len(sources) > 1:
            raise ValueError(f"give at most one PSF source, got {', '.join(sources)}")
        if self.psf_angle_deg != 0 and self.psf_sigma_y is None and self.psf_sigma_x is None:
            raise ValueError("psf_angle_deg needs psf_sigma_y/psf_sigma_x")
        return self


@overload
def resolve_psf(frame: Frame, params: PSFParams, *, estimate: Literal[True] = True) -> tuple[np.ndarray, dict[str, Any]]: ...
@overload
def resolve_psf(frame: Frame, params: PSFParams, *, estimate: bool) -> tuple[np.ndarray | None, dict[str, Any]]: ...
def resolve_psf(frame: Frame, params: PSFParams, *, estimate: bool = True) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The PSF array for ``frame`` from the parameters, and notes saying where it came from.

    With no source given: estimated from the image when ``estimate``, else None.
    """
    shape = frame.image_shape
    if params.psf_sigma is not None:
        return validate_psf(gaussian_psf(params.psf_sigma), shape), {"source": "gaussian", "sigma_px": params.psf_sigma}
    widths = [sigma for sigma in (params.psf_sigma_y, params.psf_sigma_x) if sigma is not None]
    if widths:  # one width given: the PSF is round
        sy = params.psf_sigma_y if params.psf_sigma_y is not None else widths[0]
        sx = params.psf_sigma_x if params.psf_sigma_x is not None else widths[0]
        kernel = validate_psf(gaussian_psf(sy, sx, params.psf_angle_deg), shape)
        return kernel, {"source": "gaussian", "sigma_y_px": sy, "sigma_x_px": sx, "angle_deg": params.psf_angle_deg}
    if params.beam_fwhm is not None:
        if frame.pixel_size is None:
            raise ParameterError(
                f"beam_fwhm={params.beam_fwhm!r} needs the frame's physical pixel size (scan step), which this frame "
                "does not have; give psf_sigma in pixels instead, or set the pixel size"
            )
        sy, sx = beam_sigma_px(params.beam_fwhm, frame.pixel_size)
        notes = {"source": "beam", "beam_fwhm": params.beam_fwhm, "pixel_size": frame.pixel_size.as_dict(), "sigma_y_px": sy, "sigma_x_px": sx}
        return validate_psf(gaussian_psf(sy, sx), shape), notes
    if params.psf_file is not None:
        kernel = load_psf(params.psf_file, shape)
        return kernel, {"source": "file", "path": params.psf_file, "sha256": sha256_of_file(params.psf_file), "shape": list(kernel.shape)}
    if params.psf is not None:
        try:
            given = np.asarray(params.psf, dtype=np.float64)
        except ValueError:
            raise ParameterError("psf must be a rectangular 2-D array (rows of equal length)") from None
        kernel = validate_psf(given, shape)
        digest = hashlib.sha256(np.ascontiguousarray(given).tobytes()).hexdigest()
        return kernel, {"source": "array", "sha256": digest, "psf": kernel.tolist()}
    if not estimate:
        return None, {"source": "estimated by the method"}
    sigma = estimate_gaussian_sigma(frame.data, frame.valid)
    return validate_psf(estimated_gaussian_psf(sigma.sigma, shape), shape), {"source": "estimated", **sigma.as_notes()}


def _psf_given(params: PSFParams) -> bool:
    """Whether the parameters give the PSF (else it is estimated from the image)."""
    return any(getattr(params, name) is not None for name in ("psf_sigma", "psf_sigma_y", "psf_sigma_x", "beam_fwhm", "psf_file", "psf"))


class _PSFMethod(Method):
    """A deconvolution whose PSF comes from :class:`PSFParams`: a series estimates its width once."""

    def series_parameters(self, frame: Frame, params: Any) -> dict[str, Any]:
        """The estimated Gaussian PSF width (``psf_sigma``, px) when no PSF is given and the Gaussian's
        default extent fits the image (for tiny images the per-frame estimate cuts the kernel to fit)."""
        if _psf_given(params):
            return {}
        image = frame.images()[0]
        sigma = estimate_gaussian_sigma(image.data, image.valid).sigma
        if any(size > n for size, n in zip(gaussian_psf(sigma).shape, frame.image_shape, strict=True)):
            return {}
        return {"psf_sigma": float(sigma)}


def _poisson_data(frame: Frame) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Data for the Poisson methods: counting frames must be non-negative; other kinds are
    offset to non-negative values (blurring a constant gives the same constant, so the
    offset commutes with the blur) and the offset is recorded."""
    values = frame.data[frame.valid]
    minimum = float(values.min())
    if minimum >= 0:
        return np.asarray(frame.data), 0.0, {}
    if frame.is_counting:
        raise InputError(
            f"{int((values < 0).sum())} valid pixels of this {frame.kind} frame are negative (minimum {minimum:.4g}); "
            "Poisson deconvolution needs non-negative counts (mask them, or subtract less background)",
            frame.meta.get("source"),
        )
    offset = -minimum
    return np.where(frame.valid, frame.data + offset, 0).astype(np.float32), offset, {"offset_added": offset}


def _iteration_notes(result: DeconvResult) -> dict[str, Any]:
    used = result.iterations_used
    notes: dict[str, Any] = {
        "iterations_used": list(used) if isinstance(used, tuple) else used,
        "stop_reason": result.stop_reason,
    }
    trace = np.asarray(result.log_likelihood)
    if trace.size:
        if trace.ndim == 1:
            notes["final_log_likelihood"] = float(trace[-1])
        else:
            notes["final_log_likelihood"] = [float(row[np.isfinite(row)][-1]) for row in trace]
    for key, value in result.info.items():
        notes[key] = value
    return notes


def _padded_pixels(frame_shape: tuple[int, ...], margin: int) -> float:
    frames = float(np.prod(frame_shape[:-2])) if len(frame_shape) > 2 else 1.0
    ny, nx = padded_shape((int(frame_shape[-2]), int(frame_shape[-1])), (margin, margin))
    return frames * ny * nx


def _psf_margin(params: PSFParams) -> int:
    """A PSF half-size guess for the cost model (4σ; 8 px when unknown)."""
    sigma = params.psf_sigma or max(params.psf_sigma_y or 0.0, params.psf_sigma_x or 0.0) or 2.0
    return int(np.ceil(4 * sigma))


def _estimation_cost(params: PSFParams, frame_shape: tuple[int, ...]) -> float:
    """The PSF estimate runs ~30 short split-data deconvolutions of at most 256² pixels."""
    if _psf_given(params):
        return 0.0
    region = (min(int(frame_shape[-2]), 256), min(int(frame_shape[-1]), 256))
    return 30 * 30 * 2 * SECONDS_PER_PIXEL_ITERATION * _padded_pixels(region, 8)


# -- Richardson-Lucy ------------------------------------------------------------------
class RichardsonLucyParams(PSFParams, DeviceParams):
    iterations: int | None = Field(None, ge=1, le=5000, description="iterations (fixed), or the maximum for automatic stopping; None: automatic")
    stop: Literal["auto", "fixed", "discrepancy", "split"] = Field(
        "auto",
        description="auto: fixed when iterations is given, else split-data cross-validation for counting kinds "
        f"and integer counts, and {DEFAULT_ITERATIONS} iterations otherwise",
    )
    accelerate: bool = Field(True, description="Biggs-Andrews vector extrapolation")
    damping: float = Field(0.0, ge=0, le=100, json_schema_extra={"unit": "standard deviations"},
                           description="deconvlucy DAMPAR: no update where the fit is within this many standard deviations")
    tv: float = Field(0.0, ge=0, le=0.2, description="total-variation regularisation weight (RL-TV)")
    background: float = Field(0.0, ge=0, description="known additive background per pixel", json_schema_extra={"unit": "image units (counts)"})
    backend: Backend = Field("auto", description="array backend: torch on a CUDA GPU when present (auto), numpy or torch")
    seed: int = Field(0, ge=0, description="seed of the binomial split (stop='split')")


def _stop_and_iterations(frame: Frame, params: RichardsonLucyParams | BlindRichardsonLucyParams) -> tuple[StopName, int]:
    """The stop rule and iteration count (or cap) that ``stop="auto"`` and ``iterations=None`` mean."""
    if params.stop != "auto":
        return params.stop, params.iterations or (DEFAULT_ITERATIONS if params.stop == "fixed" else MAX_AUTOMATIC_ITERATIONS)
    if params.iterations is not None:
        return "fixed", params.iterations
    if not (frame.is_counting or _integer_valued(frame)):
        return "fixed", DEFAULT_ITERATIONS
    # The free-form blind mode cannot be cross-validated cheaply: the discrepancy principle instead.
    free = getattr(params, "mode", "gaussian") == "free"
    return ("discrepancy" if free else "split"), MAX_AUTOMATIC_ITERATIONS


def _integer_valued(frame: Frame) -> bool:
    """Whether the valid values are whole numbers (photon counts, e.g. raw tomography projections)."""
    values = frame.data[frame.valid]
    return bool(np.all(values == np.round(values)))


def _expected_iterations(params: RichardsonLucyParams | BlindRichardsonLucyParams, counting: bool = True) -> float:
    if params.iterations is not None and params.stop in ("auto", "fixed"):
        return float(params.iterations)
    if params.stop == "split" or (params.stop == "auto" and counting):
        return 3.0 * 30.0  # two half-data runs past their optimum, then the full run
    return float(params.iterations or DEFAULT_ITERATIONS)


@register
class RichardsonLucy(_PSFMethod):
    """Richardson-Lucy deconvolution (:func:`~asirp.methods.deconv.richardson_lucy`): Poisson
    maximum likelihood with Bertero-Boccacci boundaries, acceleration, damping, RL-TV and
    automatic stopping."""

    name = "richardson_lucy"
    family = "deconvolution"
    task = "Poisson maximum-likelihood deconvolution (Richardson-Lucy), edge- and mask-aware"
    needs = frozenset({"psf"})
    Parameters = RichardsonLucyParams
    search_space = {"iterations": (5, 10, 20, 40)}
    noise_models = frozenset({"poisson"})

    def process(self, frame: Frame, params: RichardsonLucyParams) -> Output:
        data, offset, notes = _poisson_data(frame)
        kernel, psf_notes = resolve_psf(frame, params)
        stop, iterations = _stop_and_iterations(frame, params)
        result = richardson_lucy(
            data, kernel, iterations=iterations, valid=frame.valid, background=params.background, damping=params.damping,
            tv=params.tv, accelerate=params.accelerate, stop=stop, seed=params.seed, backend=params.backend,
            device=params.device,
        )
        image = result.image - np.float32(offset) if offset else result.image
        return Output(image, notes={"psf": psf_notes, "stop": stop, **_iteration_notes(result), **notes})

    def cost(self, frame_shape: tuple[int, ...], params: RichardsonLucyParams) -> float:
        per_iteration = SECONDS_PER_PIXEL_ITERATION * _padded_pixels(frame_shape, _psf_margin(params))
        return _expected_iterations(params) * per_iteration + _estimation_cost(params, frame_shape)


# -- least squares --------------------------------------------------------------------
class _LeastSquaresParams(PSFParams, DeviceParams):
    stop: Literal["fixed", "discrepancy"] = Field("fixed", description="fixed count, or the discrepancy principle")
    backend: Backend = Field("auto", description="array backend")


class LandweberParams(_LeastSquaresParams):
    iterations: int = Field(30, ge=1, le=20000, description="iterations (fixed), or the maximum for stop='discrepancy'")
    relaxation: float = Field(1.0, gt=0, lt=2, description="step in units of 1/‖H‖²")
    non_negative: bool = Field(True, description="project on non-negative values")


class VanCittertParams(_LeastSquaresParams):
    iterations: int = Field(3, ge=1, le=1000, description="iterations (fixed), or the maximum for stop='discrepancy'")
    relaxation: float = Field(1.0, gt=0, lt=2, description="relaxation β of u ← u + β·w·(y − Hu)")
    non_negative: bool = Field(False, description="clip negative values after each step")


class _LeastSquaresIteration(_PSFMethod):
    """Shared wrapper of the iterative least-squares solvers (Gaussian noise)."""

    family = "deconvolution"
    needs = frozenset({"psf"})
    noise_models = frozenset({"gaussian"})
    #: The solver (:func:`~asirp.methods.deconv.landweber` or ``van_cittert``).
    solver: Any
    #: Cost of one iteration relative to Richardson-Lucy's (FFT pairs per iteration / 2).
    relative_cost: float = 1.0

    def process(self, frame: Frame, params: LandweberParams | VanCittertParams) -> Output:
        kernel, psf_notes = resolve_psf(frame, params)
        result = type(self).solver(
            frame.data, kernel, iterations=params.iterations, valid=frame.valid, relaxation=params.relaxation,
            non_negative=params.non_negative, stop=params.stop, backend=params.backend, device=params.device,
        )
        return Output(result.image, notes={"psf": psf_notes, **_iteration_notes(result)})

    def cost(self, frame_shape: tuple[int, ...], params: LandweberParams | VanCittertParams) -> float:
        per_iteration = self.relative_cost * SECONDS_PER_PIXEL_ITERATION * _padded_pixels(frame_shape, _psf_margin(params))
        return params.iterations * per_iteration + _estimation_cost(params, frame_shape)


@register
class Landweber(_LeastSquaresIteration):
    """Projected Landweber iteration (:func:`~asirp.methods.deconv.landweber`)."""

    name = "landweber"
    task = "least-squares deconvolution by projected (non-negative) Landweber iteration"
    Parameters = LandweberParams
    search_space = {"iterations": (10, 30, 100, 300)}
    solver = staticmethod(landweber)


@register
class VanCittert(_LeastSquaresIteration):
    """Van Cittert iteration with relaxation (:func:`~asirp.methods.deconv.van_cittert`)."""

    name = "van_cittert"
    task = "van Cittert iterative deconvolution with relaxation (symmetric PSFs)"
    Parameters = VanCittertParams
    search_space = {"iterations": (2, 4, 8, 16)}
    solver = staticmethod(van_cittert)
    relative_cost = 0.5  # two FFTs (one blur) per iteration instead of four


class SpectrumParams(Params):
    """Object and noise power spectra ``A·|f|^-β`` and ``N₀`` of a frame (:class:`asirp.spectrum.SpectrumModel`)."""

    amplitude: float = Field(ge=0, description="object power amplitude A (image unit² per frequency sample)")
    slope: float = Field(ge=0, le=10, description="object power-law exponent β")
    noise: float = Field(ge=0, description="white noise floor N₀ (image unit² per frequency sample)")


class WienerParams(PSFParams):
    nsr: float | None = Field(None, gt=0, description="constant noise-to-signal power ratio; None: estimated per frequency from the data")
    spectrum: SpectrumParams | None = Field(None, description=(
        "with nsr None: the object and noise spectra of a like frame instead of a fit on each frame "
        "(a series pins its first frame's fit)"))


@register
class Wiener(_PSFMethod):
    """Wiener deconvolution (:func:`~asirp.methods.deconv.wiener`)."""

    name = "wiener"
    noise_models = frozenset({"gaussian"})
    family = "deconvolution"
    task = "Wiener deconvolution with a noise-to-signal ratio estimated from the data"
    needs = frozenset({"psf"})
    Parameters = WienerParams

    def process(self, frame: Frame, params: WienerParams) -> Output:
        kernel, psf_notes = resolve_psf(frame, params)
        spectrum = None if params.spectrum is None else SpectrumModel(**params.spectrum.model_dump())
        result = wiener(frame.data, kernel, nsr=params.nsr, spectrum=spectrum, valid=frame.valid)
        return Output(result.image, notes={"psf": psf_notes, **result.info})

    def series_parameters(self, frame: Frame, params: WienerParams) -> dict[str, Any]:
        """The PSF width (when estimated) and, without a constant ``nsr``, the spectra of the first image."""
        pinned = super().series_parameters(frame, params)
        if params.nsr is None and params.spectrum is None:
            kernel, _ = resolve_psf(frame, params.model_copy(update=pinned))
            image = frame.images()[0]
            model = fit_wiener_spectrum(image.data, image.valid, kernel)
            pinned["spectrum"] = {"amplitude": model.amplitude, "slope": model.slope, "noise": model.noise}
        return pinned

    def cost(self, frame_shape: tuple[int, ...], params: WienerParams) -> float:
        fitted = params.nsr is None and params.spectrum is None
        fit = 2e-6 * float(np.prod(frame_shape)) if fitted else 0.0  # the spectrum fit
        return 4 * SECONDS_PER_PIXEL_ITERATION * _padded_pixels(frame_shape, 8) + fit + _estimation_cost(params, frame_shape)


class TikhonovParams(PSFParams):
    regularization: float | None = Field(None, gt=0, description="weight λ of the Laplacian regulariser; None: chosen by `choose`")
    choose: Literal["gcv", "discrepancy"] = Field("gcv", description="how λ is chosen: generalised cross-validation or the discrepancy principle")


@register
class Tikhonov(_PSFMethod):
    """Tikhonov deconvolution with a Laplacian regulariser (:func:`~asirp.methods.deconv.tikhonov`)."""

    name = "tikhonov"
    noise_models = frozenset({"gaussian"})
    family = "deconvolution"
    task = "Tikhonov (Laplacian) deconvolution, strength by GCV or the discrepancy principle"
    needs = frozenset({"psf"})
    Parameters = TikhonovParams

    def process(self, frame: Frame, params: TikhonovParams) -> Output:
        kernel, psf_notes = resolve_psf(frame, params)
        result = tikhonov(frame.data, kernel, regularization=params.regularization, choose=params.choose, valid=frame.valid)
        return Output(result.image, notes={"psf": psf_notes, **result.info})

    def cost(self, frame_shape: tuple[int, ...], params: TikhonovParams) -> float:
        search = 0.0 if params.regularization is not None else 60 * 1e-8 * float(np.prod(frame_shape))
        return 4 * SECONDS_PER_PIXEL_ITERATION * _padded_pixels(frame_shape, 8) + search + _estimation_cost(params, frame_shape)


# -- blind --------------------------------------------------------------------------------
class BlindRichardsonLucyParams(PSFParams, DeviceParams):
    mode: Literal["gaussian", "free"] = Field("gaussian", description="parametric Gaussian σ, or a free-form PSF")
    iterations: int | None = Field(None, ge=1, le=5000, description="image iterations; None: automatic")
    stop: Literal["auto", "fixed", "discrepancy", "split"] = Field("auto", description="as for richardson_lucy")
    psf_size: int | None = Field(None, ge=3, le=255, description="free mode: odd side of the PSF support", json_schema_extra={"unit": "px"})
    psf_iterations: int = Field(1, ge=1, le=20, description="free mode: PSF updates per image update")
    accelerate: bool = Field(True, description="Biggs-Andrews vector extrapolation")
    background: float = Field(0.0, ge=0, description="known additive background per pixel", json_schema_extra={"unit": "image units (counts)"})
    backend: Backend = Field("auto", description="array backend")
    seed: int = Field(0, ge=0, description="seed of the binomial split")

    @field_validator("psf_size")
    @classmethod
    def _odd(cls, value: int | None) -> int | None:
        if value is not None and value % 2 == 0:
            raise ValueError(f"psf_size must be odd, got {value}")
        return value


@register
class BlindRichardsonLucy(Method):
    """Blind Richardson-Lucy (:func:`~asirp.methods.deconv.blind_richardson_lucy`): PSF and image
    from the data; the PSF parameters, when given, only start the search."""

    name = "blind_richardson_lucy"
    noise_models = frozenset({"poisson"})
    family = "deconvolution"
    # The adaptive selector estimates the PSF itself and passes it to the non-blind
    # methods; scoring a blind method would need its own PSF as the forward model, and
    # the cross-validated σ is unstable on coarse periodic maps (AG300 at 25 µm).
    selectable = False
    task = "blind Richardson-Lucy: estimates the PSF (Gaussian σ or free-form) with the image"
    needs: ClassVar[frozenset[str]] = frozenset()
    Parameters = BlindRichardsonLucyParams

    def process(self, frame: Frame, params: BlindRichardsonLucyParams) -> Output:
        data, offset, notes = _poisson_data(frame)
        initial, psf_notes = resolve_psf(frame, params, estimate=False)
        stop, iterations = _stop_and_iterations(frame, params)
        result = blind_richardson_lucy(
            data, initial, mode=params.mode, iterations=iterations, psf_size=params.psf_size,
            psf_iterations=params.psf_iterations, valid=frame.valid, background=params.background,
            accelerate=params.accelerate, stop=stop, seed=params.seed, backend=params.backend, device=params.device,
        )
        image = result.image - np.float32(offset) if offset else result.image
        estimated = result.psf if result.psf is not None else np.zeros((1, 1))
        notes.update(
            {
                "initial_psf": psf_notes,
                "stop": stop,
                "estimated_psf": np.round(estimated, 8).tolist(),
                **_iteration_notes(result),
            }
        )
        return Output(image, notes=notes)

    def cost(self, frame_shape: tuple[int, ...], params: BlindRichardsonLucyParams) -> float:
        per_iteration = SECONDS_PER_PIXEL_ITERATION * _padded_pixels(frame_shape, 8)
        free = 2.5 if params.mode == "free" else 1.0  # PSF updates: ~5 more FFTs per iteration
        region = (min(int(frame_shape[-2]), 256), min(int(frame_shape[-1]), 256))
        fit = 30 * 40 * 2 * SECONDS_PER_PIXEL_ITERATION * _padded_pixels(region, 8)
        return free * _expected_iterations(params) * per_iteration + fit
