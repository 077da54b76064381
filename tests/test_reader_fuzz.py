"""Fuzzing the readers (hypothesis): damaged TIFF, HDF5 (NeXus and plain), EDF and CBF files.

Small valid files are written here with tifffile, h5py, fabio and asirp itself (a
detector-style NeXus file, asirp's own NeXus output with its history, a plain HDF5
file, a TIFF with a PILATUS header, EDF, CBF), then damaged as files are on disks
and networks: cut short, bytes flipped, bytes inserted or deleted, header fields
overwritten (binary integers, mostly near the start of TIFF and HDF5 files; numbers
and words of the text headers of EDF and CBF). For every damaged file
:func:`asirp.io.open` and :func:`asirp.io.file_info` (what ``asirp info`` prints)
give either a frame (summary) or an asirp error of one line naming the file: never
another exception, a RuntimeWarning, a library's warning or log line, never a hang
(pytest-timeout, in a thread: a C library stuck in a loop ignores signals), and the
file's bytes are never changed. ``asirp info`` itself runs on a few damaged files.

The default run tries 1500 damaged files (a few seconds) and 10 ``asirp info`` calls;
the ``slow`` variants 20000 and 60: ``python -m pytest -m slow tests/test_reader_fuzz.py``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fabio.cbfimage
import fabio.edfimage
import h5py
import numpy as np
import pytest
import tifffile
from _warning_checks import unexpected
from hypothesis import event, given, settings
from hypothesis import strategies as st

import asirp
import asirp.io
from asirp.errors import AsirpError
from asirp.frame import Frame
from asirp.units import PixelSize

SHAPE = (12, 10)
#: Where a warning may legitimately come from: asirp itself (its UserWarnings tell the
#: user something, e.g. an ignored mask) or, through ``stacklevel``, the caller.
#: Bytes and words a damaged header field may hold.
BINARY_VALUES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
TEXT_VALUES = (b"0", b"-1", b"1", b"65536", b"99999999999", b"1e308", b"nan", b"-0", b"abc", b"", b";", b"2.5")


def _counts() -> np.ndarray:
    return np.random.default_rng(7).poisson(20, SHAPE).astype(np.uint16)


def _write_tiff(path: Path) -> None:
    tifffile.imwrite(path, _counts(), description="# Pixel_size 172e-6 m x 172e-6 m\n# Count_cutoff 1048575 counts")


def _write_nexus(path: Path) -> None:
    """A NeXus file as detector writers make it: NXdata signal, NXdetector mask, saturation, pixel size."""
    with h5py.File(path, "w") as handle:
        handle.attrs["default"] = "entry"
        entry = handle.create_group("entry")
        entry.attrs.update(NX_class="NXentry", default="data")
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        data.create_dataset("data", data=_counts()[None].repeat(2, axis=0))
        detector = entry.create_group("instrument").create_group("detector")
        entry["instrument"].attrs["NX_class"] = "NXinstrument"
        detector.attrs["NX_class"] = "NXdetector"
        mask = np.zeros(SHAPE, np.uint32)
        mask[0, 0] = 2
        detector.create_dataset("pixel_mask", data=mask)
        detector.create_dataset("saturation_value", data=60000)
        detector.create_dataset("x_pixel_size", data=75e-6).attrs["units"] = "m"
        detector.create_dataset("y_pixel_size", data=75e-6).attrs["units"] = "m"
        detector.create_dataset("count_time", data=0.1).attrs["units"] = "s"


def _write_asirp_nexus(path: Path) -> None:
    """asirp's own NeXus output: kind, pixel size, history (NXprocess groups) and mask."""
    data = _counts().astype(np.float32)
    data[0, :3] = np.nan
    frame = Frame.from_array(data, kind="xrf_map", pixel_size=PixelSize(25.0, 25.0, "um"))
    asirp.io.save(asirp.restore(frame, "gaussian", sigma=1.0), path)


def _write_plain_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images/frame", data=_counts().astype(np.float32), compression="gzip")


def _write_edf(path: Path) -> None:
    fabio.edfimage.EdfImage(data=_counts(), header={"ExposureTime": "1.0", "PSize_1": "75e-6"}).write(str(path))


def _write_cbf(path: Path) -> None:
    fabio.cbfimage.CbfImage(data=_counts().astype(np.int32)).write(str(path))


#: Seed files by name: the writer, and how many bytes from the start hold the header.
SEEDS: dict[str, tuple[Callable[[Path], None], int]] = {
    "seed.tif": (_write_tiff, 256),
    "seed.nxs": (_write_nexus, 4096),
    "seed_asirp.nxs": (_write_asirp_nexus, 8192),
    "seed.h5": (_write_plain_hdf5, 2048),
    "seed.edf": (_write_edf, 512),
    "seed.cbf": (_write_cbf, 600),
}


#: The bytes of every valid seed file, written once per test session (:func:`seed_files`).
SEED_BYTES: dict[str, bytes] = {}


@pytest.fixture(scope="module", autouse=True)
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Write the seed files and keep their bytes in :data:`SEED_BYTES`; each of them opens as a frame."""
    folder = tmp_path_factory.mktemp("seeds")
    for name, (write, _) in SEEDS.items():
        write(folder / name)
        assert isinstance(asirp.io.open(folder / name), Frame), name
        SEED_BYTES[name] = (folder / name).read_bytes()


# -- damage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """One damage to a file's bytes: what, where, and with which bytes (``replacement``) or how many (``length``)."""

    kind: str
    position: int
    length: int = 0
    replacement: bytes = b""

    def apply(self, data: bytes) -> bytes:
        """``data`` damaged (``flip`` xors ``replacement`` in at ``position``; ``text_field`` replaces one header word)."""
        at = self.position
        if self.kind == "truncate":
            return data[:at]
        if self.kind == "flip":
            flipped = bytes(a ^ b for a, b in zip(data[at:at + len(self.replacement)], self.replacement))
            return data[:at] + flipped + data[at + len(flipped):]
        if self.kind == "insert":
            return data[:at] + self.replacement + data[at:]
        if self.kind in ("delete", "binary_field"):
            return data[:at] + self.replacement + data[at + self.length:]
        fields = list(re.finditer(rb"[-+.\w]+", data[: self.length]))  # text_field: words of the header
        if not fields:
            return data
        word = fields[at % len(fields)]
        return data[: word.start()] + self.replacement + data[word.end():]


@st.composite
def damages(draw: st.DrawFn, size: int, header: int) -> Damage:
    """One damage of a file of ``size`` bytes whose header is its first ``header`` bytes (hit more often)."""
    kind = draw(st.sampled_from(("truncate", "flip", "insert", "delete", "binary_field", "text_field")))
    position = draw(st.one_of(st.integers(0, max(min(header, size) - 1, 0)), st.integers(0, size - 1)))
    if kind == "truncate":
        return Damage(kind, max(position, 1))
    if kind == "flip":
        return Damage(kind, position, replacement=bytes(draw(st.lists(st.integers(1, 255), min_size=1, max_size=8))))
    if kind == "insert":
        return Damage(kind, position, replacement=draw(st.binary(min_size=1, max_size=64)))
    if kind == "delete":
        return Damage(kind, position, length=draw(st.integers(1, 64)))
    if kind == "binary_field":
        width = draw(st.sampled_from((1, 2, 4)))
        value = draw(st.sampled_from(BINARY_VALUES)) & ((1 << (8 * width)) - 1)
        return Damage(kind, position, width, value.to_bytes(width, draw(st.sampled_from(("little", "big")))))
    return Damage(kind, draw(st.integers(0, 1000)), header, draw(st.sampled_from(TEXT_VALUES)))


# -- properties ---------------------------------------------------------------------------



class _Records(logging.Handler):
    """Log records of warning level and above from libraries (what Python prints on stderr without a handler)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("asirp"):
            self.records.append(f"{record.name}: {record.getMessage()}")


def check_reading(path: Path) -> None:
    """Open and summarise the damaged file ``path``: a frame or a one-line error naming it; the file unchanged."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    logged = _Records()
    logging.getLogger().addHandler(logged)
    try:
        for read in (asirp.io.open, asirp.io.file_info):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    result = read(path)
                except AsirpError as exc:
                    event(f"{read.__name__}: {path.suffix} refused")
                    message = str(exc)
                    assert "\n" not in message, f"{read.__name__}: error of several lines: {message!r}"
                    assert path.name in message, f"{read.__name__}: error not naming the file: {message!r}"
                else:
                    event(f"{read.__name__}: {path.suffix} read")
                    if isinstance(result, Frame):
                        assert np.isfinite(result.data).all() and result.valid.any()
            assert not unexpected(caught), unexpected(caught)
    finally:
        logging.getLogger().removeHandler(logged)
    assert not logged.records, f"library log messages (printed on stderr by the CLI): {logged.records}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the reader changed its input"


def _fuzz(folder: Path, data: st.DataObject) -> Path:
    """Write one damaged file (seed and one to three damages drawn by ``data``) into ``folder``; its path."""
    name = data.draw(st.sampled_from(sorted(SEED_BYTES)), label="seed")
    header = SEEDS[name][1]
    content = SEED_BYTES[name]
    for _ in range(data.draw(st.integers(1, 3), label="number of damages")):
        if len(content) < 2:
            break
        content = data.draw(damages(len(content), header), label="damage").apply(content)
    path = folder / name.replace("seed", "damaged")
    path.write_bytes(content)
    return path


@pytest.mark.timeout(300, method="thread")  # a C library stuck in a loop ignores signals
@settings(max_examples=1500)
@given(data=st.data())
def test_damaged_files_give_a_frame_or_one_line_error(tmp_path_factory: pytest.TempPathFactory,
                                                      data: st.DataObject) -> None:
    check_reading(_fuzz(tmp_path_factory.mktemp("fuzz"), data))


@pytest.mark.slow
@pytest.mark.timeout(3600, method="thread")
@settings(max_examples=20000, derandomize=False)
@given(data=st.data())
def test_damaged_files_give_a_frame_or_one_line_error_thoroughly(tmp_path_factory: pytest.TempPathFactory,
                                                                 data: st.DataObject) -> None:
    check_reading(_fuzz(tmp_path_factory.mktemp("fuzz"), data))


def check_info_command(path: Path) -> None:
    """``asirp info`` on a damaged file: exit 0, or 2 with one error line naming the file; no traceback.

    Every line on stderr is one message (``asirp: warning: ...``, ``asirp: error: ...``).
    """
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = subprocess.run([sys.executable, "-m", "asirp.cli", "info", str(path)], capture_output=True, text=True,
                            timeout=120)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "RuntimeWarning" not in result.stderr, result.stderr
    assert all(line.startswith(("asirp: warning: ", "asirp: error: ")) for line in lines), result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:
        errors = [line for line in lines if line.startswith("asirp: error: ")]
        assert errors == lines[-1:] and path.name in errors[0], result.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.timeout(300, method="thread")
@settings(max_examples=10)
@given(data=st.data())
def test_info_command_on_damaged_files(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    check_info_command(_fuzz(tmp_path_factory.mktemp("info"), data))


@pytest.mark.slow
@pytest.mark.timeout(3600, method="thread")
@settings(max_examples=60, derandomize=False)
@given(data=st.data())
def test_info_command_on_damaged_files_thoroughly(tmp_path_factory: pytest.TempPathFactory,
                                                  data: st.DataObject) -> None:
    check_info_command(_fuzz(tmp_path_factory.mktemp("info"), data))


# -- regressions: what the fuzzing found, one test each -----------------------------------------


def _free_space_entry(content: bytes) -> int:
    """Offset of the free-space entry (index 0) of the file's first global heap collection (8-byte lengths)."""
    start = content.index(b"GCOL")
    end, at = start + int.from_bytes(content[start + 8:start + 16], "little"), start + 16
    while at + 16 <= end:
        if int.from_bytes(content[at:at + 2], "little") == 0:
            return at
        at += 16 + -(-int.from_bytes(content[at + 8:at + 16], "little") // 8) * 8
    raise AssertionError("no free-space entry")


@pytest.mark.timeout(120, method="thread")
def test_a_global_heap_that_would_hang_libhdf5_is_refused(tmp_path: Path) -> None:
    """libhdf5 looped forever (holding the GIL: no Ctrl-C) on a free-space entry of size 0 in a global heap."""
    _write_nexus(tmp_path / "seed.nxs")
    content = bytearray((tmp_path / "seed.nxs").read_bytes())
    entry = _free_space_entry(bytes(content))
    content[entry + 8:entry + 16] = bytes(8)
    (tmp_path / "heap.nxs").write_bytes(bytes(content))
    for read in (asirp.io.open, asirp.io.file_info):
        with pytest.raises(AsirpError, match=r"heap\.nxs: corrupt HDF5 global heap at byte \d+ \(a free-space entry"):
            read(tmp_path / "heap.nxs")


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("damage", ["cut in the binary header", "section line damaged"])
def test_a_cbf_without_its_binary_section_is_refused(tmp_path: Path, damage: str) -> None:
    """fabio appended empty reads of the file's end forever while looking for the binary data."""
    _write_cbf(tmp_path / "seed.cbf")
    content = (tmp_path / "seed.cbf").read_bytes()
    if damage == "cut in the binary header":
        content = content[: content.index(b"\x0c\x1a\x04\xd5") - 20]
    else:
        content = content.replace(b"--CIF-BINARY-FORMAT-SECTION--\r\nContent", b"--CIF-BINARY-FORMAT-\xb6\xb2\r\nContent")
    (tmp_path / "frame.cbf").write_bytes(content)
    with pytest.raises(AsirpError, match=r"frame\.cbf: truncated or corrupt CBF: no binary section"):
        asirp.io.open(tmp_path / "frame.cbf")


@pytest.mark.parametrize(("offset", "error"), [(16, "RuntimeError"), (112, "KeyError")])
def test_damaged_hdf5_structure_is_one_error_naming_the_file(tmp_path: Path, offset: int, error: str) -> None:
    """h5py's RuntimeError (group info) and KeyError (object type) from damaged metadata came through as tracebacks."""
    _write_nexus(tmp_path / "seed.nxs")
    content = bytearray((tmp_path / "seed.nxs").read_bytes())
    content[offset] = 0xFF
    (tmp_path / "damaged.nxs").write_bytes(bytes(content))
    with pytest.raises(AsirpError, match=r"damaged\.nxs: "):
        asirp.io.open(tmp_path / "damaged.nxs")


def test_a_named_datatype_beside_the_image_is_no_obstacle(tmp_path: Path) -> None:
    """A committed datatype (h5py.Datatype) was iterated as if it were a group: TypeError."""
    with h5py.File(tmp_path / "typed.h5", "w") as handle:
        handle["pixel_type"] = np.dtype("uint16")
        handle.create_dataset("image", data=_counts())
    frame = asirp.io.open(tmp_path / "typed.h5")
    assert frame.shape == SHAPE and frame.meta["dataset"] == "/image"


def test_a_group_name_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    """h5py gives such a name as bytes; joining it to a str path raised TypeError."""
    with h5py.File(tmp_path / "latin.h5", "w") as handle:
        entry = handle.create_group(b"entr\xe9e")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        data.create_dataset("data", data=_counts())
    with pytest.raises(AsirpError, match=r"latin\.h5: an object name is not UTF-8 text"):
        asirp.io.open(tmp_path / "latin.h5")


def test_the_tiff_reader_prints_no_library_log_lines(tmp_path: Path) -> None:
    """tifffile logged 'TiffTag.fromfile raised TiffFileError(...)', which the CLI printed on stderr."""
    _write_tiff(tmp_path / "seed.tif")
    content = bytearray((tmp_path / "seed.tif").read_bytes())
    entries = int.from_bytes(content[8:10], "little")
    description = next(10 + 12 * i for i in range(entries) if content[10 + 12 * i:12 + 12 * i] == b"\x0e\x01")
    content[description + 8:description + 12] = (0x7FFFFFF0).to_bytes(4, "little")  # its text far beyond the end
    (tmp_path / "badtag.tif").write_bytes(bytes(content))
    result = subprocess.run([sys.executable, "-m", "asirp.cli", "info", str(tmp_path / "badtag.tif")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
