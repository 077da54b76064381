"""The ``gpu`` suite: asirp's torch paths against plain torch and against the CPU (issue 18).

Without a CUDA GPU (and without ``--device cpu``) the suite gives one row saying it was
skipped and why. With one (``--device auto``, the default, or ``cuda``) it reports, in one run:

* **rl_reference**: Richardson-Lucy, 50 plain iterations (``accelerate=False, track=False``)
  of a 2048² image (256² in quick mode) through :func:`~asirp.methods.deconv.richardson_lucy`
  on the torch backend, from host data to host result, against a plain 12-line torch loop
  (rfft2 blur, ratio, rfft2 correlation, multiply) on data already on the device: their ratio
  is what asirp costs beyond the hardware's arithmetic (target ≤ 2);
* **rl_vs_numpy**: the same call on the numpy backend (the CPU), the speed-up, and the largest
  difference of the two results relative to the image's maximum;
* **agreement**: every torch method on the device and on the CPU, small frames, the largest
  relative difference (target ≤ 1e-3; methods that train on the frame differ more);
* **symmetry**: the ``symmetry`` denoiser on one 1024² frame (128² quick), pre-trained
  weights (no fine-tuning), the wall time (target ≤ 50 ms);
* **stream**: frames per second over a stack of 1 Mpx frames (16 of 1024²; 2 of 128² quick)
  for Wiener with its default parameters, Richardson-Lucy with 10 iterations (torch
  backend), ``symmetry`` and ``fca_sr`` (target ≥ 100 frames/s for Wiener and symmetry).

``--device cpu`` runs the same code on torch's CPU device (with ``--quick``: a check of
the suite itself, not a measurement of a GPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...frame import Frame
from ...methods.base import get_method
from ...methods.deconv import richardson_lucy
from ...psf import gaussian_psf
from ...torch_runtime import DeviceName
from ..harness import BenchContext, Row, register_suite

#: Every method that computes with torch, with the quick settings it is compared with.
TORCH_METHODS = ("symmetry", "noise2self", "supervised", "smae_halves", "zssr", "fca_sr", "rrdb_sr",
                  "richardson_lucy", "blind_richardson_lucy", "landweber", "van_cittert")
#: Methods that train on the frame at run time (float round-off in the optimiser's steps adds up).
_TRAINED = frozenset({"noise2self"})


def _device(ctx: BenchContext) -> tuple[DeviceName | None, str]:
    """The device name to run on, or None and why the suite is skipped."""
    import torch

    asked = ctx.device or "auto"
    if asked == "cpu":
        return "cpu", ""
    if not torch.cuda.is_available():
        return None, (f"skipped: no CUDA GPU (torch {torch.__version__}: torch.cuda.is_available() is False); "
                      "--device cpu runs the suite's code on the CPU")
    return "cuda", ""


def _synchronised(device: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that returns only once the device has finished its work (timings of GPU work)."""
    import torch

    def run(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        return result

    return run


def _counts(shape: tuple[int, ...], seed: int, level: float = 50.0) -> np.ndarray:
    """Poisson counts of a blurred random pattern of spots and bars (float32)."""
    from ...filters import separable_filter

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(int(np.prod(shape[:-2], dtype=int)) if len(shape) > 2 else 1):
        obj = np.full(shape[-2:], 0.2, np.float32)
        obj[rng.random(shape[-2:]) < 0.002] = 20.0
        obj[:, :: max(8, shape[-1] // 32)] += 2.0
        taps = gaussian_psf(1.5)[7]
        frames.append(rng.poisson(level * np.maximum(separable_filter(obj, taps / taps.sum(), taps / taps.sum()), 0)))
    stack = np.stack(frames).astype(np.float32)
    return stack.reshape(shape)


def _reference_rl(y: Any, otf: Any, iterations: int) -> Any:
    """Plain Richardson-Lucy in torch, circular boundaries: the hardware's arithmetic, nothing else."""
    import torch

    u = torch.full_like(y, float(y.mean()))
    otf_conj = otf.conj()
    for _ in range(iterations):
        blurred = torch.fft.irfft2(torch.fft.rfft2(u) * otf, s=y.shape[-2:])
        ratio = y / blurred.clamp_min(1e-6)
        u = u * torch.fft.irfft2(torch.fft.rfft2(ratio) * otf_conj, s=y.shape[-2:])
    return u


def _rl_rows(ctx: BenchContext, device: DeviceName) -> Iterator[Row]:
    import torch

    from ...methods.deconv.operator import transfer_function

    side, iterations = (256, 50) if ctx.quick else (2048, 50)
    data = _counts((side, side), ctx.seed)
    psf = gaussian_psf(1.5)
    plain: dict[str, Any] = {"iterations": iterations, "accelerate": False, "track": False}
    run_asirp = _synchronised(device, lambda: richardson_lucy(data, psf, backend="torch", device=device, **plain).image)
    y = torch.from_numpy(data).to(device)
    otf = torch.from_numpy(transfer_function(psf, data.shape, np.float32)).to(device)
    run_reference = _synchronised(device, lambda: _reference_rl(y, otf, iterations))
    image, asirp_s = ctx.timeit(run_asirp)
    _, reference_s = ctx.timeit(run_reference)
    yield {"part": "rl_reference", "case": f"{side}x{side}, {iterations} plain iterations", "device": device,
           "asirp_s": asirp_s, "reference_s": reference_s, "ratio": asirp_s / reference_s,
           "note": "asirp: host data in, host image out (Bertero-Boccacci boundaries); reference: data on the device, "
                   "circular boundaries"}
    numpy_image, numpy_s = ctx.timeit(lambda: richardson_lucy(data, psf, backend="numpy", **plain).image,
                                      repeat=1 if not ctx.quick and side >= 2048 else None)
    yield {"part": "rl_vs_numpy", "case": f"{side}x{side}, {iterations} plain iterations", "device": device,
           "torch_s": asirp_s, "numpy_cpu_s": numpy_s, "speedup": numpy_s / asirp_s,
           "max_relative_difference": float(np.abs(image - numpy_image).max() / np.abs(numpy_image).max())}


def agreement_cases(workdir: str) -> dict[str, tuple[Frame, dict[str, Any]]]:
    """A small frame and quick settings per torch method (inference only where the method allows it);
    a tiny random RRDB weights file is written in ``workdir``. The device tests use these too."""
    import os

    import torch

    from ... import synth
    from ...methods.sr.rrdb import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    weights = os.path.join(workdir, "rrdb_tiny.pth")
    torch.save({"params_ema": net.state_dict(), "params": {}}, weights)
    pattern = synth.diffraction_frame("powder", shape=(64, 64), dose=5.0, seed=4, mask="none").noisy
    counts = Frame(_counts((48, 40), 1), kind="xrf_map")
    return {
        "symmetry": (pattern, {"fine_tune_steps": 0}),
        "noise2self": (pattern, {"steps": 10, "patch": 32}),
        "supervised": (pattern, {}),
        "smae_halves": (pattern, {}),
        "zssr": (counts, {"max_iterations": 0, "ensemble": False}),
        "fca_sr": (counts, {"psf_sigma": 0.8}),
        "rrdb_sr": (counts, {"weights": weights, "consistency": False}),
        "richardson_lucy": (counts, {"psf_sigma": 1.2, "iterations": 10, "backend": "torch"}),
        "blind_richardson_lucy": (counts, {"psf_sigma": 1.2, "mode": "free", "iterations": 4, "backend": "torch"}),
        "landweber": (counts, {"psf_sigma": 1.2, "iterations": 10, "backend": "torch"}),
        "van_cittert": (counts, {"psf_sigma": 1.2, "iterations": 3, "backend": "torch"}),
    }


def _agreement_rows(device: str) -> Iterator[Row]:
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        for name, (frame, settings) in agreement_cases(workdir).items():
            method = get_method(name)
            cpu = method.run(frame, device="cpu", **settings).data
            start = time.perf_counter()
            other = method.run(frame, device=device, **settings).data
            seconds = time.perf_counter() - start
            difference = float(np.abs(other - cpu).max() / max(float(np.abs(cpu).max()), 1e-30))
            bound = 1e-2 if name in _TRAINED else 1e-3
            yield {"part": "agreement", "case": name, "device": device, "seconds": seconds,
                   "max_relative_difference": difference, "bound": bound, "within": difference <= bound,
                   "dtype": str(other.dtype)}


def _diffraction(side: int, n: int, seed: int) -> Frame:
    """Photon counts of an off-centre powder pattern with a few bright spots, ``n`` frames (a stack when n > 1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((side, side), dtype=np.float32)
    r = np.hypot(yy - 0.47 * side, xx - 0.53 * side)
    rings = 2.0 + sum(np.exp(-0.5 * ((r - k * side / 9.0) / 1.5) ** 2) * 20.0 / k for k in range(1, 5))
    frames = rng.poisson(np.broadcast_to(rings, (n, side, side))).astype(np.float32)
    return Frame(frames if n > 1 else frames[0], kind="diffraction")


def _symmetry_rows(ctx: BenchContext, device: str) -> Iterator[Row]:
    side = 128 if ctx.quick else 1024
    frame = _diffraction(side, 1, ctx.seed)
    method = get_method("symmetry")
    _, seconds = ctx.timeit(_synchronised(device, lambda: method.run(frame, fine_tune_steps=0, device=device)))
    yield {"part": "symmetry", "case": f"{side}x{side}, pre-trained", "device": device, "seconds": seconds,
           "target_s": 0.05}


def _stream_rows(ctx: BenchContext, device: str) -> Iterator[Row]:
    side, n = (128, 2) if ctx.quick else (1024, 16)
    diffraction = _diffraction(side, n, ctx.seed + 1)
    counts = Frame(_counts((n, side, side), ctx.seed + 2), kind="xrf_map")
    cases: list[tuple[str, Frame, dict[str, Any]]] = [
        ("wiener", counts, {"psf_sigma": 1.5}),
        ("richardson_lucy", counts, {"psf_sigma": 1.5, "iterations": 10, "backend": "torch", "device": device}),
        ("symmetry", diffraction, {"fine_tune_steps": 0, "device": device}),
        ("fca_sr", counts, {"psf_sigma": 0.8, "device": device}),
    ]
    for name, frame, settings in cases:
        method = get_method(name)
        _, seconds = ctx.timeit(_synchronised(device, lambda m=method, f=frame, s=settings: m.run(f, **s)), repeat=1)
        yield {"part": "stream", "case": f"{name}, {n} x {side}x{side}", "device": device if "device" in settings else "cpu",
               "seconds": seconds, "frames_per_s": n / seconds if seconds > 0 else math.inf}


@register_suite("gpu", description="torch paths on the GPU against plain torch and the CPU (skips without CUDA)")
def gpu_suite(ctx: BenchContext) -> Iterator[Row]:
    device, why = _device(ctx)
    if device is None:
        yield {"part": "skipped", "case": why, "device": None}
        return
    yield from _rl_rows(ctx, device)
    yield from _agreement_rows(device)
    yield from _symmetry_rows(ctx, device)
    yield from _stream_rows(ctx, device)
