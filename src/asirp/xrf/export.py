"""Element-map exports: NeXus (all maps, every stage, with provenance), TIFF, PNG and TXT for Origin.

* :func:`write_nexus_maps`: one NeXus file holding one NXentry per map and stage
  (``Cu-Ka_counts``, ``Cu-Ka_normalised``, ``Cu-Ka_restored``...), each written by
  :func:`asirp.io.nexus.write_entry` (data, mask, pixel size, kind, metadata and one
  NXprocess per history step) and readable alone with
  ``asirp.io.open("maps.nxs::/Cu-Ka_restored")``, plus an ``xrf`` NXentry with the
  summed spectrum versus energy and the windows, calibration and scan grid as JSON;
* :func:`write_png`: a picture with the element's colour map, clip levels
  (threshold), colour bar, physical scale bar and motor-coordinate axes; with a
  second frame, raw and restored side by side on one colour scale;
* :func:`write_txt`: tab-separated columns ``x``, ``y`` (motor coordinates in
  physical units, relative to the map's corner by default, as the paper's tool
  wrote them) and one column of counts per map: one row per measured scan point,
  ready for Origin (the header row holds the column names with units);
* TIFF goes through :func:`asirp.io.save` (float32, masked points NaN).

All files are written atomically and never over an input file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import matplotlib
import numpy as np
from matplotlib.colors import Colormap, LinearSegmentedColormap, is_color_like
from matplotlib.ticker import MaxNLocator

from ..errors import OutputError, ParameterError
from ..frame import Frame
from ..io.atomic import atomic_output, input_files
from ..io.export import colour_limits, draw_frame, new_figure
from ..io.nexus import write_entry, write_file_header
from .orient import MapAxes

#: Colour map of maps without a colour of their own.
DEFAULT_CMAP = "viridis"
_GREY = "0.6"


def entry_name(element: str, stage: str) -> str:
    """NXentry name of a map: ``"Cu-Ka", "restored" -> "Cu-Ka_restored"`` (HDF5-safe characters only)."""
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", f"{element}_{stage}")


def _inputs(frames: Sequence[Frame]) -> list[str]:
    return sorted({name for frame in frames for name in input_files(frame)})


def write_nexus_maps(
    stages: Mapping[str, Mapping[str, Frame]],
    path: str | os.PathLike[str],
    *,
    spectrum: tuple[np.ndarray, np.ndarray | None] | None = None,
    summary: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write every map of every stage into one NeXus file.

    Parameters
    ----------
    stages:
        ``{stage: {element: frame}}``, e.g. ``{"counts": raw, "normalised": ..., "restored": ...}``.
        The root ``@default`` is the first element of the last stage.
    spectrum:
        ``(counts, energies_keV or None)`` of the summed spectrum, written to ``/xrf/spectrum``.
    summary:
        JSON-serialisable facts (windows, overlaps, calibration, grid) written to ``/xrf/summary``.
    force:
        Replace an existing file.
    """
    frames = [frame for maps in stages.values() for frame in maps.values()]
    if not frames:
        raise ParameterError("no maps to write")
    target = Path(path).absolute()
    last = list(stages.values())[-1]
    default = entry_name(next(iter(last)), list(stages)[-1])
    with atomic_output(target, force=force, inputs=_inputs(frames)) as temporary, h5py.File(temporary, "w") as handle:
        write_file_header(handle, target.name, default)
        for stage, maps in stages.items():
            for element, frame in maps.items():
                write_entry(handle, entry_name(element, stage), frame)
        if spectrum is not None or summary is not None:
            _write_xrf_entry(handle, spectrum, summary)
    return target


def _write_xrf_entry(handle: h5py.File, spectrum: tuple[np.ndarray, np.ndarray | None] | None, summary: Mapping[str, Any] | None) -> None:
    entry = handle.create_group("xrf")
    entry.attrs["NX_class"] = "NXentry"
    if spectrum is not None:
        counts, energies = spectrum
        data = entry.create_group("spectrum")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "counts"
        entry.attrs["default"] = "spectrum"
        signal = data.create_dataset("counts", data=np.asarray(counts))
        signal.attrs["interpretation"] = "spectrum"
        signal.attrs["long_name"] = "counts summed over all scan points and detector elements"
        if energies is not None:
            data.attrs["axes"] = ["energy"]
            axis = data.create_dataset("energy", data=np.asarray(energies, dtype=np.float64))
            axis.attrs["units"] = "keV"
        else:
            data.attrs["axes"] = ["channel"]
            data.create_dataset("channel", data=np.arange(np.asarray(counts).size))
    if summary is not None:
        note = entry.create_group("summary")
        note.attrs["NX_class"] = "NXnote"
        note.create_dataset("type", data="application/json")
        note.create_dataset("data", data=json.dumps(summary, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def colour_map(colour: str | None) -> Colormap:
    """A matplotlib colour map name (``"copper"``, ``"inferno"``), or one colour (``"red"``,
    ``"#b87333"``) made into a black-to-colour ramp; masked points grey."""
    if colour is None:
        colour = DEFAULT_CMAP
    if colour in matplotlib.colormaps:
        cmap = matplotlib.colormaps[colour]
    elif is_color_like(colour):
        cmap = LinearSegmentedColormap.from_list(f"black-{colour}", ["black", colour])
    else:
        raise ParameterError(f"unknown colour or colour map {colour!r} (e.g. 'copper', 'viridis', 'red', '#b87333')")
    return cmap.with_extremes(bad=_GREY)


def clip_levels(frame: Frame, low: float | str | None, high: float | str | None) -> tuple[float, float]:
    """Colour limits: numbers in the map's units, or percentiles of the measured points as ``"p1"``, ``"p99.5"``.

    ``None`` takes the 1st / 99th percentile. Raises :class:`ParameterError` when
    ``low >= high`` or a value cannot be read.
    """
    values = frame.data[frame.valid]
    default_low, default_high = colour_limits(values)

    def level(value: float | str | None, default: float) -> float:
        if value is None:
            return default
        text = str(value).strip().lower()
        try:
            if text.startswith("p"):
                return float(np.percentile(values, float(text[1:])))
            return float(text)
        except ValueError:
            raise ParameterError(f"clip level {value!r} is neither a number nor a percentile such as 'p99'") from None

    lo, hi = level(low, default_low), level(high, default_high)
    if not hi > lo:
        raise ParameterError(f"clip levels must increase, got {lo:g} and {hi:g}")
    return lo, hi


def _physical_ticks(axes: Any, frame: Frame) -> None:
    """Put ticks at round motor coordinates (labelled in physical units) instead of pixel indices."""
    map_axes = MapAxes.of(frame)
    if map_axes.unit is None:
        return
    unit = "µm" if map_axes.unit == "um" else map_axes.unit
    for axis, values, motor in ((axes.xaxis, map_axes.col_values, map_axes.col_motor), (axes.yaxis, map_axes.row_values, map_axes.row_motor)):
        first, last = float(values[0]), float(values[-1])
        per_pixel = (last - first) / (values.size - 1)
        ticks = [t for t in MaxNLocator(5).tick_values(min(first, last), max(first, last)) if min(first, last) <= t <= max(first, last)]
        axis.set_ticks([(t - first) / per_pixel for t in ticks], labels=[f"{t:g}" for t in ticks])
        axis.set_label_text(f"{motor} ({unit})")


def _stage(frame: Frame) -> str:
    """What a map is, from its last step that is not a flip, rotation, transpose or crop."""
    names = {"xrf_channel_add": "counts", "xrf_normalise": "normalised"}
    for step in reversed(frame.history):
        if step.method not in ("xrf_flip", "xrf_rotate", "xrf_transpose", "xrf_crop"):
            return names.get(step.method, step.method)
    return "map"


def write_png(
    frame: Frame,
    path: str | os.PathLike[str],
    *,
    compare: Frame | None = None,
    colour: str | None = None,
    limits: tuple[float | str | None, float | str | None] = (None, None),
    title: str | None = None,
    force: bool = False,
) -> Path:
    """A picture of an element map (or raw and restored side by side).

    Parameters
    ----------
    frame:
        The map; with ``compare``, the left panel (e.g. the map before restoration).
    compare:
        A second map of the same element shown on the right, on the same colour scale.
    colour:
        Colour map name or single colour (see :func:`colour_map`).
    limits:
        Clip levels ``(low, high)``: numbers or percentiles (``"p99"``) of the last
        panel (the restored map when comparing); the paper's "threshold". Default:
        its 1st and 99th percentiles.
    """
    cmap = colour_map(colour)
    panels = [frame] if compare is None else [frame, compare]
    lo, hi = clip_levels(panels[-1], *limits)
    figure = new_figure(5.6 * len(panels), 4.8)
    element = frame.meta.get("element", frame.kind)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        draw_frame(axes, panel, limits=(lo, hi), title=title or f"{element} ({_stage(panel)})", label=str(panel.meta.get("units", "counts")))
        axes.images[0].set_cmap(cmap)
        _physical_ticks(axes, panel)
    target = Path(path).absolute()
    with atomic_output(target, force=force, inputs=_inputs(panels)) as temporary:
        figure.savefig(temporary, format="png")
    return target


def txt_table(frames: Mapping[str, Frame], *, relative: bool = True) -> tuple[list[str], np.ndarray]:
    """Column names and rows ``(n_points, 2 + n_maps)`` of the TXT export (see :func:`write_txt`)."""
    if not frames:
        raise ParameterError("no maps to write")
    first = next(iter(frames.values()))
    shapes = {frame.shape for frame in frames.values()}
    if len(shapes) != 1 or first.is_stack:
        raise ParameterError(f"TXT export needs 2-D maps of one shape, got shapes {sorted(shapes)}")
    axes = MapAxes.of(first)
    planes = axes.planes()
    if set(planes) != {"x", "y"}:
        raise ParameterError(f"TXT export needs x and y motors, the map has {sorted(planes)}")
    measured = np.logical_and.reduce([frame.valid for frame in frames.values()])
    x, y = planes["x"][measured], planes["y"][measured]
    if relative:
        x, y = x - planes["x"].min(), y - planes["y"].min()
    unit = "pixel" if axes.unit is None else axes.unit
    names = [f"x ({unit})", f"y ({unit})"] + [f"{name} ({frame.meta.get('units', 'counts')})" for name, frame in frames.items()]
    columns = [x, y] + [frame.data[measured].astype(np.float64) for frame in frames.values()]
    return names, np.column_stack(columns)


def write_txt(frames: Mapping[str, Frame], path: str | os.PathLike[str], *, relative: bool = True, force: bool = False) -> Path:
    """Tab-separated ``x  y  counts...`` for Origin: one row per measured scan point, row by row as displayed.

    ``x`` and ``y`` are the motor coordinates of each point in the maps' length unit
    (relative to the smallest coordinate of the map when ``relative``, as the paper's
    tool wrote them; absolute otherwise), whatever flips or rotations were applied.
    Points masked in any map (not measured, unusable normaliser) are left out.
    """
    names, table = txt_table(frames, relative=relative)
    target = Path(path).absolute()
    if target.suffix.lower() not in (".txt", ".dat", ".tsv", ".csv"):
        raise OutputError(f"{target}: a text table needs a .txt, .dat, .tsv or .csv name")
    delimiter = "," if target.suffix.lower() == ".csv" else "\t"
    with atomic_output(target, force=force, inputs=_inputs(list(frames.values()))) as temporary:
        np.savetxt(temporary, table, fmt="%.8g", delimiter=delimiter, header=delimiter.join(names), comments="")
    return target
