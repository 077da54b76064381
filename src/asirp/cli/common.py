"""What every command shares: the exit status of a user error and the check of outputs before any work."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

#: Exit status of a user error (bad file, parameter or output), printed as one line ``asirp: error: ...``.
EXIT_USER_ERROR = 2


def check_outputs(
    files: Sequence[str | Path] = (), folders: Sequence[str | Path] = (), *, force: bool, inputs: Sequence[str] = ()
) -> None:
    """Check every output of a command before it starts (see :func:`asirp.io.atomic.prepare_outputs`).

    A bad output raises :class:`~asirp.errors.OutputError` before any work, so nothing
    is written; removed stale temporaries are reported on one line each.
    """
    from ..io.atomic import prepare_outputs

    for notice in prepare_outputs(files, folders, force=force, inputs=inputs):
        print(f"asirp: {notice}", file=sys.stderr)
