"""The ``sr`` suite: super-resolution against a ground truth, x2 and x4.

Held-out synthetic cases (seeds below 1000, never used by the FCA-SR training corpus,
which starts at 10 000): the sharp object on the fine grid is the truth; the input is
made with the physical forward model of :mod:`asirp.methods.sr.degradation` (Gaussian
beam, area averaging by the scale, Poisson counts). Every method is scored against
the truth on the fine grid:

* ``psnr_db``, ``ssim``; ``gain_db`` = PSNR minus that of the named baseline
  ``bicubic`` in the same run;
* ``chi2``: mean of ``(y - D x)² / var(y)`` over the input pixels with the true beam
  (about 1 when the output explains the input within its noise);
* ``mean_ratio``: total counts (or mean intensity) of the output over the input's;
* ``time_s``: wall time of ``asirp.restore`` (best of the timed runs; one run for
  ZSSR, which trains for ``time_budget_s`` each time).

Methods: ``bicubic`` (baseline), ``lanczos``, deconvolution then bicubic
(``richardson_lucy`` stopped automatically and after 10 iterations as in the ASIRP
paper, ``wiener``; each when registered, with the true beam width), ``zssr`` (with the
true beam width) and ``fca_sr`` (blind). Extra rows: the time of ``fca_sr`` x2 on a
1488 x 744 map (the ASIRP paper's 25 min on a GPU), ZSSR on a 256² map within its
60 s budget, and the real tooth sinograms (``--data``'s ``tomography/tooth.h5`` or the
copy shipped in asirp; flat- and dark-corrected transmission) area-averaged by the
scale and super-resolved back, scored against the measured data (which carry their
own noise).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import synth
from ...analysis import psnr, ssim
from ...api import restore
from ...frame import Frame
from ...kinds import Kind
from ...methods.base import registry
from ...progress import quiet
from ...units import PixelSize
from ..harness import BenchContext, Row, register_suite

#: Deconvolutions run before bicubic upsampling, with their parameters (besides the PSF).
DECONVOLUTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "richardson_lucy (auto) + bicubic": ("richardson_lucy", {}),
    "richardson_lucy (10 it) + bicubic": ("richardson_lucy", {"iterations": 10}),
    "wiener + bicubic": ("wiener", {}),
}


@dataclass(frozen=True)
class SRCase:
    """A measured coarse frame, the fine truth it was made from, and the true beam width (input px)."""

    name: str
    measured: Frame
    truth: np.ndarray
    sigma_px: float


def degrade(
    name: str, truth: np.ndarray, scale: int, sigma_px: float, *, kind: Kind, seed: int, pixel_um: float | None = None
) -> SRCase:
    """Make the coarse measurement of a fine ``truth`` (2-D or a stack) with the SR forward model.

    ``sigma_px`` is the beam std in coarse pixels; the noise is Poisson on the coarse
    values (counts per coarse point, or photons per detector pixel). For counting
    kinds the truth is returned in counts per fine pixel (``/ scale²``), the units
    counting methods output; ``pixel_um`` is the fine pixel size.
    """
    import torch

    from ...methods.sr.degradation import Degradation

    fine = np.asarray(truth, dtype=np.float32)
    stack = fine if fine.ndim == 3 else fine[None]
    coarse = Degradation.from_beam(scale, sigma_px)(torch.from_numpy(stack)[:, None]).numpy()[:, 0]
    noisy = np.random.default_rng(seed).poisson(np.clip(coarse, 0, None)).astype(np.float32)
    noisy = noisy if fine.ndim == 3 else noisy[0]
    size = None if pixel_um is None else PixelSize.square(pixel_um * scale)
    frame = Frame(noisy, kind=kind, pixel_size=size, meta={"source": "asirp.bench.sr", "seed": seed})
    return SRCase(name, frame, fine / scale**2 if frame.is_counting else fine, sigma_px)


def _map_truth(grid: str, side: int, step_um: float, seed: int) -> np.ndarray:
    return synth.mesh_grid_map(grid, shape=(side, side), step_um=step_um, beam_fwhm_um=0.0, counts=60.0, background=4.0, seed=seed).truth.data


def _tomo_truth(size: int, seed: int) -> np.ndarray:
    volume = synth.tomo_phantom(size, n_slices=size // 2, seed=seed)
    return synth.tomo_projections(volume, n_angles=4, beam_fwhm_px=0.0, photons=1000.0, seed=seed).truth.data


def _diffraction_truth(side: int, seed: int) -> np.ndarray:
    return synth.diffraction_frame("powder", shape=(side, side), dose=40.0, mask="none", seed=seed).truth.data


def synthetic_cases(scale: int, quick: bool) -> list[Callable[[], SRCase]]:
    """The held-out synthetic cases for ``scale`` (coarse images of 64-128 px; half in quick mode)."""
    fine = (64 if quick else 128) * scale
    step = 25.0 / scale  # fine grid of 25 µm scans
    return [
        lambda: degrade(f"AG175 map, 25 µm steps, 50 µm beam x{scale}", _map_truth("AG175", fine, step, 101), scale, 0.85,
                        kind="xrf_map", seed=101, pixel_um=step),
        lambda: degrade(f"AG300 map, 25 µm steps, 50 µm beam x{scale}", _map_truth("AG300", fine, step, 102), scale, 0.85,
                        kind="xrf_map", seed=102, pixel_um=step),
        lambda: degrade(f"tomography projections, 1000 photons x{scale}", _tomo_truth(fine, 103), scale, 0.6,
                        kind="tomo_projection", seed=103),
        lambda: degrade(f"powder diffraction frame, 40 counts/px x{scale}", _diffraction_truth(fine, 104), scale, 0.5,
                        kind="diffraction", seed=104),
    ]


def _chi2_and_mean(case: SRCase, output: Frame, scale: int) -> tuple[float, float]:
    """χ² of the output against the input with the true beam, and its total over the input's."""
    import torch

    from ...methods.sr.degradation import Degradation, NoiseModel, chi_square

    measured = case.measured
    factor = scale**2 if measured.is_counting else 1
    fine = torch.from_numpy(np.array(output.data if output.is_stack else output.data[None]))[:, None] * factor
    y = torch.from_numpy(np.array(measured.data if measured.is_stack else measured.data[None]))[:, None]
    valid = torch.from_numpy(np.array(measured.valid if measured.is_stack else measured.valid[None]))[:, None]
    noise = NoiseModel(True, torch.zeros(1))  # the synthetic inputs are Poisson counts
    chi2 = float(chi_square(fine, y, valid, Degradation.from_beam(scale, case.sigma_px), noise).mean())
    return chi2, float(output.data.sum() * factor / scale**2 / measured.data.sum())


def _deconvolve_then_bicubic(frame: Frame, name: str, params: dict[str, Any], sigma: float, scale: int) -> Frame:
    return restore(restore(frame, name, psf_sigma=sigma, **params), "bicubic", scale=scale)


def _methods(case: SRCase, scale: int, zssr_budget_s: float) -> list[tuple[str, Callable[[Frame], Frame]]]:
    available = registry()
    sigma = case.sigma_px
    methods: list[tuple[str, Callable[[Frame], Frame]]] = [
        ("bicubic", lambda f: restore(f, "bicubic", scale=scale)),
        ("lanczos", lambda f: restore(f, "lanczos", scale=scale)),
    ]
    for label, (name, params) in DECONVOLUTIONS.items():
        if name in available:
            methods.append((label, functools.partial(_deconvolve_then_bicubic, name=name, params=params, sigma=sigma, scale=scale)))
    methods.append(("zssr", lambda f: restore(f, "zssr", scale=scale, psf_sigma=sigma, time_budget_s=zssr_budget_s)))
    methods.append(("fca_sr", lambda f: restore(f, "fca_sr", scale=scale)))
    return methods


def _score(ctx: BenchContext, case: SRCase, scale: int, zssr_budget_s: float) -> Iterator[Row]:
    rows: list[Row] = []
    for label, run in _methods(case, scale, zssr_budget_s):
        with quiet():
            repeat = 1 if (label == "zssr" or ctx.quick) else 2
            if label == "zssr":  # trains afresh every call: time one run, no warm-up
                start = time.perf_counter()
                output = run(case.measured)
                seconds = time.perf_counter() - start
            else:
                output, seconds = ctx.timeit(run, case.measured, repeat=repeat)
        chi2, mean_ratio = _chi2_and_mean(case, output, scale)
        rows.append({
            "case": case.name,
            "shape": "x".join(map(str, case.measured.shape)),
            "method": label,
            "baseline": "bicubic",
            "psnr_db": psnr(case.truth, output.data),
            "ssim": ssim(case.truth, output.data),
            "chi2": chi2,
            "mean_ratio": mean_ratio,
            "time_s": seconds,
        })
    reference = rows[0]["psnr_db"]
    for row in rows:
        row["gain_db"] = row["psnr_db"] - reference
        yield row


def _tooth_sinograms(data: Path | None) -> np.ndarray:
    """Both rows of the tooth scan as two 180 x 640 sinograms of transmission ``(P - D) / (F - D)``."""
    import h5py

    from ...samples import sample_path

    path = data / "tomography" / "tooth.h5" if data is not None and (data / "tomography" / "tooth.h5").is_file() else sample_path("tooth")
    with h5py.File(path, "r") as handle:
        projections = handle["exchange/data"][:180].astype(np.float64)
        flat = handle["exchange/data_white"][:].mean(axis=0)
        dark = handle["exchange/data_dark"][:].mean(axis=0)
    transmission = (projections - dark) / np.maximum(flat - dark, 1.0)
    return transmission.transpose(1, 0, 2).astype(np.float32)


def _real_rows(ctx: BenchContext, scale: int) -> Iterator[Row]:
    import torch

    from ...methods.sr.degradation import area_downsample

    native = _tooth_sinograms(ctx.data)
    coarse = area_downsample(torch.from_numpy(native)[:, None], scale).numpy()[:, 0]
    measured = Frame(coarse, kind="tomo_projection", meta={"source": "tooth.h5 (area-averaged)"})
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("bicubic", "bicubic", {}),
        ("lanczos", "lanczos", {}),
        ("fca_sr (blind)", "fca_sr", {}),
        ("fca_sr (psf_sigma=0: no blur)", "fca_sr", {"psf_sigma": 0.0}),
    ]
    for label, method, params in runs:
        with quiet():
            output, seconds = ctx.timeit(restore, measured, method, scale=scale, repeat=1, **params)
        yield {
            "case": f"real tooth sinograms (transmission, 2 rows x 180 angles), area-averaged x{scale} and restored",
            "shape": "x".join(map(str, measured.shape)),
            "method": label,
            "baseline": "bicubic",
            "psnr_db": psnr(native, output.data),
            "ssim": ssim(native, output.data),
            "time_s": seconds,
        }


@register_suite("sr", description="super-resolution x2/x4 vs ground truth: bicubic, lanczos, deconvolution+bicubic, zssr, fca_sr")
def sr_suite(ctx: BenchContext) -> Iterator[Row]:
    zssr_budget_s = 10.0 if ctx.quick else 30.0
    for scale in (2, 4):
        for make in ctx.track(synthetic_cases(scale, ctx.quick), desc=f"x{scale} cases"):
            yield from _score(ctx, make(), scale, zssr_budget_s)
    # ZSSR's target case: a 256² map, 60 s budget (30 s quick).
    zssr_case = degrade("AG175 map 256² x2, zssr budget 60 s (30 s quick)", _map_truth("AG175", 512, 12.5, 105), 2, 0.85,
                        kind="xrf_map", seed=105, pixel_um=12.5)
    yield from _score(ctx, zssr_case, 2, 30.0 if ctx.quick else 60.0)
    # The paper's timing case: x2 of a 1488 x 744 map (25 min on an RTX 3060 in the paper).
    big = synth.mesh_grid_map("AG175", shape=(744, 1488), step_um=10.0, beam_fwhm_um=50.0, counts=60.0, seed=106).noisy
    with quiet():
        output, seconds = ctx.timeit(restore, big, "fca_sr", scale=2, repeat=1)
    yield {
        "case": "1488 x 744 map x2 (paper: 25 min on a GPU)",
        "shape": "x".join(map(str, big.shape)),
        "method": "fca_sr",
        "baseline": "paper",
        "time_s": seconds,
        "speedup": 25 * 60 / seconds,
    }
    for scale in (2, 4):
        yield from _real_rows(ctx, scale)
