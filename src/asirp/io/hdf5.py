"""Reading images from HDF5 and NeXus files (h5py + hdf5plugin).

Which dataset is the image:

1. the dataset the user names (``"scan.h5::/entry/data/data"`` or ``dataset=``); a
   named group is followed down its NeXus ``@default``/``@signal`` attributes;
2. else the NeXus default chain: root ``@default`` -> NXentry ``@default`` -> NXdata
   ``@signal``;
3. else the one NXdata with a ``@signal`` among the NXentry groups;
4. else the one 2-D or 3-D dataset of the file, not counting datasets that describe the
   instrument (NXinstrument, NXdetector: pixel masks, flat fields...) or a process;
5. else an :class:`~asirp.errors.InputError` listing the candidates.

Around the image the reader collects what the file says about it: the detector
``pixel_mask`` (NeXus NXdetector or Eiger ``detectorSpecific``), asirp's NXdata
``mask``, the saturation (``saturation_value`` or Eiger
``countrate_correction_count_cutoff``), pixel size, exposure time, and for files asirp
wrote the kind, geometry, metadata and history (:mod:`asirp.io.nexus`). Files are
opened read-only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters of detector files: bitshuffle, LZ4, ...)
import numpy as np

from ..errors import InputError
from . import nexus
from .raw import RawImage, check_image_layout

# Groups whose datasets are descriptions or calibrations (pixel masks, flat fields,
# detector-specific NXcollections inside them), never the measured image.
_NOT_IMAGE_CLASSES = frozenset({"NXinstrument", "NXdetector", "NXprocess", "NXnote", "NXsample"})
_PIXEL_MASK_FIELDS = ("pixel_mask", "detectorSpecific/pixel_mask")
_SATURATION_FIELDS = ("saturation_value", "detectorSpecific/countrate_correction_count_cutoff")
_MAX_LISTED = 20


# -- which dataset ---------------------------------------------------------------------------


Found = tuple[str, h5py.Dataset]
"""A dataset and its path in the opened file (``Dataset.name`` is the path in the file
that holds it, which differs for datasets reached through an external link)."""


def _join(group: h5py.Group, name: str) -> str:
    return f"{group.name.rstrip('/')}/{name}"


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
        else:
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


def _named_dataset(handle: h5py.File, name: str, path: Path) -> Found:
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
    inside = [(_join(obj, key), ds) for key, ds in obj.items() if isinstance(ds, h5py.Dataset)]
    raise InputError(
        f"{name} is a group without a NeXus @signal/@default, not a dataset; datasets in it: "
        f"{_describe(inside) or 'none'}",
        path,
    )


def find_image_dataset(handle: h5py.File, name: str | None, path: Path) -> Found:
    """The image dataset of an open file and its path (see the module docstring for the rules)."""
    if name is not None:
        return _named_dataset(handle, name, path)
    by_default = _follow_default(handle)
    if by_default is not None:
        return by_default
    signals = _signal_datasets(handle)
    if len(signals) == 1:
        return signals[0]
    if signals:
        listing = _describe(signals)
        raise InputError(f"several NXdata signals and no @default; choose one with FILE::/path: {listing}", path)
    datasets = _all_datasets(handle)
    images = [(p, ds) for p, ds in datasets if ds.ndim in (2, 3) and not _is_description(handle, p)]
    if len(images) == 1:
        return images[0]
    if images:
        raise InputError(
            f"several image datasets and no NeXus @default; choose one with FILE::/path or dataset=: {_describe(images)}",
            path,
        )
    raise InputError(
        "no 2-D or 3-D image dataset found; datasets in the file: " + (_describe(datasets) or "none"),
        path,
    )


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


def _mask_array(field: h5py.Dataset, shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """``field != 0`` when it has the image or data shape; else warn and ignore it."""
    if field.shape not in (shape[-2:], shape) or field.dtype.kind not in "biuf":
        warnings.warn(
            f"{where}: ignoring mask {field.name} of shape {field.shape} and dtype {field.dtype}; "
            f"the data have shape {shape}",
            UserWarning,
            stacklevel=4,
        )
        return None
    return np.asarray(field[()]) != 0


def read_hdf5(path: Path, dataset: str | None) -> RawImage:
    """Read the image of an HDF5/NeXus file and what the file says about it.

    Parameters
    ----------
    path:
        The file (opened read-only).
    dataset:
        HDF5 path of the image dataset or of a NeXus group holding it; None to find it.
    """
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file: truncated, corrupt or not HDF5 ({exc})", path) from exc
    with handle:
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
    if pixel_mask is not None and (mask := _mask_array(pixel_mask, data.shape, where)) is not None:
        raw.masks["pixel_mask"] = mask
        raw.meta["pixel_mask_dataset"] = pixel_mask.name
    is_nxdata = nexus.nx_class(nxdata) == "NXdata"
    own_mask = nxdata.get("mask") if is_nxdata and leaf != "mask" else None
    if isinstance(own_mask, h5py.Dataset) and (mask := _mask_array(own_mask, data.shape, where)) is not None:
        raw.masks["nxdata_mask"] = mask

    saturation = _first_field(detectors, _SATURATION_FIELDS)
    if saturation is not None and saturation.size == 1 and saturation.dtype.kind in "iuf":
        value = float(np.asarray(saturation[()]).reshape(()))
        if value > 0:
            raw.saturation = value
            raw.meta["saturation_dataset"] = saturation.name
    count_time = _first_field(detectors, ("count_time",))
    if count_time is not None and count_time.size == 1 and count_time.dtype.kind in "iuf":
        raw.meta["exposure_time_s"] = float(np.asarray(count_time[()]).reshape(()))

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
