"""Readers and writers: files <-> :class:`~asirp.frame.Frame`.

* :func:`open` reads HDF5/NeXus, TIFF, NumPy and the detector formats of fabio, builds
  the validity mask from what the file says (detector pixel masks, sentinel values,
  saturation, NaN; never from zeros) and records a ``"read"`` history step with the
  file's sha256;
* :func:`save` writes NeXus (everything, including one NXprocess per history step),
  TIFF, NumPy or a PNG picture, atomically and never over an input file;
* :func:`file_info` summarises a file as ``asirp info`` prints it.

Modules: :mod:`~asirp.io.sniff` (format detection), :mod:`~asirp.io.hdf5` (HDF5 and
NeXus reading), :mod:`~asirp.io.nexus` (asirp's NeXus layout), :mod:`~asirp.io.images`
(TIFF, fabio, NumPy), :mod:`~asirp.io.headers` (detector header entries),
:mod:`~asirp.io.masks`, :mod:`~asirp.io.atomic` (safe outputs), :mod:`~asirp.io.export`
(PNG pictures).
"""

import importlib
from typing import Any

#: Public names -> (submodule, attribute), loaded on first use (PEP 562): the readers
#: and writers import h5py, fabio, tifffile and matplotlib, which a command checking
#: its outputs (:mod:`~asirp.io.atomic`, :mod:`~asirp.io.sniff`) does not need.
_EXPORTS = {"file_info": ("info", "file_info"), "open": ("reader", "open_frame"), "save": ("writer", "save")}

__all__ = ["file_info", "open", "save"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
