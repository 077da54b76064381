"""Pictures a person can look at: before/after panels and line profiles, as PNG.

Built on the single-image drawing of :mod:`asirp.io.export` (colour bar, masked
pixels in grey, robust percentile colour limits, physical scale bar) so that every
picture asirp writes looks the same; files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .frame import Frame
from .io.atomic import atomic_output
from .io.export import colour_limits, draw_frame, first_valid_index, new_figure


def _shown_image(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    index = first_valid_index(frame)
    return (frame.data[index], frame.valid[index]) if frame.is_stack else (frame.data, frame.valid)


def save_figure(figure: Figure, path: str | os.PathLike[str], *, force: bool = True) -> Path:
    """Write ``figure`` as PNG atomically (an existing picture is replaced unless ``force`` is False)."""
    target = Path(path).absolute()
    with atomic_output(target, force=force, inputs=()) as temporary:
        figure.savefig(temporary, format="png")
    return target


def compare_figure(
    panels: Mapping[str, Frame],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    shared_limits: bool = True,
    label: str | None = None,
    force: bool = True,
) -> Path:
    """Side-by-side images (e.g. raw, restored, truth) on one colour scale, as PNG (``force``: see :func:`save_figure`)."""
    frames = list(panels.values())
    limits = None
    if shared_limits:
        limits = colour_limits(np.concatenate([data[valid] for data, valid in map(_shown_image, frames)]))
    figure = new_figure(4.6 * len(frames), 4.4)
    for index, (name, frame) in enumerate(panels.items()):
        draw_frame(figure.add_subplot(1, len(frames), index + 1), frame, limits=limits, title=name, label=label)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path, force=force)


def profile_row(frame: Frame) -> int:
    """The row with the largest spread of valid values: a line across the most structure."""
    data, valid = _shown_image(frame)
    spreads = [np.ptp(row[ok]) if ok.any() else -1.0 for row, ok in zip(data, valid, strict=True)]
    return int(np.argmax(spreads))


def line_profile_figure(
    panels: Mapping[str, Frame],
    path: str | os.PathLike[str],
    *,
    row: int | None = None,
    label: str = "counts",
) -> tuple[Path, int]:
    """Intensity along one row of each frame, in physical units when known, as PNG.

    Frames may differ in size (super-resolution): each profile is drawn on the
    physical (or relative) axis of its own grid, at the same relative height. Returns
    the path and the row used (in the first frame's pixels). Masked pixels are gaps.
    """
    reference = next(iter(panels.values()))
    row = profile_row(reference) if row is None else row
    relative = (row + 0.5) / reference.image_shape[0]
    figure = new_figure(7.5, 3.8)
    axes = figure.add_subplot()
    for name, frame in panels.items():
        data, valid = _shown_image(frame)
        ny, nx = frame.image_shape
        r = min(int(relative * ny), ny - 1)
        if frame.pixel_size is not None:
            x = (np.arange(nx) + 0.5) * frame.pixel_size.x
            axes.set_xlabel(f"position ({'µm' if frame.pixel_size.unit == 'um' else frame.pixel_size.unit})")
        else:
            x = (np.arange(nx) + 0.5) / nx
            axes.set_xlabel("relative position along the row")
        axes.plot(x, np.where(valid[r], data[r], np.nan), label=name)
    axes.set_ylabel(label)
    axes.set_title(f"line profile, row {row}")
    axes.legend()
    axes.grid(alpha=0.3)
    return save_figure(figure, path), row
