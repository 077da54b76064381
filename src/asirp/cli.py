"""The ``asirp`` command: a thin layer over the public API.

Every user error (bad file, unknown method, out-of-range parameter, output that would
overwrite an input...) is printed as one line ``asirp: error: ...`` and the command
exits with status 2; nothing is written in that case.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import AsirpError
from .kinds import KINDS
from .parameters import parse_assignment

EXIT_USER_ERROR = 2


def cli_modules() -> list[str]:
    """Modules that add their own sub-commands: ``asirp/<package>/cli.py`` and ``asirp/*_cli.py``.

    Each defines ``register_cli(commands, common)`` (the sub-parsers action and the
    parent parser holding ``--quiet``) and sets ``handler`` on its parsers, so a
    capability brings its commands without edits here. Found by file name, so that
    building the parser imports only the CLI modules themselves.
    """
    root = Path(__file__).parent
    names = [f"asirp.{path.parent.name}.cli" for path in sorted(root.glob("*/cli.py"))]
    names += [f"asirp.{path.stem}" for path in sorted(root.glob("*_cli.py"))]
    return names


def check_outputs(
    files: Sequence[str | Path] = (), folders: Sequence[str | Path] = (), *, force: bool, inputs: Sequence[str] = ()
) -> None:
    """Check every output of a command before it starts (see :func:`asirp.io.atomic.prepare_outputs`).

    A bad output raises :class:`~asirp.errors.OutputError` before any work, so nothing
    is written; removed stale temporaries are reported on one line each.
    """
    from .io.atomic import prepare_outputs

    for notice in prepare_outputs(files, folders, force=force, inputs=inputs):
        print(f"asirp: {notice}", file=sys.stderr)


def _input_file(args: argparse.Namespace) -> str:
    """The input's file name, without a ``::/dataset`` part."""
    return args.input.split("::")[0]


def _check_input(args: argparse.Namespace) -> None:
    """Refuse a missing or unreadable input before importing the readers (h5py, fabio, scipy: seconds)."""
    from .io.sniff import check_input_file

    check_input_file(Path(_input_file(args)))


def _open_input(args: argparse.Namespace) -> Any:
    from .io import open as open_frame

    return open_frame(args.input, kind=args.kind, poni=args.poni, saturation=args.saturation, mask=args.mask)


def _cmd_restore(args: argparse.Namespace) -> int:
    params = dict(parse_assignment(item) for item in args.param)
    _check_input(args)
    from .io import save
    from .io.writer import writer_for
    from .select import make_plan

    output = Path(args.output) if args.output else Path(f"{Path(_input_file(args)).stem}_restored.nxs")
    writer_for(output)
    inputs = [_input_file(args)] + ([args.poni] if args.poni else [])
    check_outputs([output] + ([args.figure] if args.figure else []), force=args.force, inputs=inputs)
    frame = _open_input(args)
    plan = make_plan(frame, args.method, params, budget_s=args.budget)
    if args.explain and plan.decision is not None:
        print(plan.decision.explain())
    if args.explain and plan.budget is not None and "reason" in plan.budget:
        print(f"budget: {plan.budget['reason']}")
    restored = plan.run(frame)
    path = save(restored, output, force=args.force)
    print(f"wrote {path} ({restored.history[-1].method}, {restored.history[-1].duration_s:.3g} s)")
    if args.figure:
        from . import report

        report.compare_figure({"raw": frame, restored.history[-1].method: restored}, args.figure, force=args.force)
        print(f"wrote {args.figure}")
    return 0


def _print_image_choices(info: dict[str, Any]) -> None:
    """The image datasets of a file that does not say which one is meant, one a line, and how to pick one."""
    print(f"{info['path']}: {len(info['datasets'])} datasets of 2 or 3 dimensions, and nothing in the file says which is the image")
    width = max(len(item["path"]) for item in info["datasets"])
    for item in info["datasets"]:
        print(f"  {item['path']:<{width}}  {'x'.join(map(str, item['shape']))}  {item['dtype']}")
    print(f"to pick one, {info['choose']}")


def _cmd_info(args: argparse.Namespace) -> int:
    _check_input(args)
    from .io import file_info

    info = file_info(args.input, kind=args.kind, poni=args.poni, saturation=args.saturation, mask=args.mask)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    elif "datasets" in info:  # several images, none chosen
        _print_image_choices(info)
    else:
        width = max(len(key) for key in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from .api import methods

    described = methods()
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    for method in described:
        print(f"{method['name']:<24} {method['family']:<17} {method['task']}")
        print(f"{'':<24} kinds: {', '.join(method['kinds'])}" + (f"; needs: {', '.join(method['needs'])}" if method["needs"] else ""))
        for name, spec in method["parameters"].items():
            bounds = [f"{k}={spec[k]}" for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum") if k in spec]
            unit = f" [{spec['unit']}]" if "unit" in spec else ""
            print(f"{'':<26}{name}{unit} = {spec.get('default')!r}  {' '.join(bounds)}  {spec.get('description', '')}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    check_outputs(folders=[args.out], force=args.force)
    demo = run_demo(args.out, force=args.force)
    for case in demo.cases:
        print(f"{case['title']}: {case['method']}")
        for name, value in case["figures"].items():
            print(f"    {name}: {value:.4g}")
    print(f"report: {demo.out_dir / 'summary.md'}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_suite, suites

    if args.list or not args.suite:
        for name, description in suites().items():
            print(f"{name:<12} {description}")
        return 0
    if args.json:  # a report regenerated by each run: its folder is created, an old report replaced
        check_outputs(folders=[Path(args.json).absolute().parent], force=True)
    result = run_suite(args.suite, quick=args.quick, data=args.data, progress=not args.quiet)
    print(result.to_markdown())
    if args.json:
        result.save_json(args.json)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asirp", description="Adaptable Synchrotron Image Restoration Pipeline")
    parser.add_argument("--version", action="version", version=f"asirp {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # Accept --quiet after the sub-command too (SUPPRESS keeps the top-level value).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    def input_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("input", help="data file; FILE.h5::/path/to/dataset selects an HDF5 dataset")
        sub.add_argument("--kind", choices=KINDS, help="what the data is (default: from the file, else 'image')")
        sub.add_argument("--poni", help="pyFAI PONI geometry (default: a .poni beside the file)")
        sub.add_argument("--saturation", type=float, help="counts at or above this are masked as saturated")
        sub.add_argument("--mask", help="mask file, nonzero = masked (pyFAI/Dioptas: EDF, TIFF/.mask, NPY, FILE.h5::/path)")

    restore = commands.add_parser("restore", parents=[common], help="restore a file and write NeXus with provenance")
    input_options(restore)
    restore.add_argument("-o", "--output", help="output file (.nxs/.h5, .tif, .npy, .png); default INPUT_restored.nxs")
    restore.add_argument("-m", "--method", default="auto", help="method name (see 'asirp methods') or auto")
    restore.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter (repeatable)")
    restore.add_argument("--force", action="store_true", help="replace an existing output file and figure")
    restore.add_argument("--explain", action="store_true", help="with --method auto: print why the method was chosen")
    restore.add_argument("--budget", type=float, help="time budget per frame in seconds: auto decides and runs within it; a method estimated over it falls back to the cheapest one")
    restore.add_argument("--figure", help="also write a before/after PNG here")
    restore.set_defaults(handler=_cmd_restore)

    info = commands.add_parser("info", parents=[common], help="shape, dtype, mask, counts statistics and geometry of a file")
    input_options(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)

    methods = commands.add_parser("methods", parents=[common], help="list the repertoire with parameters, units and ranges")
    methods.add_argument("--json", action="store_true", help="print JSON")
    methods.set_defaults(handler=_cmd_methods)

    demo = commands.add_parser("demo", parents=[common], help="run the default pipeline on embedded data and write a report")
    demo.add_argument("--out", default="asirp-demo", help="report folder (default: ./asirp-demo)")
    demo.add_argument("--force", action="store_true", help="replace an earlier demo report in that folder")
    demo.set_defaults(handler=_cmd_demo)

    bench = commands.add_parser("bench", parents=[common], help="run a benchmark suite (table + JSON)")
    bench.add_argument("suite", nargs="?", help="suite name; omit (or --list) to list suites")
    bench.add_argument("--list", action="store_true", help="list the suites")
    bench.add_argument("--quick", action="store_true", help="smaller cases, for a fast check")
    bench.add_argument("--json", help="also write the report as JSON here")
    bench.add_argument("--data", type=Path, help="folder of real data for suites that use it")
    bench.set_defaults(handler=_cmd_bench)

    import importlib

    for module in cli_modules():
        importlib.import_module(module).register_cli(commands, common)
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
        from .progress import set_progress

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


if __name__ == "__main__":
    sys.exit(main())
