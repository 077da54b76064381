"""Finding and opening data files for the page: a folder's readable files, HDF5 choices, a shared cache.

Opening goes through :func:`asirp.io.open`, so the viewer reads exactly what the CLI
reads (``file.h5::/path``, NeXus default chains, Lambda/Eiger stacks, masks, a
``.poni`` beside the file). Errors are asirp's one-line messages.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, SeveralImagesError
from ..frame import Frame
from ..io.sniff import DATASET_SEPARATOR, HDF5_SUFFIXES, NPY_SUFFIXES, TIFF_SUFFIXES, check_input_file, split_dataset

#: Suffixes listed in the file picker: asirp's own readers, the usual fabio detector formats, workspace files.
DATA_SUFFIXES = frozenset(
    (*HDF5_SUFFIXES, *TIFF_SUFFIXES, *NPY_SUFFIXES, ".edf", ".cbf", ".img", ".mccd", ".sfrm", ".spe", ".gfrm", ".mar3450", ".mar2300",
     ".json")  # .json: workspace files (asirp.view.state)
)
#: Frames kept in memory between page loads (each session opening the same file shares one).
CACHE_SIZE = 4


@dataclass(frozen=True)
class Opened:
    """What opening a path gave: a frame, or the image datasets of an HDF5 file to choose from.

    ``choices`` are ``(FILE::/path, "ny x nx  dtype")`` pairs, as ``asirp info`` lists them.
    """

    path: str
    frame: Frame | None = None
    choices: tuple[tuple[str, str], ...] = ()


def listing(folder: str | os.PathLike[str]) -> list[str]:
    """The entries the picker offers in ``folder``: ``..``, sub-folders (ending in ``/``), then data files; sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("is not a folder", root)
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except OSError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror})", root) from None
    folders = [f"{entry.name}/" for entry in entries if entry.is_dir() and not entry.name.startswith(".")]
    files = [entry.name for entry in entries if entry.is_file() and entry.suffix.lower() in DATA_SUFFIXES]
    return ["../", *folders, *files]


class FrameCache:
    """Opened frames by (path, size, modification time), least recently used dropped first; thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[str, int, int], Frame] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, path: str) -> Opened:
        """Open ``path`` (``FILE`` or ``FILE::/dataset``) as :func:`asirp.io.open` does.

        An HDF5 file holding several images with nothing saying which one is meant
        gives its ``choices`` instead of a frame. Bad input raises asirp's
        :class:`~asirp.errors.InputError` (one line naming the file).
        """
        file, dataset = split_dataset(path.strip(), None)
        check_input_file(file)
        stat = file.stat()
        key = (str(file.absolute()) + (f"{DATASET_SEPARATOR}{dataset}" if dataset else ""), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return Opened(path, self._frames[key])
        from ..io import open as open_frame

        try:
            frame = open_frame(path.strip())
        except SeveralImagesError:
            from ..io.hdf5 import image_datasets

            found = image_datasets(file)
            return Opened(
                path, choices=tuple((f"{file}{DATASET_SEPARATOR}{name}", f"{'x'.join(map(str, shape))}  {dtype}") for name, shape, dtype in found)
            )
        with self._lock:
            self._frames[key] = frame
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return Opened(path, frame)
