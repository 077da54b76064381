"""Which reader a path needs: file checks, ``file.h5::/dataset`` paths, format sniffing.

The format is decided by the file's first bytes (magic numbers) where the format has
them, then by the suffix; everything else is offered to fabio, which knows the
detector formats (EDF, CBF, MAR, ADSC, ...) and identifies them itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ..errors import InputError, ParameterError

Reader = Literal["hdf5", "tiff", "npy", "fabio"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs", ".nx5", ".hdf")
TIFF_SUFFIXES = (".tif", ".tiff")
NPY_SUFFIXES = (".npy",)

_MAGIC: tuple[tuple[bytes, Reader], ...] = (
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
)

#: Separates a file from an HDF5 dataset path in ``"scan.h5::/entry/data/data"``.
DATASET_SEPARATOR = "::"


def split_dataset(path: str | os.PathLike[str], dataset: str | None) -> tuple[Path, str | None]:
    """Split ``"file.h5::/entry/data/data"`` into the file and the dataset path.

    ``dataset`` given as an argument and in the path must agree.
    """
    text = os.fspath(path)
    in_path = None
    if DATASET_SEPARATOR in text:
        text, in_path = text.rsplit(DATASET_SEPARATOR, 1)
        in_path = in_path or None
    if dataset is not None and in_path is not None and dataset.strip("/") != in_path.strip("/"):
        raise ParameterError(f"dataset given twice and differently: {in_path!r} in the path, {dataset!r} as dataset=")
    return Path(text), dataset if dataset is not None else in_path


def check_input_file(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a non-empty regular file we may read."""
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, not an image file", path)
    if not path.is_file():
        raise InputError("is not a regular file", path)
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise InputError("cannot read the file (permission denied)", path)


def sniff(path: Path) -> Reader:
    """The reader for ``path``: by magic bytes, else by suffix, else fabio."""
    with path.open("rb") as handle:
        head = handle.read(8)
    for magic, reader in _MAGIC:
        if head.startswith(magic):
            return reader
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        # No signature at byte 0: HDF5 allows a user block before it; h5py finds it or
        # reports the file as corrupt, and the HDF5 reader explains that.
        return "hdf5"
    if suffix in TIFF_SUFFIXES:
        raise InputError("not a TIFF file (no TIFF signature at the start; corrupt or misnamed?)", path)
    if suffix in NPY_SUFFIXES:
        raise InputError("not a NumPy .npy file (no NUMPY signature at the start; corrupt or misnamed?)", path)
    return "fabio"
