"""Single-file image formats: TIFF (tifffile), detector formats (fabio), NumPy ``.npy``.

Readers return a :class:`~asirp.io.raw.RawImage` with the data in the file's dtype;
masking and conversion happen in :mod:`asirp.io.reader`. Writers store float32 with
masked pixels as NaN, since these formats have no separate mask.
"""

from __future__ import annotations

import logging
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fabio
import numpy as np
import tifffile
from numpy.lib import format as npy_format

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..units import PixelSize
from .atomic import check_interrupt
from .headers import HeaderHints, keyed_hints, pilatus_hints
from .raw import RawImage, check_image_layout

# Keys of the JSON description asirp writes into its own TIFF files.
_TIFF_KIND_KEY = "asirp_kind"
_TIFF_PIXEL_KEY = "pixel_size"
_TIFF_PIXEL_UNIT_KEY = "pixel_size_unit"


@contextmanager
def _library_logs_silenced(name: str) -> Iterator[None]:
    """Logger ``name`` (``"tifffile"``, ``"fabio"``) silenced while a file is read.

    Both libraries log what they find wrong in a damaged file (``<TiffTag.fromfile>
    raised TiffFileError(...)``), which Python prints on stderr when the program sets up
    no logging, as the ``asirp`` command does not. What matters reaches the user as the
    reader's one-line error.
    """
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _raw(data: np.ndarray, format_name: str, hints: HeaderHints, **fields: Any) -> RawImage:
    """A RawImage carrying the header hints; ``fields`` override them."""
    values: dict[str, Any] = {"saturation": hints.saturation, "pixel_size": hints.pixel_size, "meta": dict(hints.meta)}
    values.update(fields)
    return RawImage(data, format_name, **values)


# -- TIFF ---------------------------------------------------------------------------


def _asirp_tiff_metadata(tif: tifffile.TiffFile) -> tuple[str | None, PixelSize | None]:
    """Kind and pixel size asirp stored in its own TIFF files (None when absent)."""
    shaped = tif.shaped_metadata or ()
    stored = shaped[0] if shaped else {}
    kind = stored.get(_TIFF_KIND_KEY)
    pixel_size = None
    if _TIFF_PIXEL_KEY in stored:
        try:
            y, x = stored[_TIFF_PIXEL_KEY]
            pixel_size = PixelSize(float(y), float(x), str(stored.get(_TIFF_PIXEL_UNIT_KEY, "um")))
        except (ValueError, TypeError, ParameterError):
            pixel_size = None
    return (str(kind) if kind is not None else None), pixel_size


def _pages_as_stack(series: list[tifffile.TiffPageSeries]) -> bool:
    """True when a TIFF holds several 2-D series of one shape and dtype (a page-by-page stack).

    Series of different shapes (thumbnails, pyramid levels) are not a stack: then the
    first series is the image, as tifffile reads it.
    """
    return len(series) > 1 and series[0].ndim == 2 and len({(item.shape, item.dtype) for item in series}) == 1


def read_tiff(path: Path) -> RawImage:
    """Read a TIFF image; a multi-page file gives a 3-D stack.

    A PILATUS/EIGER text header in the ImageDescription gives exposure time, pixel
    size and count cutoff (saturation).
    """
    try:
        with _library_logs_silenced("tifffile"), tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise InputError("unreadable TIFF: no image in the file (corrupt or truncated?)", path)
            series = tif.series[0]
            if "S" in series.axes:
                raise InputError(
                    f"colour TIFF (axes {series.axes}, shape {series.shape}) is not detector data; "
                    "convert it to one grey channel first",
                    path,
                )
            if _pages_as_stack(tif.series):
                # Written page by page (cameras, detectors, most programs): each page is
                # its own series; together they are one stack.
                check_image_layout((len(tif.series), *series.shape), series.dtype, str(path))
                data = np.stack([item.asarray() for item in tif.series])
            else:
                check_image_layout(series.shape, series.dtype, str(path))
                data = series.asarray()
            page = tif.pages.first
            hints = pilatus_hints(page.description or "")
            kind, asirp_pixel = _asirp_tiff_metadata(tif)
            model = page.tags.get("Model")
            if model is not None and str(model.value).strip():
                hints.meta["detector"] = str(model.value).strip()
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise InputError(f"unreadable TIFF ({type(exc).__name__}: {exc})", path) from exc
    return _raw(data, "tiff", hints, kind=kind, pixel_size=asirp_pixel or hints.pixel_size)


def write_tiff(frame: Frame, path: Path) -> None:
    """Write float32 TIFF (multi-page for a stack); masked pixels become NaN.

    The kind and pixel size go into tifffile's JSON ImageDescription, so asirp reads
    them back; other programs (Fiji, silx, fabio) see a plain float32 image.
    """
    metadata: dict[str, Any] = {_TIFF_KIND_KEY: frame.kind}
    if frame.pixel_size is not None:
        metadata[_TIFF_PIXEL_KEY] = [frame.pixel_size.y, frame.pixel_size.x]
        metadata[_TIFF_PIXEL_UNIT_KEY] = frame.pixel_size.unit
    data = masked_as_nan(frame)
    tifffile.imwrite(path, _pages(data), shape=data.shape, dtype=data.dtype, photometric="minisblack", metadata=metadata)


# -- fabio detector formats ---------------------------------------------------------------


#: CBF: the line that opens a binary section and the bytes that start its data.
_CBF_SECTION = b"--CIF-BINARY-FORMAT-SECTION--"
_CBF_STARTER = b"\x0c\x1a\x04\xd5"


def _check_cbf(path: Path) -> None:
    """Refuse a CBF without a binary section (its opening line, then its start bytes), which fabio reads forever.

    fabio (2026.6 included) looks for the start bytes of the binary data and, not
    finding them, appends another read of the file, empty at its end, in an endless
    loop. A file cut inside the binary header, or whose section line is damaged, does it.
    """
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        if path.suffix.lower() != ".cbf" and view[:6] != b"###CBF":
            return
        section = view.find(_CBF_SECTION)
        if section < 0 or view.find(_CBF_STARTER, section) < 0:
            raise InputError("truncated or corrupt CBF: no binary section (its opening line or start bytes are "
                             "missing)", path)


def read_fabio(path: Path) -> RawImage:
    """Read any format fabio identifies (EDF, CBF, MAR, ADSC...); several frames give a stack."""
    _check_cbf(path)
    try:
        with _library_logs_silenced("fabio"), fabio.open(str(path)) as image:
            format_name = type(image).__name__.removesuffix("Image").lower() or "fabio"
            header = dict(image.header)
            if image.nframes > 1:
                arrays = [frame.data for frame in image.frames()]
                if len({a.shape for a in arrays}) != 1:
                    raise InputError(
                        f"the {image.nframes} frames have different shapes {sorted({a.shape for a in arrays})}; "
                        "cannot stack them",
                        path,
                    )
                data = np.stack(arrays)
            else:
                data = np.asarray(image.data)
    except InputError:
        raise
    except Exception as exc:  # fabio raises OSError, ValueError, ... for unknown or corrupt files
        if "could not identify" in str(exc):
            raise InputError(
                "unknown file format: not HDF5/NeXus, TIFF, NPY or a detector format fabio knows "
                "(EDF, CBF, MAR, ADSC, ...)",
                path,
            ) from exc
        raise InputError(f"unreadable {path.suffix or 'image'} file ({type(exc).__name__}: {exc})", path) from exc
    if data.dtype.kind == "O" or data.ndim < 2:
        raise InputError("unreadable image: the detector reader returned no pixel data", path)
    check_image_layout(data.shape, data.dtype, str(path))
    return _raw(data, format_name, keyed_hints(header))


# -- NumPy ----------------------------------------------------------------------------


def read_npy(path: Path) -> RawImage:
    """Read a ``.npy`` array; the header is checked first and nothing is ever unpickled."""
    try:
        with path.open("rb") as handle:
            version = npy_format.read_magic(handle)
            header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _, dtype = header(handle)
    except (ValueError, OSError) as exc:
        raise InputError(f"unreadable .npy header ({exc})", path) from exc
    check_image_layout(shape, dtype, str(path))
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"unreadable .npy file ({exc}; truncated?)", path) from exc
    return RawImage(data, "npy")


def write_npy(frame: Frame, path: Path) -> None:
    """Write float32 ``.npy`` with NaN at masked pixels (header, then one image at a time)."""
    data = masked_as_nan(frame)
    with path.open("wb") as handle:
        npy_format.write_array_header_1_0(handle, npy_format.header_data_from_array_1_0(data))
        for page in _pages(data):
            handle.write(page.tobytes())


def _pages(data: np.ndarray) -> Iterator[np.ndarray]:
    """The images of a 2-D image or stack, in order, with a Ctrl-C check before each.

    Writers take them one at a time, so an interrupt stops a large write at the next
    image (:func:`~asirp.io.atomic.check_interrupt`).
    """
    for index in np.ndindex(data.shape[:-2]):
        check_interrupt()
        yield data[index]


def masked_as_nan(frame: Frame) -> np.ndarray:
    """The frame's data as float32 with NaN at masked pixels (for formats without a mask)."""
    return np.where(frame.valid, frame.data, np.float32(np.nan)).astype(np.float32, copy=False)
