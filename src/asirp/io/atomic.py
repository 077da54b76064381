"""Safe outputs: never overwrite an input, never leave a half-written file.

A writer writes into a temporary file in the output's directory (same file system,
so the final rename is atomic); the temporary is flushed to disk and renamed over the
output only when the writer finished. On any error the temporary is removed and a
pre-existing output is untouched. Outputs that would replace one of the frame's
input files are refused, even with ``force``.

Commands check all their outputs before any work (:func:`prepare_outputs`), so a bad
figure path no longer fails after the data file was written.

Ctrl-C while an output is written stops the write at the next block and removes the
temporary (:func:`check_interrupt`); a KeyboardInterrupt raised anywhere could land
in a finaliser of h5py objects, where Python ignores it, and the run then finished
and exited 0. Temporaries a killed process (``kill -9``, a crash) left behind are
removed by the next :func:`prepare_outputs` in that folder once they are
:data:`STALE_AFTER_S` old.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..frame import Frame
from .sniff import DATASET_SEPARATOR

#: Name of the temporary an output ``NAME`` is written to: ``.NAME.<12 hex digits>.part``.
TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.part")
#: Age (seconds since the last write) from which a temporary counts as left by a dead
#: process. A writer changes its temporary continuously and renames it when done, so
#: an hour without a write means nobody owns it. The age, unlike a process id, also
#: holds on folders shared by several machines (beamline file servers).
STALE_AFTER_S = 3600.0

_interrupted = threading.Event()


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
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the directory {path.parent} does not exist")
    if path.exists() and not force:
        raise OutputError(f"{path}: exists; use --force (force=True) to replace it")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the directory {path.parent} is not writable")


def check_output_folder(folder: Path) -> None:
    """Raise :class:`OutputError` when ``folder`` can neither be written to nor created.

    A missing folder is fine when its nearest existing parent is a writable directory
    (the command creates it).
    """
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{folder}: {'' if existing == folder else f'{existing} '}is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the folder {existing} is not writable")


def prepare_outputs(
    files: Iterable[str | os.PathLike[str]] = (),
    folders: Iterable[str | os.PathLike[str]] = (),
    *,
    force: bool,
    inputs: Iterable[str] = (),
) -> list[str]:
    """Check every output of a command before it does any work; clear stale temporaries.

    ``folders`` (created by the command if missing) are checked as by
    :func:`check_output_folder`, ``files`` as by :func:`check_output` unless they go
    into one of ``folders`` not created yet; no two files may be the same. Then
    temporaries left by dead processes are removed from every output folder that
    exists (:func:`remove_stale_temporaries`).

    Returns
    -------
    list of str
        One notice per folder where stale temporaries were removed, for the user.
    """
    paths = [Path(path).absolute() for path in files]
    places = [Path(folder).absolute() for folder in folders]
    for folder in places:
        check_output_folder(folder)
    names = list(inputs)
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise OutputError(f"{path}: given for two outputs; give each its own name")
        seen.add(path.resolve())
        if path.parent.exists() or path.parent not in places:
            check_output(path, force=force, inputs=names)
    notices = []
    for folder in dict.fromkeys([path.parent for path in paths] + places):
        removed = remove_stale_temporaries(folder)
        if removed:
            notices.append(f"removed {len(removed)} unfinished temporary file(s) of an interrupted earlier run in "
                           f"{folder}: {', '.join(path.name for path in removed)}")
    return notices


def remove_stale_temporaries(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temporaries of :func:`atomic_output` in ``folder`` not written to for ``older_than_s``.

    Only files named like asirp's own temporaries (:data:`TEMPORARY_NAME`) are
    touched. Returns the files removed.
    """
    if not folder.is_dir():
        return []
    limit = time.time() - older_than_s
    removed = []
    for entry in os.scandir(folder):
        try:
            if TEMPORARY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_mtime < limit:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone meanwhile, or not ours to delete: left alone
            continue
    return removed


def check_interrupt() -> None:
    """Raise :class:`KeyboardInterrupt` when Ctrl-C was pressed during the output being written.

    Writers call it between blocks of a large write: the safe points where the
    interrupt takes effect (see :func:`atomic_output`).
    """
    if _interrupted.is_set():
        _interrupted.clear()
        raise KeyboardInterrupt


def _note_interrupt(_signum: int, _frame: Any) -> None:
    _interrupted.set()


@contextmanager
def _interrupts_at_safe_points() -> Iterator[None]:
    """While the block runs, SIGINT only sets the flag :func:`check_interrupt` raises on.

    Only in the main thread and only over Python's default handler (a pipeline's
    graceful-stop handler stays). A signal after the last safe point is raised on exit.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _interrupted.clear()
    signal.signal(signal.SIGINT, _note_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    check_interrupt()


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_output(path: Path, *, force: bool, inputs: Iterable[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Ctrl-C in the block takes effect at the writer's next :func:`check_interrupt`
    (or when the writer returns): the temporary is removed and KeyboardInterrupt
    raised, so an interrupted command leaves no output.

    Examples
    --------
    >>> with atomic_output(Path("out.npy"), force=False, inputs=[]) as tmp:  # doctest: +SKIP
    ...     np.save(tmp.open("wb"), array)
    """
    check_output(path, force=force, inputs=inputs)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    with _interrupts_at_safe_points():
        # O_EXCL: never clobber anything; mode 0o666 lets the umask give the usual permissions.
        try:
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except OSError as exc:
            raise OutputError(f"{path}: cannot create a file in {path.parent} ({exc.strerror})") from exc
        try:
            yield temporary
            check_interrupt()
            _fsync(temporary, os.O_RDWR)  # a writable descriptor: Windows refuses fsync otherwise
            check_interrupt()
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        if os.name == "posix":  # make the rename itself durable
            _fsync(path.parent, os.O_RDONLY)
