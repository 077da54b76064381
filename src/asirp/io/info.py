"""``asirp.io.file_info``: what ``asirp info FILE`` prints about a data file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import SeveralImagesError
from .hdf5 import image_datasets
from .reader import open_frame
from .summary import count_statistics, geometry_summary


def file_info(path: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """Describe a data file as asirp reads it.

    Parameters
    ----------
    path, **options:
        As for :func:`asirp.io.open` (``kind``, ``poni``, ``dataset``, ``saturation``, ``mask``).

    Returns
    -------
    dict
        Plain, JSON-serialisable values: ``path`` (with ``::dataset``), ``format``,
        ``dataset``, ``shape``, ``dtype`` (as stored in the file), ``kind``,
        ``masked_fraction`` and ``mask_sources`` (pixels per source), with a detector
        pixel mask ``pixel_mask_reasons`` (pixels of one image per NXdetector bit), ``saturation``
        (counts), the statistics of the valid pixels (``min``, ``max``, ``mean``,
        ``median``, ``sum``, ``zero_fraction``; data units), ``pixel_size``
        (``{"y", "x", "unit"}``), ``geometry`` (detector, ``beam_center_px`` [y, x],
        ``distance_m``, ``wavelength_A``, ``pixel_size_m``; None without one) and
        ``history`` (the method of every step, the read step last).

        When an HDF5 file holds several images and nothing says which one is meant,
        instead: ``path``, ``format`` (``"hdf5"``), ``dataset`` None, ``problem``,
        ``datasets`` (every 2-D/3-D dataset as ``{"path": "FILE::/path", "shape",
        "dtype"}``) and ``choose`` (how to pick one).
    """
    try:
        frame = open_frame(path, **options)
    except SeveralImagesError as exc:
        return _choices(Path(str(path).partition("::")[0]), exc.problem)
    meta = frame.meta
    return {
        "path": meta["source"],
        "format": meta["format"],
        "dataset": meta["dataset"],
        "shape": list(frame.shape),
        "dtype": meta["dtype"],
        "kind": frame.kind,
        "masked_fraction": frame.mask_fraction,
        "mask_sources": dict(meta["mask_sources"]),
        **({"pixel_mask_reasons": dict(meta["pixel_mask_reasons"])} if "pixel_mask_reasons" in meta else {}),
        "saturation": meta["saturation"],
        **count_statistics(frame),
        "pixel_size": None if frame.pixel_size is None else frame.pixel_size.as_dict(),
        "geometry": None if frame.geometry is None else geometry_summary(frame.geometry),
        "history": [step.method for step in frame.history],
    }


def _choices(file: Path, problem: str) -> dict[str, Any]:
    """The image datasets of an HDF5 file that does not say which one is the image, and how to pick one."""
    datasets = [{"path": f"{file}::{name}", "shape": list(shape), "dtype": dtype} for name, shape, dtype in image_datasets(file)]
    return {
        "path": str(file),
        "format": "hdf5",
        "dataset": None,
        "problem": problem,
        "datasets": datasets,
        "choose": f'name it as FILE::/path, e.g. asirp info "{datasets[0]["path"]}" (restore and the other commands take the same)',
    }
