"""The registered methods: the ``symmetry`` denoiser and the baselines it is measured against.

* ``symmetry``: compact U-Net fed with each pixel's own neighbourhood and its
  symmetry partners, trained without clean images by splitting the photons
  binomially (one half in, the other half as target: Noise2Noise from a single
  exposure), pre-trained on procedural patterns and fine-tuned on the frame itself
  for ``fine_tune_s`` seconds. Its deviance on a held-out photon half is an honest,
  ground-truth-free score (``selfsupervised_loss``, with ``heldout_score=True``).
* ``symmetric_average``: the pixel averaged with its partners (zero-cost reference).
* ``supervised``: the same network trained on synthetic clean/noisy pairs.
* ``smae_halves``: the published half-split 180° recipe (Zhou et al., J. Appl.
  Cryst. 2024), reimplemented with its limits: centre at the image centre, zeros
  treated as masked, squared-error loss, inversion only.
* ``noise2self``: blind-spot self-supervision without symmetry, trained on the frame
  itself (J-invariant masking, Batson & Royer 2019).
* ``azimuthal_median``: isotropic reconstruction from the azimuthal median profile
  (pyFAI ``medfilt1d_ng`` + ``calcfrom1d``).
* ``bm3d``: BM3D on the Anscombe-transformed counts (optional: ``pip install asirp[bm3d]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...errors import InputError
from ...frame import Frame
from ...history import sha256_of_file
from ...progress import progress
from ...symmetry import (
    Pairing,
    SymmetryReport,
    analyze,
    check_frame,
    frame_image,
    local_asymmetry,
    parse,
)
from ...symmetry.operations import closure, generator_specs
from ...symmetry.rings import Rings
from .._stack import per_image
from ..base import DeviceParams, Method, Output, Params, register
from .denoise import denoise_image, expected_relative, run_network, split_score
from .inputs import MIN_DOSE, own_inputs, smae_inputs
from .training import fine_tuned

_KINDS = frozenset({"diffraction", "scattering", "pdf"})


#: Optimiser steps of fine-tuning on the user's frame by default (about 5 s on two idle CPU cores).
DEFAULT_FINE_TUNE_STEPS = 120
#: Upper bound (s) of that fine-tuning by default: a loaded machine stops early, and the notes say so.
DEFAULT_FINE_TUNE_S = 10.0
#: Seconds per pixel of one denoising pass (pairing, network, ring counts) on two CPU cores, for the cost model.
SECONDS_PER_PIXEL = 6e-7
#: Further seconds per pixel of each further network pass of the self-ensemble (four passes of the
#: 1 Mpx CeO2 Pilatus frame: 1.1 s against 0.6 s for one).
SECONDS_PER_EXTRA_PASS_PIXEL = 1.7e-7
#: Seconds per fine-tuning step on two CPU cores (4 patches of 128²), for the cost model.
SECONDS_PER_FINE_TUNE_STEP = 0.04


class _SymmetryOptions(Params):
    operations: list[str] | None = Field(
        None, description="operations to pair with (inversion, isotropy, rotationN, mirrorDEG, or none), closed into their "
        "group; default: those analyze() finds")
    center: tuple[float, float] | None = Field(
        None, description="beam centre (y, x) to use instead of the geometry's or a search", json_schema_extra={"unit": "px"})
    use_geometry: bool = Field(True, description="use the frame's pyFAI geometry (beam centre, tilt)")
    threshold: float = Field(0.9, gt=0, le=1, description="symmetry score at which an operation is used")


def _given_operations(params: _SymmetryOptions) -> list:
    """The group the user's operations generate (``rotation4`` and ``mirror0`` give all of D4)."""
    return closure([op for spec in params.operations or () for op in parse(spec)])


def _report_and_ops(frame: Frame, params: _SymmetryOptions) -> tuple[SymmetryReport, list]:
    """Analyse the frame (a stack through its sum) and choose the operations to pair with."""
    report = analyze(frame, center=params.center, use_geometry=params.use_geometry, threshold=params.threshold, local=False,
                     score=not params.operations)
    if params.operations:
        ops = _given_operations(params)
    else:
        if not report.holding:
            raise InputError(
                "no symmetry holds in this frame (scores: "
                + ", ".join(f"{s.name} {s.score:.2f}" for s in report.scores)
                + "); symmetry-based denoising does not apply: use noise2self or gaussian",
                frame.meta.get("source"))
        ops = report.group()
    return report, ops


def _counts(frame: Frame) -> float:
    data, valid = frame_image(frame)
    return check_frame(data, valid, frame.meta.get("source")) / (frame.shape[0] if frame.is_stack else 1)


def _network_counts(frame: Frame) -> float:
    """:func:`_counts`, refused below :data:`~.inputs.MIN_DOSE` per pixel.

    Data far below one count per pixel that are not counts (normalised, in physical
    units) would reach the networks with a dose channel that contradicts them: at a
    mean of 1e-12 per pixel outputs came out up to 100 times the data.
    """
    mean = _counts(frame)
    if mean < MIN_DOSE:
        raise InputError(f"a mean of {mean:.3g} per pixel is below {MIN_DOSE:g}, the lowest dose these networks "
                         "know: they denoise photon counts; rescale the data to counts", frame.meta.get("source"))
    return mean


class _LocalCheckOptions(_SymmetryOptions):
    local_check: bool = Field(True, description="drop partners where the symmetry is locally broken (asymmetric features)")
    z_threshold: float = Field(6.0, ge=3, le=50, description="significance of a local asymmetry", json_schema_extra={"unit": "sigma"})


class SymmetryParams(_LocalCheckOptions, DeviceParams):
    weights: str | None = Field(None, description="weights file from 'asirp train symmetry' (default: shipped)")
    temporal: int = Field(0, ge=0, le=5, description="stacks: neighbouring frames on each side added as measurements")
    min_score: float = Field(0.3, ge=0, le=1, description=(
        "operations scoring at least this are paired (partners are then checked locally); "
        "no operation at all: the network works from the own neighbourhood alone"))
    fine_tune_steps: int = Field(DEFAULT_FINE_TUNE_STEPS, ge=0, le=100_000, description=(
        "optimiser steps of self-supervised fine-tuning on this frame before denoising (0: pre-trained weights "
        "as they are); a fixed number of steps makes the result reproducible; the tuned weights are cached per "
        "detector, symmetry and data folder and reused without further training"))
    conserve_rings: bool = Field(True, description=(
        "rescale each ring one pixel wide so that it keeps its measured counts where they differ beyond noise: "
        "the network must not blur sharp rings radially (azimuthal profiles stay unbiased)"))
    fine_tune_s: float = Field(DEFAULT_FINE_TUNE_S, ge=0, le=3600, description=(
        "upper bound of the fine-tuning time: a slow or loaded machine stops early and the notes say after how "
        "many steps (0: no fine-tuning)"), json_schema_extra={"unit": "s"})
    ensemble: bool = Field(True, description=(
        "average the network over the four flips of the frame (self-ensemble; a flip keeps every pixel with its "
        "partners): +0.1 to +0.5 dB on real frames for three more network passes (~0.17 s per Mpx each on two CPU "
        "cores); auto scores one pass"))
    heldout_score: bool = Field(False, description=(
        "also report selfsupervised_loss, the Poisson deviance of a denoised half of the photons against the "
        "other half (a ground-truth-free quality figure; one more network pass; photon counts only)"))


@register
class SymmetryDenoiser(Method):
    """Self-supervised denoising from a pixel's neighbourhood and its symmetry partners (see the module docstring)."""

    name = "symmetry"
    family = "denoising"
    task = "denoise counts from their neighbourhood and symmetry partners with a self-supervised network"
    kinds = _KINDS
    #: "partners": uses symmetry partners wherever they exist, without requiring a symmetry.
    needs = frozenset({"training", "partners"})
    Parameters = SymmetryParams

    def _prepare(self, frame: Frame, params: SymmetryParams) -> _Prepared:
        """Symmetry analysis, response correction, pairing and the (fine-tuned) network for ``frame``."""
        from ...symmetry.response import fit_response
        from ...torch_runtime import device, module_on
        from .weights import load_weights

        on = device(params.device)
        scale = _network_counts(frame)
        report = analyze(frame, center=params.center, use_geometry=params.use_geometry, threshold=params.threshold,
                         local=False, score=not params.operations)
        ops = _given_operations(params) if params.operations else report.usable(params.min_score)
        assert report.plane is not None
        response = None
        if ops:
            data, valid = frame_image(frame)
            response = fit_response(report.plane, ops, data, valid)
        pairing = Pairing.build(report.plane, ops, response=None if response is None else response.field)
        net, digest, meta = load_weights(params.weights, "symmetry")
        net = module_on(net, on)
        tuning: dict = {"seconds": 0.0, "steps": 0, "cached": False}
        if _tunes(params):
            net, tuning = fine_tuned(net, digest, [(i.data, i.valid) for i in frame.images()], pairing, scale,
                                     params.fine_tune_steps, params.fine_tune_s, key_extra=_sample_key(frame))
            if tuning.get("cache_file"):  # the provenance names the tuned weights beside the base ones
                tuning = {**tuning, "sha256": sha256_of_file(tuning["cache_file"])}
            net = module_on(net, on)  # a tuned network cached from another device
        rings = Rings.of(report.plane) if params.conserve_rings else None
        return _Prepared(scale, report, ops, response, pairing, net, digest, meta, tuning, rings)

    def process(self, frame: Frame, params: SymmetryParams) -> Output:
        prep = self._prepare(frame, params)
        images = frame.images()
        outputs, partnered, valid_pixels, dropped, corrections = [], 0, 0, [], []
        for i, image in enumerate(images):
            extra = [(images[j].data, images[j].valid)
                     for j in range(max(0, i - params.temporal), min(len(images), i + params.temporal + 1)) if j != i]
            result = denoise_image(prep.net, image.data, image.valid, prep.pairing, prep.scale,
                                   local_check=params.local_check, z_threshold=params.z_threshold, extra=extra,
                                   rings=prep.rings, ensemble=params.ensemble)
            outputs.append(result.data)
            if result.rings is not None:
                corrections.append(result.rings.to_dict())
            partnered += int(result.partnered.sum())
            valid_pixels += int(image.valid.sum())
            dropped.append(result.dropped_fraction)
        data = np.stack(outputs) if frame.is_stack else outputs[0]
        fraction = partnered / max(valid_pixels, 1)
        response = prep.response
        notes: dict[str, Any] = {}
        if params.heldout_score:
            notes["selfsupervised_loss"] = split_score(prep.net, images[0].data, images[0].valid, prep.pairing,
                                                       rings=prep.rings, ensemble=params.ensemble)
            notes["selfsupervised_loss_kind"] = ("mean Poisson deviance of the denoised half of a binomial photon "
                                                 "split against the other half (first frame; NaN for non-integer data)")
        notes |= {
            "partner_fraction": fraction,
            "mode": _mode_sentence(prep.ops, fraction),
            "dropped_partner_fraction": float(np.mean(dropped)),
            "operations": [op.name for op in prep.ops],
            "response": None if response is None else {
                "terms_used": response.terms_used, "polarization_factor": response.polarization_factor,
                "improvement": response.improvement, "note": response.note},
            "fine_tuning": prep.tuning,
            "ring_counts": _ring_note(corrections),
            "symmetry": prep.report.to_dict(),
            "weights_meta": prep.meta,
        }
        return Output(data, notes=notes, weights_sha256=prep.digest)

    def cost(self, frame_shape: tuple[int, ...], params: SymmetryParams) -> float:
        per_pixel = SECONDS_PER_PIXEL + (3 * SECONDS_PER_EXTRA_PASS_PIXEL if params.ensemble else 0.0)
        return self.adaptation_cost(params) + per_pixel * float(np.prod(frame_shape))

    def adaptation_cost(self, params: SymmetryParams) -> float:
        if not _tunes(params):
            return 0.0
        return min(params.fine_tune_s, SECONDS_PER_FINE_TUNE_STEP * params.fine_tune_steps)

    def series_parameters(self, frame: Frame, params: SymmetryParams) -> dict[str, Any]:
        """The operations (and, without a geometry, the beam centre) the analysis finds on ``frame``:
        one detector and sample keep their symmetry, so a series pairs without analysing every frame."""
        if params.operations:
            return {}
        report = analyze(frame, center=params.center, use_geometry=params.use_geometry, threshold=params.threshold, local=False)
        return _pinned_analysis(frame, params, report, report.usable(params.min_score))

    def adapted_for_scoring(self, frame: Frame, params: SymmetryParams) -> dict[str, Any]:
        """Analyse and fine-tune on the whole frame once; the split copies are then denoised with the
        operations found there and the tuned weights file.

        The copies pair as the final run on the whole frame will (the analysis of a half-dose
        copy could keep fewer operations), without analysing each copy again. Fine-tuning
        draws a fresh photon split at every step and runs for seconds, so the network
        learns the frame's statistics, not its noise; the final run reuses the same tuned
        weights.
        """
        dumped = params.model_dump()
        prep = self._prepare(frame, params)
        if not params.operations:
            dumped.update(_pinned_analysis(frame, params, prep.report, prep.ops))
        tuned = prep.tuning.get("cache_file")
        if tuned:
            dumped.update(weights=tuned, fine_tune_s=0.0)
        return dumped


def _pinned_analysis(frame: Frame, params: _SymmetryOptions, report: SymmetryReport, ops: list) -> dict[str, Any]:
    """Parameters that reproduce an analysis: the operations' generators (``none`` when no operation is
    usable) and, when the centre was searched (no geometry used), the centre found."""
    pinned: dict[str, Any] = {"operations": generator_specs(ops) or ["none"]}
    if params.center is None and report.center_source == "inversion correlation":
        pinned["center"] = (float(report.center[0]), float(report.center[1]))
    return pinned


def _tunes(params: SymmetryParams) -> bool:
    """Whether ``params`` ask for fine-tuning (steps and time both non-zero)."""
    return params.fine_tune_steps > 0 and params.fine_tune_s > 0


@dataclass(frozen=True)
class _Prepared:
    """What :meth:`SymmetryDenoiser._prepare` found and built for one frame."""

    scale: float
    report: SymmetryReport
    ops: list
    response: Any
    pairing: Pairing
    net: Any
    digest: str
    meta: dict
    tuning: dict
    rings: Rings | None


def _ring_note(corrections: list[dict]) -> dict[str, Any]:
    """The notes' summary of the ring-count conservation over the images of a frame."""
    if not corrections:
        return {"applied": False}
    return {"applied": True, "rings": corrections[0]["rings"],
            "corrected_fraction": float(np.mean([c["corrected_fraction"] for c in corrections])),
            "moved_fraction": float(np.mean([c["moved_fraction"] for c in corrections])),
            "meaning": "rings one pixel wide rescaled towards their measured counts by the share their estimated "
                       "bias has of its error; moved_fraction: intensity moved, relative to the network's output"}


def _mode_sentence(ops: list, fraction: float) -> str:
    """What the user is told about how the frame was denoised."""
    if not ops:
        return "no symmetry usable in this frame: every pixel was denoised from its own neighbourhood only"
    return (f"{fraction:.1%} of the measured pixels used symmetry partners ({', '.join(op.name for op in ops)}); "
            "the rest were denoised from their own neighbourhood only")


def _sample_key(frame: Frame) -> str:
    """What identifies 'the same detector and sample' for the fine-tuning cache: the data's folder."""
    import os

    source = frame.meta.get("source")
    return os.path.dirname(os.path.abspath(str(source).split("::")[0])) if source else ""


@register
class SymmetricAverage(Method):
    """Average of each pixel with its symmetry partners: the zero-cost physical reference.

    Partners that disagree with the pixel beyond Poisson noise (a locally broken
    symmetry: an asymmetric peak) are left out, as in the ``symmetry`` denoiser, so the
    average neither erases a real feature nor copies it to its mirror position.
    """

    name = "symmetric_average"
    family = "denoising"
    task = "average each pixel with its symmetry partners"
    kinds = _KINDS
    needs = frozenset({"symmetry"})
    Parameters = _LocalCheckOptions

    def process(self, frame: Frame, params: _LocalCheckOptions) -> Output:
        _counts(frame)
        report, ops = _report_and_ops(frame, params)
        assert report.plane is not None
        pairing = Pairing.build(report.plane, ops)

        def average(image: Frame) -> np.ndarray:
            p = pairing.partners(image.data, image.valid)
            ok = p.ok
            if params.local_check:
                ok = ok & ~local_asymmetry(image.data, image.valid, p, z_threshold=params.z_threshold)
            return (np.where(ok, p.values, 0.0).sum(axis=0) + image.data) / (1.0 + ok.sum(axis=0))

        return Output(per_image(frame, average), notes={"operations": [op.name for op in ops], "symmetry": report.to_dict()})


class WeightsParams(DeviceParams):
    weights: str | None = Field(None, description="weights file (default: shipped)")


class SupervisedParams(WeightsParams):
    ensemble: bool = Field(False, description=(
        "average the network over the four flips of the frame (self-ensemble, as for symmetry); off by default: "
        "the baseline stands for a published supervised denoiser as it is run"))


def _scale(image: Frame, frame_mean: float) -> float:
    """The network's unit for ``image``: its mean counts, or the frame's mean for an image without any.

    No absolute floor: data of 1e-9 per pixel (normalised, or in physical units) must
    come back at their own scale, not at the floor's.
    """
    mean = float(image.data[image.valid].mean()) if image.valid.any() else 0.0
    return mean if mean > 0 else frame_mean


@register
class Supervised(Method):
    """The compact U-Net trained on synthetic clean/noisy pairs (same size and budget as ``symmetry``)."""

    name = "supervised"
    family = "denoising"
    task = "denoise counts with a network trained on synthetic clean/noisy pairs"
    kinds = _KINDS
    needs = frozenset({"training"})
    Parameters = SupervisedParams

    def process(self, frame: Frame, params: SupervisedParams) -> Output:
        from ...torch_runtime import device, module_on
        from .weights import load_weights

        frame_mean = _network_counts(frame)
        net, digest, _ = load_weights(params.weights, "supervised")
        net = module_on(net, device(params.device))

        def rate(image: Frame) -> np.ndarray:
            s = _scale(image, frame_mean)
            return s * expected_relative(net, own_inputs(image.data, image.valid, s), ensemble=params.ensemble)

        return Output(per_image(frame, rate), weights_sha256=digest)


class SmaeParams(WeightsParams):
    center: Literal["image", "beam"] = Field(
        "image", description="image: the published assumption (beam at the image centre); beam: the geometry's or found centre "
        "rounded to half a pixel (a careful manual crop)")


@register
class SmaeHalves(Method):
    """Reimplementation of the published half-split 180° recipe (SMAE), limits included."""

    name = "smae_halves"
    family = "denoising"
    task = "published symmetry recipe: predict each half from the other rotated by 180°"
    kinds = _KINDS
    needs = frozenset({"symmetry", "training"})
    Parameters = SmaeParams

    def process(self, frame: Frame, params: SmaeParams) -> Output:
        from ...torch_runtime import device, module_on
        from .weights import load_weights

        frame_mean = _network_counts(frame)
        net, digest, _ = load_weights(params.weights, "smae")
        net = module_on(net, device(params.device))
        center = None
        if params.center == "beam":
            center = frame.geometry.beam_center_px() if frame.geometry is not None else analyze(frame, local=False).center

        def rate(image: Frame) -> np.ndarray:
            s = _scale(image, frame_mean)
            return s * np.exp(run_network(net, smae_inputs(image.data, image.valid, s, center)))

        return Output(per_image(frame, rate), weights_sha256=digest, notes={"center_px": None if center is None else list(center)})


#: Training patches are whole multiples of the network's size step (network.MULTIPLE), so at least this.
_N2S_MIN_SIDE = 8


class Noise2SelfParams(DeviceParams):
    steps: int = Field(100, ge=10, le=5000, description="optimiser steps on the frame itself")
    patch: int = Field(64, ge=32, le=512, multiple_of=8, description="training patch side", json_schema_extra={"unit": "px"})
    stride: int = Field(
        4, ge=2, le=8, description="blind-spot grid period (one pixel in stride² is hidden per pass)", json_schema_extra={"unit": "px"}
    )
    seed: int = Field(0, description="random seed")


@register
class Noise2Self(Method):
    """Blind-spot self-supervised denoising trained on the frame itself (no symmetry)."""

    name = "noise2self"
    family = "denoising"
    task = "self-supervised blind-spot network trained on the frame itself"
    kinds = _KINDS
    needs = frozenset({"training"})
    Parameters = Noise2SelfParams

    def process(self, frame: Frame, params: Noise2SelfParams) -> Output:
        ny, nx = frame.image_shape
        if min(ny, nx) < _N2S_MIN_SIDE:
            raise InputError(
                f"image of {ny}x{nx} px is too small for noise2self: its training patches need at least {_N2S_MIN_SIDE} px a side",
                frame.meta.get("source"),
            )
        _network_counts(frame)
        out, losses = [], []
        for image in frame.images():
            if image.data[image.valid].min() < 0 or image.data[image.valid].mean() <= 0:
                raise InputError("noise2self expects non-negative counts with some signal", image.meta.get("source"))
            result, loss = _noise2self(np.asarray(image.data, np.float32), np.asarray(image.valid), params)
            out.append(result)
            losses.append(loss)
        return Output(np.stack(out) if frame.is_stack else out[0], notes={"masked_pixel_loss": float(np.mean(losses))})

    def cost(self, frame_shape: tuple[int, ...], params: Noise2SelfParams) -> float:
        return 0.05 * params.steps + 5e-7 * float(np.prod(frame_shape))


def _noise2self(data: np.ndarray, valid: np.ndarray, params: Noise2SelfParams) -> tuple[np.ndarray, float]:
    """Train the compact U-Net to predict hidden pixels from their neighbourhood, then apply it.

    Each step hides one pixel per ``stride`` x ``stride`` cell (a random phase),
    replaces it by the mean of its measured 4-neighbours (so the hidden value is not
    visible, J-invariance), and scores the Poisson deviance on the hidden pixels
    only. At inference the whole frame is given (as in Batson & Royer's practice).
    """
    import torch

    from ...torch_runtime import device
    from .network import CompactUNet, predict
    from .training import loss_fn

    on = device(params.device)
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    scale = float(data[valid].mean())  # positive: Noise2Self.process refuses images without counts
    net = CompactUNet().to(on)  # initialised on the CPU (seeded): the same start on every device
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    ny, nx = data.shape
    patch = min(params.patch, ny - ny % 8, nx - nx % 8)
    kernel = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
    from scipy import ndimage

    neigh_sum = ndimage.convolve(np.where(valid, data, 0), kernel, mode="constant")
    neigh_n = ndimage.convolve(valid.astype(np.float32), kernel, mode="constant")
    donut = np.divide(neigh_sum, neigh_n, out=np.zeros_like(neigh_sum), where=neigh_n > 0)
    yy, xx = np.indices(data.shape)
    last_loss = torch.tensor(math.nan)
    for _ in progress(range(params.steps), desc="Noise2Self training", total=params.steps, unit="step"):
        batch_in, batch_t, batch_m = [], [], []
        for _ in range(4):
            phase = rng.integers(0, params.stride, 2)
            hidden = ((yy % params.stride) == phase[0]) & ((xx % params.stride) == phase[1]) & valid
            shown = np.where(hidden, donut, data)
            y0, x0 = int(rng.integers(0, ny - patch + 1)), int(rng.integers(0, nx - patch + 1))
            sl = (slice(y0, y0 + patch), slice(x0, x0 + patch))
            batch_in.append(own_inputs(shown, valid, scale)[:, sl[0], sl[1]])
            batch_t.append(data[sl])
            batch_m.append(hidden[sl].astype(np.float32))
        batch = {
            "inputs": torch.from_numpy(np.stack(batch_in)).to(on),
            "target": torch.from_numpy(np.stack(batch_t)).to(on),
            "mask": torch.from_numpy(np.stack(batch_m)).to(on),
            "scale": torch.full((4,), scale, device=on),
        }
        loss = loss_fn(predict(net, batch["inputs"]), batch, "supervised")
        opt.zero_grad()
        loss.backward()
        opt.step()
        last_loss = loss.detach()  # read once after the loop: no host synchronisation per step
    loss_value = float(last_loss)
    net.eval()
    rate = scale * np.exp(run_network(net, own_inputs(data, valid, scale)))
    return np.where(valid, rate, 0.0).astype(np.float32), loss_value


class AzimuthalParams(Params):
    statistic: Literal["median", "mean"] = Field("median", description="azimuthal statistic per radial bin")
    npt: int | None = Field(None, ge=16, le=20000, description="radial bins (default: half the frame diagonal)")
    center: tuple[float, float] | None = Field(
        None, description="beam centre (y, x) when the frame has no geometry", json_schema_extra={"unit": "px"}
    )


@register
class AzimuthalMedian(Method):
    """Isotropic reconstruction from the azimuthal profile (pyFAI medfilt1d_ng / calcfrom1d)."""

    name = "azimuthal_median"
    family = "denoising"
    task = "replace each pixel by the azimuthal median (or mean) of its ring"
    kinds = _KINDS
    needs = frozenset({"geometry"})
    Parameters = AzimuthalParams
    #: The mean first: unbiased for counts. The median resists spots and zingers but is
    #: biased at a few counts per pixel (the median of Poisson(2.5) is 2).
    search_space = {"statistic": ("mean", "median")}

    def process(self, frame: Frame, params: AzimuthalParams) -> Output:
        from ...analysis.physics import flat_geometry

        _counts(frame)
        geometry = frame.geometry
        if geometry is None:
            center = params.center or analyze(frame, local=False, score=False).center
            geometry = flat_geometry(frame.image_shape, center)
        ai = geometry.integrator
        shape = frame.image_shape
        npt = params.npt or int(math.hypot(*shape) / 2)
        unit = "q_nm^-1" if ai.wavelength is not None else "2th_deg"

        def rings(image: Frame) -> np.ndarray:
            mask = ~np.asarray(image.valid)
            if params.statistic == "median":
                res = ai.medfilt1d_ng(np.array(image.data), npt, unit=unit, percentile=50, mask=mask)
            else:
                res = ai.integrate1d(np.array(image.data), npt, unit=unit, mask=mask)
            radial, intensity = np.asarray(res.radial), np.asarray(res.intensity)
            good = np.isfinite(intensity)
            return np.nan_to_num(ai.calcfrom1d(radial[good], intensity[good], shape=shape, dim1_unit=unit, correctSolidAngle=True))

        return Output(per_image(frame, rings))

    def series_parameters(self, frame: Frame, params: AzimuthalParams) -> dict[str, Any]:
        """Without a geometry, the beam centre found on ``frame``: a series keeps its beam."""
        if frame.geometry is not None or params.center is not None:
            return {}
        center = analyze(frame, local=False, score=False).center
        return {"center": (float(center[0]), float(center[1]))}

    def adapted_for_scoring(self, frame: Frame, params: AzimuthalParams) -> dict[str, Any]:
        """The centre found on the whole frame, for the split copies (not searched again on each)."""
        return {**params.model_dump(), **self.series_parameters(frame, params)}


def _bm3d_available() -> bool:
    try:
        import bm3d  # noqa: F401
    except Exception:
        return False
    return True


class Bm3dParams(Params):
    sigma: float = Field(1.0, gt=0, le=10, description="noise level on the Anscombe scale (1 for Poisson counts)")


class Bm3dAnscombe(Method):
    """BM3D on the Anscombe-transformed counts with the exact unbiased inverse (Mäkitalo & Foi 2011)."""

    name = "bm3d"
    family = "denoising"
    task = "BM3D in the Anscombe domain (variance-stabilised Poisson)"
    kinds = _KINDS
    Parameters = Bm3dParams

    def process(self, frame: Frame, params: Bm3dParams) -> Output:
        import bm3d

        from ...filters import fill_masked


        def denoised(image: Frame) -> np.ndarray:
            stabilised = 2.0 * np.sqrt(fill_masked(np.maximum(image.data, 0), image.valid) + 0.375)
            return _anscombe_inverse(np.asarray(bm3d.bm3d(stabilised, params.sigma), dtype=np.float64))

        return Output(per_image(frame, denoised))

    def cost(self, frame_shape: tuple[int, ...], params: Bm3dParams) -> float:
        return 3.5e-5 * float(np.prod(frame_shape))  # 0.5 s for 128², one 2-core EPYC core


def _anscombe_inverse(y: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse Anscombe transform (Mäkitalo & Foi 2011)."""
    y = np.maximum(y, 0.8)
    return np.maximum(0.25 * y**2 + 0.25 * math.sqrt(1.5) / y - 1.375 / y**2 + 0.625 * math.sqrt(1.5) / y**3 - 0.125, 0.0)


if _bm3d_available():
    register(Bm3dAnscombe)
