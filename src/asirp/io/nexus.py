"""asirp's NeXus layout: writing a frame, and reading back what asirp wrote.

Layout (readable with plain h5py, silx and any NeXus viewer; no compression plugin
needed)::

    /                         @default="entry" @creator @file_name @file_time @NeXus_version
    /entry                    NXentry  @default="data"
        program_name          "asirp" @version
        data/                 NXdata   @signal="data" @axes=["y","x"] (stack: [".","y","x"])
                                       @asirp_kind, @asirp_pixel_size=[y,x], @asirp_pixel_size_units
            data              float32, chunked one image at a time, gzip+shuffle; @interpretation="image"
            mask              uint8, 1 = masked (pyFAI convention); only when something is masked
            y, x              pixel centres: physical (pixel size known) or pixel index, @units
        instrument/           NXinstrument (only with a detector geometry)
            detector/         NXdetector: poni (PONI text), distance, beam_center_x/y,
                              x_pixel_size, y_pixel_size, with @units
            beam/             NXbeam: incident_wavelength
        meta                  NXnote: type="application/json", data = the frame's meta as JSON
        process_01_read/      NXprocess, one per history step, in order:
            program, version, date, sequence_index (1-based), method, duration @units="s",
            host, input_files, input_sha256, weights_sha256 (when a network was used),
            parameters        NXnote, JSON of the full parameters
            notes             NXnote, JSON of the step's notes

Masked pixels hold 0 in ``data`` (as in a :class:`~asirp.frame.Frame`); the mask says
which they are.

A pipeline run file (:mod:`asirp.pipeline.sinks.run_file`) is the same layout for a
stack that grows one frame at a time: :func:`create_frame_series` makes its NXdata
(``data`` and ``mask`` of shape ``(0, ny, nx)``, one chunk per frame, uncompressed so
that appending stays cheap and SWMR readers see each frame at once, plus per-frame
fields such as ``sequence``), :func:`write_frame` adds a frame, and the NXprocess
groups hold the history of the run's first frame (:func:`write_history`). So
:func:`asirp.io.open` reads an ``asirp restore`` output and a run file alike: the
frames, their mask, kind, pixel size, geometry and history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from .._version import __version__
from ..errors import InputError, OutputError, ParameterError
from ..frame import Frame
from ..geometry import Geometry
from ..history import HistoryStep, now_iso
from ..units import LENGTH_UNITS, PixelSize, convert_length
from .atomic import check_interrupt
from .summary import geometry_summary

#: Version of the NeXus definitions the layout follows.
NEXUS_VERSION = "v2024.02"
KIND_ATTR = "asirp_kind"
PIXEL_SIZE_ATTR = "asirp_pixel_size"
PIXEL_UNIT_ATTR = "asirp_pixel_size_units"
META_NOTE = "meta"
PONI_FIELD = "poni"
JSON_TYPE = "application/json"

# Image-aligned chunks: reading one frame of a stack touches only that frame's
# chunks. Capped so that a chunk of a large detector stays a few MiB (h5py's own
# guess would mix several frames in one chunk).
_CHUNK_MAX = 1024
_GZIP_LEVEL = 4

# NeXus files spell units in several ways; these are the length spellings we meet.
_UNIT_ALIASES = {
    "meter": "m", "metre": "m", "meters": "m", "metres": "m",
    "millimeter": "mm", "millimetre": "mm", "micron": "um", "microns": "um",
    "micrometer": "um", "micrometre": "um", "nanometer": "nm", "nanometre": "nm",
    "angstrom": "A", "angstroms": "A",
}  # fmt: skip


# -- small h5py helpers -------------------------------------------------------------------


def attr_text(obj: h5py.HLObject, name: str) -> str | None:
    """An attribute as ``str`` (h5py gives str, bytes or 1-element arrays of them)."""
    value = obj.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def nx_class(obj: h5py.HLObject) -> str | None:
    return attr_text(obj, "NX_class")


def dataset_text(dataset: h5py.Dataset) -> str:
    """A scalar string dataset as ``str`` (fixed or variable length)."""
    return str(dataset.asstr()[()])


def _strings(dataset: h5py.Dataset) -> list[str]:
    return [str(item) for item in dataset.asstr()[()]]


def _unit(dataset: h5py.Dataset, default: str) -> str:
    """The ``@units`` of a field with the usual spellings normalised ("micron" -> "um")."""
    unit = attr_text(dataset, "units") or default
    return _UNIT_ALIASES.get(unit.lower(), unit)


def _length(dataset: h5py.Dataset, default_unit: str = "m") -> tuple[float, str] | None:
    """A scalar length field and its unit (a key of :data:`LENGTH_UNITS`); None if unusable."""
    unit = _unit(dataset, default_unit)
    if unit not in LENGTH_UNITS or dataset.dtype.kind not in "iuf" or dataset.size != 1:
        return None
    return float(np.asarray(dataset[()]).reshape(())), unit


def write_note(parent: h5py.Group, name: str, payload: str, description: str) -> h5py.Group:
    """An NXnote ``name`` holding ``payload`` (JSON text)."""
    note = parent.create_group(name)
    note.attrs["NX_class"] = "NXnote"
    note.create_dataset("type", data=JSON_TYPE)
    note.create_dataset("description", data=description)
    note.create_dataset("data", data=payload)
    return note


def _note_json(group: h5py.Group, name: str) -> Any:
    return json.loads(dataset_text(group[name]["data"]))


# -- writing ------------------------------------------------------------------------------


def _json_or_fail(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays; anything else is not serialisable."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


#: Arrays in a frame's ``meta`` with more elements than this (a detector flat field)
#: are not written into the JSON note; they are listed in its ``@dropped_keys``.
META_ARRAY_MAX = 1024


def _meta_json(meta: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The JSON-serialisable part of ``meta`` as JSON text, and the keys left out."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in meta.items():
        if isinstance(value, np.ndarray) and value.size > META_ARRAY_MAX:
            dropped.append(str(key))
            continue
        try:
            kept[str(key)] = json.loads(json.dumps(value, default=_json_or_fail))
        except (TypeError, ValueError):
            dropped.append(str(key))
    return json.dumps(kept, sort_keys=True), dropped


def _axis(nxdata: h5py.Group, name: str, size: int, step: float | None, unit: str) -> None:
    """Pixel-centre coordinates: ``(i + 0.5) * step`` from the image edge, or the index ``i``."""
    index = np.arange(size, dtype=np.float64)
    axis = nxdata.create_dataset(name, data=index if step is None else (index + 0.5) * step)
    axis.attrs["units"] = "pixel" if step is None else unit
    axis.attrs["long_name"] = f"{name} ({'pixel' if step is None else unit})"


def _write_chunked(group: h5py.Group, name: str, array: np.ndarray) -> h5py.Dataset:
    """A compressed dataset with image-aligned chunks, filled one band of chunks at a time.

    Compressing a whole stack in one h5py call runs for seconds without returning to
    Python; between bands, Ctrl-C takes effect (:func:`~asirp.io.atomic.check_interrupt`).
    """
    ny, nx = array.shape[-2:]
    chunks = (1,) * (array.ndim - 2) + (min(ny, _CHUNK_MAX), min(nx, _CHUNK_MAX))
    dataset = group.create_dataset(name, shape=array.shape, dtype=array.dtype, chunks=chunks, compression="gzip",
                                   compression_opts=_GZIP_LEVEL, shuffle=True)
    for image in np.ndindex(array.shape[:-2]):
        for top in range(0, ny, chunks[-2]):
            check_interrupt()
            band = (*image, slice(top, top + chunks[-2]))
            dataset[band] = array[band]
    return dataset


def _nxdata(entry: h5py.Group, frame: Frame, stack: bool) -> h5py.Group:
    """The NXdata group ``data`` of ``frame``'s images (a stack of them with ``stack``): attributes and axes, no signal yet."""
    nxdata = entry.create_group("data")
    nxdata.attrs["NX_class"] = "NXdata"
    nxdata.attrs["signal"] = "data"
    nxdata.attrs[KIND_ATTR] = frame.kind
    nxdata.attrs["axes"] = [*(["."] if stack else []), "y", "x"]
    nxdata.attrs["y_indices"] = np.int32(1 if stack else 0)
    nxdata.attrs["x_indices"] = np.int32(2 if stack else 1)
    ny, nx = frame.image_shape
    size = frame.pixel_size
    if size is not None:
        nxdata.attrs[PIXEL_SIZE_ATTR] = np.array([size.y, size.x], dtype=np.float64)
        nxdata.attrs[PIXEL_UNIT_ATTR] = size.unit
    _axis(nxdata, "y", ny, None if size is None else size.y, "pixel" if size is None else size.unit)
    _axis(nxdata, "x", nx, None if size is None else size.x, "pixel" if size is None else size.unit)
    return nxdata


def _label(data: h5py.Dataset, mask: h5py.Dataset | None, frame: Frame) -> None:
    data.attrs["interpretation"] = "image"
    data.attrs["long_name"] = "counts" if frame.is_counting else "intensity"
    if mask is not None:
        mask.attrs["long_name"] = "mask (1 = masked pixel)"


def _write_data(entry: h5py.Group, frame: Frame) -> None:
    nxdata = _nxdata(entry, frame, frame.is_stack)
    data = _write_chunked(nxdata, "data", np.asarray(frame.data, dtype=np.float32))
    mask = None if frame.valid.all() else _write_chunked(nxdata, "mask", (~frame.valid).astype(np.uint8))
    _label(data, mask, frame)


class SeriesField(NamedTuple):
    """A per-frame field of a frame series: its dtype, ``@units`` (None for none) and the value of rows not yet set."""

    dtype: Any
    units: str | None = None
    fill: Any = None


def create_frame_series(entry: h5py.Group, frame: Frame, fields: Mapping[str, SeriesField]) -> h5py.Group:
    """An empty NXdata ``data`` in ``entry`` for 2-D frames like ``frame``, growing one frame at a time.

    ``data`` (float32) and ``mask`` (uint8, always present: later frames may be masked)
    have shape ``(0, ny, nx)``, one uncompressed chunk per frame; the kind, pixel size and
    axes are ``frame``'s. ``fields`` adds one value per frame, 1-D fields growing with the
    frames. Create it before switching the file to SWMR mode (no new objects afterwards);
    fill it with :func:`write_frame` and :func:`write_fields`.
    """
    nxdata = _nxdata(entry, frame, stack=True)
    ny, nx = frame.image_shape
    data = nxdata.create_dataset("data", (0, ny, nx), np.float32, maxshape=(None, ny, nx), chunks=(1, ny, nx))
    mask = nxdata.create_dataset("mask", (0, ny, nx), np.uint8, maxshape=(None, ny, nx), chunks=(1, ny, nx))
    _label(data, mask, frame)
    for name, field in fields.items():
        dataset = nxdata.create_dataset(name, (0,), field.dtype, maxshape=(None,), chunks=(1024,), fillvalue=field.fill)
        if field.units is not None:
            dataset.attrs["units"] = field.units
    return nxdata


def write_frame(nxdata: h5py.Group, row: int, frame: Frame) -> None:
    """Write ``frame``'s image and mask as row ``row`` of a series made by :func:`create_frame_series`.

    The series is cut or grown to ``row + 1`` frames. Its per-frame fields are left to
    :func:`write_fields`, which a writer calls once the frame is flushed to disk.
    """
    stored = tuple(nxdata["data"].shape[1:])
    if stored != frame.image_shape:
        raise OutputError(f"{nxdata.file.filename}: frames of shape {stored} already written, got {frame.image_shape}")
    for name, value in (("data", frame.data), ("mask", ~frame.valid)):
        nxdata[name].resize(row + 1, axis=0)
        nxdata[name][row] = value


def write_fields(nxdata: h5py.Group, row: int, values: Mapping[str, Any]) -> None:
    """Set the per-frame fields of row ``row`` of a frame series, in the order given."""
    for name, value in values.items():
        nxdata[name].resize(row + 1, axis=0)
        nxdata[name][row] = value


def write_geometry(entry: h5py.Group, geometry: Geometry) -> None:
    """An NXinstrument/NXdetector with the PONI calibration and its NeXus fields (NXbeam when the wavelength is known)."""
    instrument = entry.create_group("instrument")
    instrument.attrs["NX_class"] = "NXinstrument"
    detector = instrument.create_group("detector")
    detector.attrs["NX_class"] = "NXdetector"
    detector.create_dataset(PONI_FIELD, data=geometry.to_text())
    summary = geometry_summary(geometry)
    fields = {
        "distance": (summary["distance_m"], "m"),
        "beam_center_y": (summary["beam_center_px"][0], "pixel"),
        "beam_center_x": (summary["beam_center_px"][1], "pixel"),
        "y_pixel_size": (summary["pixel_size_m"][0], "m"),
        "x_pixel_size": (summary["pixel_size_m"][1], "m"),
    }
    for name, (value, unit) in fields.items():
        detector.create_dataset(name, data=np.float64(value)).attrs["units"] = unit
    detector.create_dataset("description", data=summary["detector"])
    if summary["wavelength_A"] is not None:
        beam = instrument.create_group("beam")
        beam.attrs["NX_class"] = "NXbeam"
        beam.create_dataset("incident_wavelength", data=np.float64(summary["wavelength_A"])).attrs["units"] = "angstrom"


def _process_name(index: int, count: int, method: str) -> str:
    width = max(2, len(str(count)))
    return f"process_{index:0{width}d}_{re.sub(r'[^0-9A-Za-z_]+', '_', method)}"


def write_history(entry: h5py.Group, history: tuple[HistoryStep, ...]) -> None:
    """One NXprocess per step of ``history``, in order (read back by :func:`read_history`)."""
    text = h5py.string_dtype()
    for index, step in enumerate(history, start=1):
        group = entry.create_group(_process_name(index, len(history), step.method))
        group.attrs["NX_class"] = "NXprocess"
        group.create_dataset("program", data=step.program)
        group.create_dataset("version", data=step.version)
        group.create_dataset("date", data=step.date)
        group.create_dataset("sequence_index", data=np.int64(index))
        group.create_dataset("method", data=step.method)
        group.create_dataset("duration", data=np.float64(step.duration_s)).attrs["units"] = "s"
        group.create_dataset("host", data=step.host)
        group.create_dataset("input_files", data=[item["name"] for item in step.inputs], dtype=text)
        group.create_dataset("input_sha256", data=[item.get("sha256", "") for item in step.inputs], dtype=text)
        if step.weights_sha256 is not None:
            group.create_dataset("weights_sha256", data=step.weights_sha256)
        write_note(group, "parameters", step.parameters_json(), f"parameters of {step.method}")
        write_note(group, "notes", step.notes_json(), f"results of {step.method}")


def write_file_header(handle: h5py.File, file_name: str, default: str) -> None:
    """Root attributes of an asirp NeXus file; ``default`` names the NXentry shown first."""
    handle.attrs["default"] = default
    handle.attrs["creator"] = f"asirp {__version__}"
    handle.attrs["file_name"] = file_name
    handle.attrs["file_time"] = now_iso()
    handle.attrs["NeXus_version"] = NEXUS_VERSION
    handle.attrs["HDF5_Version"] = h5py.version.hdf5_version
    handle.attrs["h5py_version"] = h5py.version.version


def create_entry(parent: h5py.Group, name: str) -> h5py.Group:
    """An empty asirp NXentry ``name`` (``program_name``; its ``data`` group is shown by default)."""
    entry = parent.create_group(name)
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "data"
    entry.create_dataset("program_name", data="asirp").attrs["version"] = __version__
    return entry


def write_entry(parent: h5py.Group, name: str, frame: Frame) -> h5py.Group:
    """Write ``frame`` as the NXentry ``name`` of an open file (data, geometry, meta, one NXprocess per step).

    A file may hold several such entries (e.g. one per element map); each reads back
    with :func:`asirp.io.open` as ``file.nxs::/name``.
    """
    meta_json, dropped = _meta_json(frame.meta)
    entry = create_entry(parent, name)
    _write_data(entry, frame)
    if frame.geometry is not None:
        write_geometry(entry, frame.geometry)
    note = write_note(entry, META_NOTE, meta_json, "asirp frame metadata (JSON-serialisable entries)")
    if dropped:
        note.attrs["dropped_keys"] = dropped
    write_history(entry, frame.history)
    return entry


def write_nexus(frame: Frame, path: Path, file_name: str | None = None) -> None:
    """Write ``frame`` as a NeXus/HDF5 file at ``path`` (see the module docstring).

    Parameters
    ----------
    frame:
        The frame to write.
    path:
        Where to write (the caller writes to a temporary file and renames it).
    file_name:
        Name recorded in the root ``@file_name`` attribute (the final name).
    """
    with h5py.File(path, "w") as handle:
        write_file_header(handle, file_name or path.name, "entry")
        write_entry(handle, "entry", frame)


# -- reading back -------------------------------------------------------------------------


def _groups(parent: h5py.Group, cls: str) -> Iterator[h5py.Group]:
    for item in parent.values():
        if isinstance(item, h5py.Group) and nx_class(item) == cls:
            yield item


def read_history(entry: h5py.Group) -> tuple[HistoryStep, ...]:
    """The history steps asirp wrote as NXprocess groups, ordered by ``sequence_index``.

    NXprocess groups of other programs (no ``method`` field) are not asirp steps and
    are left out.
    """
    steps: list[tuple[int, HistoryStep]] = []
    for group in _groups(entry, "NXprocess"):
        if "method" not in group or "sequence_index" not in group:
            continue
        names = _strings(group["input_files"]) if "input_files" in group else []
        digests = _strings(group["input_sha256"]) if "input_sha256" in group else [""] * len(names)
        step = HistoryStep(
            method=dataset_text(group["method"]),
            parameters=_note_json(group, "parameters") if "parameters" in group else {},
            program=dataset_text(group["program"]),
            version=dataset_text(group["version"]),
            date=dataset_text(group["date"]),
            duration_s=float(group["duration"][()]) if "duration" in group else 0.0,
            inputs=tuple({"name": name, "sha256": digest} for name, digest in zip(names, digests, strict=True)),
            weights_sha256=dataset_text(group["weights_sha256"]) if "weights_sha256" in group else None,
            host=dataset_text(group["host"]) if "host" in group else "",
            notes=_note_json(group, "notes") if "notes" in group else {},
        )
        steps.append((int(group["sequence_index"][()]), step))
    return tuple(step for _, step in sorted(steps, key=lambda item: item[0]))


def read_meta(entry: h5py.Group) -> dict[str, Any]:
    """The frame metadata asirp stored in the ``meta`` NXnote ({} when absent)."""
    note = entry.get(META_NOTE)
    if not isinstance(note, h5py.Group) or nx_class(note) != "NXnote" or "data" not in note:
        return {}
    value = json.loads(dataset_text(note["data"]))
    return value if isinstance(value, dict) else {}


def read_kind(nxdata: h5py.Group) -> str | None:
    """The kind asirp recorded on the NXdata group."""
    return attr_text(nxdata, KIND_ATTR)


def _axis_step(nxdata: h5py.Group, name: str, size: int) -> tuple[float, str] | None:
    """Spacing of a uniform axis dataset with length units, or None."""
    axis = nxdata.get(name)
    if not isinstance(axis, h5py.Dataset) or axis.ndim != 1 or axis.shape[0] != size or size < 2:
        return None
    unit = _unit(axis, "")
    if unit not in LENGTH_UNITS or axis.dtype.kind not in "iuf":
        return None
    values = np.asarray(axis[()], dtype=np.float64)
    steps = np.diff(values)
    if not np.allclose(steps, steps[0], rtol=1e-6) or steps[0] == 0:
        return None
    return float(abs(steps[0])), unit


def read_pixel_size(nxdata: h5py.Group, image_shape: tuple[int, int]) -> PixelSize | None:
    """Pixel size from asirp's NXdata attributes, else from uniform axis datasets with length units.

    Axis datasets are found through the NXdata ``@axes`` attribute (the last two names).
    """
    try:
        if PIXEL_SIZE_ATTR in nxdata.attrs:
            y, x = (float(v) for v in np.asarray(nxdata.attrs[PIXEL_SIZE_ATTR]).ravel())
            return PixelSize(y, x, attr_text(nxdata, PIXEL_UNIT_ATTR) or "um")
        axes = nxdata.attrs.get("axes")
        if axes is None:
            return None
        names = [a.decode() if isinstance(a, bytes) else str(a) for a in np.atleast_1d(axes)]
        if len(names) < 2:
            return None
        y_step = _axis_step(nxdata, names[-2], image_shape[0])
        x_step = _axis_step(nxdata, names[-1], image_shape[1])
        if y_step is None or x_step is None:
            return None
        return PixelSize(y_step[0], convert_length(x_step[0], x_step[1], y_step[1]), y_step[1])
    except (ValueError, TypeError, ParameterError):
        return None


def read_detector_pixel_size(detector: h5py.Group) -> PixelSize | None:
    """NXdetector ``y_pixel_size`` and ``x_pixel_size`` (metres unless ``@units`` says otherwise), in µm."""
    if "x_pixel_size" not in detector or "y_pixel_size" not in detector:
        return None
    x, y = _length(detector["x_pixel_size"]), _length(detector["y_pixel_size"])
    if x is None or y is None:
        return None
    try:
        return PixelSize(convert_length(*y, "um"), convert_length(*x, "um"), "um")
    except ParameterError:
        return None


def read_geometry(detector: h5py.Group, where: str) -> Geometry | None:
    """The PONI calibration stored as text in an NXdetector (None when absent)."""
    field = detector.get(PONI_FIELD)
    if not isinstance(field, h5py.Dataset):
        return None
    try:
        return Geometry.from_text(dataset_text(field))
    except InputError as exc:
        raise InputError(f"stored PONI geometry {field.name} is unreadable ({exc.problem})", where) from exc
