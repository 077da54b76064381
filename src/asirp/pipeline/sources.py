"""Offline sources: files, folders and HDF5 image stacks as a stream of items.

Each input given to ``asirp run`` is one run named after it (the file or folder
name; with ``--per-file`` each file of a folder is a run of its own, named after the
file): a plain image file is one item; an HDF5 file whose image dataset is 3-D gives
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


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]], read: ReadConfig, *, per_file: bool = False
) -> list[tuple[str, list[FileRef]]]:
    """``[(run name, references)]`` for each input, checked before anything runs.

    A run is named after its input's file stem or folder name; with ``per_file``, each
    file of a folder is a run of its own, named after its stem (``frames/img_001.cbf``
    -> run ``img_001``, written as ``img_001.nxs``).

    Raises
    ------
    InputError
        A missing input, an empty folder, an unreadable HDF5 file, two runs of one name.
    """
    runs: list[tuple[str, list[FileRef]]] = []
    for given in inputs:
        path, dataset = split_dataset(given, read.dataset)
        if path.is_dir():
            files = sorted(p for p in path.glob(read.pattern) if p.is_file() and not p.name.startswith("."))
            if not files:
                raise InputError(f"no files matching {read.pattern!r} in this folder", path)
            if per_file:
                runs += [(file.stem, _refs_of_file(file, dataset)) for file in files]
            else:
                runs.append((path.name, [ref for file in files for ref in _refs_of_file(file, dataset)]))
        elif path.is_file():
            runs.append((path.stem, _refs_of_file(path, dataset)))
        else:
            raise InputError("no such file or folder", path)
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
