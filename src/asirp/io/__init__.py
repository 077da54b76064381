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

from .info import file_info
from .reader import open_frame as open  # noqa: A004  (asirp.io.open is the public name)
from .writer import save

__all__ = ["file_info", "open", "save"]
