"""``asirp run`` (offline) and ``asirp serve`` (online) sub-commands.

``asirp run PIPELINE.toml INPUT...`` restores files, folders and HDF5 stacks with a
progress bar, one NeXus file per input (``--per-file``: per file of a folder); rerunning after an interruption resumes.
``asirp serve PIPELINE.toml --zmq HOST:PORT`` restores the runs published by a
Bluesky 0MQ proxy; ``--watch FOLDER`` and ``--swmr FILE::DATASET`` follow files as a
detector writes them. Both stop gracefully on Ctrl-C / SIGTERM: frames in flight are
written and unfinished runs stay resumable.

Exit status: 0 when every frame was restored, 1 when some frames failed (they are
listed in the output file), 2 for a user error, 130 when ``asirp run`` was
interrupted (``asirp serve`` ends normally on a signal).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ParameterError

EXIT_FRAMES_FAILED = 1
EXIT_INTERRUPTED = 130


def _pipeline(args: argparse.Namespace) -> Any:
    """The pipeline of the TOML file with the command-line options, its output folder checked first.

    Run files in the output folder are resumed, never refused (there is no --force);
    the folder must be one the command can create or write to.
    """
    from ..pipeline.config import ExecutionConfig
    from ..pipeline.core import Pipeline
    from .common import check_outputs

    pipeline = Pipeline.from_toml(args.pipeline)
    check_outputs(folders=[args.output or pipeline.config.write.output], force=False)
    execution = pipeline.config.execution.model_dump()
    for key in ("backend", "workers", "scheduler"):
        value = getattr(args, key, None)
        if value is not None:
            execution[key] = value
    if args.scheduler is not None:
        execution["backend"] = "dask"
    try:
        checked = ExecutionConfig(**execution)
    except ValueError as exc:
        raise ParameterError(f"execution options: {exc}") from None
    update: dict[str, Any] = {"execution": checked}
    if args.mask is not None:
        from ..io.mask_file import read_mask

        read_mask(args.mask)  # a bad mask file is refused before any frame is read
        update["read"] = pipeline.config.read.model_copy(update={"mask": args.mask})
    pipeline.config = pipeline.config.model_copy(update=update)
    if args.publish:
        from bluesky.callbacks.zmq import Publisher

        pipeline.emit = Publisher(args.publish)
    return pipeline


def _report(summary: Any, *, stopping_is_normal: bool = False) -> int:
    """Print the summary; the exit status (a signal is the normal end of ``serve``)."""
    print(f"asirp: {summary.line()}")
    for run, path in summary.files.items():
        print(f"  {run}: {path or 'left partial (resumable)'}")
    for where, error in list(summary.errors.items())[:10]:
        print(f"  failed {where}: {error}", file=sys.stderr)
    if summary.interrupted and not stopping_is_normal:
        print("asirp: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FRAMES_FAILED if summary.failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ..progress import progress_enabled

    pipeline = _pipeline(args)
    summary = pipeline.run_files(args.inputs, output=args.output, progress=progress_enabled(), handle_signals=True,
                                 per_file=args.per_file)
    return _report(summary)


def _print_document(name: str, doc: dict[str, Any]) -> None:
    if name == "start":
        print(f"asirp: run {doc['uid']} started", flush=True)
    elif name == "stop":
        print(f"asirp: run {doc['run_start']} stopped ({doc.get('exit_status')})", flush=True)


def _cmd_serve(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    sources = [value for value in (args.zmq, args.watch, args.swmr) if value]
    if len(sources) != 1:
        raise ParameterError("give exactly one source: --zmq HOST:PORT, --watch FOLDER or --swmr FILE::DATASET")
    if args.zmq:
        from ..online.zmq import parse_address, serve_zmq

        parse_address(args.zmq, "--zmq")
        summary = serve_zmq(
            args.zmq,
            pipeline,
            output=args.output,
            on_document=_print_document,
            ready=lambda: print(f"asirp: listening to {args.zmq}", flush=True),
        )
        return _report(summary, stopping_is_normal=True) if summary is not None else 0
    from ..online.watch import FolderWatcher, SWMRWatcher

    if args.watch:
        source: Any = FolderWatcher(args.watch, pipeline.config.read.pattern, poll_s=args.poll, idle_timeout_s=args.idle_timeout)
    else:
        path, _, dataset = args.swmr.partition("::")
        if not dataset:
            raise ParameterError("--swmr expects FILE::DATASET, e.g. scan.h5::/entry/data/data")
        source = SWMRWatcher(path, dataset, poll_s=args.poll, idle_timeout_s=args.idle_timeout)
    print(f"asirp: watching {args.watch or args.swmr}", flush=True)
    summary = pipeline.run(source, output=args.output, handle_signals=True, stoppers=[source.close])
    return _report(summary, stopping_is_normal=True)


def register_cli(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``asirp run`` and ``asirp serve``."""

    def execution_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("pipeline", help="pipeline TOML file")
        sub.add_argument("-o", "--output", help="output folder (default: [write] output of the pipeline)")
        sub.add_argument("--backend", choices=("local", "thread", "dask"), help="where frames are restored")
        sub.add_argument("--workers", type=int, help="worker threads or Dask workers")
        sub.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (implies --backend dask)")
        sub.add_argument("--mask", help="mask file for every frame, nonzero = masked (overrides [read] mask)")
        sub.add_argument(
            "--publish",
            metavar="HOST:PORT",
            help="send derived Bluesky documents (restored frames with [write] documents = true, feedback) to a 0MQ proxy's input",
        )

    run = commands.add_parser("run", parents=[common], help="run a pipeline offline over files, folders and HDF5 stacks")
    execution_options(run)
    run.add_argument("inputs", nargs="+", help="files, folders or HDF5 stacks (FILE.h5::/dataset); one run each")
    run.add_argument("--per-file", action="store_true",
                     help="one run and output per file of a folder, OUTPUT/<file stem>.nxs (default: one per folder)")
    run.set_defaults(handler=_cmd_run)

    serve = commands.add_parser("serve", parents=[common], help="restore live data: Bluesky 0MQ, a folder, an SWMR dataset")
    execution_options(serve)
    serve.add_argument("--zmq", metavar="HOST:PORT", help="a Bluesky 0MQ proxy's output address")
    serve.add_argument("--watch", metavar="FOLDER", help="restore new files in this folder")
    serve.add_argument("--swmr", metavar="FILE::DATASET", help="restore new images of a growing SWMR dataset")
    serve.add_argument("--poll", type=float, default=0.5, help="watch polling period, s (default 0.5)")
    serve.add_argument("--idle-timeout", type=float, help="watch: finish the run after this many seconds without new data")
    serve.set_defaults(handler=_cmd_serve)
