"""The ``denoise`` suite: symmetry-based denoising against its baselines, by physics as well as PSNR.

Synthetic held-out frames (seeds 5000+, never used in training, which starts at
100 000): powder, textured, single-crystal, SAXS and PDF patterns at mean doses 0.1,
1, 10 and 100 counts per pixel, off-centre beams, 2° detector tilt, module gaps,
beamstop and hot pixels. Per method and case:

* ``psnr_db``, ``ssim`` against the noise-free truth on measured pixels;
* ``profile_err``: relative L2 error of the azimuthal profile (pyFAI);
* ``peak_pos_err``: mean error of the three strongest peak positions in units of
  their FWHM; ``peak_area_err``: mean relative error of their areas;
* ``orient_err_deg``: error of the orientation angle of the strongest ring (textured);
* ``gr_err``: relative L2 error of G(r) (PDF);
* ``time_s``: wall time at 256² (best of N after a warm-up).

Then: a summary at <= 1 count/px with the targets, an injected asymmetric peak,
inference time at 1024², fine-tuning on 20 frames (full runs only), and with
``--data`` the real CeO2 Pilatus frame binomially thinned to 1, 5 and 20 %.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import synth
from ...analysis import azimuthal_profile, find_peaks_1d, orientation, pdf_transform, psnr, ssim, structure_factor
from ...api import restore
from ...frame import Frame
from ...progress import quiet
from ..harness import BenchContext, Row, register_suite

PATTERNS = ("powder", "textured", "single_crystal", "saxs", "pdf")
DOSES = (0.1, 1.0, 10.0, 100.0)
#: Methods on every case, with parameters; the expensive ones only at <= 1 count/px.
FAST: dict[str, dict[str, Any]] = {"identity": {}, "symmetric_average": {}, "azimuthal_median": {}, "smae_halves": {},
        "smae_halves(beam)": {"center": "beam"}, "supervised": {}, "symmetry": {"heldout_score": True}}
SLOW: dict[str, dict[str, Any]] = {"noise2self": {}, "bm3d": {}}


def _method(label: str) -> str:
    return label.split("(")[0]


def _available(name: str) -> bool:
    from ...methods.base import registry

    return name in registry()


def _case(pattern: str, dose: float, seed: int, side: int) -> synth.SynthResult:
    rng = np.random.default_rng(seed)
    center = (side * (0.5 + rng.uniform(-0.12, 0.12)), side * (0.5 + rng.uniform(-0.12, 0.12)))
    return synth.diffraction_frame(pattern, shape=(side, side), dose=dose, beam_center=center, tilt_deg=2.0,
                                   tilt_plane_deg=float(rng.uniform(0, 360)), mask="gaps", seed=seed)


def _profile(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    p = azimuthal_profile(frame, npt=max(64, frame.image_shape[0] // 2))
    return p.radial, p.intensity


def _peaks(q: np.ndarray, truth: np.ndarray, est: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    try:
        ref = sorted(find_peaks_1d(q, truth), key=lambda p: -p.height)[:3]
        got = find_peaks_1d(q, est, prominence=0.5 * min(p.height for p in ref)) if ref else []
    except Exception:
        return None, None
    if not ref:
        return None, None
    pos, area = [], []
    for p in ref:
        near = [g for g in got if abs(g.position - p.position) <= p.fwhm]
        if not near:
            pos.append(1.0)
            area.append(1.0)
            continue
        g = min(near, key=lambda g: abs(g.position - p.position))
        pos.append(abs(g.position - p.position) / p.fwhm)
        area.append(abs(g.area - p.area) / p.area)
    return float(np.mean(pos)), float(np.mean(area))


def _gr(q: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    good = np.isfinite(intensity) & (q > 0.15 * np.nanmax(q))
    s = structure_factor(q[good], intensity[good], degree=4)
    return pdf_transform(q[good], s, np.linspace(0.15, 1.5, 271))


def physics_figures(result: synth.SynthResult, restored: Frame) -> dict[str, Any]:
    """Profile, peak, orientation and G(r) errors of ``restored`` against the truth."""
    truth = result.truth
    q, pt = _profile(truth)
    _, pr = _profile(restored)
    ok = np.isfinite(pt) & np.isfinite(pr)
    row: dict[str, Any] = {"profile_err": float(np.linalg.norm(pr[ok] - pt[ok]) / np.linalg.norm(pt[ok]))}
    pattern = result.meta["pattern"]
    if pattern in ("powder", "textured", "pdf"):
        row["peak_pos_err"], row["peak_area_err"] = _peaks(q[ok], pt[ok], pr[ok])
    if pattern == "textured":
        k = int(np.argmax(result.meta["ring_amplitude"]))
        q0, s0 = result.meta["ring_q_nm"][k], result.meta["ring_sigma_nm"][k]
        band = (q0 - 2 * s0, q0 + 2 * s0)
        try:
            a_t = orientation(truth, band).angle_deg
            a_r = orientation(restored, band).angle_deg
            row["orient_err_deg"] = float(abs((a_r - a_t + 90.0) % 180.0 - 90.0))
        except Exception:
            row["orient_err_deg"] = None
    if pattern == "pdf":
        gt, gr = _gr(q, pt), _gr(q, pr)
        row["gr_err"] = float(np.linalg.norm(gr - gt) / np.linalg.norm(gt))
    return row


def _run(ctx: BenchContext, frame: Frame, label: str, params: dict[str, Any], repeat: int) -> tuple[Frame | None, float, str]:
    try:
        with quiet():
            out, seconds = ctx.timeit(restore, frame, _method(label), repeat=repeat, **params)
        return out, seconds, ""
    except Exception as exc:  # a failing method is a figure too
        return None, math.nan, f"{type(exc).__name__}: {exc}"[:80]


def _synthetic(ctx: BenchContext, rows: list[Row]) -> Iterator[Row]:
    side = 192 if ctx.quick else 256
    doses = (0.1, 1.0, 10.0) if ctx.quick else DOSES
    cases = [(p, d) for p in PATTERNS for d in doses]
    for index, (pattern, dose) in enumerate(ctx.track(cases, desc="denoise cases")):
        result = _case(pattern, dose, 5000 + index, side)
        methods = dict(FAST)
        if dose <= 1.0 and not (ctx.quick and pattern not in ("powder", "textured")):
            methods.update(SLOW)
        for label, params in methods.items():
            if not _available(_method(label)):
                continue
            out, seconds, error = _run(ctx, result.noisy, label, params, repeat=1)
            row: Row = {"section": "synthetic", "case": pattern, "dose": dose, "method": label}
            if out is None:
                row["note"] = error
            else:
                row.update(psnr_db=psnr(result.truth, out), ssim=ssim(result.truth, out), **physics_figures(result, out),
                           time_s=seconds)
                if label == "symmetry":
                    row["note"] = f"ss-loss {out.history[-1].notes['selfsupervised_loss']:.3f}"
            rows.append(row)
            yield row


def _summary(rows: list[Row]) -> Iterator[Row]:
    low = [r for r in rows if r.get("section") == "synthetic" and r["dose"] <= 1.0 and "psnr_db" in r]
    cases = sorted({(r["case"], r["dose"]) for r in low if r["method"] == "noise2self"})
    by = {(r["case"], r["dose"], r["method"]): r["psnr_db"] for r in low}
    means = {}
    for label in [*FAST, *SLOW]:
        values = [by[c, d, label] for c, d in cases if (c, d, label) in by]
        if values and len(values) == len(cases):
            means[label] = float(np.mean(values))
            yield {"section": "summary <=1 count/px", "case": f"{len(cases)} cases", "method": label, "psnr_db": means[label]}
    sym = means.get("symmetry")
    if sym is None:
        return
    for other, target in (("noise2self", 2.0), ("symmetric_average", 3.0), ("smae_halves", 0.0),
                          ("smae_halves(beam)", 0.0), ("supervised", 0.0)):
        if other in means:
            gain = sym - means[other]
            yield {"section": "target", "case": f"symmetry - {other}", "method": "symmetry", "psnr_db": gain,
                   "note": f"target >= {target:g} dB: {'met' if gain >= target else 'MISSED'}"}


def _asymmetric_peak(ctx: BenchContext) -> Iterator[Row]:
    from ...symmetry import analyze

    side = 256
    result = _case("powder", 1.0, 6001, side)
    cy, cx = result.meta["beam_center_px"]
    yy, xx = np.indices((side, side)) + 0.5
    py, px = cy + 0.3 * side * math.sin(1.0), cx + 0.3 * side * math.cos(1.0)
    peak = 400.0 * np.exp(-0.5 * ((yy - py) ** 2 + (xx - px) ** 2) / 2.0**2) / (2 * math.pi * 4.0)
    rng = np.random.default_rng(1)
    noisy = result.noisy
    valid = noisy.valid
    injected = Frame(np.where(valid, noisy.data + rng.poisson(peak), 0).astype(np.float32), valid, noisy.kind,
                     geometry=noisy.geometry)
    window = ((yy - py) ** 2 + (xx - px) ** 2 <= (3 * 2.0) ** 2) & valid
    report = analyze(injected)
    for label in ("symmetry", "symmetric_average", "azimuthal_median", "supervised"):
        with quiet():
            a = restore(injected, label).data
            b = restore(noisy, label).data
        kept = float((a - b)[window].sum() / peak[window].sum())
        broken = "not computed" if report.broken is None else bool(report.broken[int(py), int(px)])
        yield {"section": "asymmetric peak", "case": "powder, 1 count/px + 400-count peak", "method": label,
               "peak_area_kept": kept, "note": f"analyze: broken at peak = {broken}"}


def _timing(ctx: BenchContext) -> Iterator[Row]:
    result = synth.diffraction_frame("powder", shape=(1024, 1024), dose=1.0, seed=6100, mask="gaps")
    no_geometry = Frame(result.noisy.data, result.noisy.valid, "diffraction")
    for label, frame, note in (("symmetry", result.noisy, "with PONI geometry"),
                               ("symmetry", no_geometry, "centre searched"),
                               ("symmetric_average", result.noisy, "with PONI geometry"),
                               ("supervised", result.noisy, ""), ("smae_halves", result.noisy, "")):
        out, seconds, error = _run(ctx, frame, label, {}, repeat=1 if ctx.quick else 3)
        yield {"section": "time 1024x1024", "case": "powder, 1 count/px", "method": label, "time_s": seconds,
               "note": error or note}
    import torch

    from ...methods.symmetry.denoise import run_network
    from ...methods.symmetry.inputs import symmetry_inputs
    from ...methods.symmetry.weights import load_weights

    net, _, _ = load_weights(None, "symmetry")
    ones = np.ones((1024, 1024), np.float32)
    x = symmetry_inputs(ones, ones > 0, ones, ones, 1.0)
    _, seconds = ctx.timeit(run_network, net, x, repeat=3)
    yield {"section": "time 1024x1024", "case": "network only", "method": "symmetry", "time_s": seconds,
           "note": f"torch threads {torch.get_num_threads()}"}


def _finetune(ctx: BenchContext) -> Iterator[Row]:
    from ...methods.symmetry import training
    from ...methods.symmetry.weights import shipped_path

    frames = [_case("textured", 0.5, 7000 + i, 256).noisy for i in range(20)]
    probe = _case("textured", 0.5, 7100, 256)
    source = training.FrameSource(frames)
    rng = np.random.default_rng(3)
    heldout = [training.build_sample(training.FrameSource([probe.noisy]).items[0], "symmetry", rng, 128)
               for _ in range(6)]
    with quiet():
        before = psnr(probe.truth, restore(probe.noisy, "symmetry", fine_tune_s=0))
        started = time.perf_counter()
        result = training.train(source, steps=400, minutes=4.5, init=shipped_path("symmetry"), lr=2e-4,
                                heldout=heldout, eval_every=25)
    seconds = time.perf_counter() - started
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = training.save_weights(result, Path(tmp) / "ft.pt", "symmetry", {"corpus": "bench"})
        with quiet():
            after = psnr(probe.truth, restore(probe.noisy, "symmetry", weights=str(path), fine_tune_s=0))
    losses = [loss for _, loss in result.heldout_loss]
    yield {"section": "fine-tune", "case": "20 textured frames, 0.5 count/px", "method": "symmetry",
           "time_s": seconds, "psnr_db": after,
           "note": f"held-out loss {losses[0]:.4f} -> {losses[-1]:.4f} in {result.steps} steps; probe PSNR {before:.2f} -> {after:.2f} dB"}


def _real(ctx: BenchContext) -> Iterator[Row]:
    from ...io import open as open_frame

    if ctx.data is None:
        return
    folder = ctx.data / "diffraction"
    path = folder / "CeO2_Pilatus1M.tif"
    if not path.exists():
        return
    raw = open_frame(path, kind="diffraction", poni=folder / "CeO2_Pilatus1M.poni")
    # Dioptas (where this calibration comes from) shows images flipped upside down and its
    # PONI refers to that view: the beam centre found without the PONI confirms it.
    full = Frame(raw.data[::-1].copy(), raw.valid[::-1].copy(), "diffraction", geometry=raw.geometry,
                 meta={"source": str(path)})
    counts = np.where(full.valid, np.maximum(full.data, 0), 0).astype(np.int64)
    rng = np.random.default_rng(7)
    for fraction in (0.01, 0.05, 0.2):
        a = rng.binomial(counts, fraction).astype(np.float32)
        b = rng.binomial(counts, fraction).astype(np.float32)
        frame = Frame(a, full.valid, "diffraction", geometry=full.geometry, meta={"source": str(path)})
        reference = counts * fraction
        span = float(np.percentile(reference[full.valid], 99.9))
        raw_mse = float(np.mean(((a - b) ** 2 - b)[full.valid]))
        for label, params in (("identity", {}), ("symmetric_average", {}), ("azimuthal_median", {}),
                              ("smae_halves(beam)", {"center": "beam"}), ("supervised", {}), ("symmetry", {}),
                              ("symmetry(forced isotropy)", {"operations": ["isotropy"]})):
            out, seconds, error = _run(ctx, frame, label, params, repeat=1)
            row: Row = {"section": "real CeO2 Pilatus 1M", "case": f"thinned to {fraction:.0%}",
                        "dose": float(reference[full.valid].mean()), "method": label}
            if out is None:
                row["note"] = error
            else:
                d = np.asarray(out.data)
                # E[(d - b)^2] - E[b] estimates the squared error to the true mean (b independent of d).
                mse = float(np.mean(((d - b) ** 2 - b)[full.valid]))
                row.update(psnr_db=psnr(reference, d, valid=full.valid, data_range=span), time_s=seconds,
                           note=f"gain vs independent thinning {10 * math.log10(raw_mse / mse):.2f} dB" if mse > 0 else "")
            yield row


@register_suite("denoise", description="symmetry self-supervised denoising vs baselines: PSNR, physics, time")
def denoise_suite(ctx: BenchContext) -> Iterator[Row]:
    rows: list[Row] = []
    yield from _synthetic(ctx, rows)
    yield from _summary(rows)
    yield from _asymmetric_peak(ctx)
    yield from _timing(ctx)
    if not ctx.quick:
        yield from _finetune(ctx)
    yield from _real(ctx)
