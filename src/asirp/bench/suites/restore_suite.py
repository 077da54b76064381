"""The ``restore`` suite: every applicable method of the repertoire on every kind of data.

Same synthetic data, several methods, one run. For each case (a copper mesh grid
micro-XRF map, a low-dose powder frame, a SAXS frame, a PDF frame, tomography
projections) every registered method that declares the case's kind and needs nothing
the case cannot give is run with its default parameters, and so is ``auto``. Quality
is measured against the generator's ground truth and reported as a gain over the
named baseline ``identity`` (the raw data) in the same run:

* ``psnr_db``, ``ssim``: against ``truth`` on valid pixels;
* ``gain_db``: PSNR of the method minus PSNR of the raw data;
* ``time_s``: best wall time of ``asirp.restore``.

Super-resolution methods change the grid and are benchmarked in their own suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ... import synth
from ...analysis import psnr, ssim
from ...api import restore
from ...errors import AsirpError
from ...methods.base import registry
from ...progress import quiet
from ...synth import SynthResult
from ..harness import BenchContext, Row, register_suite

#: Needs a synthetic case can satisfy without extra input (a PSF is estimated when absent).
_SATISFIABLE_NEEDS = frozenset({"psf", "gpu_faster", "geometry", "symmetry", "partners", "training"})


def _cases(quick: bool) -> dict[str, Callable[[], SynthResult]]:
    side = 96 if quick else 192
    return {
        "AG175 map, 25 µm steps, 50 µm beam": lambda: synth.mesh_grid_map(
            "AG175", shape=(side, side), step_um=25.0, beam_fwhm_um=50.0, counts=60.0, seed=1
        ),
        "powder frame, 1 count/px": lambda: synth.diffraction_frame("powder", shape=(side * 2, side * 2), dose=1.0, seed=2),
        "SAXS frame, 10 counts/px": lambda: synth.diffraction_frame("saxs", shape=(side * 2, side * 2), dose=10.0, seed=3),
        "PDF frame, 5 counts/px": lambda: synth.diffraction_frame("pdf", shape=(side * 2, side * 2), dose=5.0, seed=4),
        "tomography projections": lambda: synth.tomo_projections(
            synth.tomo_phantom(side // 2, n_slices=side // 2, seed=5), n_angles=12 if quick else 45, photons=500.0, seed=5
        ),
    }


def _methods_for(kind: str) -> list[str]:
    return [
        name
        for name, method in registry().items()
        if kind in method.kinds
        and method.family in ("reference", "denoising", "deconvolution")
        and method.needs <= _SATISFIABLE_NEEDS
    ]


@register_suite("restore", description="every applicable method vs identity on synthetic ground truth, per kind")
def restore_suite(ctx: BenchContext) -> Iterator[Row]:
    for case_name, make in ctx.track(list(_cases(ctx.quick).items()), desc="cases"):
        result = make()
        noisy, truth = result.noisy, result.truth
        raw_psnr = psnr(truth, noisy)
        for method in [*_methods_for(noisy.kind), "auto"]:
            try:
                with quiet():
                    restored, seconds = ctx.timeit(restore, noisy, method, repeat=1 if ctx.quick else 2)
            except AsirpError as exc:  # a method refusing this case is a result, not a crash
                yield {"case": case_name, "kind": noisy.kind, "method": method, "baseline": "identity", "error": str(exc)}
                continue
            chosen = restored.history[-1].method
            yield {
                "case": case_name,
                "kind": noisy.kind,
                "shape": "x".join(map(str, noisy.shape)),
                "method": method if method != "auto" else f"auto -> {chosen}",
                "baseline": "identity",
                "psnr_db": psnr(truth, restored),
                "ssim": ssim(truth, restored),
                "gain_db": psnr(truth, restored) - raw_psnr,
                "time_s": seconds,
            }
