"""Readers of micro-XRF spectra cubes: one :class:`SpectraSource` for every file layout.

A source is read **block by block** (a few rows of the map at a time), so a cube far
larger than memory is never loaded whole. It knows the number of channels, the
detector elements, the scan grid (:mod:`asirp.xrf.scan`), the scalers (I0, live
time, real time, input/output count rates), and the energy calibration when the
file has one.

Layouts (``layout="auto"`` recognises them in this order):

==========  ===============================================================================
``maps``    APS MAPS / XRF-Maps. Raw: ``MAPS_RAW/data_a..d`` (channels, rows, columns), one
            per detector element, with ``livetime``, ``realtime``, ``inputcounts``,
            ``ouputcounts`` (elements, rows, columns); the calibration is read from a
            ``maps_fit_parameters_override.txt`` beside the file (or in its parent
            folder). Processed (v9 ``MAPS/mca_arr``, v10 ``MAPS/Spectra/mca_arr``): the
            summed cube, ``x_axis``/``y_axis`` (mm), scalers and the stored calibration.
``pyxrf``   NSLS-II PyXRF: ``xrfmap/detsum/counts`` (rows, columns, channels), or
            ``xrfmap/det1..N/counts`` per element; ``xrfmap/scalers/name`` + ``val``
            (rows, columns, scalers); ``xrfmap/positions/name`` + ``pos`` (2, rows,
            columns) in mm unless the dataset has a ``@units`` attribute.
``nexus``   NeXus/HDF5: the datasets with ``@interpretation="spectrum"`` (several of one
            shape are detector elements), else the named dataset. The spectrum axis is
            **last**: (rows, columns, channels) for a map, (points, channels) for a flat
            list of points. Positions come from the NXdata ``@axes`` (1-D row/column
            axes or 2-D position maps), or for a point list from ``x``/``y`` datasets
            (one value per point, any order: the grid, step and snake order are worked
            out from them); the energy axis (keV or eV) gives the calibration; scalers
            are the datasets of a ``scalers`` group, of NXmonitor groups and the
            ``live_time``/``real_time`` fields of NXdetector groups.
==========  ===============================================================================

Wrong axis orders are caught: a cube whose supposed spectrum axis is short while
its first axis is as long as a spectrum, or whose scalers have the shape of the
transposed map, raises an :class:`~asirp.errors.InputError` saying what to pass
(``channel_axis=0``). Scalers whose shape does not match the map raise too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters detector files use)
import numpy as np

from ..errors import InputError, ParameterError
from ..io.nexus import attr_text, nx_class
from ..io.sniff import check_input_file, split_dataset
from ..units import PixelSize, _check_unit
from .calibration import DetectorResolution, EnergyCalibration, calibration_from_axis, read_maps_override
from .scan import ScanGrid, grid_from_position_maps, grid_from_positions, grid_from_shape

LAYOUTS: tuple[str, ...] = ("auto", "maps", "pyxrf", "nexus")
#: Name of the MAPS parameter file searched beside a MAPS file.
MAPS_OVERRIDE = "maps_fit_parameters_override.txt"
#: Spectra shorter than this next to a first axis at least :data:`_LONG_AXIS` long look transposed.
_SHORT_AXIS, _LONG_AXIS = 64, 256
_MAPS_RAW_SCALERS = {"livetime": "live_time", "realtime": "real_time", "inputcounts": "icr", "ouputcounts": "ocr", "outputcounts": "ocr"}
_NXDETECTOR_SCALERS = ("live_time", "real_time", "input_counts", "output_counts", "count_time")

ReadBlock = Callable[[int, int, int], np.ndarray]


@dataclass(eq=False)
class SpectraSource:
    """A spectra cube in a file (or in memory), read block by block.

    Attributes
    ----------
    path:
        The file (None for an in-memory cube).
    layout:
        ``"maps"``, ``"pyxrf"``, ``"nexus"`` or ``"array"``.
    n_channels:
        Channels per spectrum.
    detectors:
        Names of the detector elements read (their spectra are summed point by point).
    dtype:
        Data type of the counts.
    grid:
        The scan grid: where each point goes in the map and the physical axes.
    scalers:
        Per-point monitor values: name -> array ``(n_points,)`` or, per detector
        element, ``(n_detectors, n_points)``.
    calibration, resolution, incident_energy_kev:
        What the file says about the detector (None when it says nothing).
    meta:
        Dataset paths and facts worth recording.
    """

    path: Path | None
    layout: str
    n_channels: int
    detectors: tuple[str, ...]
    dtype: np.dtype
    grid: ScanGrid
    scalers: dict[str, np.ndarray]
    read_block: ReadBlock
    unit_points: int
    calibration: EnergyCalibration | None = None
    resolution: DetectorResolution | None = None
    incident_energy_kev: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    handle: h5py.File | None = None

    @property
    def n_points(self) -> int:
        return self.grid.n_points

    @property
    def nbytes(self) -> int:
        """Bytes of spectra read in one pass (all detector elements)."""
        return self.n_points * self.n_channels * self.dtype.itemsize * len(self.detectors)

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else "in-memory cube"

    def _units_per_block(self, chunk_bytes: int) -> int:
        unit_bytes = self.unit_points * self.n_channels * self.dtype.itemsize
        return max(1, int(chunk_bytes) // max(unit_bytes, 1))

    def n_blocks(self, chunk_bytes: int) -> int:
        """Number of blocks :meth:`blocks` yields per detector element."""
        n_units = -(-self.n_points // self.unit_points)
        return -(-n_units // self._units_per_block(chunk_bytes))

    def blocks(self, detector: int, chunk_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_point, spectra)`` blocks of detector ``detector``, ``spectra`` shaped ``(n, n_channels)``.

        A block holds whole read units (map rows for maps, points for point lists),
        about ``chunk_bytes`` of counts, at least one unit.
        """
        per_block = self._units_per_block(chunk_bytes)
        n_units = -(-self.n_points // self.unit_points)
        for start in range(0, n_units, per_block):
            stop = min(n_units, start + per_block)
            try:
                block = self.read_block(start, stop, detector)
            except OSError as exc:
                raise InputError(f"cannot read spectra of {self.detectors[detector]} ({exc})", self.where) from exc
            yield start * self.unit_points, block

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def __enter__(self) -> SpectraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.where,
            "layout": self.layout,
            "n_points": self.n_points,
            "n_channels": self.n_channels,
            "detectors": list(self.detectors),
            "dtype": str(self.dtype),
            "bytes": self.nbytes,
            "scalers": sorted(self.scalers),
            "grid": self.grid.describe(),
            "calibration": None if self.calibration is None else self.calibration.as_dict(),
            **self.meta,
        }


# -- shared checks ---------------------------------------------------------------------------


def _check_counts(dataset: Any, where: str) -> None:
    if np.dtype(dataset.dtype).kind not in "iuf":
        raise InputError(f"spectra of dtype {dataset.dtype} are not counts", where)


def _check_spectrum_last(shape: tuple[int, ...], where: str) -> None:
    """Refuse a cube whose last (spectrum) axis looks like a map axis and whose first looks like a spectrum."""
    if shape[-1] < _SHORT_AXIS and shape[0] >= _LONG_AXIS:
        raise InputError(
            f"spectra of shape {shape}: the last axis ({shape[-1]}) is too short for a spectrum while the first "
            f"({shape[0]}) is as long as one; the channels seem to come first. If so, pass channel_axis=0 "
            "(CLI --channel-axis 0)",
            where,
        )


def _scaler(values: np.ndarray, name: str, n_points: int, map_shape: tuple[int, int] | None, n_det: int, where: str) -> np.ndarray:
    """A scaler as ``(n_points,)`` or ``(n_det, n_points)`` float64, or a clear error."""
    array = np.asarray(values, dtype=np.float64)
    shapes = [(n_points,)] + ([map_shape] if map_shape else [])
    if array.shape in shapes:
        return array.reshape(n_points)
    if array.ndim >= 2 and array.shape[0] == n_det and array.shape[1:] in shapes:
        return array.reshape(n_det, n_points)
    if map_shape is not None and array.shape[-2:] == map_shape[::-1] and map_shape[0] != map_shape[1]:
        raise InputError(
            f"scaler {name} has shape {array.shape}, the transposed map shape {map_shape}: the map and its scalers "
            "disagree on the axis order",
            where,
        )
    expected = " or ".join(str(s) for s in shapes)
    raise InputError(f"scaler {name} has shape {array.shape}; expected {expected} (one value per scan point)", where)


def _open(path: str | os.PathLike[str]) -> tuple[Path, str | None, h5py.File]:
    file, dataset = split_dataset(path, None)
    check_input_file(file)
    try:
        handle = h5py.File(file, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", file) from exc
    return file, dataset, handle


def _grid_reader(datasets: Sequence[Any], ny: int, nx: int, channels_first: bool) -> ReadBlock:
    """Read rows ``start..stop`` of detector ``d`` as ``(points, channels)``."""

    def read(start: int, stop: int, d: int) -> np.ndarray:
        if channels_first:
            block = np.asarray(datasets[d][:, start:stop, :])
            return np.ascontiguousarray(block.transpose(1, 2, 0)).reshape((stop - start) * nx, -1)
        return np.asarray(datasets[d][start:stop]).reshape((stop - start) * nx, -1)

    return read


def _list_reader(datasets: Sequence[Any], channels_first: bool) -> ReadBlock:
    def read(start: int, stop: int, d: int) -> np.ndarray:
        if channels_first:
            return np.ascontiguousarray(np.asarray(datasets[d][:, start:stop]).T)
        return np.asarray(datasets[d][start:stop])

    return read


# -- APS MAPS --------------------------------------------------------------------------------


def _maps_override(file: Path) -> tuple[EnergyCalibration | None, DetectorResolution | None, float | None, str | None]:
    for folder in (file.parent, file.parent.parent):
        candidate = folder / MAPS_OVERRIDE
        if candidate.is_file():
            parameters = read_maps_override(candidate)
            return parameters.calibration, parameters.resolution, parameters.incident_energy_kev, str(candidate)
    return None, None, None, None


def _read_maps_raw(file: Path, handle: h5py.File, detectors: Sequence[int] | None) -> SpectraSource:
    group = handle["MAPS_RAW"]
    names = sorted(name for name in group if name.startswith("data_") and isinstance(group[name], h5py.Dataset))
    if not names:
        raise InputError("MAPS_RAW holds no data_a, data_b... spectra", file)
    datasets = [group[name] for name in names]
    where = f"{file}::/MAPS_RAW"
    shape = datasets[0].shape
    if any(ds.shape != shape for ds in datasets) or len(shape) != 3:
        raise InputError(f"MAPS_RAW spectra must be 3-D arrays of one shape, got {[ds.shape for ds in datasets]}", where)
    for ds in datasets:
        _check_counts(ds, where)
    raw_scalers = {name: group[name] for name in _MAPS_RAW_SCALERS if isinstance(group.get(name), h5py.Dataset)}
    # MAPS stores (channels, rows, columns); the scalers (elements, rows, columns) tell the map shape.
    if raw_scalers:
        reference = next(iter(raw_scalers.values())).shape
        map_shape = tuple(reference[-2:])
        if shape[1:] != map_shape:
            if shape[:2] == map_shape:
                raise InputError(
                    f"spectra of shape {shape} have the channels last, but MAPS_RAW stores (channels, rows, columns) "
                    f"and the scalers say the map is {map_shape[0]} x {map_shape[1]}: wrong axis order",
                    where,
                )
            raise InputError(f"spectra of shape {shape} do not match the scalers' map shape {map_shape}", where)
    else:
        map_shape = shape[1:]
    n_channels, ny, nx = shape
    if n_channels < _SHORT_AXIS and max(ny, nx) >= _LONG_AXIS:
        raise InputError(f"spectra of shape {shape} do not look like (channels, rows, columns)", where)
    chosen = _choose_detectors(len(datasets), detectors, where)
    grid = grid_from_shape((ny, nx))
    scalers = {}
    for name, ds in raw_scalers.items():
        array = _scaler(ds[()], name, ny * nx, (ny, nx), len(datasets), where)
        scalers[_MAPS_RAW_SCALERS[name]] = array[chosen] if array.ndim == 2 else array
    calibration, resolution, energy, override = _maps_override(file)
    return SpectraSource(
        file, "maps", n_channels, tuple(f"MAPS_RAW/{names[i]}" for i in chosen), np.dtype(datasets[0].dtype), grid, scalers,
        _grid_reader([datasets[i] for i in chosen], ny, nx, channels_first=True), nx,
        calibration, resolution, energy, {"dataset": "/MAPS_RAW", "maps_parameters": override}, handle,
    )  # fmt: skip


_MAPS_PROCESSED = (
    # (spectra, calibration, scaler values, scaler names)
    ("MAPS/Spectra/mca_arr", "MAPS/Spectra/Energy_Calibration", "MAPS/Scalers/Values", "MAPS/Scalers/Names"),
    ("MAPS/mca_arr", "MAPS/energy_calib", "MAPS/scalers", "MAPS/scaler_names"),
)


def _strings(dataset: h5py.Dataset) -> list[str]:
    return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in np.ravel(dataset[()])]


def _read_maps_processed(file: Path, handle: h5py.File) -> SpectraSource:
    spectra_path, calib_path, values_path, names_path = next(paths for paths in _MAPS_PROCESSED if paths[0] in handle)
    dataset = handle[spectra_path]
    where = f"{file}::/{spectra_path}"
    _check_counts(dataset, where)
    if dataset.ndim != 3:
        raise InputError(f"MAPS spectra must be (channels, rows, columns), got shape {dataset.shape}", where)
    n_channels, ny, nx = dataset.shape
    grid = grid_from_shape((ny, nx))
    if "MAPS/x_axis" in handle and "MAPS/y_axis" in handle:
        x, y = np.asarray(handle["MAPS/x_axis"][()], float).ravel(), np.asarray(handle["MAPS/y_axis"][()], float).ravel()
        if x.size == nx and y.size == ny:
            grid = grid_from_position_maps(np.broadcast_to(x, (ny, nx)), np.broadcast_to(y[:, None], (ny, nx)), unit="mm", where=where)
        else:
            raise InputError(f"MAPS x_axis/y_axis have {x.size}/{y.size} values for a {ny} x {nx} map", where)
    scalers: dict[str, np.ndarray] = {}
    if values_path in handle and names_path in handle:
        values, names = handle[values_path], _strings(handle[names_path])
        if values.ndim != 3 or values.shape[0] != len(names):
            raise InputError(f"{values_path} of shape {values.shape} does not hold {len(names)} named scalers", where)
        for index, name in enumerate(names):
            scalers[name] = _scaler(values[index], name, ny * nx, (ny, nx), 1, where)
    for name, key in (("Elapsed_Livetime", "live_time"), ("Elapsed_Realtime", "real_time"), ("Input_Counts", "icr"), ("Output_Counts", "ocr")):
        path = f"MAPS/Spectra/{name}"
        if path in handle:
            scalers[key] = _scaler(handle[path][()], name, ny * nx, (ny, nx), 1, where)
    calibration = None
    if calib_path in handle:
        coefficients = np.asarray(handle[calib_path][()], dtype=float).ravel()
        if coefficients.size >= 2:
            quadratic = coefficients[2] if coefficients.size > 2 else 0.0
            calibration = EnergyCalibration(coefficients[0], coefficients[1], quadratic, source=f"{file}::/{calib_path}")
    override_cal, resolution, energy, override = _maps_override(file)
    return SpectraSource(
        file, "maps", n_channels, (spectra_path,), np.dtype(dataset.dtype), grid, scalers,
        _grid_reader([dataset], ny, nx, channels_first=True), nx,
        calibration or override_cal, resolution, energy, {"dataset": f"/{spectra_path}", "maps_parameters": override}, handle,
    )  # fmt: skip


# -- PyXRF -----------------------------------------------------------------------------------


def _read_pyxrf(file: Path, handle: h5py.File, detectors: Sequence[int] | None, position_unit: str | None) -> SpectraSource:
    root = handle["xrfmap"]
    per_element = sorted((name for name in root if name.startswith("det") and name[3:].isdigit()), key=lambda n: int(n[3:]))
    if detectors is None and "detsum/counts" in root:
        names = ["detsum"]
    elif per_element:
        chosen = _choose_detectors(len(per_element), detectors, f"{file}::/xrfmap")
        names = [per_element[i] for i in chosen]
    else:
        raise InputError("xrfmap holds neither detsum/counts nor det1..N/counts", file)
    datasets = []
    for name in names:
        if not isinstance(root.get(f"{name}/counts"), h5py.Dataset):
            raise InputError(f"xrfmap/{name} has no counts dataset", file)
        datasets.append(root[f"{name}/counts"])
    where = f"{file}::/xrfmap/{names[0]}/counts"
    shape = datasets[0].shape
    if len(shape) != 3 or any(ds.shape != shape for ds in datasets):
        raise InputError(f"PyXRF counts must be (rows, columns, channels) of one shape, got {[ds.shape for ds in datasets]}", where)
    _check_counts(datasets[0], where)
    _check_spectrum_last(shape, where)
    ny, nx, n_channels = shape
    grid = grid_from_shape((ny, nx))
    if "positions/pos" in root:
        pos = np.asarray(root["positions/pos"][()], dtype=np.float64)
        pos_names = _strings(root["positions/name"]) if "positions/name" in root else ["x_pos", "y_pos"]
        if pos.ndim != 3 or pos.shape[0] != len(pos_names) or pos.shape[1:] != (ny, nx):
            raise InputError(f"xrfmap/positions/pos of shape {pos.shape} does not match the {ny} x {nx} map", where)
        axis = {name.lower()[0]: index for index, name in enumerate(pos_names)}
        if "x" not in axis or "y" not in axis:
            raise InputError(f"xrfmap/positions/name {pos_names} names no x and y positions", where)
        unit = position_unit or attr_text(root["positions/pos"], "units") or "mm"
        grid = grid_from_position_maps(pos[axis["x"]], pos[axis["y"]], unit=_unit(unit, where), where=where)
    scalers: dict[str, np.ndarray] = {}
    if "scalers/val" in root:
        values = root["scalers/val"]
        names_list = _strings(root["scalers/name"]) if "scalers/name" in root else [f"scaler{i}" for i in range(values.shape[-1])]
        if values.ndim != 3 or values.shape[:2] != (ny, nx) or values.shape[2] != len(names_list):
            raise InputError(
                f"xrfmap/scalers/val has shape {values.shape}; expected ({ny}, {nx}, {len(names_list)}) for "
                f"{len(names_list)} scalers of a {ny} x {nx} map",
                where,
            )
        array = np.asarray(values[()], dtype=np.float64)
        for index, name in enumerate(names_list):
            scalers[name] = array[:, :, index].reshape(ny * nx)
    energy = None
    metadata = root.get("scan_metadata")
    if metadata is not None and "instrument_mono_incident_energy" in metadata.attrs:
        energy = float(np.asarray(metadata.attrs["instrument_mono_incident_energy"]).reshape(-1)[0])
    return SpectraSource(
        file, "pyxrf", n_channels, tuple(f"xrfmap/{n}/counts" for n in names), np.dtype(datasets[0].dtype), grid, scalers,
        _grid_reader(datasets, ny, nx, channels_first=False), nx, None, None, energy, {"dataset": "/xrfmap"}, handle,
    )  # fmt: skip


# -- NeXus / plain HDF5 ----------------------------------------------------------------------


def _spectrum_datasets(handle: h5py.File) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []

    def visit(_: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset) and attr_text(obj, "interpretation") == "spectrum" and obj.ndim in (2, 3):
            found.append(obj)

    handle.visititems(visit)
    return found


def _named(handle: h5py.File, name: str, file: Path) -> h5py.Dataset:
    obj = handle.get(name)
    if isinstance(obj, h5py.Group):
        signal = attr_text(obj, "signal")
        obj = obj.get(signal) if signal else None
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"no dataset {name!r} in the file", file)
    return obj


def _unit(text: str, where: str) -> str:
    aliases = {"micron": "um", "microns": "um", "micrometer": "um", "micrometre": "um", "µm": "um", "millimeter": "mm", "millimetre": "mm"}
    try:
        return _check_unit(aliases.get(text.strip().lower(), text.strip()))
    except ParameterError:
        raise InputError(f"positions in unknown length unit {text!r}", where) from None


def _axes_names(nxdata: h5py.Group) -> list[str]:
    axes = nxdata.attrs.get("axes")
    if axes is None:
        return []
    return [a.decode() if isinstance(a, bytes) else str(a) for a in np.atleast_1d(axes)]


def _energy_calibration(nxdata: h5py.Group, names: list[str], n_channels: int, where: str) -> EnergyCalibration | None:
    candidates = [names[-1]] if names else []
    candidates += [n for n in ("energy", "energies", "channel_energy") if n not in candidates]
    for name in candidates:
        axis = nxdata.get(name)
        if isinstance(axis, h5py.Dataset) and axis.shape == (n_channels,) and axis.dtype.kind == "f":
            unit = (attr_text(axis, "units") or "keV").strip()
            scale = {"kev": 1.0, "ev": 1e-3}.get(unit.lower())
            if scale is None:
                raise InputError(f"energy axis {axis.name} in unknown unit {unit!r} (keV or eV expected)", where)
            return calibration_from_axis(np.asarray(axis[()]) * scale, f"{where} energy axis {axis.name}")
    return None


def _nexus_scalers(top: h5py.Group, n_points: int, map_shape: tuple[int, int] | None, n_det: int, where: str) -> dict[str, np.ndarray]:
    """Scalers of a NeXus entry: a ``scalers`` group, NXmonitor ``data`` fields, NXdetector times."""
    scalers: dict[str, np.ndarray] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if not isinstance(obj, h5py.Group):
            return
        leaf = name.rsplit("/", 1)[-1]
        if leaf == "scalers":
            for key, item in obj.items():
                if isinstance(item, h5py.Dataset) and item.dtype.kind in "iuf":
                    scalers[key] = _scaler(item[()], item.name, n_points, map_shape, n_det, where)
        elif nx_class(obj) == "NXmonitor" and isinstance(obj.get("data"), h5py.Dataset):
            scalers[leaf] = _scaler(obj["data"][()], obj["data"].name, n_points, map_shape, n_det, where)
        elif nx_class(obj) == "NXdetector":
            for key in _NXDETECTOR_SCALERS:
                item = obj.get(key)
                if isinstance(item, h5py.Dataset) and item.size > 1:
                    scalers[key] = _scaler(item[()], item.name, n_points, map_shape, n_det, where)

    top.visititems(visit)
    return scalers


def _read_nexus(
    file: Path,
    handle: h5py.File,
    dataset: str | None,
    *,
    channel_axis: int | None,
    x: str | None,
    y: str | None,
    shape: tuple[int, int] | None,
    snake: bool,
    position_unit: str | None,
    detectors: Sequence[int] | None,
) -> SpectraSource:
    if dataset is not None:
        datasets = [_named(handle, dataset, file)]
    else:
        datasets = _spectrum_datasets(handle)
        if not datasets:
            raise InputError(
                "no spectra found: no dataset has @interpretation='spectrum' and none was named "
                "(give FILE.h5::/path/to/spectra, or layout 'maps' / 'pyxrf')",
                file,
            )
        shapes = {ds.shape for ds in datasets}
        if len(shapes) > 1:
            listed = ", ".join(f"{ds.name} {ds.shape}" for ds in datasets)
            raise InputError(f"several spectra datasets of different shapes ({listed}); name one with FILE.h5::/path", file)
        chosen = _choose_detectors(len(datasets), detectors, str(file))
        datasets = [datasets[i] for i in chosen]
    main = datasets[0]
    where = f"{file}::{main.name}"
    _check_counts(main, where)
    if main.ndim not in (2, 3):
        raise InputError(f"spectra must be (rows, columns, channels) or (points, channels), got shape {main.shape}", where)
    channels_first = channel_axis is not None and channel_axis % main.ndim == 0
    if channel_axis is not None and not channels_first and channel_axis % main.ndim != main.ndim - 1:
        raise ParameterError(f"channel_axis must be the first (0) or last (-1) axis, got {channel_axis}")
    logical = main.shape[1:] + main.shape[:1] if channels_first else main.shape
    if not channels_first:
        _check_spectrum_last(main.shape, where)
    n_channels = logical[-1]
    nxdata = main.parent
    names = _axes_names(nxdata)
    calibration = _energy_calibration(nxdata, names, n_channels, where)
    entry = handle[main.name.strip("/").split("/")[0]] if main.name.count("/") > 1 else handle

    if len(logical) == 3:
        ny, nx = logical[:2]
        grid = grid_from_shape((ny, nx))
        row_axis = nxdata.get(names[0]) if len(names) == 3 else None
        col_axis = nxdata.get(names[1]) if len(names) == 3 else None
        if isinstance(row_axis, h5py.Dataset) and isinstance(col_axis, h5py.Dataset):
            unit = _unit(position_unit or attr_text(col_axis, "units") or "um", where)
            rows, cols = np.asarray(row_axis[()], float), np.asarray(col_axis[()], float)
            if rows.shape == (ny,) and cols.shape == (nx,):
                rows2, cols2 = np.broadcast_to(rows[:, None], (ny, nx)), np.broadcast_to(cols, (ny, nx))
            elif rows.shape == cols.shape == (ny, nx):
                rows2, cols2 = rows, cols
            else:
                raise InputError(f"axes {names[0]} {rows.shape} and {names[1]} {cols.shape} do not fit a {ny} x {nx} map", where)
            rows_are_x = names[0].lower().endswith("x") and names[1].lower().endswith("y")
            x_map, y_map = (rows2, cols2) if rows_are_x else (cols2, rows2)
            grid = grid_from_position_maps(x_map, y_map, unit=unit, where=where)
        scalers = _nexus_scalers(entry, ny * nx, (ny, nx), len(datasets), where)
        reader, unit_points = _grid_reader(datasets, ny, nx, channels_first), nx
    else:
        n_points = logical[0]
        positions = _point_positions(handle, nxdata, x, y, n_points, where)
        if positions is not None:
            xs, ys = positions
            unit = _unit(position_unit or xs[1], where)
            grid = grid_from_positions(xs[0], ys[0], unit=unit, where=where)
        elif shape is not None:
            grid = grid_from_shape(shape, n_points=n_points, snake=snake, where=where)
        else:
            raise InputError(
                f"a flat list of {n_points} spectra needs motor positions (x and y datasets, one value per point) "
                "or the scan shape (shape=(rows, columns), CLI --shape)",
                where,
            )
        scalers = _nexus_scalers(entry, n_points, None, len(datasets), where)
        reader, unit_points = _list_reader(datasets, channels_first), 1
    return SpectraSource(
        file, "nexus", n_channels, tuple(ds.name for ds in datasets), np.dtype(main.dtype), grid, scalers,
        reader, unit_points, calibration, None, None, {"dataset": main.name}, handle,
    )  # fmt: skip


def _point_positions(
    handle: h5py.File, nxdata: h5py.Group, x: str | None, y: str | None, n_points: int, where: str
) -> tuple[tuple[np.ndarray, str], tuple[np.ndarray, str]] | None:
    """Per-point x and y positions (values, unit) of a point list, or None."""

    def find(name: str | None, default: str) -> h5py.Dataset | None:
        if name is not None:
            obj = handle.get(name)
            obj = nxdata.get(name) if obj is None else obj
            if not isinstance(obj, h5py.Dataset):
                raise InputError(f"no position dataset {name!r}", where)
            return obj
        obj = nxdata.get(default)
        return obj if isinstance(obj, h5py.Dataset) else None

    dx, dy = find(x, "x"), find(y, "y")
    if dx is None or dy is None:
        return None
    for ds in (dx, dy):
        if ds.size != n_points:
            hint = " (the spectra may be stored channels first: pass channel_axis=0)" if ds.size in _signal_lengths(nxdata) else ""
            raise InputError(f"position dataset {ds.name} has {ds.size} values for {n_points} spectra{hint}", where)
    return (np.asarray(dx[()], float).ravel(), attr_text(dx, "units") or "um"), (np.asarray(dy[()], float).ravel(), attr_text(dy, "units") or "um")


def _signal_lengths(nxdata: h5py.Group) -> set[int]:
    """Lengths of the axes of the NXdata signal (used to explain a transposed point list)."""
    signal = attr_text(nxdata, "signal")
    obj = nxdata.get(signal) if signal else None
    return set(obj.shape) if isinstance(obj, h5py.Dataset) else set()


def _choose_detectors(n: int, detectors: Sequence[int] | None, where: str) -> list[int]:
    """Indices (0-based) of the detector elements to sum; all by default."""
    if detectors is None:
        return list(range(n))
    chosen = [int(d) for d in detectors]
    bad = [d for d in chosen if not 0 <= d < n]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise ParameterError(f"{where}: detector elements must be distinct indices 0..{n - 1}, got {list(detectors)}")
    return chosen


# -- public ----------------------------------------------------------------------------------


def detect_layout(handle: h5py.File) -> str:
    """``"maps"``, ``"pyxrf"`` or ``"nexus"`` from the groups a file holds."""
    if "MAPS_RAW" in handle or any(paths[0] in handle for paths in _MAPS_PROCESSED):
        return "maps"
    if "xrfmap" in handle:
        return "pyxrf"
    return "nexus"


def holds_spectra(handle: h5py.File) -> bool:
    """Whether :func:`open_spectra` finds spectra in ``handle`` by itself (layout ``"auto"``, no dataset named).

    The same test as opening, without reading: MAPS (raw or processed spectra), PyXRF
    (``xrfmap`` with ``detsum`` or ``det1..N`` counts), else NeXus/HDF5 datasets marked
    ``@interpretation="spectrum"``. A viewer routes a file on it (``asirp view cube.h5``).
    """
    layout = detect_layout(handle)
    if layout == "maps":
        return True
    if layout == "pyxrf":
        root = handle["xrfmap"]
        return isinstance(root, h5py.Group) and any(isinstance(root.get(f"{name}/counts"), h5py.Dataset) for name in root
                                                     if name == "detsum" or (name.startswith("det") and name[3:].isdigit()))  # fmt: skip
    return bool(_spectrum_datasets(handle))


def open_spectra(
    path: str | os.PathLike[str],
    *,
    layout: str = "auto",
    detectors: Sequence[int] | None = None,
    channel_axis: int | None = None,
    x: str | None = None,
    y: str | None = None,
    shape: tuple[int, int] | None = None,
    snake: bool = False,
    position_unit: str | None = None,
) -> SpectraSource:
    """Open a spectra cube for block-by-block reading (see the module docstring for layouts).

    Parameters
    ----------
    path:
        HDF5/NeXus file; ``"file.h5::/entry/data/spectra"`` names the spectra dataset.
    layout:
        One of :data:`LAYOUTS`; ``"auto"`` recognises it from the file's groups.
    detectors:
        0-based indices of the detector elements to sum (default: all; for PyXRF the
        stored sum ``detsum`` is read when no subset is asked for).
    channel_axis:
        For NeXus/HDF5 spectra stored channels first, ``0``.
    x, y:
        Position datasets of a flat point list (default: ``x`` and ``y`` beside the spectra).
    shape, snake:
        Scan shape (rows, columns) and order for a point list without positions.
    position_unit:
        Unit of the motor positions when the file does not say (PyXRF: mm by default).

    Returns
    -------
    SpectraSource
        Use it in a ``with`` block (it keeps the file open until closed).

    Raises
    ------
    InputError
        Missing/unreadable file, no spectra, wrong axis order, scalers or positions
        whose shape does not match the spectra, positions that are not a grid.
    """
    if layout not in LAYOUTS:
        raise ParameterError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    file, dataset, handle = _open(path)
    try:
        chosen = detect_layout(handle) if layout == "auto" and dataset is None else ("nexus" if dataset else layout)
        if chosen == "maps" and "MAPS_RAW" in handle:
            return _read_maps_raw(file, handle, detectors)
        if chosen == "maps":
            if not any(paths[0] in handle for paths in _MAPS_PROCESSED):
                raise InputError("no MAPS_RAW or MAPS/mca_arr spectra in this file", file)
            return _read_maps_processed(file, handle)
        if chosen == "pyxrf":
            if "xrfmap" not in handle:
                raise InputError("no xrfmap group: not a PyXRF file", file)
            return _read_pyxrf(file, handle, detectors, position_unit)
        return _read_nexus(
            file, handle, dataset, channel_axis=channel_axis, x=x, y=y, shape=shape, snake=snake,
            position_unit=position_unit, detectors=detectors,
        )  # fmt: skip
    except BaseException:
        handle.close()
        raise


def from_array(
    spectra: np.ndarray | Sequence[np.ndarray],
    *,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    snake: bool = False,
    step: PixelSize | None = None,
    position_unit: str = "um",
    scalers: Mapping[str, np.ndarray] | None = None,
    calibration: EnergyCalibration | None = None,
    resolution: DetectorResolution | None = None,
) -> SpectraSource:
    """A :class:`SpectraSource` over in-memory spectra (no copy).

    ``spectra`` is a map ``(rows, columns, channels)``, a point list ``(points,
    channels)`` (then ``x``/``y`` positions or ``shape`` are needed), or a list of such
    arrays, one per detector element.
    """
    arrays = [np.asarray(a) for a in (spectra if isinstance(spectra, list | tuple) else [spectra])]
    first = arrays[0]
    where = "in-memory cube"
    if any(a.shape != first.shape for a in arrays) or first.ndim not in (2, 3):
        raise InputError(
            f"spectra must be (rows, columns, channels) or (points, channels) arrays of one shape, got {[a.shape for a in arrays]}", where
        )
    if first.dtype.kind not in "iuf":
        raise InputError(f"spectra of dtype {first.dtype} are not counts", where)
    _check_spectrum_last(first.shape, where)
    n_channels = first.shape[-1]
    if first.ndim == 3:
        ny, nx = first.shape[:2]
        if x is not None and y is not None:
            grid = grid_from_position_maps(x, y, unit=position_unit, where=where)
        else:
            grid = grid_from_shape((ny, nx), step=step)
        reader, unit_points, map_shape = _grid_reader(arrays, ny, nx, channels_first=False), nx, (ny, nx)
    else:
        if x is not None and y is not None:
            grid = grid_from_positions(x, y, unit=position_unit, where=where)
        elif shape is not None:
            grid = grid_from_shape(shape, n_points=first.shape[0], snake=snake, step=step, where=where)
        else:
            raise InputError("a point list needs x/y positions or the scan shape", where)
        reader, unit_points, map_shape = _list_reader(arrays, channels_first=False), 1, None
    if step is not None and grid.step is not None:
        grid = grid.with_step(step)
    clean = {name: _scaler(values, name, grid.n_points, map_shape, len(arrays), where) for name, values in (scalers or {}).items()}
    return SpectraSource(
        None, "array", n_channels, tuple(f"detector {i + 1}" for i in range(len(arrays))), np.dtype(first.dtype), grid, clean,
        reader, unit_points, calibration, resolution, None, {},
    )  # fmt: skip
