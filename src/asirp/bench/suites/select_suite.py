"""The ``select`` suite: does ``auto`` pick what ground truth would have picked?

A mixed held-out set — micro-XRF maps at several steps and doses, diffraction, SAXS
and PDF frames at several doses, a deliberately asymmetric frame, tomography
projections — each with ground truth the selector never sees. Per case:

* ``chosen`` and its PSNR against the truth; the **oracle**: the best PSNR over every
  applicable (method, parameter) pair of every family, run on the same data;
* ``regret_db`` = oracle PSNR − chosen PSNR, and whether the families match;
* ``select_s`` (time to decide), ``run_s`` (time of the chosen method on the
  frame) and their ratio (the named baseline is the chosen method's own run time);
* ``spearman``: rank correlation between the ground-truth-free score of the scored
  candidates and their true PSNR (1 = the score ranks exactly like the truth).

Then the **overhead** at realistic sizes (the held-out cases are small so that the
oracle can run every method): offline, the time to decide against the chosen method's
run time on a 512² micro-XRF map and a 1024² powder frame; online, a stream of frames
of one scan through :class:`asirp.select.Selector` with a per-frame budget (one
decision, reused while the data do not drift), the selection time summed over the
stream against the restoration time summed over it, then split into the first
decision and the per-frame reuse check of the other frames.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ... import synth
from ...analysis import psnr
from ...errors import AsirpError
from ...frame import Frame
from ...methods.base import get_method, registry
from ...progress import quiet
from ...select import Decision, Plan, Selector, choose
from ...select.decide import _parameter_grid
from ...synth import SynthResult
from ..harness import BenchContext, Row, register_suite


def _asymmetric_frame(seed: int) -> SynthResult:
    """A single-crystal frame with one extra spot whose Friedel partner is absent."""
    result = synth.diffraction_frame("single_crystal", shape=(128, 128), dose=1.0, mask="gaps", seed=seed)
    yy, xx = np.mgrid[0:128, 0:128]
    spot = 40.0 * np.exp(-((yy - 30.0) ** 2 + (xx - 95.0) ** 2) / (2 * 2.0**2))
    truth = np.where(result.truth.valid, result.truth.data + spot, 0)
    noisy = np.where(result.noisy.valid, np.random.default_rng(seed).poisson(truth), 0)
    make = lambda data: Frame(data.astype(np.float32), result.truth.valid, kind="diffraction",  # noqa: E731
                              geometry=result.truth.geometry, pixel_size=result.truth.pixel_size)
    return SynthResult(truth=make(truth), blurred=make(truth), noisy=make(noisy), psf=None,
                       meta={**result.meta, "asymmetric_spot": (30, 95)})


#: Independent realisations of every case in the full run (seed offsets): one set of 13
#: frames is too few to tell a selector's regret from the luck of its noise draws.
REALISATIONS = 3


def _tomo_case(size: int, seed: int) -> SynthResult:
    return synth.tomo_projections(synth.tomo_phantom(size, n_slices=size, seed=seed), n_angles=4, photons=300.0, seed=seed)


def cases(quick: bool) -> dict[str, Callable[[], SynthResult]]:
    """The held-out cases (seeds 900+, not used by any training), each in :data:`REALISATIONS` noise draws."""
    side, det = 96, 128  # small enough that the oracle (every method x its grid) runs on 2 cores
    out: dict[str, Callable[[], SynthResult]] = {}
    for k in range(1 if quick else REALISATIONS):
        tag, offset = ("" if k == 0 else f" (draw {k + 1})"), 100 * k
        for grid, step, counts in [("AG175", 10, 50), ("AG175", 25, 60), ("AG175", 25, 400), ("AG175", 50, 60), ("AG300", 25, 100)]:
            out[f"{grid} {step} µm, {counts} counts{tag}"] = functools.partial(
                synth.mesh_grid_map, grid, shape=(side, side), step_um=step, counts=counts, seed=900 + step + offset
            )
        for pattern, dose in [("powder", 0.5), ("powder", 5.0), ("saxs", 10.0), ("pdf", 2.0), ("textured", 1.0), ("single_crystal", 1.0)]:
            out[f"{pattern}, {dose:g} counts/px{tag}"] = functools.partial(
                synth.diffraction_frame, pattern, shape=(det, det), dose=dose, seed=910 + offset
            )
        out[f"asymmetric single crystal, 1 count/px{tag}"] = functools.partial(_asymmetric_frame, 920 + offset)
        out[f"tomography projections, 300 photons{tag}"] = functools.partial(_tomo_case, side // 2, 930 + offset)
    if quick:
        keep = ["AG175 25 µm, 60 counts", "AG175 50 µm, 60 counts", "powder, 0.5 counts/px", "tomography projections, 300 photons"]
        out = {k: out[k] for k in keep}
    return out


def _oracle_pool(frame: Frame) -> list[tuple[str, dict[str, Any]]]:
    """Every selectable (method, parameters) of the denoising and deconvolution families for this kind."""
    from ...select.features import measure

    blur = measure(frame, symmetry=False).blur_sigma_px
    pool: list[tuple[str, dict[str, Any]]] = [("identity", {})]
    for name, method in registry().items():
        if method.family not in ("denoising", "deconvolution") or frame.kind not in method.kinds or not method.selectable:
            continue
        base = method.Parameters.psf_width(round(blur, 3)) if "psf" in method.needs and blur else {}
        pool += [(name, params) for params in _parameter_grid(method, base)]
    return pool


def _truth_psnr(frame: Frame, truth: Frame, name: str, params: dict[str, Any]) -> float | None:
    try:
        with quiet():
            return psnr(truth, get_method(name).run(frame, **params))
    except AsirpError:
        return None


@register_suite("select", description="auto vs the ground-truth oracle: regret, family match, overhead, score-PSNR correlation")
def select_suite(ctx: BenchContext) -> Iterator[Row]:
    rows: list[Row] = []
    for case_name, make in ctx.track(list(cases(ctx.quick).items()), desc="cases"):
        result = make()
        noisy, truth = result.noisy, result.truth
        decision, select_s, chosen, run_s = _decide_and_run(noisy, _chooser(ctx.seed))
        chosen_psnr = psnr(truth, chosen)
        families = {name: cls.family for name, cls in registry().items()}
        oracle = (decision.method, decision.parameters, chosen_psnr)
        for name, params in _oracle_pool(noisy):
            value = _truth_psnr(noisy, truth, name, params)
            if value is not None and value > oracle[2]:
                oracle = (name, params, value)
        scored = [(c, c.estimated_mse) for c in decision.candidates if c.estimated_mse is not None]
        true_values = [_truth_psnr(noisy, truth, c.method, c.parameters) for c, _ in scored]
        pairs = [(-mse, v) for (_, mse), v in zip(scored, true_values, strict=True) if v is not None]
        rho = float(spearmanr(*zip(*pairs)).statistic) if len(pairs) >= 3 else float("nan")
        oracle_family = "reference" if oracle[0] == "identity" else families[oracle[0]]
        chosen_family = "reference" if decision.method == "identity" else families[decision.method]
        row = {
            "case": case_name,
            "kind": noisy.kind,
            "chosen": f"{decision.method} {_fmt(decision.parameters)}".strip(),
            "chosen_psnr_db": chosen_psnr,
            "oracle": f"{oracle[0]} {_fmt(oracle[1])}".strip(),
            "oracle_psnr_db": oracle[2],
            "raw_psnr_db": psnr(truth, noisy),
            "regret_db": oracle[2] - chosen_psnr,
            "family_match": chosen_family == oracle_family,
            "select_s": select_s,
            "run_s": run_s,
            "baseline": "chosen method run time",
            "overhead_ratio": select_s / max(run_s, 1e-6),
            "spearman": rho,
            "n_scored": len(scored),
        }
        rows.append(row)
        yield row
    yield {"case": f"all {len(rows)} cases", "regret_db": float(np.mean([r["regret_db"] for r in rows])),
           "family_match": f"{sum(r['family_match'] for r in rows)}/{len(rows)}",
           "spearman": float(np.nanmedian([r["spearman"] for r in rows])), "baseline": "mean regret; median spearman"}
    yield from _overhead_rows(ctx)


def _chooser(seed: int) -> Callable[[Frame], Plan]:
    """The offline selection with the run's seed, as a plan."""
    return lambda frame: Plan.from_decision(frame, choose(frame, seed=seed))


def _decide_and_run(frame: Frame, decide: Callable[[Frame], Plan]) -> tuple[Decision, float, Frame, float]:
    """The decision for ``frame``, the seconds it took, the restored frame and the seconds of the restoration."""
    t0 = time.perf_counter()
    with quiet():
        plan = decide(frame)
    select_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with quiet():
        restored = plan.run(frame)
    assert plan.decision is not None
    return plan.decision, select_s, restored, time.perf_counter() - t0


def _overhead_rows(ctx: BenchContext) -> Iterator[Row]:
    side, detector, n_stream = (256, 512, 20) if ctx.quick else (512, 1024, 100)
    offline = {
        f"AG175 10 µm map {side}², 50 counts": lambda: synth.mesh_grid_map("AG175", shape=(side, side), step_um=10,
                                                                         counts=50, seed=940).noisy,
        f"powder frame {detector}², 2 counts/px": lambda: synth.diffraction_frame("powder", shape=(detector, detector),
                                                                                dose=2.0, seed=941).noisy,
    }
    for case, make in ctx.track(list(offline.items()), desc="overhead"):
        decision, select_s, _, run_s = _decide_and_run(make(), _chooser(ctx.seed))
        frame_kind = decision.kind
        yield {"case": f"overhead, offline: {case}", "kind": frame_kind, "chosen": f"{decision.method} {_fmt(decision.parameters)}".strip(),
               "select_s": select_s, "run_s": run_s, "baseline": "chosen method run time", "overhead_ratio": select_s / run_s}
    budget = 1.0
    selector = Selector(budget_s=budget, mode="online")
    select_times, run_times = [], []
    for seed in ctx.track(range(n_stream), desc="stream"):
        frame = synth.mesh_grid_map("AG175", shape=(side // 2, side // 2), step_um=25, counts=60, seed=950 + seed).noisy
        decision, select_s, _, run_s = _decide_and_run(frame, lambda f: selector.plan(f)[0])
        select_times.append(select_s)
        run_times.append(run_s)
    select_total, run_total = sum(select_times), sum(run_times)
    case = f"overhead, online: stream of {n_stream} AG175 25 µm maps {side // 2}², budget {budget:g} s/frame"
    yield {"case": case, "kind": "xrf_map", "chosen": f"{decision.method} {_fmt(decision.parameters)}".strip(),
           "select_s": select_total, "run_s": run_total, "baseline": "chosen method run time (summed over the stream)",
           "overhead_ratio": select_total / run_total, "decisions": selector.decisions}
    # The same stream split into the one decision and the per-frame reuse check (fingerprint).
    reuse_s, reuse_run_s = sum(select_times[1:]), sum(run_times[1:])
    yield {"case": f"{case}: first decision", "kind": "xrf_map", "select_s": select_times[0], "run_s": run_times[0],
           "baseline": "chosen method run time (one frame)", "overhead_ratio": select_times[0] / run_times[0]}
    yield {"case": f"{case}: frames 2-{n_stream}, decision reused", "kind": "xrf_map", "select_s": reuse_s,
           "run_s": reuse_run_s, "baseline": "chosen method run time (summed)", "overhead_ratio": reuse_s / reuse_run_s}


def _fmt(parameters: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in parameters.items() if k != "psf_sigma")
