"""``asirp.io.save``: write a frame in the format its suffix names, atomically and safely."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..errors import OutputError
from ..frame import Frame
from .atomic import atomic_output, input_files
from .images import write_npy, write_tiff
from .nexus import write_nexus
from .sniff import HDF5_SUFFIXES, NPY_SUFFIXES, TIFF_SUFFIXES


def _write_png(frame: Frame, path: Path) -> None:
    """:func:`asirp.io.export.write_png`, imported only when a PNG is written (matplotlib is slow to import)."""
    from .export import write_png

    write_png(frame, path)


#: Output suffix -> writer(frame, path). Every writer writes float32 data.
WRITERS: dict[str, Callable[[Frame, Path], None]] = {
    **{suffix: write_nexus for suffix in HDF5_SUFFIXES if suffix != ".hdf"},  # .hdf is HDF4's suffix too
    **{suffix: write_tiff for suffix in TIFF_SUFFIXES},
    **{suffix: write_npy for suffix in NPY_SUFFIXES},
    ".png": _write_png,
}


def writer_for(path: Path) -> Callable[[Frame, Path], None]:
    """The writer of the format ``path``'s suffix names; :class:`OutputError` for an unknown one.

    Commands call it before any work, so that a typo in the suffix costs nothing.
    """
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise OutputError(f"{path}: unknown output format {path.suffix or '(no suffix)'!r}; use one of {', '.join(WRITERS)}")
    return writer


def save(frame: Frame, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``frame`` to ``path`` in the format its suffix names.

    ========================  ===============================================================
    suffix                    written
    ========================  ===============================================================
    .h5 .hdf5 .nxs .nx5       NeXus/HDF5: float32 data, uint8 mask (1 = masked), pixel size,
                              geometry (PONI), kind, metadata, one NXprocess per history step
                              (see :mod:`asirp.io.nexus`); everything :func:`asirp.io.open`
                              needs to restore the frame
    .tif .tiff                float32 TIFF, multi-page for a stack; masked pixels are NaN
    .npy                      float32 NumPy array; masked pixels are NaN
    .png                      a picture (see :mod:`asirp.io.export`); a stack shows frame 1
    ========================  ===============================================================

    The file is written to a temporary file beside ``path`` and renamed when complete,
    so ``path`` is never half-written and an existing file survives a failed write.

    Parameters
    ----------
    frame:
        The frame to write.
    path:
        Output file; its suffix chooses the format (case-insensitive).
    force:
        Replace ``path`` if it exists. An input file of the frame (its
        ``meta["source"]`` or any input of its history) is never replaced.

    Returns
    -------
    pathlib.Path
        The absolute path written.

    Raises
    ------
    OutputError
        Unknown suffix, existing output without ``force``, output that is an input.
    """
    target = Path(path).absolute()
    writer = writer_for(target)
    if writer is write_nexus:  # the file records its own (final) name
        writer = partial(write_nexus, file_name=target.name)
    with atomic_output(target, force=force, inputs=input_files(frame)) as temporary:
        writer(frame, temporary)
    return target
