"""``asirp view``: open files in a browser page to look at, restore, compare and export them; or follow a pipeline live.

Examples::

    asirp view frame.cbf                      # opens http://127.0.0.1:5006/ in a browser tab
    asirp view scan.h5 other.tif --port 8000 --no-browser
    asirp view --host 0.0.0.0 frame.tif       # shared on the beamline network: the printed URL holds a token
    asirp view --follow restored/ --pipeline pipeline.toml --raw /data/pilatus/scan_0042/ --publish localhost:5577
    asirp view --follow restored/ --pipeline pipeline.toml --raw zmq:localhost:5578    # raw frames of a 0MQ proxy's documents
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ParameterError

#: Bokeh's customary port.
DEFAULT_PORT = 5006
#: ``--raw zmq:HOST:PORT``: raw frames from the documents of a 0MQ proxy's output (as ``asirp serve --zmq HOST:PORT``).
ZMQ_PREFIX = "zmq:"


def _live(args: argparse.Namespace) -> tuple[Any, Any]:
    """The follower and the ROI publisher of ``--follow`` (bad options refused in one line before anything starts)."""
    from ..pipeline.config import PipelineConfig, load_config
    from ..view.live import DocumentRawSource, LiveFollower, RawSource, RoiFeedback, ZmqRawSource

    if not 0 < args.max_fps <= 50:
        raise ParameterError(f"--max-fps must be above 0 and at most 50 frames/s, got {args.max_fps:g}")
    config = load_config(args.pipeline) if args.pipeline else PipelineConfig()
    raw: RawSource | DocumentRawSource | None = None
    if args.raw and args.raw.startswith(ZMQ_PREFIX):  # a 0MQ proxy's documents, listened to once the page starts
        raw = ZmqRawSource(args.raw[len(ZMQ_PREFIX):], config)
    elif args.raw:
        raw = RawSource(args.raw, config)
    feedback = None
    if args.publish:
        from bluesky.callbacks.zmq import Publisher

        feedback = RoiFeedback(Publisher(args.publish))
    if not Path(args.follow).is_dir():  # the pipeline creates it when it starts: wait for it, and say so
        print(f"asirp: warning: {args.follow}: no such folder yet; the page waits for the pipeline to create it", file=sys.stderr)
    return LiveFollower(args.follow, config=config, raw=raw, poll_s=args.poll, frame_interval_s=1.0 / args.max_fps), feedback


def _cmd_view(args: argparse.Namespace) -> int:
    from ..io.sniff import check_input_file, split_dataset

    live = feedback = None
    if args.follow is not None:
        if args.paths:
            raise ParameterError("give files to open or --follow FOLDER, not both")
        live, feedback = _live(args)
    elif args.raw or args.pipeline or args.publish:
        raise ParameterError("--raw, --pipeline and --publish go with --follow FOLDER")
    for path in args.paths:  # a missing file is refused before anything heavy is imported, as by restore
        check_input_file(split_dataset(path, None)[0])
    from ..view.server import serve

    return serve(list(args.paths), host=args.host, port=args.port, open_browser=not args.no_browser, live=live, feedback=feedback)


def register_cli(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``asirp view`` to the ``asirp`` command (see :data:`asirp.cli.COMMAND_MODULES`)."""
    view = commands.add_parser("view", parents=[common], help="look at, restore, compare and export frames in a browser page")
    view.add_argument("paths", nargs="*", metavar="PATH", help="files to open (FILE.h5::/path selects an HDF5 dataset)")
    view.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    view.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1, this machine only); any other needs the token the URL carries")
    view.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser tab")
    live = view.add_argument_group("live mode: follow a running pipeline (asirp serve / run / a BlueskyConsumer)")
    live.add_argument("--follow", metavar="FOLDER", help="the pipeline's output folder: show its newest run's frames as they are written")
    live.add_argument("--pipeline", metavar="TOML", help="the pipeline's file: how raw frames are read, [analyse] change and roi settings")
    live.add_argument("--raw", metavar="SOURCE", help="where the pipeline reads raw frames: the watched FOLDER, FILE::DATASET (SWMR), "
                           "or zmq:HOST:PORT, the 0MQ proxy output whose documents it restores (asirp serve --zmq)")
    live.add_argument("--publish", metavar="HOST:PORT",
                      help="0MQ proxy input to which accepted ROIs go as feedback documents (as asirp serve --publish)")
    live.add_argument("--max-fps", type=float, default=7.0,
                      help="most frames per second sent to the page (default 7; lower leaves more CPU to a pipeline on the same machine)")
    live.add_argument("--poll", type=float, default=0.05, help="seconds between looks at the folder (default 0.05)")
    view.set_defaults(handler=_cmd_view)
