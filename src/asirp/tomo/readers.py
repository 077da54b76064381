"""Reading tomography scans: projections, flat fields, dark fields and rotation angles.

Three layouts are understood, each into one :class:`TomoScan`:

* **Data Exchange** HDF5 (APS, TomoPy, dxchange): ``exchange/data`` (projections),
  ``exchange/data_white`` (flats), ``exchange/data_dark`` (darks), ``exchange/theta``
  (angles, degrees unless ``@units`` says radians);
* **NeXus NXtomo**: one image stack ``instrument/detector/data`` whose frames are told
  apart by ``image_key`` (0 projection, 1 flat, 2 dark, 3 invalid, dropped) and
  ``sample/rotation_angle`` for every frame;
* a **TIFF stack** (one multi-page file, or a folder of single-image files in name
  order) with an **angles file** (text, one angle per projection, ``#`` comments, or
  ``.npy``) and optional flat and dark TIFFs.

Checks made here, with the handling chosen for each (all raise :class:`~asirp.errors.InputError`
naming the file, unless said otherwise):

* projections and angles of different counts: error;
* non-finite angles: error;
* angles not in increasing order (interlaced or backward scans): the projections are
  **sorted by angle** and the read step's notes say so (``sort_angles=False`` makes it
  an error naming the first out-of-order position);
* flats or darks of another image size than the projections: error;
* missing flats or darks are *allowed* here; :func:`asirp.tomo.correct.flat_field`
  says how they are handled (darks taken as 0; flats estimated from air columns).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import tifffile
from numpy.typing import ArrayLike

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import HistoryStep, sha256_of_file
from ..io.nexus import attr_text, dataset_text, nx_class, read_detector_pixel_size
from ..io.sniff import HDF5_SUFFIXES, TIFF_SUFFIXES
from ..progress import progress
from ..synth import SynthResult
from ..units import PixelSize

AngleUnit = Literal["deg", "rad"]
#: NXtomo ``image_key`` values.
IMAGE_KEY_PROJECTION, IMAGE_KEY_FLAT, IMAGE_KEY_DARK, IMAGE_KEY_INVALID = 0, 1, 2, 3
#: Bytes of projections read at a time: each block is one iteration of a progress loop, so a
#: reader watched by an :class:`asirp.progress.Observation` (the viewer) reports and stops between blocks.
READ_BLOCK_BYTES = 16 << 20
_RADIAN_UNITS = {"rad", "radian", "radians"}
_DEGREE_UNITS = {"deg", "degree", "degrees", "°"}


@dataclass(frozen=True)
class TomoScan:
    """A tomography scan as read: raw projections, flats, darks and angles.

    Attributes
    ----------
    projections:
        Frame of kind ``"tomo_projection"``, stack ``(n_angles, ny, nx)`` of detector
        counts in the order of increasing angle; ``meta`` holds ``angles_deg``,
        ``quantity`` (``"counts"``), ``source`` and ``source_sha256``.
    angles_deg:
        Rotation angle of each projection, degrees, non-decreasing.
    flats, darks:
        Open-beam and dark-current images ``(n, ny, nx)``, counts, or None when the
        file has none.
    source:
        The file read (None for arrays given in memory).
    """

    projections: Frame
    angles_deg: np.ndarray
    flats: np.ndarray | None = None
    darks: np.ndarray | None = None
    source: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_angles, ny, nx)`` of the projections."""
        n, ny, nx = self.projections.shape
        return int(n), int(ny), int(nx)

    def with_projections(self, projections: Frame) -> TomoScan:
        """The same scan with processed projections (zinger removal...); angles must be unchanged."""
        if projections.shape[0] != self.shape[0]:
            raise InputError(f"{projections.shape[0]} projections given for a scan of {self.shape[0]} angles", self.source)
        return replace(self, projections=projections)


# -- building a scan from arrays ----------------------------------------------------------


def _angles_in_degrees(values: ArrayLike, unit: str | None, where: str | None) -> np.ndarray:
    angles = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(angles).all():
        bad = int(np.flatnonzero(~np.isfinite(angles))[0])
        raise InputError(f"angle {bad} is not a finite number ({angles[bad]})", where)
    unit = (unit or "deg").strip().lower()
    if unit in _RADIAN_UNITS:
        return np.degrees(angles)
    if unit not in _DEGREE_UNITS:
        raise InputError(f"unknown angle unit {unit!r}; expected degrees or radians", where)
    return angles


def _image_stack(values: Any, name: str, shape: tuple[int, int] | None, where: str | None) -> np.ndarray | None:
    """Flats or darks as a float32 ``(n, ny, nx)`` stack checked against the projections' image shape."""
    if values is None:
        return None
    stack = np.asarray(values)
    if stack.dtype.kind not in "fiu":
        raise InputError(f"{name} of dtype {stack.dtype} are not numbers", where)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise InputError(f"{name} must be images (ny, nx) or a stack (n, ny, nx), got shape {stack.shape}", where)
    if shape is not None and stack.shape[1:] != shape:
        raise InputError(f"{name} images are {stack.shape[1]}x{stack.shape[2]} px but projections are {shape[0]}x{shape[1]} px", where)
    stack = stack.astype(np.float32)
    if not np.isfinite(stack).all():
        raise InputError(f"{name} contain NaN or inf", where)
    return stack


def make_scan(
    projections: np.ndarray | Frame,
    angles_deg: Sequence[float] | np.ndarray,
    *,
    flats: np.ndarray | None = None,
    darks: np.ndarray | None = None,
    pixel_size: PixelSize | None = None,
    source: str | os.PathLike[str] | None = None,
    sort_angles: bool = True,
    read_step: HistoryStep | None = None,
) -> TomoScan:
    """Check and assemble a scan from arrays (what every reader ends with).

    Parameters
    ----------
    projections:
        ``(n_angles, ny, nx)`` detector counts, or a Frame of them (its history is kept).
    angles_deg:
        Rotation angle of each projection, degrees.
    flats, darks:
        Open-beam and dark images, ``(ny, nx)`` or ``(n, ny, nx)``, counts; optional.
    pixel_size:
        Detector pixel size, when known.
    source:
        The file the arrays came from (named in errors and provenance).
    sort_angles:
        Sort projections into increasing angle when the angles are not in order
        (documented handling of interlaced and backward scans); False: raise instead.
    read_step:
        The provenance step of the reading; a plain ``"read"`` step when None.

    Examples
    --------
    >>> import numpy as np
    >>> scan = make_scan(np.ones((3, 4, 5)), [0.0, 120.0, 60.0], flats=np.full((4, 5), 2.0))
    >>> scan.angles_deg.tolist(), scan.projections.history[-1].notes["sorted_by_angle"]
    ([0.0, 60.0, 120.0], True)
    """
    where = None if source is None else str(source)
    frame = projections if isinstance(projections, Frame) else None
    data = frame.data if frame is not None else np.asarray(projections)
    if data.dtype.kind not in "fiu":
        raise InputError(f"projections of dtype {data.dtype} are not numbers", where)
    if data.ndim != 3:
        raise InputError(f"projections must be a stack (n_angles, ny, nx), got shape {data.shape}", where)
    angles = _angles_in_degrees(angles_deg, "deg", where)
    if angles.size != data.shape[0]:
        raise InputError(f"{data.shape[0]} projections but {angles.size} angles: one angle per projection is needed", where)
    image_shape = (int(data.shape[1]), int(data.shape[2]))
    flats_stack = _image_stack(flats, "flats", image_shape, where)
    darks_stack = _image_stack(darks, "darks", image_shape, where)

    order = np.arange(angles.size)
    unsorted = bool(np.any(np.diff(angles) < 0))
    if unsorted:
        if not sort_angles:
            first = int(np.flatnonzero(np.diff(angles) < 0)[0]) + 1
            raise InputError(
                f"angles are not in increasing order: angle {first} ({angles[first]:g}°) follows "
                f"{angles[first - 1]:g}°; pass sort_angles=True to sort the projections by angle",
                where,
            )
        order = np.argsort(angles, kind="stable")
        angles = angles[order]
    step = read_step or HistoryStep(method="read", parameters={"format": "arrays"})
    notes = {
        **step.notes,
        "n_angles": int(angles.size),
        "angle_range_deg": [float(angles[0]), float(angles[-1])],
        "n_flats": 0 if flats_stack is None else int(flats_stack.shape[0]),
        "n_darks": 0 if darks_stack is None else int(darks_stack.shape[0]),
        "sorted_by_angle": unsorted,
    }
    step = replace(step, notes=notes)
    meta: dict[str, Any] = {"angles_deg": angles.tolist(), "quantity": "counts"}
    if where is not None:
        meta["source"] = where
        if step.inputs:
            meta["source_sha256"] = step.inputs[0]["sha256"]
    if frame is None:
        frame = Frame.from_array(data[order], kind="tomo_projection", pixel_size=pixel_size, meta=meta, history=(step,))
    else:
        frame = replace(
            frame,
            data=frame.data[order],
            valid=frame.valid[order],
            kind="tomo_projection",
            pixel_size=pixel_size or frame.pixel_size,
            meta={**frame.meta, **meta},
            history=frame.history + (step,),
        )
    return TomoScan(frame, angles, flats_stack, darks_stack, where)


def scan_from_synth(result: SynthResult, *, noisy: bool = True) -> TomoScan:
    """A scan from :func:`asirp.synth.tomo_projections`: its noisy (or noise-free ``truth``) projections,
    a flat field of exactly ``photons`` counts and no dark current.
    """
    frame = result.noisy if noisy else result.truth
    flat = np.full(frame.image_shape, float(result.meta["photons"]), dtype=np.float32)
    return make_scan(frame, result.meta["angles_deg"], flats=flat,
                     read_step=HistoryStep(method="read", parameters={"format": "asirp.synth.tomo_projections",
                                                                      "noisy": noisy, **_synth_parameters(result)}))


def _synth_parameters(result: SynthResult) -> dict[str, Any]:
    keep = ("n_angles", "photons", "beam_fwhm_px", "psf_sigma_px", "volume_shape", "seed")
    return {key: result.meta[key] for key in keep if key in result.meta}


# -- files --------------------------------------------------------------------------------


def _read_step(path: Path, fmt: str, **parameters: Any) -> HistoryStep:
    return HistoryStep(
        method="read",
        parameters={"format": fmt, **parameters},
        inputs=({"name": str(path), "sha256": sha256_of_file(path)},),
    )


def _rows(rows: tuple[int, int] | None) -> slice:
    if rows is None:
        return slice(None)
    start, stop = (int(v) for v in rows)
    if start < 0 or stop <= start:
        raise ParameterError(f"rows must be (start, stop) with 0 <= start < stop, got {rows}")
    return slice(start, stop)


def _check_rows(selected: slice, ny: int, where: str) -> None:
    if selected.stop is not None and selected.stop > ny:
        raise InputError(f"rows {selected.start}:{selected.stop} asked for but the detector has {ny} rows", where)


def check_rows(rows: tuple[int, int], ny: int, where: str) -> slice:
    """Detector rows ``(start, stop)`` of a detector ``ny`` rows high as a slice, refused as ``read_scan(rows=...)`` refuses them.

    Raises :class:`~asirp.errors.ParameterError` (not ``0 <= start < stop``) or
    :class:`~asirp.errors.InputError` naming ``where`` (past the detector's last row).
    """
    selected = _rows(rows)
    _check_rows(selected, ny, where)
    return selected


def _read_in_blocks(dataset: h5py.Dataset, selected: slice, what: str) -> np.ndarray:
    """``dataset[:, selected, :]``, read :data:`READ_BLOCK_BYTES` at a time through :func:`asirp.progress.progress`."""
    n, ny, nx = dataset.shape
    rows = len(range(ny)[selected])
    out = np.empty((n, rows, nx), dtype=dataset.dtype)
    per = max(1, READ_BLOCK_BYTES // max(1, rows * nx * dataset.dtype.itemsize))
    starts = range(0, n, per)
    for start in progress(starts, desc=f"reading {what}", unit="block", total=len(starts)):
        out[start : start + per] = dataset[start : start + per, selected, :]
    return out


def _dataset(handle: h5py.File, name: str, where: str) -> h5py.Dataset:
    item = handle.get(name)
    if not isinstance(item, h5py.Dataset):
        raise InputError(f"no dataset {name!r}", where)
    return item


def _load_angles(path: str | os.PathLike[str], unit: AngleUnit) -> np.ndarray:
    """An angles file: ``.npy``, or text with one or more numbers per line (``#`` comments, commas allowed)."""
    file = Path(path)
    if not file.is_file():
        raise InputError("angles file not found", file)
    try:
        if file.suffix.lower() == ".npy":
            values = np.load(file, allow_pickle=False)
        else:
            text = file.read_text(encoding="utf-8", errors="replace")
            values = np.array(
                [float(item) for line in text.splitlines() for item in line.split("#")[0].replace(",", " ").split()]
            )
    except ValueError as exc:
        raise InputError(f"cannot read the angles as numbers ({exc})", file) from None
    return _angles_in_degrees(values, unit, str(file))


def _angles_argument(angles: Any, unit: AngleUnit) -> np.ndarray | None:
    if angles is None:
        return None
    if isinstance(angles, str | os.PathLike):
        return _load_angles(angles, unit)
    return _angles_in_degrees(np.asarray(angles), unit, None)


def _dxchange_pixel_size(handle: h5py.File) -> PixelSize | None:
    """Detector pixel size of a Data Exchange file (``measurement/instrument/detector``), when given."""
    detector = handle.get("measurement/instrument/detector")
    if not isinstance(detector, h5py.Group):
        return None
    for x_name, y_name in (("x_pixel_size", "y_pixel_size"), ("pixel_size_x", "pixel_size_y")):
        if x_name in detector and y_name in detector:
            renamed = {"x_pixel_size": detector[x_name], "y_pixel_size": detector[y_name]}
            return read_detector_pixel_size(renamed)
    return None


def read_data_exchange(
    path: Path, *, angles: Any = None, angles_unit: AngleUnit = "deg", rows: tuple[int, int] | None = None, sort_angles: bool = True
) -> TomoScan:
    """A Data Exchange HDF5 file (``exchange/data``, ``data_white``, ``data_dark``, ``theta``)."""
    where = str(path)
    selected = _rows(rows)
    with h5py.File(path, "r") as handle:
        data = _dataset(handle, "exchange/data", where)
        if data.ndim != 3:
            raise InputError(f"exchange/data must be (n_angles, ny, nx), got shape {data.shape}", where)
        _check_rows(selected, data.shape[1], where)
        projections = _read_in_blocks(data, selected, "exchange/data")
        flats = handle["exchange/data_white"][:, selected, :] if "exchange/data_white" in handle else None
        darks = handle["exchange/data_dark"][:, selected, :] if "exchange/data_dark" in handle else None
        theta = _angles_argument(angles, angles_unit)
        if theta is None:
            if "exchange/theta" not in handle:
                raise InputError("no exchange/theta (rotation angles); give the angles (angles=FILE or --angles)", where)
            dataset = handle["exchange/theta"]
            theta = _angles_in_degrees(dataset[()], attr_text(dataset, "units"), where)
        pixel_size = _dxchange_pixel_size(handle)
    step = _read_step(path, "Data Exchange", dataset="exchange/data", rows=None if rows is None else list(rows))
    return make_scan(projections, theta, flats=flats, darks=darks, pixel_size=pixel_size, source=path,
                     sort_angles=sort_angles, read_step=step)


def _nxtomo_entry(handle: h5py.File) -> h5py.Group | None:
    """The first NXentry that is an NXtomo (by ``definition``) or has a detector with ``image_key``."""
    for entry in handle.values():
        if not isinstance(entry, h5py.Group) or nx_class(entry) != "NXentry":
            continue
        definition = entry.get("definition")
        if isinstance(definition, h5py.Dataset) and dataset_text(definition).strip() == "NXtomo":
            return entry
        if isinstance(entry.get("instrument/detector/image_key"), h5py.Dataset):
            return entry
    return None


def read_nxtomo(
    path: Path, *, angles: Any = None, angles_unit: AngleUnit = "deg", rows: tuple[int, int] | None = None, sort_angles: bool = True
) -> TomoScan:
    """A NeXus NXtomo file: projections, flats and darks told apart by ``image_key``."""
    where = str(path)
    selected = _rows(rows)
    with h5py.File(path, "r") as handle:
        entry = _nxtomo_entry(handle)
        if entry is None:
            raise InputError("no NXtomo entry (an NXentry with definition NXtomo or instrument/detector/image_key)", where)
        detector = entry["instrument/detector"]
        data = _dataset(handle, f"{detector.name}/data", where)
        keys = np.asarray(_dataset(handle, f"{detector.name}/image_key", where)[()]).astype(int).ravel()
        if data.ndim != 3 or keys.size != data.shape[0]:
            raise InputError(f"{data.shape[0] if data.ndim else 0} detector frames but {keys.size} image_key values", where)
        unknown = sorted(set(keys.tolist()) - {0, 1, 2, 3})
        if unknown:
            raise InputError(f"unknown image_key values {unknown} (NXtomo: 0 projection, 1 flat, 2 dark, 3 invalid)", where)
        _check_rows(selected, data.shape[1], where)
        stack = _read_in_blocks(data, selected, f"{detector.name}/data")
        theta = _angles_argument(angles, angles_unit)
        if theta is None:
            name = next((n for n in ("sample/rotation_angle", "data/rotation_angle") if n in entry), None)
            if name is None:
                raise InputError(f"no {entry.name}/sample/rotation_angle; give the angles (angles=FILE or --angles)", where)
            dataset = entry[name]
            all_angles = np.asarray(dataset[()], dtype=np.float64).ravel()
            if all_angles.size != keys.size:
                raise InputError(f"{keys.size} detector frames but {all_angles.size} rotation angles", where)
            theta = _angles_in_degrees(all_angles[keys == IMAGE_KEY_PROJECTION], attr_text(dataset, "units"), where)
        pixel_size = read_detector_pixel_size(detector)
        entry_name = entry.name
    projections = stack[keys == IMAGE_KEY_PROJECTION]
    if projections.shape[0] == 0:
        raise InputError("no projection (image_key 0) in the file", where)
    flats = stack[keys == IMAGE_KEY_FLAT] if np.any(keys == IMAGE_KEY_FLAT) else None
    darks = stack[keys == IMAGE_KEY_DARK] if np.any(keys == IMAGE_KEY_DARK) else None
    step = _read_step(path, "NXtomo", entry=entry_name, rows=None if rows is None else list(rows),
                      n_invalid_frames=int(np.sum(keys == IMAGE_KEY_INVALID)))
    return make_scan(projections, theta, flats=flats, darks=darks, pixel_size=pixel_size, source=path,
                     sort_angles=sort_angles, read_step=step)


def _tiff_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in TIFF_SUFFIXES)
        if not files:
            raise InputError("folder holds no .tif/.tiff file", path)
        return files
    if not path.is_file():
        raise InputError("file not found", path)
    return [path]


def _read_tiff(file: Path) -> list[np.ndarray]:
    """The images of one TIFF file: one 2-D image, or a multi-page file read :data:`READ_BLOCK_BYTES` of pages at a time
    through :func:`asirp.progress.progress` (each page one image)."""
    with tifffile.TiffFile(file) as tiff:
        series = tiff.series[0]
        pages = len(series.pages)
        if pages < 2 or len(series.shape) != 3 or series.shape[0] != pages:
            return [tiff.asarray()]
        per = max(1, READ_BLOCK_BYTES // max(1, int(np.prod(series.shape[1:])) * series.dtype.itemsize))
        starts = range(0, pages, per)
        blocks = [tiff.asarray(key=range(start, min(start + per, pages)), series=0)
                  for start in progress(starts, desc=f"reading {file.name}", unit="block", total=len(starts))]  # fmt: skip
    return [block[None] if block.ndim == 2 else block for block in blocks]


def _read_tiffs(path: Path, selected: slice, name: str) -> np.ndarray:
    files = _tiff_files(path)
    try:
        if len(files) == 1:
            images = _read_tiff(files[0])
        else:  # a folder: one file per projection, each an iteration
            images = [tifffile.imread(file) for file in progress(files, desc=f"reading {path.name}", unit="file")]
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise InputError(f"cannot read the {name} as TIFF ({exc})", path) from None
    stack = np.concatenate([image[None] if image.ndim == 2 else image for image in images])
    if stack.ndim != 3:
        raise InputError(f"{name} TIFF holds images of shape {images[0].shape}, expected 2-D images", path)
    _check_rows(selected, stack.shape[1], str(path))
    return stack[:, selected, :]


def read_tiff_stack(
    path: Path,
    *,
    angles: Any,
    angles_unit: AngleUnit = "deg",
    flats: str | os.PathLike[str] | None = None,
    darks: str | os.PathLike[str] | None = None,
    rows: tuple[int, int] | None = None,
    pixel_size: PixelSize | None = None,
    sort_angles: bool = True,
) -> TomoScan:
    """A multi-page TIFF (or a folder of TIFFs, in name order) with an angles file and optional flat/dark TIFFs."""
    theta = _angles_argument(angles, angles_unit)
    if theta is None:
        raise InputError("a TIFF stack carries no rotation angles; give an angles file (angles=FILE or --angles)", path)
    selected = _rows(rows)
    projections = _read_tiffs(path, selected, "projections")
    flat_stack = None if flats is None else _read_tiffs(Path(flats), selected, "flats")
    dark_stack = None if darks is None else _read_tiffs(Path(darks), selected, "darks")
    parameters = {"format": "TIFF", "angles": str(angles) if isinstance(angles, str | os.PathLike) else "array",
                  "flats": None if flats is None else str(flats), "darks": None if darks is None else str(darks),
                  "rows": None if rows is None else list(rows)}
    files = _tiff_files(path)  # a folder: every image file is an input, with its checksum
    step = HistoryStep(method="read", parameters=parameters,
                       inputs=tuple({"name": str(file), "sha256": sha256_of_file(file)} for file in files))
    return make_scan(projections, theta, flats=flat_stack, darks=dark_stack, pixel_size=pixel_size, source=path,
                     sort_angles=sort_angles, read_step=step)


def scan_layout(path: str | os.PathLike[str]) -> Literal["dxchange", "nxtomo"] | None:
    """The tomography layout of an HDF5 file: ``"dxchange"`` (``exchange/data``), ``"nxtomo"``, or None (not a scan).

    Raises :class:`~asirp.errors.InputError` when the file cannot be opened as HDF5.
    """
    try:
        with h5py.File(path, "r") as handle:
            return "dxchange" if "exchange/data" in handle else ("nxtomo" if _nxtomo_entry(handle) else None)
    except OSError as exc:
        raise InputError(f"cannot open as HDF5 ({exc})", path) from None


def read_scan(
    path: str | os.PathLike[str],
    *,
    angles: str | os.PathLike[str] | Sequence[float] | np.ndarray | None = None,
    angles_unit: AngleUnit = "deg",
    flats: str | os.PathLike[str] | None = None,
    darks: str | os.PathLike[str] | None = None,
    rows: tuple[int, int] | None = None,
    pixel_size: PixelSize | None = None,
    sort_angles: bool = True,
) -> TomoScan:
    """Read a tomography scan from Data Exchange HDF5, NeXus NXtomo or a TIFF stack.

    Parameters
    ----------
    path:
        An HDF5 file (Data Exchange or NXtomo, told apart by content), a multi-page
        TIFF, or a folder of TIFF images (one projection each, in name order).
    angles:
        Angles file (text or ``.npy``) or values, one per projection; required for
        TIFF, and overrides the file's own angles for HDF5.
    angles_unit:
        Unit of ``angles`` (``"deg"`` or ``"rad"``); HDF5 angles follow their ``@units``.
    flats, darks:
        Flat- and dark-field TIFF files (TIFF stacks only; HDF5 files carry their own).
    rows:
        ``(start, stop)`` detector rows to read (slices to reconstruct); all by default.
        Only those rows are read from an HDF5 file.
    pixel_size:
        Detector pixel size, overriding what the file says.
    sort_angles:
        See :func:`make_scan`.

    Returns
    -------
    TomoScan
        Projections sorted by angle with a ``"read"`` history step (file sha256).

    Raises
    ------
    InputError
        Unreadable file, unknown layout, or inconsistent projections, angles, flats
        and darks (see the module docstring).
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if file.is_dir() or suffix in TIFF_SUFFIXES:
        scan = read_tiff_stack(file, angles=angles, angles_unit=angles_unit, flats=flats, darks=darks, rows=rows,
                               pixel_size=pixel_size, sort_angles=sort_angles)
    elif suffix in HDF5_SUFFIXES:
        if not file.is_file():
            raise InputError("file not found", file)
        if flats is not None or darks is not None:
            raise ParameterError("flats= and darks= are for TIFF stacks; an HDF5 scan carries its own")
        layout = scan_layout(file)
        if layout is None:
            raise InputError("neither Data Exchange (exchange/data) nor NeXus NXtomo (image_key): not a tomography scan", file)
        reader = read_data_exchange if layout == "dxchange" else read_nxtomo
        scan = reader(file, angles=angles, angles_unit=angles_unit, rows=rows, sort_angles=sort_angles)
    else:
        raise InputError(f"unknown tomography format {suffix or '(no suffix)'!r}; use HDF5 (Data Exchange, NXtomo) or TIFF", file)
    if pixel_size is not None:
        scan = replace(scan, projections=replace(scan.projections, pixel_size=pixel_size))
    return scan
