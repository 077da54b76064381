"""``asirp tomo``: reconstruct a tomography scan (``recon``) or find its rotation axis (``centre``).

Examples::

    asirp tomo recon tooth.h5 -o tooth_volume.nxs --figures figures/
    asirp tomo recon scan.h5 -o volume.nxs --restore richardson_lucy -p psf_sigma=1.2 -p iterations=10
    asirp tomo recon stack.tif --angles angles.txt --flats flat.tif --darks dark.tif -o volume.nxs --algorithm sirt
    asirp tomo centre scan.h5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..tomo.options import (
    ALGORITHMS,
    FILTERS,
    MIN_PROJECTION_SIDE,
    TARGETS,
    TRANSMISSION_FLOOR,
    parse_centre,
    parse_rows,
)
from ..units import PixelSize, parse_length


def _point(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        z, y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise ParameterError(f"--point expects Z,Y,X (voxels), got {text!r}") from None
    return z, y, x


def _params(items: list[str]) -> dict[str, Any]:
    from ..parameters import parse_assignment

    return dict(parse_assignment(item) for item in items)


def _read(args: argparse.Namespace):
    from ..tomo.readers import read_scan

    pixel = None
    if args.pixel_size:
        value, unit = parse_length(args.pixel_size)
        pixel = PixelSize.square(value, unit)
    return read_scan(args.input, angles=args.angles, angles_unit=args.angles_unit, flats=args.flats, darks=args.darks,
                     rows=parse_rows(args.rows), pixel_size=pixel, sort_angles=not args.strict_angles)


def _cmd_recon(args: argparse.Namespace) -> int:
    from ..io import save
    from ..io.writer import writer_for
    from ..tomo.orthoslices import figure_paths, write_figures
    from ..tomo.pipeline import reconstruct_scan
    from .common import check_outputs

    output = Path(args.output) if args.output else Path(f"{Path(args.input).stem}_volume.nxs")
    writer_for(output)
    figures = figure_paths(args.figures, output.stem) if args.figures else ()
    inputs = [name for name in (args.input, args.angles, args.flats, args.darks) if name]
    check_outputs([output, *figures], [args.figures] if args.figures else [], force=args.force, inputs=inputs)
    point = _point(args.point)
    scan = _read(args)
    common = dict(algorithm=args.algorithm, centre=parse_centre(args.center), filter_name=args.filter,
                  iterations=args.iterations, zingers=args.zingers, rings=args.rings, air_px=args.air_px,
                  zero_flat=args.zero_flat, floor=args.floor)
    denoise = dict(denoise=args.denoise, denoise_params=_params(args.denoise_param)) if args.denoise else {}
    result = reconstruct_scan(scan, restore=args.restore, restore_params=_params(args.param),
                              restore_target=args.restore_target, **denoise, **common)
    path = save(result.volume, output, force=args.force)
    steps = " -> ".join(step.method for step in result.volume.history)
    print(f"rotation centre {result.centre.centre_px:.2f} px ({result.centre.method})")
    if result.restore_target is not None:
        print(f"restored the {result.restore_target}: {result.restore_reason}")
    print(f"wrote {path}: volume {'x'.join(map(str, result.volume.shape))}; steps: {steps}")
    print("timings: " + ", ".join(f"{name} {seconds:.3g} s" for name, seconds in result.timings_s.items()))
    if args.figures:
        volumes = {}
        if args.restore or args.denoise:  # the same reconstruction without restoration, for before/after
            scale = result.attenuation.shape[2] // scan.shape[2]  # > 1 after super-resolution
            plain = reconstruct_scan(scan, **{**common, "centre": (result.centre.centre_px + 0.5) / scale - 0.5})
            volumes["no restoration"] = plain.volume
        label = args.denoise or (f"{args.restore} ({result.restore_target})" if args.restore else args.algorithm)
        volumes[label] = result.volume
        for written in write_figures(volumes, args.figures, point=point, prefix=output.stem, force=args.force):
            print(f"wrote {written}")
    return 0


def _cmd_centre(args: argparse.Namespace) -> int:
    from ..tomo.centre import find_centre
    from ..tomo.pipeline import corrected_projections

    scan = _read(args)
    attenuation = corrected_projections(scan, air_px=args.air_px, zero_flat=args.zero_flat)
    estimate = find_centre(attenuation, method=args.method)
    if args.json:
        print(json.dumps(estimate.to_dict(), indent=2, default=float))
    else:
        print(f"{estimate.centre_px:.2f}  ({estimate.method}; detector of {scan.shape[2]} columns, middle "
              f"{scan.shape[2] // 2})")
    return 0


def _input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Data Exchange or NXtomo HDF5 file, multi-page TIFF, or folder of TIFFs")
    parser.add_argument("--angles", help="angles file (text or .npy), one per projection; required for TIFF")
    parser.add_argument("--angles-unit", choices=("deg", "rad"), default="deg", help="unit of --angles (default deg)")
    parser.add_argument("--flats", help="flat-field TIFF (TIFF input)")
    parser.add_argument("--darks", help="dark-field TIFF (TIFF input)")
    parser.add_argument("--rows", help="START:STOP detector rows to reconstruct (default all)")
    parser.add_argument("--pixel-size", help="detector pixel size, e.g. 0.65um (default: from the file)")
    parser.add_argument("--strict-angles", action="store_true", help="refuse unsorted angles instead of sorting the projections")
    parser.add_argument("--air-px", type=int, default=10, help="without flats: edge columns taken as air (default 10)")
    parser.add_argument("--zero-flat", choices=("error", "interpolate"), default="error",
                        help="flat not above dark at some pixels: error (default) or interpolate them")


def register_cli(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``asirp tomo recon`` and ``asirp tomo centre``."""
    tomo = commands.add_parser("tomo", parents=[common], help="tomography: restore projections, reconstruct, orthoslices")
    sub = tomo.add_subparsers(dest="tomo_command", required=True)

    recon = sub.add_parser("recon", parents=[common], help="reconstruct a scan into a NeXus volume with provenance")
    _input_options(recon)
    recon.add_argument("-o", "--output", help="output volume (.nxs/.h5, .tif, .npy); default INPUT_volume.nxs")
    recon.add_argument("--restore", metavar="METHOD", help="restore with this repertoire method, or auto (default: none)")
    recon.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="restoration parameter (repeatable)")
    recon.add_argument("--restore-target", choices=TARGETS, default="auto",
                       help="restore the projections before or the slices after reconstruction; auto (default): "
                       f"the projections unless thinner than {MIN_PROJECTION_SIDE} px (e.g. a 2-row scan), then the slices")
    recon.add_argument("--algorithm", choices=ALGORITHMS, default="fbp", help="reconstruction algorithm (default fbp)")
    recon.add_argument("--iterations", type=int, default=100, help="SIRT iterations (default 100)")
    recon.add_argument("--filter", choices=FILTERS, default="ramp", help="FBP filter (default ramp)")
    recon.add_argument("--center", "--centre", dest="center", default="auto",
                       help="rotation axis: auto (default), registration, sharpness, or a detector column in px")
    recon.add_argument("--denoise", choices=("noise2inverse",), help="self-supervised Noise2Inverse denoiser (FBP)")
    recon.add_argument("--denoise-param", action="append", default=[], metavar="KEY=VALUE",
                       help="Noise2Inverse parameter, e.g. steps=300 (repeatable)")
    recon.add_argument("--zingers", action="store_true", help="remove zingers from the raw projections")
    recon.add_argument("--rings", action="store_true", help="remove ring artefacts (sorting-based stripe removal)")
    recon.add_argument("--floor", type=float, default=TRANSMISSION_FLOOR, help="transmission floor before -log (default 1e-3)")
    recon.add_argument("--figures", help="folder for orthoslice and line-profile PNGs (before/after when restoring)")
    recon.add_argument("--point", help="Z,Y,X voxel the orthoslices and profiles go through (default the middle)")
    recon.add_argument("--force", action="store_true", help="replace an existing output file and figures")
    recon.set_defaults(handler=_cmd_recon)

    centre = sub.add_parser("centre", aliases=["center"], parents=[common], help="find the rotation axis of a scan")
    _input_options(centre)
    centre.add_argument("--method", choices=("auto", "registration", "sharpness"), default="auto")
    centre.add_argument("--json", action="store_true", help="print the estimate and its details as JSON")
    centre.set_defaults(handler=_cmd_centre)
