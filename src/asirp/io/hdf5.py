"""Reading images from HDF5 and NeXus files (h5py + hdf5plugin).

Which dataset is the image:

1. the dataset the user names (``"scan.h5::/entry/data/data"`` or ``dataset=``); a
   named group is followed down its NeXus ``@default``/``@signal`` attributes;
2. else the NeXus default chain: root ``@default`` -> NXentry ``@default`` -> NXdata
   ``@signal``;
3. else the one NXdata with a ``@signal`` among the NXentry groups;
4. else the ``data`` field of the NXdetector (detector writers such as Lambda, Eiger
   and PILATUS store the frames as ``/entry/instrument/detector/data`` without an
   NXdata group); several detectors with data are an error listing them;
5. else the one 2-D or 3-D dataset of the file, not counting datasets that describe the
   instrument (NXinstrument, NXdetector: pixel masks, flat fields...) or a process;
6. else an :class:`~asirp.errors.InputError` listing the candidates.

Around the image the reader collects what the file says about it:

* the detector ``pixel_mask`` (NeXus NXdetector or Eiger ``detectorSpecific``), of the
  image shape, the data shape, or the image shape with a leading axis of 1 (Lambda,
  Eiger: one mask for every frame). Its bits are those NXdetector defines (bit 0 gap,
  1 dead, 2 under-responding, 3 over-responding, 4 noisy, 6 part of a cluster, 8 user
  mask, 31 virtual pixel, others undefined): any set bit masks the pixel, and the
  number of pixels flagged by each reason goes to ``meta["pixel_mask_reasons"]``;
* asirp's NXdata ``mask``;
* the saturation (``saturation_value`` or Eiger ``countrate_correction_count_cutoff``):
  pixels at or above it are masked;
* pixel size (``x_pixel_size``, ``y_pixel_size`` with their ``@units``), exposure time
  (``count_time`` with its ``@units``, in ``meta["exposure_time_s"]``);
* the ``flatfield`` (kept, not applied: a flat-field correction would break the Poisson
  statistics of the counts): ``meta["flatfield_dataset"]`` and, when it holds finite
  values, the array of the image shape in ``meta["flatfield"]``; the detector's own
  ``*_applied`` flags (``flatfield_applied``, ``pixel_mask_applied``,
  ``countrate_correction_applied``) and its ``type`` and ``description`` go to ``meta``;
* for files asirp wrote, the kind, geometry, metadata and history (:mod:`asirp.io.nexus`).

Files are opened read-only.
"""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters of detector files: bitshuffle, LZ4, ...)
import numpy as np

from ..errors import InputError, SeveralImagesError
from . import masks, nexus
from .raw import RawImage, check_image_layout

# Groups whose datasets are descriptions or calibrations (pixel masks, flat fields,
# detector-specific NXcollections inside them), never the measured image.
_NOT_IMAGE_CLASSES = frozenset({"NXinstrument", "NXdetector", "NXprocess", "NXnote", "NXsample"})
_PIXEL_MASK_FIELDS = ("pixel_mask", "detectorSpecific/pixel_mask")
_SATURATION_FIELDS = ("saturation_value", "detectorSpecific/countrate_correction_count_cutoff")
_FLATFIELD_FIELDS = ("flatfield", "detectorSpecific/flatfield")
#: NXdetector flags saying what the detector software already did to the data.
_APPLIED_FLAGS = ("flatfield_applied", "pixel_mask_applied", "countrate_correction_applied")
#: NXdetector text fields worth keeping (``type``: "photon counting", "CCD"...).
_DETECTOR_TEXT = {"type": "detector_type", "description": "detector_description"}
_MAX_LISTED = 20
#: Signature of an HDF5 global heap collection.
_GLOBAL_HEAP = b"GCOL"
#: What h5py raises when it meets damage in a file.
_H5PY_ERRORS = (OSError, KeyError, RuntimeError, ValueError)
#: Seconds per unit of NXdetector ``count_time`` (NeXus default unit: seconds).
_TIME_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "us": 1e-6, "µs": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9,
}  # fmt: skip


# -- which dataset ---------------------------------------------------------------------------


Found = tuple[str, h5py.Dataset]
"""A dataset and its path in the opened file (``Dataset.name`` is the path in the file
that holds it, which differs for datasets reached through an external link)."""


def _join(group: h5py.Group, name: str) -> str:
    """The path of member ``name`` of ``group``.

    h5py gives a name that is not UTF-8 as bytes; decoding it raises the
    UnicodeDecodeError that :func:`_reading` reports.
    """
    base = group.name if isinstance(group.name, str) else group.name.decode("utf-8")
    return f"{base.rstrip('/')}/{name}"


def _follow_default(group: h5py.Group) -> Found | None:
    """Follow ``@default`` group attributes down to an NXdata ``@signal`` dataset."""
    seen: set[str] = set()
    while group.name not in seen:
        seen.add(group.name)
        signal = nexus.attr_text(group, "signal")
        if signal is not None and isinstance(group.get(signal), h5py.Dataset):
            return _join(group, signal), group[signal]
        default = nexus.attr_text(group, "default")
        if default is None or not isinstance(group.get(default), h5py.Group):
            return None
        group = group[default]
    return None


def _signal_datasets(handle: h5py.File) -> list[Found]:
    """``@signal`` datasets of the NXdata groups directly inside NXentry groups."""
    found = []
    for entry in handle.values():
        if not isinstance(entry, h5py.Group) or nexus.nx_class(entry) != "NXentry":
            continue
        for group in entry.values():
            if isinstance(group, h5py.Group) and nexus.nx_class(group) == "NXdata":
                signal = nexus.attr_text(group, "signal")
                if signal is not None and isinstance(group.get(signal), h5py.Dataset):
                    found.append((_join(group, signal), group[signal]))
    return found


def _all_datasets(handle: h5py.File) -> list[Found]:
    """Every dataset of the file by path, including external links to datasets (Eiger master files)."""
    found: list[Found] = []

    def add_external(group: h5py.Group) -> None:
        # visititems follows hard links only; Eiger master files link their data externally.
        for key in group:
            if isinstance(group.get(key, getlink=True), h5py.ExternalLink):
                try:
                    target = group[key]
                except (KeyError, OSError):  # the linked file is missing
                    continue
                if isinstance(target, h5py.Dataset):
                    found.append((_join(group, key), target))

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(("/" + name, obj))
        elif isinstance(obj, h5py.Group):  # not a named datatype, which holds no links
            add_external(obj)

    add_external(handle)
    handle.visititems(visit)
    return found


def _is_description(handle: h5py.File, path: str) -> bool:
    """True when a dataset lies inside an instrument/detector/process description group."""
    parts = path.strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        group = handle.get("/" + "/".join(parts[:depth]))
        if group is not None and nexus.nx_class(group) in _NOT_IMAGE_CLASSES:
            return True
    return False


def _describe(datasets: list[Found]) -> str:
    listed = [f"{path} {dataset.shape} {dataset.dtype}" for path, dataset in datasets[:_MAX_LISTED]]
    more = f", ... ({len(datasets) - _MAX_LISTED} more)" if len(datasets) > _MAX_LISTED else ""
    return ", ".join(listed) + more


def _named_dataset(handle: h5py.File, name: str, path: str | os.PathLike[str]) -> Found:
    """The dataset at ``name``; a group is followed down its NeXus default/signal attributes."""
    name = "/" + name.strip("/")
    try:
        obj = handle.get(name)
    except (KeyError, OSError) as exc:  # broken external link
        raise InputError(f"dataset {name} cannot be opened ({exc})", path) from exc
    if obj is None:
        parts = name.strip("/").split("/")
        level = handle
        for part in parts:
            child = level.get(part)
            if not isinstance(child, h5py.Group):
                break
            level = child
        inside = ", ".join(
            f"{key} ({'group' if isinstance(level.get(key), h5py.Group) else 'dataset'})" for key in level
        )
        raise InputError(f"no dataset {name} in the file; {level.name} contains: {inside or 'nothing'}", path)
    if isinstance(obj, h5py.Dataset):
        return name, obj
    target = _follow_default(obj)
    if target is not None:
        return target
    datasets = [(_join(obj, key), ds) for key, ds in obj.items() if isinstance(ds, h5py.Dataset)]
    raise InputError(
        f"{name} is a group without a NeXus @signal/@default, not a dataset; datasets in it: "
        f"{_describe(datasets) or 'none'}",
        path,
    )


def _detector_datasets(handle: h5py.File) -> list[Found]:
    """The 2-D or 3-D ``data`` fields of the NXdetector groups (and plain ``instrument/detector``)."""
    found: list[Found] = []
    for entry in handle.values():
        if not isinstance(entry, h5py.Group):
            continue
        for detector in _detectors(entry):
            try:
                field = detector.get("data")
            except (KeyError, OSError):  # an external link to a missing file
                continue
            if isinstance(field, h5py.Dataset) and field.ndim in (2, 3):
                found.append((_join(detector, "data"), field))
    return found


def find_image_dataset(handle: h5py.File, name: str | None, path: str | os.PathLike[str]) -> Found:
    """The image dataset of an open file and its path (see the module docstring for the rules)."""
    if name is not None:
        return _named_dataset(handle, name, path)
    by_default = _follow_default(handle)
    if by_default is not None:
        return by_default
    for found, what in ((_signal_datasets(handle), "NXdata signals and no @default"),
                        (_detector_datasets(handle), "NXdetector data fields and no NXdata")):
        if len(found) == 1:
            return found[0]
        if found:
            raise SeveralImagesError(f"several {what}; choose one with FILE::/path: {_describe(found)}", path)
    datasets = _all_datasets(handle)
    images = [(p, ds) for p, ds in datasets if ds.ndim in (2, 3) and not _is_description(handle, p)]
    if len(images) == 1:
        return images[0]
    if images:
        raise SeveralImagesError(
            f"several image datasets and no NeXus @default; choose one with FILE::/path or dataset=: {_describe(images)}",
            path,
        )
    raise InputError(
        "no 2-D or 3-D image dataset found; datasets in the file: " + (_describe(datasets) or "none"),
        path,
    )


def image_datasets(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    """Every 2-D or 3-D dataset of an HDF5 file (external links included): path in the file, shape, dtype.

    What ``asirp info`` lists when the file does not say which one is the image.
    """
    with _reading(path) as handle:
        return [(name, tuple(ds.shape), str(ds.dtype)) for name, ds in _all_datasets(handle) if ds.ndim in (2, 3)]


@contextmanager
def _reading(path: Path) -> Iterator[h5py.File]:
    """The file opened read-only, once its global heaps are known not to hang the HDF5 library.

    h5py reports damage found while reading (objects, attributes, links, data) as
    OSError, KeyError, RuntimeError or ValueError wherever it meets it, and gives an
    object name that is not UTF-8 as bytes (:func:`_join` fails to decode it); each
    becomes one :class:`~asirp.errors.InputError` naming the file.
    """
    _check_global_heaps(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file: truncated, corrupt or not HDF5 ({exc})", path) from exc
    try:
        with handle:
            yield handle
    except UnicodeDecodeError as exc:
        raise InputError(f"an object name is not UTF-8 text ({bytes(exc.object)[:60]!r}); asirp addresses HDF5 "
                         "objects by UTF-8 names", path) from exc
    except _H5PY_ERRORS as exc:
        detail = " ".join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
        raise InputError(f"corrupt HDF5 file ({type(exc).__name__}: {detail})", path) from exc


def _check_global_heaps(path: Path) -> None:
    """Refuse a file with a global heap collection on which libhdf5 would loop forever.

    Variable-length strings (NeXus ``NX_class``, ``default``, ``signal`` attributes as
    h5py writes them) live in global heap collections. libhdf5 (2.0 included) decodes a
    collection object by object, stepping by each object's stored size; the free-space
    object (index 0) steps by its size alone, so one of size 0, which only damage
    produces, never advances, and the library spins holding the GIL: no Ctrl-C, no
    timeout. Every collection (signature ``GCOL``, version 1) is walked here the same
    way first; the scan costs less than the sha256 :func:`asirp.io.open` computes of
    the whole file.
    """
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        lengths = _size_of_lengths(view)
        header = 8 + lengths  # signature, version, 3 reserved bytes, collection size
        object_header = 8 + lengths  # index, reference count, 4 reserved bytes, object size
        start = view.find(_GLOBAL_HEAP)
        while start >= 0:
            if start + header <= len(view) and view[start + 4] == 1:
                size = int.from_bytes(view[start + 8:start + header], "little")
                end, at = min(start + size, len(view)), start + header
                for _ in range(size // object_header + 1):  # as many objects as fit: a bound, not a condition
                    if at + object_header > end:
                        break
                    index = int.from_bytes(view[at:at + 2], "little")
                    stored = int.from_bytes(view[at + 8:at + object_header], "little")
                    step = stored if index == 0 else object_header + -(-stored // 8) * 8
                    if step == 0:
                        raise InputError(f"corrupt HDF5 global heap at byte {start} (a free-space entry of size 0, "
                                         "on which the HDF5 library would loop forever)", path)
                    at += step
            start = view.find(_GLOBAL_HEAP, start + 1)


def _size_of_lengths(view: mmap.mmap) -> int:
    """Bytes of a length field ("size of lengths" of the superblock; 8 when it cannot be read)."""
    for offset in (0, *(512 << k for k in range(12))):  # the superblock follows a user block of 512 * 2^k bytes
        if offset + 16 > len(view):
            break
        if view[offset:offset + 8] == b"\x89HDF\r\n\x1a\n":
            version = view[offset + 8]
            size = view[offset + 14] if version in (0, 1) else view[offset + 10]
            return size if size in (2, 4, 8) else 8
    return 8


# -- what the file says about the image --------------------------------------------------------


def _entry_of(handle: h5py.File, name: str) -> h5py.Group:
    """The top-level group holding dataset ``name`` (the file itself for a root dataset)."""
    parts = name.strip("/").split("/")
    return handle if len(parts) == 1 else handle["/" + parts[0]]


def _detectors(entry: h5py.Group) -> list[h5py.Group]:
    """NXdetector groups of an entry, plus ``instrument/detector`` in files without NX_class."""
    found: list[h5py.Group] = []

    def visit(_: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Group) and nexus.nx_class(obj) == "NXdetector":
            found.append(obj)

    entry.visititems(visit)
    plain = entry.get("instrument/detector")
    if isinstance(plain, h5py.Group) and all(group.name != plain.name for group in found):
        found.append(plain)
    return found


def _first_field(groups: list[h5py.Group], names: tuple[str, ...]) -> h5py.Dataset | None:
    for group in groups:
        for name in names:
            field = group.get(name)
            if isinstance(field, h5py.Dataset):
                return field
    return None


def _mask_values(field: h5py.Dataset, shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """The stored mask values, of the image shape or the data shape; else warn and return None.

    A mask of the image shape with a leading axis of 1 (``(1, ny, nx)``: Lambda, Eiger)
    is one mask for every frame and is returned as ``(ny, nx)``.
    """
    image = tuple(shape[-2:])
    accepted = field.shape in (image, shape, (1, *image))
    if not accepted or field.dtype.kind not in "biuf":
        warnings.warn(
            f"{where}: ignoring mask {field.name} of shape {field.shape} and dtype {field.dtype}; "
            f"the data have shape {shape}",
            UserWarning,
            stacklevel=5,
        )
        return None
    values = np.asarray(field[()])
    if values.shape == (1, *image) and values.shape != shape:
        values = values[0]
    return values


def _mask_array(field: h5py.Dataset, shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """``field != 0`` (True = masked) when it fits the data (see :func:`_mask_values`), else None."""
    values = _mask_values(field, shape, where)
    return None if values is None else values != 0


def _scalar(field: h5py.Dataset | None) -> float | None:
    """A numeric field of one element as a float (shape () or (1,)), else None."""
    if field is None or field.size != 1 or field.dtype.kind not in "iuf":
        return None
    return float(np.asarray(field[()]).reshape(()))


def _seconds(field: h5py.Dataset) -> float | None:
    """A time field in seconds, honouring its ``@units`` (NeXus default: seconds); None if unknown."""
    value = _scalar(field)
    unit = (nexus.attr_text(field, "units") or "s").strip()
    factor = _TIME_UNITS.get(unit, _TIME_UNITS.get(unit.lower()))
    return None if value is None or factor is None else value * factor


def _text(field: h5py.Dataset) -> str | None:
    """A string field of one element (shape () or (1,)) as ``str``, else None."""
    if field.dtype.kind not in "SUO" or field.size != 1:
        return None
    try:
        value = field.asstr()[()]
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return str(np.asarray(value, dtype=object).reshape(()).item())


def _read_pixel_mask(raw: RawImage, field: h5py.Dataset, shape: tuple[int, ...], where: str) -> None:
    """Add the detector pixel mask, decoded as NXdetector defines its bits, to ``raw``."""
    values = _mask_values(field, shape, where)
    if values is None:
        return
    raw.masks["pixel_mask"] = values != 0
    raw.meta["pixel_mask_dataset"] = field.name
    if values.dtype.kind in "iu":
        raw.meta["pixel_mask_reasons"] = masks.pixel_mask_reasons(values)


def _read_flatfield(raw: RawImage, field: h5py.Dataset, shape: tuple[int, ...]) -> None:
    """Keep the detector flat field in ``raw.meta`` (never applied to the counts)."""
    raw.meta["flatfield_dataset"] = field.name
    image = tuple(shape[-2:])
    if field.dtype.kind not in "iuf" or field.shape not in (image, (1, *image)):
        raw.meta["flatfield_note"] = f"shape {field.shape} does not fit the image {image}; not kept"
        return
    values = np.asarray(field[()], dtype=np.float32).reshape(image)
    finite = np.isfinite(values)
    if not finite.any():
        raw.meta["flatfield_note"] = "every value is NaN or inf: no usable flat field"
        return
    raw.meta["flatfield"] = values


def read_hdf5(path: Path, dataset: str | None) -> RawImage:
    """Read the image of an HDF5/NeXus file and what the file says about it.

    Parameters
    ----------
    path:
        The file (opened read-only).
    dataset:
        HDF5 path of the image dataset or of a NeXus group holding it; None to find it.
    """
    with _reading(path) as handle:
        name, image = find_image_dataset(handle, dataset, path)
        where = f"{path}::{name}"
        check_image_layout(image.shape, image.dtype, where)
        try:
            data = image[()]
        except OSError as exc:
            raise InputError(
                f"cannot read dataset {name} ({exc}): corrupt file, or compressed with a filter "
                "that neither HDF5 nor hdf5plugin provides",
                path,
            ) from exc
        return _describe_image(handle, name, np.asarray(data), where)


def _describe_image(handle: h5py.File, name: str, data: np.ndarray, where: str) -> RawImage:
    """The image ``data`` of dataset ``name`` with what its file says about it."""
    entry = _entry_of(handle, name)
    parent, _, leaf = name.rpartition("/")
    nxdata = handle[parent or "/"]
    detectors = _detectors(entry)
    raw = RawImage(data, "nexus" if nexus.nx_class(entry) == "NXentry" else "hdf5", dataset=name)

    pixel_mask = _first_field(detectors, _PIXEL_MASK_FIELDS)
    if pixel_mask is not None:
        _read_pixel_mask(raw, pixel_mask, data.shape, where)
    is_nxdata = nexus.nx_class(nxdata) == "NXdata"
    own_mask = nxdata.get("mask") if is_nxdata and leaf != "mask" else None
    if isinstance(own_mask, h5py.Dataset) and (mask := _mask_array(own_mask, data.shape, where)) is not None:
        raw.masks["nxdata_mask"] = mask

    saturation = _first_field(detectors, _SATURATION_FIELDS)
    value = _scalar(saturation)
    if saturation is not None and value is not None and value > 0:
        raw.saturation = value
        raw.meta["saturation_dataset"] = saturation.name
    count_time = _first_field(detectors, ("count_time",))
    if count_time is not None and (seconds := _seconds(count_time)) is not None:
        raw.meta["exposure_time_s"] = seconds
    flatfield = _first_field(detectors, _FLATFIELD_FIELDS)
    if flatfield is not None:
        _read_flatfield(raw, flatfield, data.shape)
    for flag in _APPLIED_FLAGS:
        if (applied := _scalar(_first_field(detectors, (flag,)))) is not None:
            raw.meta[flag] = bool(applied)
    for field_name, key in _DETECTOR_TEXT.items():
        field = _first_field(detectors, (field_name,))
        if field is not None and (text := _text(field)) is not None:
            raw.meta[key] = text

    for detector in detectors:
        raw.geometry = raw.geometry or nexus.read_geometry(detector, where)
        raw.pixel_size = raw.pixel_size or nexus.read_detector_pixel_size(detector)
    if is_nxdata:
        raw.kind = nexus.read_kind(nxdata)
        raw.pixel_size = nexus.read_pixel_size(nxdata, data.shape[-2:]) or raw.pixel_size
    if entry is not handle:
        raw.history = nexus.read_history(entry)
        raw.meta = {**nexus.read_meta(entry), **raw.meta}
    return raw
