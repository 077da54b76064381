"""The ``io`` suite: what asirp's file layer costs over writing the bare array.

asirp's writers add provenance (one NXprocess per history step), the validity mask and
atomicity (temporary file, then rename); its readers sniff the format, build the mask
and hash the input. This suite times ``asirp.io.save`` / ``asirp.io.open`` against the
raw libraries on the same detector-like arrays, in the same run, and reports
``ratio = asirp time / baseline time`` (1 = no overhead):

* NeXus against two h5py baselines: a plain contiguous dataset (the cheapest possible
  write), and a dataset with the same chunks and filters as the file asirp wrote (read
  back from that file), so that the second ratio is the overhead of provenance, mask
  and atomicity alone, not of compression;
* TIFF against plain ``tifffile.imwrite`` / ``imread``.

Read rows also check that the round trip is exact (data on valid pixels, and mask).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ...frame import Frame
from ..harness import BenchContext, Row, register_suite

#: Image shapes timed: one large frame and a time-series stack (quick: smaller ones).
_SHAPES = {"frame": (1024, 1024), "stack": (20, 512, 512)}
_QUICK_SHAPES = {"frame": (256, 256), "stack": (5, 128, 128)}


@dataclass(frozen=True)
class _Baseline:
    """A raw-library way to write and read the same array, named in the table."""

    name: str
    write: Callable[[np.ndarray, Path], None]
    read: Callable[[Path], np.ndarray]


def _detector_frame(rng: np.random.Generator, shape: tuple[int, ...]) -> Frame:
    """Poisson counts (mean 100) as float32 with a masked module gap, like a detector frame."""
    counts = rng.poisson(100.0, size=shape).astype(np.float32)
    valid = np.ones(shape, dtype=bool)
    ny = shape[-2]
    valid[..., ny // 2 - 4 : ny // 2 + 4, :] = False
    return Frame(counts, valid, kind="diffraction")


def _timed_writes(
    ctx: BenchContext, write: Callable[[Path], Any], folder: Path, stem: str, suffix: str
) -> tuple[Path, float]:
    """Best time of ``write(path)`` with a new file ``folder/stem-N.suffix`` per call.

    A fresh name per call makes every timed write create a file, as a beamline does;
    overwriting would time a different path (and asirp refuses it without force).
    Returns the last file written and the best time in seconds.
    """
    counter = itertools.count()
    written: list[Path] = []

    def write_fresh() -> None:
        path = folder / f"{stem}-{next(counter)}{suffix}"
        write(path)
        written.append(path)

    _, seconds = ctx.timeit(write_fresh)
    return written[-1], seconds


# -- raw h5py -----------------------------------------------------------------------------


def _h5py_write(array: np.ndarray, path: Path, **storage: Any) -> None:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=array, **storage)


def _h5py_read(path: Path) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as handle:
        return handle["data"][()]


def _nexus_baselines(asirp_file: Path) -> list[_Baseline]:
    """Plain h5py, and h5py with the storage (chunks, filters) asirp chose for its signal.

    The signal is found the NeXus way (``@default`` of the file and entry, ``@signal``
    of the NXdata), not from a hard-coded path.
    """
    import h5py

    with h5py.File(asirp_file, "r") as handle:
        entry = handle[handle.attrs["default"]]
        nxdata = entry[entry.attrs["default"]]
        signal = nxdata[nxdata.attrs["signal"]]
        storage = {
            "chunks": signal.chunks,
            "compression": signal.compression,
            "compression_opts": signal.compression_opts,
            "shuffle": signal.shuffle,
        }
    filters = [
        f"{storage['compression']} {storage['compression_opts']}" if storage["compression"] else "",
        "shuffle" if storage["shuffle"] else "",
        "chunked" if storage["chunks"] else "",
    ]
    label = "+".join(part for part in filters if part) or "contiguous"
    return [
        _Baseline("h5py", _h5py_write, _h5py_read),
        _Baseline(f"h5py {label}", partial(_h5py_write, **storage), _h5py_read),
    ]


# -- raw tifffile -------------------------------------------------------------------------


def _tifffile_write(array: np.ndarray, path: Path) -> None:
    import tifffile

    tifffile.imwrite(path, array, photometric="minisblack")


def _tifffile_read(path: Path) -> np.ndarray:
    import tifffile

    return tifffile.imread(path)


def _tiff_baselines(asirp_file: Path) -> list[_Baseline]:
    return [_Baseline("tifffile", _tifffile_write, _tifffile_read)]


#: Per format: file suffix, and the baselines to compare with (given asirp's file).
_FORMATS: dict[str, tuple[str, Callable[[Path], list[_Baseline]]]] = {
    "NeXus": (".nxs", _nexus_baselines),
    "TIFF": (".tif", _tiff_baselines),
}


def _format_rows(ctx: BenchContext, frame: Frame, case: str, fmt: str, folder: Path) -> Iterator[Row]:
    from ... import io as asirp_io

    suffix, baselines_for = _FORMATS[fmt]
    stem = f"{fmt}-{case.replace(' ', '_')}"
    asirp_file, save_s = _timed_writes(ctx, lambda path: asirp_io.save(frame, path), folder, f"asirp-{stem}", suffix)
    read_back, open_s = ctx.timeit(asirp_io.open, asirp_file)
    exact = bool(
        np.array_equal(read_back.valid, frame.valid)
        and np.array_equal(read_back.data[frame.valid], frame.data[frame.valid])
    )
    common: dict[str, Any] = {"case": case, "format": fmt, "size_mb": frame.data.nbytes / 1e6}
    for index, baseline in enumerate(baselines_for(asirp_file)):
        raw_file, raw_save_s = _timed_writes(
            ctx, partial(baseline.write, frame.data), folder, f"raw{index}-{stem}", suffix
        )
        _, raw_open_s = ctx.timeit(baseline.read, raw_file)
        yield {
            **common,
            "operation": "write",
            "method": "asirp.io.save",
            "baseline": baseline.name,
            "time_s": save_s,
            "baseline_s": raw_save_s,
            "ratio": save_s / raw_save_s,
            "file_mb": asirp_file.stat().st_size / 1e6,
            "baseline_file_mb": raw_file.stat().st_size / 1e6,
        }
        yield {
            **common,
            "operation": "read",
            "method": "asirp.io.open",
            "baseline": baseline.name,
            "time_s": open_s,
            "baseline_s": raw_open_s,
            "ratio": open_s / raw_open_s,
            "exact": exact,
        }


@register_suite(
    "io",
    description="asirp.io NeXus/TIFF write and read vs raw h5py/tifffile (ratio = asirp time / raw time)",
)
def io_suite(ctx: BenchContext) -> Iterator[Row]:
    """Write and read a float32 frame and a stack through asirp and through the raw libraries."""
    shapes = _QUICK_SHAPES if ctx.quick else _SHAPES
    rng = ctx.rng()
    with tempfile.TemporaryDirectory(prefix="asirp-bench-io-") as tmp:
        folder = Path(tmp)
        for label, shape in ctx.track(list(shapes.items()), desc="io"):
            frame = _detector_frame(rng, shape)
            case = f"{label} {'x'.join(map(str, shape))} float32"
            for fmt in _FORMATS:
                yield from _format_rows(ctx, frame, case, fmt, folder)
