"""The ``online`` suite: restoring while a simulated beamline acquires.

A real Bluesky ``RunEngine`` acquires with an ``ophyd.sim`` detector at a fixed frame
rate (``count(..., delay=1/rate)``): 1024 x 1024 powder diffraction frames with
detector gaps and beamstop (256 x 256 in quick mode), or a 182 x 162 micro-XRF fly
scan streamed line by line (one event per line of a copper mesh map). The consumers:

* **thread**: :class:`~asirp.online.BlueskyConsumer` subscribed in-process, two worker threads;
* **zmq**: ``asirp serve --zmq`` in its own process behind a Bluesky 0MQ proxy;
* **dask-1 / dask-2**: the in-process consumer on a Dask ``LocalCluster`` of 1 or 2
  single-threaded worker processes.

Figures per case: the acquisition rate achieved by the RunEngine, the sustained
throughput (frames written / time from the first arrival to the last write), the
latency from a frame's arrival at the consumer to the restored frame flushed in the
NeXus file (p50, p95), the largest queue depth, frames lost (acquired, neither
written nor recorded as failed or skipped: must be 0).

Baseline, timed in the same run: the plain synchronous loop a script would run
(read -> restore -> append to HDF5), with the same method on the same frames,
without any acquisition pacing: its rate (``baseline_fps``) is what one core can
sustain, to compare with the acquisition rate and the pipeline's sustained rate.
The sustained throughput is the output rate between the first and the last restored
frame; a consumer that keeps up shows the acquisition rate there.

Also: Dask scaling on a CPU-bound method (Richardson-Lucy, 10 iterations) with frames
submitted as fast as the in-flight bound allows, each worker pinned to its own core
(see :class:`~asirp.pipeline.backends.DaskBackend`); and **kill-and-restart**: a consumer
process restoring an HDF5 stack is killed (SIGKILL) mid-run and restarted; every frame
must then be in the output exactly once.

Methods: ``wiener`` (PSF σ = 1 px, NSR 0.01; ``gaussian`` if the repertoire lacks
it), ``wiener`` with its default parameters (PSF width and the object and noise
spectra estimated from the data: the synchronous loop estimates them on every frame,
a pipeline run once per series, :meth:`asirp.Method.series_parameters`),
``richardson_lucy`` (10 iterations, PSF σ = 1 px) and ``auto`` under a per-frame
budget of 0.1 s. The XRF map is restored with Richardson-Lucy (10 iterations, PSF
from the 50 µm beam at 25 µm steps).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..harness import BenchContext, Row, register_suite

#: Frame rate of the simulated detector (Hz) and the throughput target for wiener.
RATE_HZ = 10.0
#: Per-frame budget for ``auto`` (s).
AUTO_BUDGET_S = 0.1
RL = {"psf_sigma": 1.0, "iterations": 10, "backend": "numpy"}
#: Row label of wiener with its default parameters (everything estimated from the data).
WIENER_DEFAULTS = "wiener (default parameters)"


def _wiener() -> tuple[str, dict[str, Any]]:
    from ...methods.base import registry

    if "wiener" in registry():
        return "wiener", {"psf_sigma": 1.0, "nsr": 0.01}
    return "gaussian", {"sigma": 1.0}


def _pipeline(method: str, params: dict[str, Any], **execution: Any) -> Any:
    from ...pipeline import Pipeline

    config: dict[str, Any] = {
        "read": {"kind": "diffraction"},
        "restore": {"method": method, "params": params},
        "execution": {"backend": "thread", "workers": 2, "queue_size": 32, **execution},
    }
    if method == "auto":
        config["restore"]["budget_s"] = AUTO_BUDGET_S
    return Pipeline.from_dict(config)


def _frames(side: int, n_unique: int = 6) -> list[np.ndarray]:
    from ... import synth

    series = synth.diffraction_series(n_unique, event_frame=None, shape=(side, side), dose=5.0, seed=11)
    return [np.asarray(image.data) for image in series.noisy.images()]


def _camera(images: list[np.ndarray], name: str = "pilatus") -> Any:
    from ophyd.sim import SynSignal

    counter = itertools.count()
    return SynSignal(func=lambda: images[next(counter) % len(images)], name=name)


def _paced(detectors: list[Any], num: int, rate: float) -> Iterator[Any]:
    """A ``count`` plan that triggers on a fixed clock (``count``'s ``delay`` adds the RunEngine's own time per point)."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp

    @bpp.stage_decorator(detectors)
    @bpp.run_decorator(md={"plan_name": "paced_count", "num_points": num, "rate_hz": rate})
    def inner() -> Iterator[Any]:
        start = time.monotonic()
        for k in range(num):
            wait = start + k / rate - time.monotonic()
            if wait > 0:
                yield from bps.sleep(wait)
            yield from bps.trigger_and_read(detectors)

    return (yield from inner())


def _acquire(subscriber: Any, images: list[np.ndarray], n: int, rate: float, name: str = "pilatus") -> tuple[str, float]:
    """Acquire ``n`` frames with a simulated detector at ``rate`` Hz; returns (run uid, achieved rate)."""
    from bluesky import RunEngine

    engine = RunEngine({})
    engine.subscribe(subscriber)
    started = time.perf_counter()
    uids = engine(_paced([_camera(images, name)], n, rate))
    if not isinstance(uids, tuple):  # a RunEngine made with call_returns_result=True
        raise TypeError(f"expected the run uids from the RunEngine, got {type(uids).__name__}")
    (uid,) = uids
    return uid, max(n - 1, 1) / (time.perf_counter() - started)  # n triggers span n - 1 periods


def _row(case: str, consumer: str, method: str, summary: Any, n: int, rate: float, frame: str, **extra: Any) -> Row:
    lost = n - summary.written - summary.failed - summary.skipped
    return {
        "case": case,
        "consumer": consumer,
        "method": method,
        "frame": frame,
        "frames": n,
        "acq_rate_hz": rate,
        "throughput_fps": summary.throughput,
        "latency_p50_s": summary.latency(0.5),
        "latency_p95_s": summary.latency(0.95),
        "max_queue_depth": summary.max_queue_depth,
        "lost": lost,
        "failed": summary.failed,
        **extra,
    }


def _baseline(images: list[np.ndarray], n: int, method: str, params: dict[str, Any], folder: Path, name: str) -> float:
    """Frames per second of the plain synchronous loop: read -> restore -> append to an HDF5 file."""
    import h5py

    from ...api import restore
    from ...frame import Frame

    ny, nx = images[0].shape
    started = time.perf_counter()
    with h5py.File(folder / f"baseline_{name}.h5", "w") as handle:
        data = handle.create_dataset("data", (0, ny, nx), np.float32, maxshape=(None, ny, nx), chunks=(1, ny, nx))
        for k in range(n):
            frame = Frame.from_array(images[k % len(images)], kind="diffraction")
            restored = restore(frame, method, **params)
            data.resize(k + 1, axis=0)
            data[k] = restored.data
            handle.flush()
    return n / (time.perf_counter() - started)


def _thread_case(
    images: list[np.ndarray], n: int, rate: float, method: str, params: dict[str, Any], folder: Path, **execution: Any
) -> tuple[Any, float]:
    from ...online import BlueskyConsumer

    consumer = BlueskyConsumer(_pipeline(method, params, **execution), output=str(folder))
    _, achieved = _acquire(consumer, images, n, rate)
    return consumer.close(), achieved


class _FileSummary:
    """Figures of a run read back from its NeXus file (for a consumer in another process)."""

    def __init__(self, path: Path, max_queue_depth: int):
        import h5py

        with h5py.File(path, "r") as handle:
            data = handle["entry/data"]
            arrival, written = data["arrival_time"][()], data["written_time"][()]
            self.sequence = data["sequence"][()]
            self.failed = len(handle["entry/failed/sequence"])
        self.written = len(self.sequence)
        self.skipped = 0
        self.latencies_s = list(written - arrival)
        span = float(written.max() - written.min()) if self.written > 1 else 0.0
        self.throughput = (self.written - 1) / span if span > 0 else float("nan")  # as RunSummary.throughput
        self.max_queue_depth = max_queue_depth

    def latency(self, quantile: float) -> float:
        return float(np.quantile(self.latencies_s, quantile)) if self.latencies_s else float("nan")


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "ASIRP_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_line(process: subprocess.Popen, text: str, timeout: float, lines: list[str]) -> bool:
    found = threading.Event()
    stream = process.stdout
    if stream is None:
        raise ValueError("the process was started without stdout=PIPE")

    def reader() -> None:
        for line in stream:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    return found.wait(timeout)


def _zmq_case(images: list[np.ndarray], n: int, rate: float, method: str, params: dict[str, Any], folder: Path) -> tuple[Any, float]:
    """``asirp serve --zmq`` in its own process behind a 0MQ proxy."""
    import json

    from bluesky.callbacks.zmq import Proxy, Publisher
    from event_model import compose_run

    proxy = Proxy("127.0.0.1", "127.0.0.1")
    threading.Thread(target=proxy.start, daemon=True).start()
    in_address, out_address = (str(p) if "://" in str(p) else f"127.0.0.1:{p}" for p in (proxy.in_port, proxy.out_port))
    toml = folder / "zmq.toml"
    toml.write_text(
        "[read]\nkind = 'diffraction'\n"
        f"[restore]\nmethod = '{method}'\nparams = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in params.items())} }}\n"
        "[execution]\nbackend = 'thread'\nworkers = 2\nqueue_size = 32\n"
    )
    server = _spawn(["-m", "asirp.cli", "serve", str(toml), "--zmq", out_address, "-o", str(folder / "zmq")], folder)
    lines: list[str] = []
    try:
        if not _wait_for_line(server, "listening", 120, lines):
            raise RuntimeError("asirp serve did not start: " + "".join(lines))
        publisher = Publisher(in_address)
        started: list[str] = []
        watcher = threading.Thread(target=lambda: started.append(str(_wait_for_line(server, "started", 30, lines))), daemon=True)
        watcher.start()
        deadline = time.monotonic() + 30
        while not started and time.monotonic() < deadline:  # 0MQ subscriptions take a moment to propagate
            probe = compose_run(metadata={"purpose": "probe"})
            publisher("start", dict(probe.start_doc))  # Publisher is typed for plain dicts, documents are TypedDicts
            publisher("stop", dict(probe.compose_stop()))
            time.sleep(0.1)
        uid, achieved = _acquire(publisher, images, n, rate)
        final = folder / "zmq" / f"{uid}.nxs"
        deadline = time.monotonic() + 300
        while not final.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=120)
        publisher.close()
    finally:
        if server.poll() is None:
            server.kill()
    text = "".join(lines) + rest
    depth = int(text.split("max queue depth ")[1].split()[0].rstrip(";")) if "max queue depth " in text else -1
    return _FileSummary(final, depth), achieved


def _xrf_case(folder: Path) -> Row:
    """A 182 x 162 fly-scan map streamed line by line; latency from the last line to the restored map on disk."""
    from ... import synth
    from ...online import BlueskyConsumer
    from ...pipeline import Pipeline

    shape = (182, 162)
    result = synth.mesh_grid_map("AG175", shape=shape, step_um=25.0, beam_fwhm_um=50.0, counts=60.0, seed=1)
    lines = [np.asarray(row) for row in result.noisy.data]
    sigma = float(result.meta["psf_sigma_px"])
    pipe = Pipeline.from_dict(
        {
            "read": {"kind": "xrf_map"},
            "xrf_map": {"shape": list(shape), "step_um": [25.0, 25.0]},
            "restore": {"method": "richardson_lucy", "params": {"psf_sigma": sigma, "iterations": 10, "backend": "numpy"}},
            "execution": {"backend": "thread", "workers": 1},
        }
    )
    consumer = BlueskyConsumer(pipe, output=str(folder / "xrf"), field="xrf_line")
    _, achieved = _acquire(consumer, lines, len(lines), 100.0, name="xrf_line")
    summary = consumer.close()
    if summary is None:
        raise RuntimeError("the XRF consumer finished without a run summary")
    return {
        "case": "XRF fly scan 182x162, line by line",
        "consumer": "thread",
        "method": "richardson_lucy (10 it)",
        "frame": "182x162 map",
        "frames": 1,
        "acq_rate_hz": achieved,
        "throughput_fps": None,
        "latency_p50_s": summary.latency(0.5),
        "latency_p95_s": summary.latency(0.95),
        "max_queue_depth": summary.max_queue_depth,
        "lost": shape[0] - summary.absorbed,
        "failed": summary.failed,
        "target": "map on disk <= 1 s after the last line",
        "met": bool(summary.latency(0.5) <= 1.0 and summary.written == 1),
    }


KILL_CONSUMER = """
import sys
from asirp.pipeline import Pipeline
params = {"psf_sigma": 1.0, "nsr": 0.01} if sys.argv[3] == "wiener" else {}
pipe = Pipeline.from_dict({"read": {"kind": "diffraction"}, "restore": {"method": sys.argv[3], "params": params},
                           "execution": {"backend": "thread", "workers": 2}})
summary = pipe.run_files([sys.argv[1]], output=sys.argv[2], progress=False)
print("SUMMARY", summary.written, summary.resumed, summary.failed, summary.lost, flush=True)
"""


def _kill_restart(images: list[np.ndarray], n: int, method: str, folder: Path) -> Row:
    import h5py

    from ...pipeline.sinks import read_rows

    stack = folder / "stack.h5"
    with h5py.File(stack, "w") as handle:
        handle["data"] = np.stack([images[k % len(images)] for k in range(n)])
    script = folder / "consumer.py"
    script.write_text(KILL_CONSUMER)
    partial = folder / "kill" / "stack.nxs.partial"
    first = _spawn([str(script), str(stack), str(folder / "kill"), method], folder)
    committed = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        try:
            committed = read_rows(partial)[1] if partial.exists() else 0
        except OSError:
            committed = 0
        if committed >= n // 3:
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    second = _spawn([str(script), str(stack), str(folder / "kill"), method], folder)
    output, _ = second.communicate(timeout=600)
    written, resumed, failed, lost = (int(v) for v in output.split("SUMMARY")[1].split()[:4])
    sequence, _ = read_rows(folder / "kill" / "stack.nxs")
    counts = np.bincount(sequence, minlength=n + 1)[1:]
    return {
        "case": "kill -9 mid-run, restart",
        "consumer": "process",
        "method": method,
        "frame": "x".join(map(str, images[0].shape)),
        "frames": n,
        "killed_after": committed,
        "resumed": resumed,
        "rewritten": written,
        "duplicates": int((counts > 1).sum()),
        "missing": int((counts == 0).sum()),
        "lost": lost,
        "failed": failed,
        "target": "every frame exactly once",
        "met": bool((counts == 1).all()),
    }


def _scaling(images: list[np.ndarray], n: int, workers: int) -> float:
    """Frames per second of Richardson-Lucy (10 it) on a Dask LocalCluster, frames submitted as fast as allowed."""
    from ...online import iterate
    from ...pipeline import DaskBackend

    backend = DaskBackend(workers)
    try:
        pipe = _pipeline("richardson_lucy", RL, backend="dask", workers=workers, max_in_flight=2 * workers)
        with tempfile.TemporaryDirectory() as folder:
            warm = pipe.run(iterate(images[:workers], run="warm"), output=folder, backend=backend)
            assert warm.written == workers
            started = time.perf_counter()
            summary = pipe.run(iterate([images[k % len(images)] for k in range(n)], run="burst"), output=folder, backend=backend)
            elapsed = time.perf_counter() - started
    finally:
        backend.close()
    return summary.written / elapsed


@register_suite("online", description="restoring during a simulated acquisition: throughput, latency, queue, losses, Dask, crash")
def online_suite(ctx: BenchContext) -> Iterator[Row]:
    from ...methods.base import registry
    from ...pipeline import DaskBackend
    from ...progress import quiet

    registry()
    side = 256 if ctx.quick else 1024
    n = 20 if ctx.quick else 60
    frame = f"{side}x{side}"
    images = _frames(side)
    wiener, wiener_params = _wiener()
    with tempfile.TemporaryDirectory(prefix="asirp-bench-online-") as tmp, quiet():
        folder = Path(tmp)
        baselines = {
            wiener: _baseline(images, min(n, 20), wiener, wiener_params, folder, "wiener"),
            "richardson_lucy": _baseline(images, min(n, 20), "richardson_lucy", RL, folder, "rl"),
        }
        if wiener == "wiener":  # every frame estimates its PSF and spectra: slow, fewer frames
            baselines[WIENER_DEFAULTS] = _baseline(images, min(n, 10), wiener, {}, folder, "wiener_defaults")
        for method, fps in baselines.items():
            yield {"case": "baseline: synchronous loop read -> restore -> write", "consumer": "none", "method": method,
                   "frame": frame, "frames": min(n, 10 if method == WIENER_DEFAULTS else 20), "throughput_fps": fps}  # fmt: skip

        cases: list[tuple[str, str, str, dict[str, Any], dict[str, Any], str]] = [
            ("in-process RunEngine callback", "thread", wiener, wiener_params, {}, wiener),
            ("in-process RunEngine callback", "thread", "richardson_lucy", RL, {}, "richardson_lucy"),
            ("in-process RunEngine callback", "thread", "auto", {}, {}, "auto"),
        ]
        if WIENER_DEFAULTS in baselines:
            cases.insert(1, ("in-process RunEngine callback", "thread", wiener, {}, {}, WIENER_DEFAULTS))
        for case, consumer, method, params, execution, label in ctx.track(cases, desc="thread cases"):
            summary, achieved = _thread_case(images, n, RATE_HZ, method, params, folder / f"{consumer}-{len(params)}-{method}", **execution)
            if method == "auto":  # which method the selector chose under the budget, from the run file
                import h5py

                with h5py.File(next(iter(summary.files.values())), "r") as handle:
                    chosen = sorted({m.decode() for m in handle["entry/data/method"][()]})
                label = f"auto (budget {AUTO_BUDGET_S} s) -> {', '.join(chosen)}"
            base = label if label in baselines else wiener
            row = _row(case, consumer, label, summary, n, achieved, frame, baseline=f"sync loop {base}", baseline_fps=baselines[base])
            if method == wiener:
                row["target"] = f">= {RATE_HZ:g} fps, 0 lost, p95 <= 1 s"
                row["met"] = bool(summary.throughput >= 0.95 * RATE_HZ and row["lost"] == 0 and summary.latency(0.95) <= 1.0)
            yield row

        summary, achieved = _zmq_case(images, n, RATE_HZ, wiener, wiener_params, folder)
        row = _row("0MQ proxy -> asirp serve (separate process)", "zmq", wiener, summary, n, achieved, frame,
                   baseline=f"sync loop {wiener}", baseline_fps=baselines[wiener])  # fmt: skip
        row["target"] = f">= {RATE_HZ:g} fps, 0 lost, p95 <= 1 s"
        row["met"] = bool(summary.throughput >= 0.95 * RATE_HZ and row["lost"] == 0 and summary.latency(0.95) <= 1.0)
        yield row

        dask_cases = [(1, wiener_params, wiener), (2, wiener_params, wiener)]
        if WIENER_DEFAULTS in baselines:
            dask_cases.append((2, {}, WIENER_DEFAULTS))
        for workers, params, label in dask_cases:
            backend = DaskBackend(workers)
            try:
                from ...online import BlueskyConsumer

                pipe = _pipeline(wiener, params, backend="dask", workers=workers)
                dask_consumer = BlueskyConsumer(pipe, output=str(folder / f"dask{workers}-{len(params)}"), backend=backend)
                _, achieved = _acquire(dask_consumer, images, n, RATE_HZ)
                summary = dask_consumer.close()
            finally:
                backend.close()
            if summary is None:
                raise RuntimeError("the Dask consumer finished without a run summary")
            row = _row("in-process callback, Dask LocalCluster", f"dask-{workers}", label, summary, n, achieved, frame,
                       baseline=f"sync loop {label}", baseline_fps=baselines[label])  # fmt: skip
            if label == WIENER_DEFAULTS:
                row["target"] = f">= {RATE_HZ:g} fps, 0 lost, p95 <= 1 s"
                row["met"] = bool(summary.throughput >= 0.95 * RATE_HZ and row["lost"] == 0 and summary.latency(0.95) <= 1.0)
            yield row

        one, two = _scaling(images, n // 2, 1), _scaling(images, n // 2, 2)
        yield {"case": "Dask scaling, CPU-bound, frames as fast as allowed", "consumer": "dask-1", "method": "richardson_lucy (10 it)",
               "frame": frame, "frames": n // 2, "throughput_fps": one, "baseline": "dask-1"}  # fmt: skip
        yield {"case": "Dask scaling, CPU-bound, frames as fast as allowed", "consumer": "dask-2", "method": "richardson_lucy (10 it)",
               "frame": frame, "frames": n // 2, "throughput_fps": two, "baseline": "dask-1", "vs_baseline": two / one,
               "target": ">= 1.6x dask-1", "met": bool(two >= 1.6 * one), "cpus": os.cpu_count()}  # fmt: skip

        yield _xrf_case(folder)
        yield _kill_restart(images, 40 if ctx.quick else 100, wiener, folder)
