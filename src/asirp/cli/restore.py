"""``asirp restore``, ``asirp info`` and ``asirp methods``: one file in, restored or described."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..kinds import KINDS
from ..parameters import parse_assignment
from .common import check_outputs


def input_options(sub: argparse.ArgumentParser) -> None:
    """The input file and how to read it: shared by the commands that open one frame."""
    sub.add_argument("input", help="data file; FILE.h5::/path/to/dataset selects an HDF5 dataset")
    sub.add_argument("--kind", choices=KINDS, help="what the data is (default: from the file, else 'image')")
    sub.add_argument("--poni", help="pyFAI PONI geometry (default: a .poni beside the file)")
    sub.add_argument("--saturation", type=float, help="counts at or above this are masked as saturated")
    sub.add_argument("--mask", help="mask file, nonzero = masked (pyFAI/Dioptas: EDF, TIFF/.mask, NPY, FILE.h5::/path)")


def _input_file(args: argparse.Namespace) -> str:
    """The input's file name, without a ``::/dataset`` part."""
    return args.input.split("::")[0]


def _check_input(args: argparse.Namespace) -> None:
    """Refuse a missing or unreadable input before importing the readers (h5py, fabio, scipy: seconds)."""
    from ..io.sniff import check_input_file

    check_input_file(Path(_input_file(args)))


def _open_input(args: argparse.Namespace) -> Any:
    from ..io import open as open_frame

    return open_frame(args.input, kind=args.kind, poni=args.poni, saturation=args.saturation, mask=args.mask)


def _cmd_restore(args: argparse.Namespace) -> int:
    params = dict(parse_assignment(item) for item in args.param)
    _check_input(args)
    from ..io import save
    from ..io.writer import writer_for
    from ..select import make_plan

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
        from .. import report

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
    from ..io import file_info

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
    from ..api import methods

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


def register_cli(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``restore``, ``info`` and ``methods``."""
    restore = commands.add_parser("restore", parents=[common], help="restore a file and write NeXus with provenance")
    input_options(restore)
    restore.add_argument("-o", "--output", help="output file (.nxs/.h5, .tif, .npy, .png); default INPUT_restored.nxs")
    restore.add_argument("-m", "--method", default="auto", help="method name (see 'asirp methods') or auto")
    restore.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter (repeatable)")
    restore.add_argument("--force", action="store_true", help="replace an existing output file and figure")
    restore.add_argument("--explain", action="store_true", help="with --method auto: print why the method was chosen")
    restore.add_argument(
        "--budget",
        type=float,
        help="time budget per frame in seconds: auto decides and runs within it; a method estimated over it falls back to the cheapest one",
    )
    restore.add_argument("--figure", help="also write a before/after PNG here")
    restore.set_defaults(handler=_cmd_restore)

    info = commands.add_parser("info", parents=[common], help="shape, dtype, mask, counts statistics and geometry of a file")
    input_options(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)

    methods = commands.add_parser("methods", parents=[common], help="list the repertoire with parameters, units and ranges")
    methods.add_argument("--json", action="store_true", help="print JSON")
    methods.set_defaults(handler=_cmd_methods)
