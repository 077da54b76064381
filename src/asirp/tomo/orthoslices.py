"""Looking at a volume: orthoslices (xy, xz, yz through a point) and line profiles, as PNG.

Volumes are compared side by side (e.g. reconstructed before and after restoring the
projections): one row of three orthoslices per volume on one colour scale, drawn
with :func:`asirp.io.export.draw_frame` (colour bar, masked pixels in grey, physical
scale bar and aspect when the voxel size is known), and the three line profiles
through the point, along x, y and z. Volumes may have different grids (a
super-resolved one is finer): the point is placed at the same relative position.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..frame import Frame
from ..io.export import colour_limits, draw_frame, new_figure
from ..report import save_figure
from ..units import PixelSize

PLANES = ("xy", "xz", "yz")
_AXES = ("z", "y", "x")


def _check(volume: Frame) -> None:
    if not isinstance(volume, Frame) or not volume.is_stack:
        raise InputError("orthoslices need a volume Frame (nz, ny, nx)")


def default_point(volume: Frame) -> tuple[int, int, int]:
    """The middle voxel ``(z, y, x)``."""
    _check(volume)
    nz, ny, nx = volume.shape
    return nz // 2, ny // 2, nx // 2


def _point_in(volume: Frame, reference: Frame, point: tuple[int, int, int]) -> tuple[int, int, int]:
    """``point`` of ``reference`` at the same relative position in ``volume`` (grids may differ)."""
    z, y, x = (min(int((p + 0.5) / r * n), n - 1) for p, r, n in zip(point, reference.shape, volume.shape, strict=True))
    return z, y, x


def _voxel(point: tuple[int, int, int]) -> tuple[int, int, int]:
    """``point`` as three Python ints (a caller may pass numpy integers)."""
    z, y, x = (int(p) for p in point)
    return z, y, x


def _spacing(volume: Frame) -> tuple[float, float, str] | None:
    """Slice spacing and in-plane voxel size, with their unit (None when unknown)."""
    size = volume.pixel_size
    if size is None:
        return None
    spacing = volume.meta.get("slice_spacing")
    if isinstance(spacing, Mapping) and "value" in spacing:
        z = PixelSize(float(spacing["value"]), size.x, str(spacing.get("unit", size.unit))).to(size.unit).y
    else:
        z = size.x
    return z, size.x, size.unit


def orthoslices(volume: Frame, point: tuple[int, int, int] | None = None) -> dict[str, Frame]:
    """The three planes through ``point`` ``(z, y, x)`` (default: the middle), as 2-D frames.

    Keys are ``"xy"`` (rows y, columns x, at z), ``"xz"`` (rows z, columns x, at y)
    and ``"yz"`` (rows z, columns y, at x); each frame carries its physical pixel size
    when the volume's voxel size is known, and the volume's history.
    """
    _check(volume)
    z, y, x = default_point(volume) if point is None else point
    for value, n, axis in zip((z, y, x), volume.shape, _AXES, strict=True):
        if not 0 <= value < n:
            raise InputError(f"point {axis}={value} is outside the volume ({n} voxels along {axis})")
    spacing = _spacing(volume)
    cuts: dict[str, tuple[tuple[int | slice, ...], PixelSize | None]] = {
        "xy": (np.s_[z, :, :], None if spacing is None else PixelSize(spacing[1], spacing[1], spacing[2])),
        "xz": (np.s_[:, y, :], None if spacing is None else PixelSize(spacing[0], spacing[1], spacing[2])),
        "yz": (np.s_[:, :, x], None if spacing is None else PixelSize(spacing[0], spacing[1], spacing[2])),
    }
    planes = {}
    for name, (cut, size) in cuts.items():
        valid = volume.valid[cut]
        data = volume.data[cut]
        if not valid.any():  # a plane outside the reconstruction circle: show it unmasked rather than fail
            valid = np.ones_like(valid)
        planes[name] = Frame(data, valid, kind="image", pixel_size=size, meta=dict(volume.meta), history=volume.history)
    return planes


def orthoslice_figure(
    volumes: Mapping[str, Frame],
    path: str | os.PathLike[str],
    *,
    point: tuple[int, int, int] | None = None,
    label: str = "attenuation (1/px)",
    force: bool = True,
) -> Path:
    """One row of xy/xz/yz orthoslices per volume, on one colour scale, as PNG.

    ``point`` is in voxels of the first volume (default its middle); ``force``
    replaces an existing picture.
    """
    if not volumes:
        raise InputError("no volume to draw")
    reference = next(iter(volumes.values()))
    point = default_point(reference) if point is None else _voxel(point)
    rows = {name: orthoslices(volume, _point_in(volume, reference, point)) for name, volume in volumes.items()}
    limits = colour_limits(np.concatenate([plane.data[plane.valid] for planes in rows.values() for plane in planes.values()]))
    figure = new_figure(13.5, 4.0 * len(rows))
    for r, (name, planes) in enumerate(rows.items()):
        z, y, x = _point_in(volumes[name], reference, point)
        where = {"xy": f"z = {z}", "xz": f"y = {y}", "yz": f"x = {x}"}
        for c, plane in enumerate(PLANES):
            axes = figure.add_subplot(len(rows), 3, r * 3 + c + 1)
            draw_frame(axes, planes[plane], limits=limits, title=f"{name}: {plane} ({where[plane]})", label=label)
            axes.set_xlabel("x (voxel)" if plane != "yz" else "y (voxel)")
            axes.set_ylabel("y (voxel)" if plane == "xy" else "z (voxel)")
    return save_figure(figure, path, force=force)


def profile_figure(
    volumes: Mapping[str, Frame],
    path: str | os.PathLike[str],
    *,
    point: tuple[int, int, int] | None = None,
    label: str = "attenuation (1/px)",
    force: bool = True,
) -> Path:
    """Line profiles through ``point`` along x, y and z, one line per volume, as PNG.

    Positions are physical (the volume's unit) when the voxel size is known, else in
    voxels of the first volume. Masked voxels are gaps; ``force`` replaces an existing picture.
    """
    if not volumes:
        raise InputError("no volume to draw")
    reference = next(iter(volumes.values()))
    point = default_point(reference) if point is None else _voxel(point)
    figure = new_figure(13.5, 3.8)
    for index, axis in enumerate(("x", "y", "z")):
        dim = 2 - index  # x is axis 2, z axis 0
        axes = figure.add_subplot(1, 3, index + 1)
        for name, volume in volumes.items():
            _check(volume)
            here: list[int | slice] = list(_point_in(volume, reference, point))
            here[dim] = slice(None)
            values = np.where(volume.valid[tuple(here)], volume.data[tuple(here)], np.nan)
            spacing = _spacing(volume)
            step = reference.shape[dim] / volume.shape[dim] if spacing is None else (spacing[0] if dim == 0 else spacing[1])
            axes.plot((np.arange(values.size) + 0.5) * step, values, label=name, marker="." if values.size < 32 else None)
        spacing = _spacing(reference)
        unit = "voxel" if spacing is None else ("µm" if spacing[2] == "um" else spacing[2])
        fixed = ", ".join(f"{a}={p}" for a, p, d in zip(_AXES, point, range(3), strict=True) if d != dim)
        axes.set_xlabel(f"{axis} ({unit})")
        axes.set_ylabel(label)
        axes.set_title(f"profile along {axis} ({fixed})")
        axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, path, force=force)


def figure_paths(out_dir: str | os.PathLike[str], prefix: str = "tomo") -> tuple[Path, Path]:
    """The pictures :func:`write_figures` writes: ``{prefix}_orthoslices.png`` and ``{prefix}_profiles.png``."""
    folder = Path(out_dir)
    return folder / f"{prefix}_orthoslices.png", folder / f"{prefix}_profiles.png"


def write_figures(
    volumes: Mapping[str, Frame],
    out_dir: str | os.PathLike[str],
    *,
    point: tuple[int, int, int] | None = None,
    prefix: str = "tomo",
    label: str = "attenuation (1/px)",
    force: bool = True,
) -> list[Path]:
    """Write the :func:`figure_paths` pictures into ``out_dir`` (created if needed; ``force`` replaces old ones)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    slices, profiles = figure_paths(out_dir, prefix)
    return [
        orthoslice_figure(volumes, slices, point=point, label=label, force=force),
        profile_figure(volumes, profiles, point=point, label=label, force=force),
    ]
