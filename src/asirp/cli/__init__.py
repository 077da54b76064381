"""The ``asirp`` command: a thin layer over the public API, one module per command group.

Every user error (bad file, unknown method, out-of-range parameter, output that would
overwrite an input...) is printed as one line ``asirp: error: ...`` and the command
exits with status 2; nothing is written in that case. Building the parser imports only
these modules and light option modules (no numpy): each command imports what it needs
when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..errors import AsirpError
from .common import EXIT_USER_ERROR

#: The modules of the command groups, in the order of ``asirp --help``; each defines
#: ``register_cli(commands, common)`` (the sub-parsers action and the parent parser holding
#: ``--quiet``) and sets ``handler`` on its parsers.
COMMAND_MODULES: tuple[str, ...] = (
    "restore", "demo", "pipeline", "xrf", "tomo", "train", "view",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asirp", description="Adaptable Synchrotron Image Restoration Pipeline")
    parser.add_argument("--version", action="version", version=f"asirp {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # Accept --quiet after the sub-command too (SUPPRESS keeps the top-level value).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module}").register_cli(commands, common)
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Show a warning as one line ``asirp: warning: ...``.

    Python's default adds the file, line number and source line of the ``warn`` call,
    which a user takes for a traceback. asirp's own warnings (a UserWarning) are
    sentences for the user; other categories keep their name.
    """
    label = "" if category is UserWarning else f"{category.__name__}: "
    text = " ".join(str(message).split())
    print(f"asirp: warning: {label}{text}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``asirp`` console script; returns the exit status."""
    import warnings

    args = build_parser().parse_args(argv)
    if args.quiet:
        from ..progress import set_progress

        set_progress(False)
    try:
        with warnings.catch_warnings():  # restores Python's warning display when a caller's main() returns
            warnings.showwarning = _one_line_warning
            return int(args.handler(args))
    except AsirpError as exc:
        print(f"asirp: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("asirp: interrupted", file=sys.stderr)
        return 130
