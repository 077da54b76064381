"""The ``deconv`` suite: the deconvolution repertoire against ground truth and scikit-image.

Four parts, one run:

* **quality** on the paper's samples (Li et al. 2024): copper mesh grids AG175 mapped at
  5, 10, 25 and 50 µm steps and AG300 at 25 µm under a 50 µm beam (Poisson counts,
  100 counts on the bars), and tomography projections. Every deconvolution method with
  its defaults and the PSF from the beam FWHM and the scan step (``beam_fwhm="50um"``),
  blind Richardson-Lucy with no PSF at all, and scikit-image's ``richardson_lucy``
  (10 iterations on data scaled to [0, 1], as its documentation does) as the named
  baseline. Figures: PSNR and SSIM against the truth, the gain over the raw map, the
  paper's contrast measure (standard deviation) before and after, iterations used,
  and for the blind method the error of the estimated PSF width σ;
* **edges**: a flat field after 50 iterations: the largest deviation from flat, asirp
  versus scikit-image;
* **speed**: Richardson-Lucy time per iteration at 512², 1024² and 2048² (not in quick
  mode) with a separable Gaussian PSF (asirp's real-space passes), and at 1024² with a
  rotated elliptical PSF (not separable: asirp's FFT operator), against
  ``skimage.restoration.richardson_lucy`` in the same run, timed
  alternately (best of 7 rounds, 3 at 2048²): the marginal wall and CPU time of 20 more
  iterations (setup excluded), and the wall time of a 22-iteration call (setup
  included). Two rows per size: plain RL (``accelerate=False, track=False``: the
  algorithm scikit-image runs) and the defaults (accelerated, likelihood tracked).
  Then the time to the result that matters, the Poisson likelihood of 50 plain
  iterations: accelerated asirp (as many iterations as it needs on that image)
  against 50 scikit-image iterations;
* **acceleration**: how many accelerated iterations reach the Poisson log-likelihood
  of 50 plain Richardson-Lucy iterations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ...analysis import contrast_std, psnr, ssim
from ...frame import Frame
from ...methods.base import get_method
from ...methods.deconv import richardson_lucy
from ...psf import gaussian_psf
from ..harness import BenchContext, Row, register_suite

#: The deconvolution methods given the beam PSF (the blind one gets none).
_METHODS = ("richardson_lucy", "landweber", "van_cittert", "wiener", "tikhonov")
#: Iterations of the scikit-image baseline (the paper used 10 with MATLAB).
_SKIMAGE_ITERATIONS = 10


def _skimage_rl(data: np.ndarray, psf: np.ndarray, iterations: int) -> np.ndarray:
    """scikit-image Richardson-Lucy as its documentation uses it: data scaled to [0, 1]."""
    from skimage.restoration import richardson_lucy as skimage_richardson_lucy

    scale = float(data.max()) or 1.0
    images = data[None] if data.ndim == 2 else data
    out = np.stack([skimage_richardson_lucy(image / scale, psf, num_iter=iterations) for image in images]) * scale
    return out[0] if data.ndim == 2 else out


def _quality_cases(quick: bool) -> list[tuple[str, Any]]:
    from ... import synth

    side = 96 if quick else 128
    cases: list[tuple[str, Any]] = [
        (f"AG175, {step:g} µm steps", lambda step=step: synth.mesh_grid_map("AG175", shape=(side, side), step_um=step, seed=1))
        for step in (5.0, 10.0, 25.0, 50.0)
    ]
    cases.append(("AG300, 25 µm steps", lambda: synth.mesh_grid_map("AG300", shape=(side, side), step_um=25.0, seed=1)))
    cases.append(
        (
            "tomography projections, 2 px FWHM",
            lambda: synth.tomo_projections(
                synth.tomo_phantom(side // 2, n_slices=16, seed=5), n_angles=4 if quick else 8, beam_fwhm_px=2.0, photons=1000.0, seed=5
            ),
        )
    )
    return cases


def _psf_parameters(frame: Frame, meta: dict[str, Any]) -> dict[str, Any]:
    """The beam PSF as a user gives it: the FWHM with the map's step, else σ in px."""
    if frame.pixel_size is not None and meta.get("beam_fwhm_um"):
        return {"beam_fwhm": f"{meta['beam_fwhm_um']:g}um"}
    return {"psf_sigma": float(meta["psf_sigma_px"])}


def _quality_rows(ctx: BenchContext) -> Iterator[Row]:
    for case, make in ctx.track(_quality_cases(ctx.quick), desc="deconv quality"):
        result = make()
        noisy, truth = result.noisy, result.truth
        true_sigma = float(result.meta["psf_sigma_px"])
        raw_psnr = psnr(truth, noisy)
        base = {"part": "quality", "case": case, "shape": "x".join(map(str, noisy.shape)), "true_sigma_px": true_sigma}
        raw_std = contrast_std(noisy)
        truth_std = contrast_std(truth)
        yield {**base, "method": "raw (no restoration)", "psnr_db": raw_psnr, "ssim": ssim(truth, noisy), "gain_db": 0.0,
               "std_before": raw_std, "std_after": raw_std, "std_truth": truth_std}
        skimage_out, seconds = ctx.timeit(_skimage_rl, noisy.data, result.psf, _SKIMAGE_ITERATIONS, repeat=1)
        yield {**base, "method": f"skimage richardson_lucy ({_SKIMAGE_ITERATIONS} it)", "baseline": "skimage",
               "psnr_db": psnr(truth, skimage_out), "ssim": ssim(truth, skimage_out), "gain_db": psnr(truth, skimage_out) - raw_psnr,
               "std_before": raw_std, "std_after": contrast_std(skimage_out), "std_truth": truth_std,
               "iterations": _SKIMAGE_ITERATIONS, "time_s": seconds}
        runs: list[tuple[str, dict[str, Any]]] = [(name, _psf_parameters(noisy, result.meta)) for name in _METHODS]
        runs.append(("richardson_lucy", {**_psf_parameters(noisy, result.meta), "iterations": _SKIMAGE_ITERATIONS}))
        runs.append(("blind_richardson_lucy", {}))
        for name, parameters in runs:
            method = get_method(name)
            restored, seconds = ctx.timeit(method.run, noisy, repeat=1, **parameters)
            notes = restored.history[-1].notes
            used = notes.get("iterations_used")
            row = {**base, "method": name + (f" ({parameters['iterations']} it)" if "iterations" in parameters else ""),
                   "baseline": "skimage", "psnr_db": psnr(truth, restored), "ssim": ssim(truth, restored),
                   "gain_db": psnr(truth, restored) - raw_psnr, "std_before": raw_std, "std_after": contrast_std(restored),
                   "std_truth": truth_std, "iterations": int(np.max(used)) if used is not None else None,
                   "stop": notes.get("stop", notes.get("stop_reason")), "time_s": seconds}
            if name == "blind_richardson_lucy":
                row["estimated_sigma_px"] = float(notes["sigma_px"])
                row["sigma_error_pct"] = 100.0 * (float(notes["sigma_px"]) / true_sigma - 1.0)
            yield row


def _edge_rows() -> Iterator[Row]:
    psf = gaussian_psf(2.0).astype(np.float32)
    flat = np.full((256, 256), 100.0, dtype=np.float32)
    ours = richardson_lucy(flat, psf, iterations=50, backend="numpy").image
    theirs = _skimage_rl(flat, psf, 50)
    for name, image in (("asirp richardson_lucy", ours), ("skimage richardson_lucy", theirs)):
        yield {"part": "edges", "case": "flat field 256², σ = 2 px, 50 iterations", "method": name,
               "max_deviation_pct": 100.0 * float(np.abs(image / 100.0 - 1.0).max()),
               "edge_row_mean": float(image[0].mean())}


def _interleaved_best(functions: Mapping[str, Callable[[], Any]], rounds: int) -> dict[str, tuple[float, float]]:
    """Best wall and CPU time of each function over ``rounds`` rounds alternating between them.

    Alternating (rather than timing one function N times, then the other) exposes both
    to the same background load; the minimum is the least disturbed run. The CPU time
    (all threads of this process) measures the work itself, whatever else the machine
    runs. One untimed warm-up call each absorbs FFT plans and caches.
    """
    for function in functions.values():
        function()
    best = {name: (float("inf"), float("inf")) for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def _iterations_to_reach(image: np.ndarray, psf: np.ndarray, plain_iterations: int = 50) -> int | None:
    """Accelerated iterations needed to reach the log-likelihood of ``plain_iterations`` plain ones."""
    plain = richardson_lucy(image, psf, iterations=plain_iterations, accelerate=False, backend="numpy")
    fast = richardson_lucy(image, psf, iterations=plain_iterations, accelerate=True, backend="numpy")
    reached = np.flatnonzero(fast.log_likelihood >= plain.log_likelihood[-1])
    return int(reached[0]) + 1 if reached.size else None


#: The speed part's PSFs: the usual separable Gaussian beam (real-space passes) at every
#: size, and a rotated elliptical beam (not separable: the FFT operator) at 1024².
_SPEED_PSFS = {
    "σ = 2 px Gaussian PSF (17×17, separable)": (gaussian_psf(2.0), (512, 1024, 2048)),
    "rotated elliptical PSF, σ 2.5 × 1.5 px at 30° (not separable: FFT)": (gaussian_psf(2.5, 1.5, 30.0), (1024,)),
}


def _speed_rows(ctx: BenchContext) -> Iterator[Row]:
    from skimage.restoration import richardson_lucy as skimage_richardson_lucy

    rng = ctx.rng()
    short, long = 2, 22
    variants = {
        "plain (accelerate=False, track=False)": {"accelerate": False, "track": False},
        "defaults (accelerated, likelihood tracked)": {},
    }
    cases = [(label, psf.astype(np.float32), side) for label, (psf, sizes) in _SPEED_PSFS.items()
             for side in sizes if not (ctx.quick and side > 1024)]
    for label, psf, side in ctx.track(cases, desc="deconv speed"):
        image = rng.poisson(50.0, (side, side)).astype(np.float32)
        scaled = image / image.max()
        convolution = richardson_lucy(image, psf, iterations=1, backend="auto").info["convolution"]
        functions = {
            f"{variant} {k}": (lambda k=k, options=options: richardson_lucy(image, psf, iterations=k, backend="auto", **options))
            for variant, options in variants.items() for k in (short, long)
        } | {
            f"skimage {k}": (lambda k=k: skimage_richardson_lucy(scaled, psf, num_iter=k, clip=False)) for k in (short, long)
        }
        best = _interleaved_best(functions, rounds=2 if ctx.quick else (3 if side >= 2048 else 7))

        def per_iteration(name: str, which: int) -> float:
            return (best[f"{name} {long}"][which] - best[f"{name} {short}"][which]) / (long - short)

        theirs, theirs_cpu = per_iteration("skimage", 0), per_iteration("skimage", 1)
        for variant in variants:
            ours, ours_cpu = per_iteration(variant, 0), per_iteration(variant, 1)
            yield {"part": "speed", "case": f"{side}² Poisson image, {label}, float32", "convolution": convolution,
                   "method": f"richardson_lucy, {variant}", "baseline": "skimage",
                   "ms_per_iteration": 1e3 * ours, "skimage_ms_per_iteration": 1e3 * theirs,
                   "speedup": theirs / ours, "cpu_ms_per_iteration": 1e3 * ours_cpu,
                   "skimage_cpu_ms_per_iteration": 1e3 * theirs_cpu, "cpu_speedup": theirs_cpu / ours_cpu,
                   "time_s": best[f"{variant} {long}"][0], "skimage_time_s": best[f"skimage {long}"][0],
                   f"speedup_{long}_iterations": best[f"skimage {long}"][0] / best[f"{variant} {long}"][0]}
        if side == 1024:
            needed = _iterations_to_reach(image, psf)
            if needed is not None:
                timed = _interleaved_best({
                    "asirp": lambda: richardson_lucy(image, psf, iterations=needed, backend="auto"),
                    "skimage": lambda: skimage_richardson_lucy(scaled, psf, num_iter=50, clip=False),
                }, rounds=1 if ctx.quick else 3)
                yield {"part": "speed", "case": f"{side}² Poisson image, {label}: the likelihood of 50 plain iterations",
                       "convolution": convolution,
                       "method": f"richardson_lucy, accelerated ({needed} iterations)", "baseline": "skimage (50 iterations)",
                       "time_s": timed["asirp"][0], "skimage_time_s": timed["skimage"][0],
                       "speedup": timed["skimage"][0] / timed["asirp"][0]}


def _acceleration_rows(ctx: BenchContext) -> Iterator[Row]:
    from ... import synth

    side = 128 if ctx.quick else 256
    cases = (
        ("AG175, 25 µm steps", synth.mesh_grid_map("AG175", shape=(side, side), step_um=25.0, seed=2)),
        ("AG175, 10 µm steps", synth.mesh_grid_map("AG175", shape=(side, side), step_um=10.0, seed=2)),
        ("AG175, 5 µm steps", synth.mesh_grid_map("AG175", shape=(side, side), step_um=5.0, seed=2)),
    )
    for case, result in cases:
        if result.psf is None:
            raise RuntimeError(f"{case}: the synthetic map has no beam blur, nothing to deconvolve")
        needed = _iterations_to_reach(result.noisy.data, result.psf)
        yield {"part": "acceleration", "case": f"{case}, {side}²", "method": "richardson_lucy (Biggs-Andrews)",
               "plain_iterations": 50, "accelerated_iterations": needed,
               "fraction": None if needed is None else needed / 50.0}


@register_suite("deconv", description="deconvolution: quality on mesh grids and projections, edges, speed vs scikit-image")
def deconv_suite(ctx: BenchContext) -> Iterator[Row]:
    yield from _quality_rows(ctx)
    yield from _edge_rows()
    yield from _speed_rows(ctx)
    yield from _acceleration_rows(ctx)
