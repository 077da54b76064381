"""``asirp.io.open``: any supported file -> :class:`~asirp.frame.Frame` with mask and provenance."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError, ParameterError
from ..frame import KINDS, Frame, check_range
from ..geometry import Geometry
from ..history import TimedStep, sha256_of_file
from ..kinds import is_kind
from ..units import PixelSize
from . import masks
from .hdf5 import read_hdf5
from .images import read_fabio, read_npy, read_tiff
from .mask_file import read_mask
from .raw import RawImage
from .sniff import DATASET_SEPARATOR, Reader, check_input_file, sniff, split_dataset

_READERS: dict[Reader, Callable[[Path], RawImage]] = {"tiff": read_tiff, "npy": read_npy, "fabio": read_fabio}


def _check_options(kind: str | None, saturation: float | None) -> float | None:
    """Validate ``kind`` and return ``saturation`` as a float (None stays None)."""
    if kind is not None and kind not in KINDS:
        raise ParameterError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if saturation is None:
        return None
    try:
        value = float(saturation)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ParameterError(f"saturation must be a positive number of counts, got {saturation!r}")
    return value


def _as_float32(data: np.ndarray, valid: np.ndarray, source: str) -> np.ndarray:
    """The data as float32, masked pixels set to 0 before the cast (they may hold NaN or 2^32-1).

    float32 holds integers exactly up to 2^24 (16.7 million counts); above, a count
    is rounded by at most 1 part in 2^24 (6e-8), far below its Poisson noise
    (1/sqrt(N) < 2.4e-4), so no warning is given. Float64 data are rounded the same
    way; values beyond :data:`~asirp.frame.MAX_ABS_VALUE` are refused before the cast.
    """
    check_range(data[valid], source)
    return np.where(valid, data, 0).astype(np.float32)


def _geometry(file_path: Path, poni: str | os.PathLike[str] | None, raw: RawImage) -> tuple[Geometry | None, str | None]:
    """The geometry to attach and where it came from: ``poni=``, a sibling ``.poni``, or the file."""
    if poni is not None:
        return Geometry.from_file(poni), str(Path(poni).absolute())
    sibling = file_path.with_suffix(".poni")
    if sibling != file_path and sibling.is_file():
        return Geometry.from_file(sibling), str(sibling.absolute())
    if raw.geometry is not None:
        return raw.geometry, "stored in the file"
    return None, None


def _detector_pixel_size(geometry: Geometry) -> PixelSize:
    detector = geometry.integrator.detector
    return PixelSize(float(detector.pixel1) * 1e6, float(detector.pixel2) * 1e6, "um")


def _mask_input(mask: str | os.PathLike[str] | None) -> tuple[dict[str, str], ...]:
    """The mask file as a provenance input (name and sha256), if one was given."""
    if mask is None:
        return ()
    mask_path, _ = split_dataset(mask, None)
    return ({"name": str(Path(mask).absolute()), "sha256": sha256_of_file(mask_path)},)


def open_frame(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    poni: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    saturation: float | None = None,
    mask: str | os.PathLike[str] | None = None,
) -> Frame:
    """Read an image or image stack from a file into a :class:`~asirp.frame.Frame`.

    The format is recognised from the file's magic bytes, then its suffix: HDF5/NeXus
    (``.h5 .hdf5 .nxs .nx5 .hdf``), TIFF (multi-page: a stack), NumPy ``.npy``, and the
    detector formats of fabio (EDF, CBF, MAR, ADSC...; several frames: a stack).

    Parameters
    ----------
    path:
        The file; ``"scan.h5::/entry/data/data"`` selects an HDF5 dataset (or a NeXus
        group, followed to its signal). Without one, the NeXus default chain is
        followed, else the file's only image dataset is taken (see :mod:`asirp.io.hdf5`).
    kind:
        What the data is (one of :data:`asirp.frame.KINDS`). Default: the kind asirp
        stored in the file, else ``"diffraction"`` when a geometry is attached, else
        ``"image"``.
    poni:
        A pyFAI ``.poni`` calibration to attach. Default: ``<file stem>.poni`` beside
        the file when it exists, else the geometry stored in an asirp NeXus file.
    dataset:
        HDF5 dataset path (the same as ``path::dataset``).
    saturation:
        Detector saturation in counts; pixels at or above it are masked. Default: the
        value in the file (NXdetector ``saturation_value``, Eiger
        ``countrate_correction_count_cutoff``, PILATUS ``Count_cutoff``), if any.
    mask:
        A mask file (pyFAI/Dioptas convention, nonzero = masked; EDF, TIFF, NPY,
        ``file.h5::/path``; :mod:`asirp.io.mask_file`) applied to every image, on top of
        the file's own masks, sentinels and detected dead areas.

    Returns
    -------
    Frame
        float32 data, the validity mask (sources and counts in
        ``meta["mask_sources"]``; see :mod:`asirp.io.masks`), pixel size, geometry,
        metadata (``source``, ``source_sha256``, ``format``, ``dataset``, ``dtype``,
        ``saturation``, header entries) and history: the file's own steps (asirp
        NeXus files) followed by a ``"read"`` step naming the file and its sha256.

    Raises
    ------
    InputError
        Missing, empty, corrupt or unsupported file; no or several candidate
        datasets; data that is not a real-valued 2-D image or 3-D stack; a geometry
        that does not fit the image (:meth:`~asirp.geometry.Geometry.check_fits`).
        The message names the file and the problem.
    ParameterError
        Unknown ``kind``, bad ``saturation``, ``dataset`` for a non-HDF5 file.

    Examples
    --------
    >>> frame = open_frame("CeO2_Pilatus1M.tif")          # doctest: +SKIP
    >>> frame.kind, frame.meta["mask_sources"]             # doctest: +SKIP
    ('diffraction', {'negative_sentinel': 1234})
    """
    timer = TimedStep("read")
    saturation = _check_options(kind, saturation)
    file_path, dataset = split_dataset(path, dataset)
    check_input_file(file_path)
    reader = sniff(file_path)
    if reader == "hdf5":
        raw = read_hdf5(file_path, dataset)
    elif dataset is not None:
        raise ParameterError(f"{file_path}: a dataset ({dataset!r}) can only be selected in an HDF5 file")
    else:
        raw = _READERS[reader](file_path)

    absolute = str(file_path.absolute())
    source = absolute + (f"{DATASET_SEPARATOR}{raw.dataset}" if raw.dataset else "")
    threshold = saturation if saturation is not None else raw.saturation
    file_masks = dict(raw.masks)
    if mask is not None:
        file_masks["user_mask"] = read_mask(mask)
        if file_masks["user_mask"].shape != raw.data.shape[-2:]:
            raise InputError(f"the mask {os.fspath(mask)} has shape {file_masks['user_mask'].shape}, the images "
                             f"{raw.data.shape[-2:]}", source)
    valid, mask_sources = masks.combine(raw.data, file_masks, threshold)
    data = _as_float32(raw.data, valid, source)

    geometry, geometry_source = _geometry(file_path, poni, raw)
    if geometry is not None:
        try:
            geometry.check_fits(data.shape[-2:])
        except InputError as exc:
            raise InputError(f"{exc.problem} (geometry from {geometry_source})", source) from None
    pixel_size = raw.pixel_size or (_detector_pixel_size(geometry) if geometry is not None else None)
    resolved = kind or raw.kind or ("diffraction" if geometry is not None else "image")
    if not is_kind(resolved):  # a kind read from the file (a given one was checked above)
        raise InputError(f"unknown kind {resolved!r}; expected one of {', '.join(KINDS)}", source)

    digest = sha256_of_file(file_path)
    meta = {
        **raw.meta,
        "source": source,
        "source_sha256": digest,
        "format": raw.format,
        "dataset": raw.dataset,
        "dtype": str(raw.data.dtype),
        "mask_sources": mask_sources,
        "saturation": threshold,
    }
    if geometry_source is not None:
        meta["geometry_source"] = geometry_source
    parameters = {
        "dataset": raw.dataset,
        "kind": resolved,
        "mask_sources": mask_sources,
        "saturation": threshold,
        "poni": geometry_source,
        "mask": None if mask is None else str(Path(mask).absolute()),
    }
    step = timer.finish(parameters=parameters, inputs=({"name": absolute, "sha256": digest},) + _mask_input(mask))
    return Frame(data, valid, resolved, pixel_size, geometry, meta, raw.history + (step,))
