"""Safe outputs: never overwrite an input, never leave a half-written file.

A writer writes into a temporary file in the output's directory (same file system,
so the final rename is atomic); the temporary is flushed to disk and renamed over the
output only when the writer finished. On any error the temporary is removed and a
pre-existing output is untouched. Outputs that would replace one of the frame's
input files are refused, even with ``force``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError
from ..frame import Frame
from .sniff import DATASET_SEPARATOR


def input_files(frame: Frame) -> list[str]:
    """The files a frame was made from: its ``meta["source"]`` and every history input.

    Names may carry an HDF5 dataset (``"scan.h5::/entry/data/data"``); the file part is returned.
    """
    names = [frame.meta.get("source")]
    names.extend(item.get("name") for step in frame.history for item in step.inputs)
    return [name.rsplit(DATASET_SEPARATOR, 1)[0] for name in names if isinstance(name, str) and name]


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file (hard links and symlinks included) or one path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: Path, *, force: bool, inputs: Iterable[str]) -> None:
    """Raise :class:`OutputError` when ``path`` must not be written.

    Refused: an input file (always), an existing file without ``force``, a directory,
    a path whose directory does not exist.
    """
    for name in inputs:
        if _same_file(path, Path(name)):
            raise OutputError(f"{path}: would overwrite the input file {name}; choose another output name")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{path}: exists; use --force (force=True) to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the directory {path.parent} does not exist")


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_output(path: Path, *, force: bool, inputs: Iterable[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Examples
    --------
    >>> with atomic_output(Path("out.npy"), force=False, inputs=[]) as tmp:  # doctest: +SKIP
    ...     np.save(tmp.open("wb"), array)
    """
    check_output(path, force=force, inputs=inputs)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    # O_EXCL: never clobber anything; mode 0o666 lets the umask give the usual permissions.
    try:
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file in {path.parent} ({exc.strerror})") from exc
    try:
        yield temporary
        _fsync(temporary, os.O_RDWR)  # a writable descriptor: Windows refuses fsync otherwise
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable
        _fsync(path.parent, os.O_RDONLY)
