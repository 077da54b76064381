"""``asirp xrf``: element maps from a spectra file (and a TOML configuration), restored and exported.

Examples::

    asirp xrf scan.h5 -e Cu-Ka,Fe-Ka,Ca-Ka -n ar+livetime --step 25um \\
        -m richardson_lucy --beam-fwhm 50um --iterations 10 -o maps/
    asirp xrf -c experiment.toml                      # everything from the configuration
    asirp xrf -c experiment.toml other_scan.h5 --iterations 20   # the CLI overrides the file
    asirp xrf scan.h5 -e Cu-Ka,Fe-Ka --step 25um --beam-fwhm 50um -m auto -o maps/   # method chosen per map
    asirp xrf scan.h5 -e Cu-Ka --dry-run              # windows, overlaps, grid; reads no spectra
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..parameters import parse_assignment


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [item.strip() for item in text.split(",") if item.strip()]


def _pair(text: str | None, label: str, cast: Any = str) -> tuple[Any, Any] | None:
    if text is None:
        return None
    first, sep, second = text.partition(":")
    if not sep:
        raise ParameterError(f"{label} expects FIRST:SECOND, got {text!r}")
    try:
        return cast(first), cast(second)
    except ValueError:
        raise ParameterError(f"{label} expects two numbers FIRST:SECOND, got {text!r}") from None


def _named(items: list[str], label: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(f"{label} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The command-line options as configuration overrides ({section: {key: value}}; None = not given)."""
    from ..xrf.lines import spec_mapping

    shape = _pair(args.shape.replace("x", ":") if args.shape else None, "--shape", int)
    threshold = _pair(args.threshold, "--threshold")
    return {
        "data": {
            "file": None
            if args.input is None
            else str(Path(args.input.split("::")[0]).absolute()) + (f"::{args.input.split('::', 1)[1]}" if "::" in args.input else ""),
            "layout": args.layout,
            "detectors": None if args.detectors is None else [int(d) for d in _list(args.detectors) or []],
            "channel_axis": args.channel_axis,
            "shape": shape,
            "snake": True if args.snake else None,
            "position_unit": args.position_unit,
            "duplicates": args.duplicates,
        },
        "calibration": {
            "file": None if args.calibration is None else str(Path(args.calibration).absolute()),
            "offset_kev": args.offset_kev,
            "slope_kev": args.slope_kev,
            "fit_peaks": _list(args.fit_peaks),
        },
        "elements": {
            "lines": _list(args.elements),
            "windows": {name: spec_mapping(spec) for name, spec in _named(args.window, "--window").items()} or None,
            "width_fwhm": args.width_fwhm,
            "colours": _named(args.colour, "--colour") or None,
        },
        "normalise": {
            "method": args.normalise,
            "i0": args.i0,
            "ar_smooth": None if args.ar_smooth is None else (args.ar_smooth if args.ar_smooth == "auto" else int(args.ar_smooth)),
        },
        "scan": {
            "step": args.step,
            "flip": args.flip or None,
            "rotate": args.rotate,
            "transpose": True if args.transpose else None,
            "crop_rows": _pair(args.crop_rows, "--crop-rows", int),
            "crop_cols": _pair(args.crop_cols, "--crop-cols", int),
            "crop_x": _pair(args.crop_x, "--crop-x"),
            "crop_y": _pair(args.crop_y, "--crop-y"),
        },
        "restore": {
            "method": args.method,
            "beam_fwhm": args.beam_fwhm,
            "psf_sigma": args.psf_sigma,
            "iterations": args.iterations,
            "params": dict(parse_assignment(item) for item in args.param) or None,
        },
        "output": {
            "directory": None if args.output is None else str(Path(args.output).absolute()),
            "stem": args.stem,
            "formats": _list(args.formats),
            "threshold": threshold,
            "relative_xy": False if args.absolute_xy else None,
            "force": True if args.force else None,
        },
        "processing": {"chunk_mb": args.chunk_mb, "spectrum": False if args.no_spectrum else None},
    }


def _dry_run(config: Any) -> int:
    from ..xrf.lines import find_overlaps, make_windows
    from ..xrf.readers import open_spectra
    from ..xrf.workflow import _elements, resolve_calibration

    data = config.data
    with open_spectra(
        config.data_path(), layout=data.layout, detectors=data.detectors, channel_axis=data.channel_axis, x=data.x, y=data.y,
        shape=data.shape, snake=data.snake, position_unit=data.position_unit,
    ) as source:  # fmt: skip
        calibration, resolution = resolve_calibration(source, maps_file=config.calibration.file)
        windows = make_windows(_elements(config), calibration, source.n_channels, resolution, width_fwhm=config.elements.width_fwhm)
        info = source.describe()
    for key in ("source", "layout", "n_points", "n_channels", "detectors", "dtype", "bytes", "scalers", "grid"):
        print(f"{key:<12} {info[key]}")
    print(f"{'calibration':<12} {calibration.describe() if calibration else 'none'}")
    for window in windows:
        energy = f"{window.lo_kev:.3f}-{window.hi_kev:.3f} keV" if window.lo_kev is not None else ""
        print(f"window       {window.name:<12} channels {window.lo}-{window.hi - 1} {energy}{' (clipped)' if window.clipped else ''}")
    for overlap in find_overlaps(windows, calibration):
        print(f"overlap      {overlap}")
    return 0


def _handler(args: argparse.Namespace) -> int:
    from ..progress import progress_enabled
    from ..xrf.config import load_config
    from ..xrf.workflow import output_files, output_stem, run, stage_names
    from .common import check_outputs

    config = load_config(args.config, overrides(args))
    if args.dry_run:
        return _dry_run(config)
    early = output_files(config, output_stem(config), dict.fromkeys(stage_names(config), ()))  # map names come later
    check_outputs(
        [path for paths in early.values() for path in paths],
        [config.output.directory],
        force=config.output.force,
        inputs=[config.data_path().partition("::")[0]],
    )
    result = run(config, show_progress=progress_enabled())
    maps = result.maps
    print(f"{maps.source['source']}: {maps.source['n_points']} points x {maps.source['n_channels']} channels, grid {maps.source['grid']['shape']}")
    for warning in maps.warnings:
        print(f"warning: {warning}")
    for name, frame in result.final.items():
        values = frame.data[frame.valid]
        step = frame.history[-1]
        method = f"{step.method} (auto)" if "selection" in step.notes else step.method
        print(f"{name:<14} {method:<18} mean {values.mean():.4g}  max {values.max():.4g}  {frame.meta.get('units', '')}")
    print("time: " + ", ".join(f"{key} {value:.3g}" for key, value in maps.timings.items()))
    for path in result.written:
        print(f"wrote {path}")
    return 0


def register_cli(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``xrf`` sub-command (see the module docstring)."""
    sub = commands.add_parser(
        "xrf",
        parents=[common],
        help="element maps from XRF spectra: channel adding, normalisation, restoration, exports",
        description="Element maps from a micro-XRF spectra cube (APS MAPS, PyXRF, NeXus, point lists): channel "
        "adding, normalisation, orientation, restoration and NeXus/TIFF/PNG/TXT exports. Options override the "
        "TOML configuration given with --config.",
    )
    sub.add_argument("input", nargs="?", help="spectra file (FILE.h5::/dataset names the spectra); default: [data] file of the config")
    sub.add_argument("-c", "--config", help="TOML configuration file")
    sub.add_argument("--dry-run", action="store_true", help="show the source, windows and overlaps; read no spectra")
    data = sub.add_argument_group("data")
    data.add_argument("--layout", choices=["auto", "maps", "pyxrf", "nexus"])
    data.add_argument("--detectors", help="detector elements to sum, 0-based, e.g. 0,1 (default: all)")
    data.add_argument("--channel-axis", type=int, choices=[0, -1], help="0 for spectra stored channels first")
    data.add_argument("--shape", help="scan shape ROWSxCOLUMNS of a point list without positions")
    data.add_argument("--snake", action="store_true", help="with --shape: odd rows were scanned backwards")
    data.add_argument("--position-unit", help="unit of motor positions when the file does not say (e.g. mm)")
    data.add_argument("--duplicates", choices=["error", "mean", "last"], help="points measured twice (default: error)")
    calibration = sub.add_argument_group("calibration")
    calibration.add_argument("--calibration", help="MAPS maps_fit_parameters_override.txt")
    calibration.add_argument("--offset-kev", type=float, help="energy of channel 0, keV")
    calibration.add_argument("--slope-kev", type=float, help="keV per channel")
    calibration.add_argument("--fit-peaks", help="two lines to refit the calibration, e.g. Ar-Ka,Cu-Ka")
    elements = sub.add_argument_group("elements")
    elements.add_argument("-e", "--elements", help="lines or ranges, comma-separated: Cu-Ka,Fe-Kb,Pb-La,7.9-8.2keV,ch:820-860")
    elements.add_argument("--window", action="append", default=[], metavar="NAME=SPEC", help="a named window (repeatable)")
    elements.add_argument("--width-fwhm", type=float, help="line window width in detector FWHM (default 2)")
    elements.add_argument("--colour", action="append", default=[], metavar="NAME=COLOUR", help="colour map or colour of a map")
    norm = sub.add_argument_group("normalisation")
    norm.add_argument("-n", "--normalise", help="none, i0, ar, livetime, deadtime or a combination such as ar+livetime")
    norm.add_argument("--i0", help="name of the I0 scaler")
    norm.add_argument("--ar-smooth", help="points averaged (odd) for the Ar counts, or auto")
    scan = sub.add_argument_group("scan geometry")
    scan.add_argument("--step", help="scan step, e.g. 25um (sets the map pixel size)")
    scan.add_argument("--flip", action="append", choices=["lr", "ud"], help="mirror left-right or up-down (repeatable)")
    scan.add_argument("--rotate", type=int, help="rotate counter-clockwise by a multiple of 90 degrees")
    scan.add_argument("--transpose", action="store_true", help="swap rows and columns")
    scan.add_argument("--crop-rows", help="FIRST:STOP pixel rows to keep")
    scan.add_argument("--crop-cols", help="FIRST:STOP pixel columns to keep")
    scan.add_argument("--crop-x", help="LOW:HIGH x range to keep (map units or lengths such as 1.2mm)")
    scan.add_argument("--crop-y", help="LOW:HIGH y range to keep")
    restore = sub.add_argument_group("restoration")
    restore.add_argument("-m", "--method", help="restoration method (see 'asirp methods') or auto (chosen per map); default: none")
    restore.add_argument("--beam-fwhm", help="beam FWHM, e.g. 50um (the PSF, with the step)")
    restore.add_argument("--psf-sigma", type=float, help="PSF sigma in map pixels (instead of --beam-fwhm)")
    restore.add_argument("--iterations", type=int, help="iterations of an iterative method")
    restore.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="other method parameter")
    output = sub.add_argument_group("output")
    output.add_argument("-o", "--output", help="output folder (default: current folder)")
    output.add_argument("--stem", help="output file name stem (default: the input's)")
    output.add_argument("--formats", help="comma-separated: nxs,tif,png,txt (default nxs,png,txt)")
    output.add_argument("--threshold", help="clip levels LOW:HIGH of the pictures: numbers or percentiles p1:p99")
    output.add_argument("--absolute-xy", action="store_true", help="TXT x, y as absolute motor positions")
    output.add_argument("--force", action="store_true", help="replace existing outputs")
    output.add_argument("--chunk-mb", type=float, help="MB of spectra read at a time (default 64)")
    output.add_argument("--no-spectrum", action="store_true", help="do not sum the whole spectrum")
    sub.set_defaults(handler=_handler)
