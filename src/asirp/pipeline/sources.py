"""Offline sources: files, folders and HDF5 image stacks as a stream of items.

Each input given to ``asirp run`` is one run named after it (the file or folder
name): a plain image file is one item; an HDF5 file whose image dataset is 3-D gives
one item per image; a folder gives its files matching the read pattern, in name
order. Items carry :class:`~asirp.pipeline.items.FileRef` references, so files are
read by the workers and never all held in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py

from ..errors import InputError
from ..io.hdf5 import find_image_dataset
from ..io.sniff import HDF5_SUFFIXES, split_dataset
from .config import ReadConfig
from .items import FileRef, Item, RunStart, RunStop


def _refs_of_file(path: Path, dataset: str | None) -> list[FileRef]:
    """One reference per image of ``path`` (several for a 3-D HDF5 dataset)."""
    if path.suffix.lower() not in HDF5_SUFFIXES:
        if dataset is not None:
            raise InputError(f"a dataset ({dataset!r}) can only be selected in an HDF5 file", path)
        return [FileRef(str(path))]
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", path) from None
    with handle:
        name, data = find_image_dataset(handle, dataset, path)
        if data.ndim == 3:
            return [FileRef(str(path), name, index) for index in range(data.shape[0])]
        return [FileRef(str(path), name)]


def expand_inputs(inputs: Sequence[str | os.PathLike[str]], read: ReadConfig) -> list[tuple[str, list[FileRef]]]:
    """``[(run name, references)]`` for each input, checked before anything runs.

    Raises
    ------
    InputError
        A missing input, an empty folder, an unreadable HDF5 file.
    """
    runs: list[tuple[str, list[FileRef]]] = []
    for given in inputs:
        path, dataset = split_dataset(given, read.dataset)
        if path.is_dir():
            files = sorted(p for p in path.glob(read.pattern) if p.is_file() and not p.name.startswith("."))
            if not files:
                raise InputError(f"no files matching {read.pattern!r} in this folder", path)
            refs = [ref for file in files for ref in _refs_of_file(file, dataset)]
        elif path.is_file():
            refs = _refs_of_file(path, dataset)
        else:
            raise InputError("no such file or folder", path)
        runs.append((path.stem if path.is_file() else path.name, refs))
    names = [name for name, _ in runs]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InputError(f"several inputs would write the same run file(s) {', '.join(duplicated)}; rename or run them separately")
    return runs


def file_stream(runs: list[tuple[str, list[FileRef]]]) -> Iterator[Item | RunStart | RunStop]:
    """The stream of :func:`expand_inputs`' runs: start, one item per image, stop."""
    for name, refs in runs:
        yield RunStart(name, {"inputs": sorted({ref.path for ref in refs})[:1000]})
        for seq, ref in enumerate(refs, start=1):
            yield Item(name, seq, ref, meta={"file": ref.describe()})
        yield RunStop(name)
