"""``asirp view``: open files in a browser page to look at, restore, compare and export them.

Examples::

    asirp view frame.cbf                      # opens http://127.0.0.1:5006/ in a browser tab
    asirp view scan.h5 other.tif --port 8000 --no-browser
    asirp view --host 0.0.0.0 frame.tif       # shared on the beamline network: the printed URL holds a token
"""

from __future__ import annotations

import argparse
from typing import Any

#: Bokeh's customary port.
DEFAULT_PORT = 5006


def _cmd_view(args: argparse.Namespace) -> int:
    from ..io.sniff import check_input_file, split_dataset

    for path in args.paths:  # a missing file is refused before anything heavy is imported, as by restore
        check_input_file(split_dataset(path, None)[0])
    from ..view.server import serve

    return serve(list(args.paths), host=args.host, port=args.port, open_browser=not args.no_browser)


def register_cli(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``asirp view`` to the ``asirp`` command (see :data:`asirp.cli.COMMAND_MODULES`)."""
    view = commands.add_parser("view", parents=[common], help="look at, restore, compare and export frames in a browser page")
    view.add_argument("paths", nargs="*", metavar="PATH", help="files to open (FILE.h5::/path selects an HDF5 dataset)")
    view.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    view.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1, this machine only); any other needs the token the URL carries")
    view.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser tab")
    view.set_defaults(handler=_cmd_view)
