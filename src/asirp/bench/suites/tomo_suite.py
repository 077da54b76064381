"""The ``tomo`` suite: restoring projections before reconstruction, against the volume's ground truth.

Simulated scans: a cathode-particle phantom (:func:`asirp.synth.tomo_phantom`, seed
``ctx.seed + 101``, used to train nothing; the Noise2Inverse network trains on each
scan itself, self-supervised) projected over 180°, blurred by a Gaussian beam/detector
PSF (FWHM 3 px) and with Poisson noise at several doses (photons per pixel in the
flat field). Every case is reconstructed by FBP (ramp) with the known rotation axis,
so only the restoration differs:

* ``none``: no restoration (the named baseline); ``none, Hann filter``: the usual
  smoothing by the reconstruction filter, for reference;
* ``richardson_lucy``: deconvolution of the projections (counts above dark) with the
  true PSF width, automatic stopping; ``richardson_lucy, 10 it``: the ASIRP paper's
  10 iterations;
* every registered super-resolution method except plain interpolation (x2, the true
  PSF width; the volume is scored after 2x2x2 block averaging);
* ``auto``: the selector's choice (recorded in the row);
* ``noise2inverse`` (self-supervised, on the raw projections) and
  ``richardson_lucy + noise2inverse``.

Figures: ``psnr_db``/``ssim`` of the volume against the phantom inside the
reconstruction circle, ``gain_db`` over ``none`` in the same run, ``restore_s_per_projection``
and ``volume_s`` (wall time of the whole chain: corrections, restoration, FBP or
training; one run each).

Without ``--quick``: the 180 x 512 x 512 timing case (projections of a phantom scaled
to 512³, RL 10 iterations then FBP; target <= 60 s on the 2-core reference machine).
Always: the real tooth scan (``--data``'s ``tomography/tooth.h5``, else the copy shipped
in asirp): reconstructions from the even and from the odd projections, scored by
their Fourier ring correlation (1/7 threshold, resolution in px; smaller is better)
with and without restoration of the slices (the scan has 2 detector rows, too few
for a 2-D restoration of its projections).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..harness import BenchContext, Row, register_suite

#: PSF of the simulated beam/detector, FWHM in detector pixels.
BEAM_FWHM_PX = 3.0
#: (slice side, slices, angles, doses in photons per pixel) of the simulated cases.
SIZES = {"quick": (48, 16, 90, (30.0, 300.0)), "full": (96, 24, 180, (30.0, 100.0, 1000.0))}
#: Noise2Inverse training steps (quick, full).
N2I_STEPS = (150, 300)
#: Super-resolution methods that are plain interpolation (no restoration): left out.
_INTERPOLATION = frozenset({"bicubic", "lanczos"})


def _block_mean(volume: np.ndarray, valid: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """A finer volume brought back to the truth's grid: block means, times ``scale`` (1/px of the finer grid)."""
    nz, ny, nx = (n // scale for n in volume.shape)
    blocks = volume[: nz * scale, : ny * scale, : nx * scale].reshape(nz, scale, ny, scale, nx, scale)
    mask = np.asarray(valid[: nz * scale, : ny * scale, : nx * scale].reshape(nz, scale, ny, scale, nx, scale).all(axis=(1, 3, 5)))
    return blocks.mean(axis=(1, 3, 5)) * scale, mask


def _sr_methods() -> list[str]:
    from ...methods.base import registry

    return [name for name, cls in registry().items() if cls.family == "super_resolution" and name not in _INTERPOLATION
            and "tomo_projection" in cls.kinds]


def _sr_params(name: str, sigma: float, quick: bool) -> dict[str, Any]:
    from ...methods.base import registry

    fields = registry()[name].Parameters.model_fields
    params: dict[str, Any] = {"scale": 2}
    if "psf_sigma" in fields:
        params["psf_sigma"] = sigma
    if "time_budget_s" in fields:  # networks trained on the data itself (ZSSR): per batch of projections
        params["time_budget_s"] = 3.0 if quick else 10.0
    return params


def _cases(sigma: float, quick: bool) -> list[tuple[str, dict[str, Any]]]:
    n2i = {"steps": N2I_STEPS[0] if quick else N2I_STEPS[1]}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("none", {}),
        ("none, Hann filter", {"filter_name": "hann"}),
        ("richardson_lucy", {"restore": "richardson_lucy", "restore_params": {"psf_sigma": sigma}}),
        ("richardson_lucy, 10 it", {"restore": "richardson_lucy", "restore_params": {"psf_sigma": sigma, "iterations": 10}}),
    ]
    cases += [(name, {"restore": name, "restore_params": _sr_params(name, sigma, quick)}) for name in _sr_methods()]
    cases += [
        ("auto", {"restore": "auto"}),
        ("noise2inverse", {"denoise": "noise2inverse", "denoise_params": n2i}),
        ("richardson_lucy + noise2inverse", {"restore": "richardson_lucy", "restore_params": {"psf_sigma": sigma},
                                             "denoise": "noise2inverse", "denoise_params": n2i}),
    ]
    return cases


def _simulated(ctx: BenchContext) -> Iterator[Row]:
    from ...analysis import psnr, ssim
    from ...errors import AsirpError
    from ...progress import quiet
    from ...synth import tomo_phantom, tomo_projections
    from ...tomo import reconstruct_scan
    from ...tomo.readers import scan_from_synth

    size, n_slices, n_angles, doses = SIZES["quick" if ctx.quick else "full"]
    phantom = tomo_phantom(size, n_slices=n_slices, seed=ctx.seed + 101)
    for photons in ctx.track(doses, desc="tomo doses"):
        result = tomo_projections(phantom, n_angles=n_angles, beam_fwhm_px=BEAM_FWHM_PX, photons=photons, seed=ctx.seed + 7)
        scan = scan_from_synth(result)
        sigma = float(result.meta["psf_sigma_px"])
        centre = float(result.meta["rotation_axis_px"])
        baseline = None
        case = f"{n_slices}x{size}x{size} phantom, {n_angles} angles, {photons:g} photons/px"
        for name, options in _cases(sigma, ctx.quick):
            started = time.perf_counter()
            try:
                with quiet():
                    # Projection restoration is what is measured, on phantoms thinner than auto's limit.
                    output = reconstruct_scan(scan, centre=centre, restore_target="projections", **options)
            except AsirpError as exc:  # e.g. a network without its weights: reported, not hidden
                yield {"case": case, "method": name, "baseline": "none", "error": str(exc)[:160]}
                continue
            seconds = time.perf_counter() - started
            volume, valid = np.asarray(output.volume.data), np.asarray(output.volume.valid)
            scale = volume.shape[-1] // size
            if scale > 1:
                volume, valid = _block_mean(volume, valid, scale)
            quality = psnr(phantom, volume, valid=valid), ssim(phantom, volume, valid=valid)
            if name == "none":
                baseline = quality[0]
            restored = [step for step in output.volume.history if step.method == options.get("restore", "")
                        or "selection" in step.notes]
            method = name
            if name == "auto" and restored:
                method = f"auto -> {restored[-1].method}"
            yield {
                "case": case,
                "method": method,
                "baseline": "none",
                "psnr_db": quality[0],
                "ssim": quality[1],
                "gain_db": quality[0] - baseline if baseline is not None else None,
                "restore_s_per_projection": (sum(s.duration_s for s in restored) / n_angles) if restored else None,
                "volume_s": seconds,
            }


def _timing_case(ctx: BenchContext) -> Row:
    """180 x 512 x 512 projections restored by Richardson-Lucy (10 iterations) and reconstructed by FBP."""
    from ...progress import quiet
    from ...synth import tomo_phantom
    from ...synth.beam import FWHM_TO_SIGMA
    from ...tomo import make_scan, reconstruct_scan
    from ...tomo.reconstruct import FourierProjector

    n_angles, side, zoom = 180, 512, 4
    phantom = tomo_phantom(side // zoom, seed=ctx.seed + 202, max_line_integral=2.0 / zoom)
    angles = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    coarse = FourierProjector(side // zoom, angles).project(phantom, (side // zoom) // 2)  # (nz, angles, det)
    # Scaled to a 512³ object: 4x more voxels along every path, attenuation per voxel kept.
    lines = ndimage.zoom(coarse.transpose(1, 0, 2), (1, zoom, zoom), order=1) * zoom
    photons = 500.0
    sigma = BEAM_FWHM_PX * FWHM_TO_SIGMA
    blurred = ndimage.gaussian_filter(photons * np.exp(-np.clip(lines, 0, None)), (0, sigma, sigma), mode="nearest")
    counts = np.random.default_rng(ctx.seed).poisson(blurred).astype(np.float32)
    scan = make_scan(counts, angles, flats=np.full((side, side), photons, dtype=np.float32))
    started = time.perf_counter()
    with quiet():
        output = reconstruct_scan(scan, centre=float(side // 2), restore="richardson_lucy",
                                  restore_params={"psf_sigma": sigma, "iterations": 10})
    seconds = time.perf_counter() - started
    restore_s = next(step.duration_s for step in output.volume.history if step.method == "richardson_lucy")
    fbp_s = next(step.duration_s for step in output.volume.history if step.method == "fbp")
    return {
        "case": f"{n_angles}x{side}x{side} projections (timing)",
        "method": "richardson_lucy, 10 it + FBP",
        "baseline": "none",
        "restore_s_per_projection": restore_s / n_angles,
        "fbp_s": fbp_s,
        "volume_s": seconds,
        "target_s": 60.0,
        "met": seconds <= 60.0,
    }


def _tooth_path(ctx: BenchContext) -> tuple[Path, str]:
    from ...samples import sample_path

    if ctx.data is not None and (ctx.data / "tomography" / "tooth.h5").is_file():
        return ctx.data / "tomography" / "tooth.h5", "--data"
    return sample_path("tooth"), "shipped copy"


def _tooth(ctx: BenchContext) -> Iterator[Row]:
    """Real data: FRC between the reconstructions from the even and the odd projections.

    The tooth has 2 detector rows: a 2-D PSF does not fit a 2-row projection, so the
    restorations are applied to the reconstructed slices, to each half separately
    (the two halves must stay independent measurements for the FRC).
    """
    from ...analysis import contrast_std, frc
    from ...errors import AsirpError
    from ...progress import quiet
    from ...tomo import fbp, read_scan, restore_slices
    from ...tomo.pipeline import corrected_projections, locate_centre

    path, origin = _tooth_path(ctx)
    attenuation, centre = locate_centre(corrected_projections(read_scan(path)))
    angles = np.asarray(attenuation.meta["angles_deg"])

    def half(start: int) -> Any:
        chosen = np.arange(start, angles.size, 2)[: angles.size // 2]
        subset = replace(attenuation, data=attenuation.data[chosen], valid=attenuation.valid[chosen],
                         meta={**attenuation.meta, "angles_deg": angles[chosen].tolist()})
        return fbp(subset, centre=centre.centre_px)

    halves = half(0), half(1)
    cases: list[tuple[str, dict[str, Any] | None]] = [("none", None), ("gaussian σ=1 px (slices)", {"method": "gaussian", "sigma": 1.0}),
                                                      ("auto (slices)", {"method": "auto"})]
    baseline = None
    for name, options in cases:
        row: Row = {"case": f"tooth (APS, {origin}), slice 0, even vs odd of {angles.size} projections", "method": name,
                    "baseline": "none", "centre_px": centre.centre_px}
        started = time.perf_counter()
        try:
            with quiet():
                volumes = halves if options is None else tuple(restore_slices(v, **options) for v in halves)
        except AsirpError as exc:  # reported, not hidden: the row says why there is no figure
            yield {**row, "error": str(exc)[:160]}
            continue
        even, odd = (volume.images()[0] for volume in volumes)
        resolution = frc(even, odd).resolution_px
        baseline = resolution if options is None else baseline
        chosen = volumes[0].history[-1].method
        yield {
            **row,
            "method": f"auto -> {chosen}" if name.startswith("auto") else name,
            "frc_resolution_px": resolution,
            "frc_gain_px": None if baseline is None else baseline - resolution,
            "contrast_std": contrast_std(even),
            "volume_s": time.perf_counter() - started,
        }


@register_suite("tomo", description="restored projections vs none: volume PSNR/SSIM on a phantom, 180x512² timing, tooth FRC")
def tomo_suite(ctx: BenchContext) -> Iterator[Row]:
    parts: list[Callable[[BenchContext], Iterator[Row]]] = [_simulated, _tooth]
    for part in parts:
        yield from part(ctx)
    if not ctx.quick:
        yield _timing_case(ctx)
