"""Pictures a person can look at: before/after panels, line profiles.

Figures are drawn with matplotlib's Agg backend (no screen needed at a beamline
console or in CI), with colour bars, a physical scale bar when the pixel size is
known, masked pixels in grey and robust (percentile) colour limits so that a hot
pixel does not wash out the image.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from .frame import Frame  # noqa: E402

#: Percentiles of the valid pixels used as colour limits.
COLOUR_PERCENTILES = (0.5, 99.5)
_NICE_LENGTHS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)


def colour_limits(frames: list[Frame]) -> tuple[float, float]:
    """Shared robust colour limits over the valid pixels of several frames."""
    values = np.concatenate([f.images()[0].data[f.images()[0].valid] for f in frames])
    low, high = np.percentile(values, COLOUR_PERCENTILES)
    return float(low), float(high if high > low else low + 1.0)


def _add_scale_bar(ax: Axes, frame: Frame) -> None:
    size = frame.pixel_size
    if size is None:
        return
    width_physical = frame.image_shape[1] * size.x
    target = width_physical / 5
    length = max([n for n in _NICE_LENGTHS if n <= target] or [_NICE_LENGTHS[0]])
    unit = "µm" if size.unit == "um" else size.unit
    bar = AnchoredSizeBar(
        ax.transData, length / size.x, f"{length:g} {unit}", "lower right", pad=0.4, color="white",
        frameon=False, size_vertical=max(1.0, frame.image_shape[0] / 80), label_top=True,
    )
    ax.add_artist(bar)


def show_frame(
    ax: Axes,
    frame: Frame,
    *,
    limits: tuple[float, float] | None = None,
    cmap: str = "viridis",
    title: str | None = None,
    label: str = "counts",
) -> None:
    """Draw the (first) image of ``frame`` on ``ax`` with a colour bar and scale bar."""
    image = frame.images()[0]
    low, high = limits or colour_limits([frame])
    colours = plt.get_cmap(cmap).copy()
    colours.set_bad("0.6")
    shown = ax.imshow(np.ma.array(image.data, mask=~image.valid), cmap=colours, vmin=low, vmax=high,
                      interpolation="nearest")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=label)
    _add_scale_bar(ax, frame)
    ax.set_title(title if title is not None else (frame.history[-1].method if frame.history else frame.kind))
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(figure: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write ``figure`` as PNG atomically (temporary file + rename) and close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=dpi, bbox_inches="tight")
        os.replace(temporary, target)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def compare_figure(
    panels: Mapping[str, Frame], path: str | os.PathLike[str], *, title: str | None = None,
    shared_limits: bool = True, label: str = "counts",
) -> Path:
    """Side-by-side images (e.g. raw, restored, truth) with one colour scale, as PNG."""
    frames = list(panels.values())
    limits = colour_limits(frames) if shared_limits else None
    figure, axes = plt.subplots(1, len(frames), figsize=(4.6 * len(frames), 4.2), squeeze=False)
    for ax, (name, frame) in zip(axes[0], panels.items(), strict=True):
        show_frame(ax, frame, limits=limits, title=name, label=label)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def profile_row(frame: Frame) -> int:
    """The row with the largest spread of valid values: a line across the most structure."""
    image = frame.images()[0]
    spreads = [np.ptp(row[ok]) if ok.any() else -1.0 for row, ok in zip(image.data, image.valid, strict=True)]
    return int(np.argmax(spreads))


def line_profile_figure(
    panels: Mapping[str, Frame], path: str | os.PathLike[str], *, row: int | None = None, label: str = "counts",
) -> tuple[Path, int]:
    """Intensity along one row of each frame, in physical units when known, as PNG.

    Frames may differ in size (super-resolution): each profile is placed on the
    physical (or relative) axis of its own grid. Returns the path and the row used
    (in the first frame's pixels).
    """
    frames = list(panels.values())
    reference = frames[0]
    row = profile_row(reference) if row is None else row
    relative = row / reference.image_shape[0]
    figure, ax = plt.subplots(figsize=(7.5, 3.8))
    for name, frame in panels.items():
        image = frame.images()[0]
        r = min(int(round(relative * image.image_shape[0])), image.image_shape[0] - 1)
        if frame.pixel_size is not None:
            x = (np.arange(image.image_shape[1]) + 0.5) * frame.pixel_size.x
            unit = "µm" if frame.pixel_size.unit == "um" else frame.pixel_size.unit
            ax.set_xlabel(f"position ({unit})")
        else:
            x = (np.arange(image.image_shape[1]) + 0.5) / image.image_shape[1]
            ax.set_xlabel("relative position along the row")
        values = np.where(image.valid[r], image.data[r], np.nan)
        ax.plot(x, values, label=name, drawstyle="steps-mid" if name.lower().startswith("raw") else "default")
    ax.set_ylabel(label)
    ax.set_title(f"line profile, row {row}")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(figure, path), row
