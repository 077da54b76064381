"""The ``xrf`` suite: spectra cube -> normalised, restored element maps, measured five ways.

1. **Accuracy** on a synthetic AG175 spectra cube of the paper's map size (182 x 162
   points x 4096 channels; quick: 64 x 64 x 1024) with Cu, Fe and Zn, Ar, scatter,
   continuum, a sawtooth beam, dead time and Poisson noise
   (:func:`asirp.synth.xrf_cube`): the channel-added, Ar-normalised Cu Kα map against
   the noise-free map at constant beam (NRMSE), and before/after Richardson-Lucy
   (10 iterations, PSF from the 50 µm beam at 25 µm steps) against the map an
   infinitely small beam would give (PSNR, SSIM) and the paper's contrast measure
   (standard deviation).
2. **Stripes**: row-to-row stripes (:func:`asirp.xrf.normalise.row_stripes`) left by
   each normalisation on a slowly scanned cube with a deep sawtooth, once with an
   ideal I0 chamber and once with a 25 % dark offset on I0 (which I0 normalisation
   cannot remove and the Ar Kα window can: the paper's reason for normalising by
   argon); ``floor`` is the Poisson noise of the row sums alone.
3. **End-to-end time**: cube -> 3 element maps (Cu, Fe, Zn Kα), Ar-normalised and
   RL-deconvolved (10 iterations), from the cube in memory and from its HDF5 file
   (page cache warm; with and without the input's sha256 for provenance). Baseline,
   timed in the same run: the naive script, numpy window sums over the in-memory
   cube ``cube[..., lo:hi].sum(-1)``, division by the Ar window, and
   ``skimage.restoration.richardson_lucy`` (10 iterations) per map; the full-cube
   ``cube.sum(-1)`` is shown as the memory-bandwidth floor.
4. **Throughput and peak memory** of the streaming pass over HDF5 files, each in a
   fresh subprocess (peak resident memory = its ``VmHWM``; ``ru_maxrss`` would include
   the parent's peak, which Linux carries across fork + exec), with the file evicted
   from the page cache first (``posix_fadvise(DONTNEED)``: a cold read from disk):
   the paper-size cube, and unless ``--quick`` a cube larger than this process's
   budget written block by block into a temporary folder and deleted after: about
   2 GB by default, 1000 x 1000 x 4096 int32 (16.4 GB) with ``ASIRP_BENCH_HUGE=1``.
   Baselines: a subprocess that only imports asirp.xrf (the interpreter's own
   footprint), and one that loads the paper-size cube whole with h5py and sums the
   windows with numpy.
5. **Real data** (``--data``): the APS 2-ID-E file (4 detector elements, 11 x 9
   points): the 15 elements its MAPS parameter file lists, each with its net counts
   over the SNIP background of the summed spectrum (:mod:`asirp.xrf.spectrum`) with the
   file's calibration and after refitting it on the Ar Kα and Fe Kα peaks, and its
   significance (present above 5 σ); timing of read -> maps -> live-time normalisation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..harness import BenchContext, Row, register_suite

if TYPE_CHECKING:
    from ...frame import Frame
    from ...xrf import XRFMaps

_ELEMENTS = ["Cu-Ka", "Fe-Ka", "Zn-Ka"]
_BEAM, _STEP = "50um", 25.0
_ITERATIONS = 10
_DEFAULT_BIG = (512, 256, 4096)  # 2.1 GB of int32
_HUGE = (1000, 1000, 4096)  # 16.4 GB of int32


def _paper_cube(quick: bool, generate: bool = True):
    from ... import synth
    from ...xrf import EnergyCalibration

    ny, nx, channels = (64, 64, 1024) if quick else (182, 162, 4096)
    calibration = EnergyCalibration(0.0, 20.48 / channels)
    xx = np.broadcast_to(np.arange(nx) / nx, (ny, nx))
    return synth.xrf_cube(
        "AG175", shape=(ny, nx), n_channels=channels, calibration=calibration, step_um=_STEP, beam_fwhm_um=50.0,
        elements={"Fe": 30.0 + 20.0 * xx, "Zn": 10.0}, sawtooth=synth.Sawtooth(period_s=60.0, depth=0.3, dwell_s=0.05),
        seed=1, generate=generate,
    )  # fmt: skip


# -- 1 + 3: accuracy and end-to-end time ------------------------------------------------------------


def _ours(cube_counts: np.ndarray, calibration, scalers, spectrum: bool = False) -> tuple[dict[str, Frame], dict[str, Frame]]:
    from ...units import PixelSize
    from ...xrf import element_maps, from_array, restore_maps

    source = from_array(cube_counts, scalers=scalers, calibration=calibration, step=PixelSize(_STEP, _STEP))
    maps = element_maps(source, _ELEMENTS, normalisation="ar", spectrum=spectrum, show_progress=False)
    normalised = maps.normalised
    return normalised, restore_maps(normalised, "richardson_lucy", beam_fwhm=_BEAM, iterations=_ITERATIONS)


def _ours_file(path: Path, calibration, hash_input: bool) -> dict[str, Frame]:
    from ...units import PixelSize
    from ...xrf import element_maps, open_spectra, restore_maps

    with open_spectra(path) as source:
        maps = element_maps(
            source, _ELEMENTS, calibration=calibration, normalisation="ar", step=PixelSize(_STEP, _STEP), hash_input=hash_input, show_progress=False
        )
    return restore_maps(maps.normalised, "richardson_lucy", beam_fwhm=_BEAM, iterations=_ITERATIONS)


def _naive(cube_counts: np.ndarray, windows: list, psf: np.ndarray) -> list[np.ndarray]:
    """The baseline: numpy window sums over the whole in-memory cube, Ar division, skimage RL."""
    from skimage.restoration import richardson_lucy

    ar = cube_counts[..., windows[-1].lo : windows[-1].hi].sum(axis=-1).astype(np.float64)
    out = []
    for window in windows[:-1]:
        counts = cube_counts[..., window.lo : window.hi].sum(axis=-1) * (ar.mean() / np.maximum(ar, 1.0))
        out.append(richardson_lucy(counts, psf, num_iter=_ITERATIONS, clip=False))
    return out


def _accuracy_and_time(ctx: BenchContext, folder: Path) -> Iterator[Row]:
    from ...analysis import contrast_std, nrmse, psnr, ssim
    from ...psf import psf_from_beam
    from ...synth import write_xrf_cube
    from ...xrf import make_windows

    cube = _paper_cube(ctx.quick)
    counts = cube.counts[0]
    shape = "x".join(map(str, counts.shape))
    windows = make_windows([*_ELEMENTS, "Ar-Ka"], cube.calibration, cube.n_channels)
    (normalised, restored), seconds = ctx.timeit(_ours, counts, cube.calibration, cube.scalers, repeat=1 if ctx.quick else 3)
    cu = windows[0]
    # The normalisation's scale is arbitrary (counts at the mean Ar level): match the mean before comparing.
    reference = _frame(cube.expected_window(cu.lo, cu.hi))
    truth = _frame(cube.expected_window(cu.lo, cu.hi, unblurred=True))
    before, after = _matched(normalised["Cu-Ka"], truth), _matched(restored["Cu-Ka"], truth)
    case = f"AG175 {shape}, Cu-Ka (mean matched to truth)"
    yield {
        "section": "accuracy", "case": case, "method": "channel adding + Ar normalisation",
        "nrmse": nrmse(reference, _matched(normalised["Cu-Ka"], reference)), "psnr_db": psnr(truth, before),
        "ssim": ssim(truth, before), "contrast_std": contrast_std(before), "notes": "nrmse against the beam-blurred noise-free map",
    }  # fmt: skip
    yield {
        "section": "accuracy", "case": case, "method": f"+ richardson_lucy {_ITERATIONS} it, beam {_BEAM}",
        "psnr_db": psnr(truth, after), "ssim": ssim(truth, after), "contrast_std": contrast_std(after),
        "notes": f"truth (point beam) contrast_std {contrast_std(truth):.4g}",
    }  # fmt: skip

    psf = psf_from_beam(_BEAM, f"{_STEP}um")
    _, baseline_s = ctx.timeit(_naive, counts, windows, psf, repeat=1 if ctx.quick else 3)
    _, floor_s = ctx.timeit(lambda: counts.sum(axis=-1), repeat=1 if ctx.quick else 3)
    nbytes = counts.nbytes
    common = {"section": "end-to-end", "case": f"{shape} int32 -> 3 maps, Ar-normalised, RL {_ITERATIONS} it", "bytes": nbytes}
    yield {**common, "method": "asirp.xrf, cube in memory", "baseline": "numpy window sums + skimage RL", "time_s": seconds,
           "baseline_s": baseline_s, "speedup": baseline_s / seconds, "throughput_MB_s": nbytes / seconds / 1e6}  # fmt: skip
    _, with_spectrum_s = ctx.timeit(_ours, counts, cube.calibration, cube.scalers, True, repeat=1 if ctx.quick else 3)
    yield {**common, "method": "asirp.xrf, cube in memory, + summed spectrum", "baseline": "numpy window sums + skimage RL",
           "time_s": with_spectrum_s, "baseline_s": baseline_s, "speedup": baseline_s / with_spectrum_s,
           "throughput_MB_s": nbytes / with_spectrum_s / 1e6}  # fmt: skip
    path = write_xrf_cube(cube, folder / "paper.h5", "pyxrf")
    for hashed in (False, True):
        _, file_s = ctx.timeit(_ours_file, path, cube.calibration, hashed, repeat=1 if ctx.quick else 3)
        label = "with input sha256" if hashed else "no input hash"
        yield {**common, "method": f"asirp.xrf, HDF5 file (page cache), {label}", "baseline": "numpy window sums + skimage RL",
               "time_s": file_s, "baseline_s": baseline_s, "speedup": baseline_s / file_s, "throughput_MB_s": nbytes / file_s / 1e6}  # fmt: skip
    yield {**common, "method": "floor: cube.sum(-1) in memory", "time_s": floor_s, "throughput_MB_s": nbytes / floor_s / 1e6}


def _frame(values: np.ndarray) -> Frame:
    from ...frame import Frame

    return Frame(values.astype(np.float32), kind="xrf_map")


def _matched(frame: Frame, reference: Frame) -> Frame:
    """``frame`` scaled so that its mean equals ``reference``'s."""
    return _frame(frame.data * (float(reference.data.mean()) / float(frame.data.mean())))


# -- 2: stripes ---------------------------------------------------------------------------------------


def _stripes(ctx: BenchContext) -> Iterator[Row]:
    from ... import synth
    from ...xrf import EnergyCalibration, Normalisation, element_maps, from_array, make_window
    from ...xrf.normalise import row_stripes

    ny, nx = (60, 48) if ctx.quick else (120, 100)
    calibration = EnergyCalibration(0.0, 0.02)
    for offset in (0.0, 0.25):
        cube = synth.xrf_cube(
            "AG175", shape=(ny, nx), n_channels=1024, calibration=calibration, cu_counts=200.0, ar_counts=200.0,
            sawtooth=synth.Sawtooth(period_s=30.0, depth=0.3, dwell_s=0.05), i0_offset=offset, seed=2,
        )  # fmt: skip
        window = make_window("Cu-Ka", calibration, 1024)
        reference = cube.expected_window(window.lo, window.hi)
        floor = row_stripes(np.random.default_rng(0).poisson(reference), reference)
        if cube.counts is None:
            raise RuntimeError("synth.xrf_cube built no counts")
        source = from_array(cube.counts[0], scalers=cube.scalers, calibration=calibration)
        none = float("nan")  # the stripes without normalisation: the first method below
        case = f"{ny}x{nx}, sawtooth 30 %, I0 dark offset {offset:.0%}"
        for method, smooth in (
            ("none", 1),
            ("livetime", 1),
            ("deadtime", 1),
            ("i0", 1),
            ("i0+livetime", 1),
            ("ar", 1),
            ("ar", "auto"),
            ("ar+livetime", "auto"),
        ):
            maps = element_maps(source, ["Cu-Ka"], normalisation=Normalisation.parse(method, ar_smooth=smooth), show_progress=False)
            frame = maps.normalised["Cu-Ka"]
            stripes = row_stripes(frame.data, reference, frame.valid)
            none = stripes if method == "none" else none
            label = method + (f", ar_smooth={frame.history[-1].notes['ar_smooth_points']}" if "ar" in method else "")
            yield {"section": "stripes", "case": case, "method": label, "baseline": "none", "stripes": stripes,
                   "reduction": none / stripes, "floor": floor}  # fmt: skip


# -- 4: throughput and peak memory in subprocesses ------------------------------------------------------

_CHILD = r"""
import json, os, resource, sys, time
args = json.loads(sys.argv[1])
result = {}
if args["mode"] == "import":
    import asirp.xrf.workflow  # noqa: F401
elif args["mode"] == "stream":
    from asirp.xrf import EnergyCalibration, element_maps, open_spectra
    start = time.perf_counter()
    with open_spectra(args["path"]) as source:
        maps = element_maps(source, args["elements"], calibration=EnergyCalibration(*args["calibration"]),
                            normalisation="ar", chunk_mb=args["chunk_mb"], hash_input=False, show_progress=False)
        result["bytes"] = source.nbytes
    result["seconds"] = time.perf_counter() - start
    result["cu_sum"] = float(maps.counts["Cu-Ka"].data.sum())
elif args["mode"] == "load_all":
    import h5py
    import numpy as np
    start = time.perf_counter()
    with h5py.File(args["path"], "r") as handle:
        cube = handle["xrfmap/detsum/counts"][()]
    sums = [cube[..., lo:hi].sum(axis=-1) for lo, hi in args["windows"]]
    result["seconds"] = time.perf_counter() - start
    result["bytes"] = cube.nbytes
    result["cu_sum"] = float(sums[0].sum())
# VmHWM: peak resident memory of this process's own address space. (ru_maxrss is not used: Linux
# carries the parent's peak into it across fork + exec, so a child of a big parent looks big.)
with open("/proc/self/status") as status:
    hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
result["peak_rss_mb"] = int(hwm[0]) / 1024.0 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps(result))
"""


def _evict(path: Path) -> None:
    """Flush ``path`` and drop it from the page cache, so the next read comes from disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def _child(args: dict) -> dict:
    env = {**os.environ, "ASIRP_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _throughput(ctx: BenchContext, folder: Path) -> Iterator[Row]:
    from ...synth import write_xrf_cube
    from ...xrf import make_windows

    imported = _child({"mode": "import"})
    yield {"section": "memory", "case": "python + import asirp.xrf", "method": "reference footprint", "peak_rss_mb": imported["peak_rss_mb"]}
    cube = _paper_cube(ctx.quick, generate=False)
    path = write_xrf_cube(cube, folder / "paper_nonoise.h5", "pyxrf")
    windows = make_windows(_ELEMENTS, cube.calibration, cube.n_channels)
    cal = [cube.calibration.offset_kev, cube.calibration.slope_kev, cube.calibration.quad_kev]
    shape = "x".join(map(str, (*cube.shape, cube.n_channels)))
    stream = {"mode": "stream", "path": str(path), "elements": _ELEMENTS, "calibration": cal, "chunk_mb": 64.0}
    _evict(path)
    cold = _child(stream)
    warm = _child(stream)
    _evict(path)
    whole = _child({"mode": "load_all", "path": str(path), "windows": [[w.lo, w.hi] for w in windows]})
    for label, figures in (
        ("asirp.xrf streaming, cold (from disk)", cold),
        ("asirp.xrf streaming, warm (page cache)", warm),
        ("baseline: h5py load whole cube + numpy sums, cold", whole),
    ):
        yield {"section": "memory", "case": f"{shape} int32 ({figures['bytes'] / 1e9:.2f} GB)", "method": label,
               "time_s": figures["seconds"], "throughput_MB_s": figures["bytes"] / figures["seconds"] / 1e6,
               "peak_rss_mb": figures["peak_rss_mb"], "notes": f"Cu-Ka total {figures['cu_sum']:.6g}"}  # fmt: skip
    path.unlink()
    if ctx.quick:
        return
    huge = os.environ.get("ASIRP_BENCH_HUGE", "").strip() not in ("", "0")
    ny, nx, channels = _HUGE if huge else _DEFAULT_BIG
    from ... import synth
    from ...xrf import EnergyCalibration

    calibration = EnergyCalibration(0.0, 20.48 / channels)
    big = synth.xrf_cube("AG175", shape=(ny, nx), n_channels=channels, calibration=calibration, cu_counts=100.0, noise=False, generate=False, seed=3)
    started = time.perf_counter()
    big_path = write_xrf_cube(big, folder / "big.h5", "pyxrf", chunk_mb=64.0)
    written_s = time.perf_counter() - started
    _evict(big_path)
    figures = _child({**stream, "path": str(big_path), "calibration": [0.0, calibration.slope_kev, 0.0]})
    yield {"section": "memory", "case": f"{ny}x{nx}x{channels} int32 ({figures['bytes'] / 1e9:.1f} GB)",
           "method": "asirp.xrf streaming, cold (from disk), chunk 64 MB",
           "time_s": figures["seconds"], "throughput_MB_s": figures["bytes"] / figures["seconds"] / 1e6, "peak_rss_mb": figures["peak_rss_mb"],
           "notes": f"written block by block in {written_s:.0f} s, noise-free counts"}  # fmt: skip
    big_path.unlink()


# -- 5: the real APS file -------------------------------------------------------------------------------


def _real_aps(ctx: BenchContext) -> Iterator[Row]:
    from ...xrf import element_maps, find_overlaps, fit_two_peaks, make_windows, open_spectra
    from ...xrf.lines import line_energy
    from ...xrf.spectrum import line_significance

    if ctx.data is None:
        return
    path = ctx.data / "xrf" / "2xfm_0011_2xfm3__0.h5"
    if not path.is_file():
        return
    candidates = ["Si-Ka", "P-Ka", "S-Ka", "Cl-Ka", "Ar-Ka", "K-Ka", "Ca-Ka", "Ti-Ka", "Cr-Ka", "Mn-Ka", "Fe-Ka", "Co-Ka", "Ni-Ka", "Cu-Ka", "Zn-Ka"]

    def run() -> XRFMaps:
        with open_spectra(path) as source:
            return element_maps(source, candidates, normalisation="livetime", spectrum=True, show_progress=False)

    maps, seconds = ctx.timeit(run, repeat=1 if ctx.quick else 3)
    if maps.spectrum is None:
        raise RuntimeError("element_maps(spectrum=True) returned no summed spectrum")
    file_calibration = maps.calibration
    refit = fit_two_peaks(maps.spectrum, (line_energy("Ar-Ka"), line_energy("Fe-Ka")), guess=file_calibration, where=str(path))
    signals = {
        label: line_significance(maps.spectrum, candidates, calibration, maps.resolution)
        for label, calibration in (("file", file_calibration), ("refit", refit.calibration))
    }
    overlaps = {
        o.window: o.other for o in find_overlaps(make_windows(candidates, refit.calibration, maps.spectrum.size, maps.resolution), refit.calibration)
    }
    shape = "x".join(map(str, maps.counts["Fe-Ka"].shape))
    yield {"section": "real data", "case": f"APS 2-ID-E {shape} points, 4 elements", "method": "read + 15 windows + live-time normalisation",
           "time_s": seconds,
           "notes": f"file calibration {file_calibration.describe()}; refit on Ar-Ka, Fe-Ka: {refit.calibration.describe()}"}  # fmt: skip
    for index, line in enumerate(candidates):
        refitted = signals["refit"][index]
        yield {
            "section": "real data", "case": f"APS 2-ID-E, {line} ({line_energy(line):.3f} keV)", "method": "channel adding, net over SNIP",
            "net_counts_file_cal": signals["file"][index].net, "net_counts_refit_cal": refitted.net,
            "significance_refit_cal": refitted.significance, "present": bool(refitted.significance > 5.0),
            "mean_per_point": float(maps.counts[line].data.mean()),
            "notes": f"overlaps {overlaps[line]}" if line in overlaps else None,
        }  # fmt: skip


@register_suite("xrf", description="micro-XRF: spectra cube -> normalised, RL-restored element maps; stripes; throughput; memory")
def xrf_suite(ctx: BenchContext) -> Iterator[Row]:
    sections = ["accuracy + end-to-end", "stripes", "throughput + memory"] + (["real data"] if ctx.data is not None else [])
    with tempfile.TemporaryDirectory(prefix="asirp-bench-xrf-") as temporary:
        folder = Path(temporary)
        for section in ctx.track(sections, desc="xrf"):
            if section == "accuracy + end-to-end":
                yield from _accuracy_and_time(ctx, folder)
            elif section == "stripes":
                yield from _stripes(ctx)
            elif section == "throughput + memory":
                yield from _throughput(ctx, folder)
            else:
                yield from _real_aps(ctx)
