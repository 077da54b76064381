"""A picture of a frame for reports and quick looks (PNG via matplotlib's Agg canvas).

The picture shows the image with a colour bar as tall as the image, colour limits at
the 1st and 99th percentiles of the valid pixels (so a few hot pixels do not wash it
out), masked pixels in grey, a scale bar when the pixel size is known (pixels are
drawn with their physical aspect ratio, but no image flatter than
:data:`MIN_DRAWN_RATIO`), and the kind and last processing step as title. A sinogram
is drawn against its angles in degrees. A stack is shown by its **first frame** (the
first with valid pixels; the title says which): one readable picture rather than a
montage of thumbnails; save the stack as NeXus or TIFF to keep every frame.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas, not
pyplot, so saving needs no display and touches no global state.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from ..frame import Frame
from ..units import PixelSize, convert_length

_PERCENTILES = (1.0, 99.0)
_MASKED_GREY = "0.6"
#: Smallest height / width of an image as drawn: flatter images (the xz plane of a
#: 2-slice volume is 2 x 640) get taller rows, so that they and their colour bar, as
#: tall as the image, stay readable; the axis ticks stay true.
MIN_DRAWN_RATIO = 0.25


def colour_limits(values: np.ndarray) -> tuple[float, float]:
    """Percentile colour limits of ``values``, widened when the image is flat."""
    low, high = (float(v) for v in np.percentile(values, _PERCENTILES))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return low, high


def scale_bar_length(width: float) -> float:
    """A round length (1, 2 or 5 x 10^k) near a fifth of ``width``, same units."""
    target = width / 5
    decade = 10.0 ** math.floor(math.log10(target))
    return max(m * decade for m in (1, 2, 5) if m * decade <= target)


def _scale_bar_label(length: float, unit: str) -> str:
    micrometres = convert_length(length, unit, "um")
    if micrometres >= 1000:
        return f"{convert_length(length, unit, 'mm'):g} mm"
    if micrometres < 1:
        return f"{convert_length(length, unit, 'nm'):g} nm"
    return f"{micrometres:g} µm"


def add_scale_bar(axes: Axes, pixel_size: PixelSize, nx: int) -> None:
    """Draw a physical scale bar (a round length near a fifth of the width) on ``axes``."""
    length = scale_bar_length(nx * pixel_size.x)
    bar = AnchoredSizeBar(
        axes.transData,
        length / pixel_size.x,
        _scale_bar_label(length, pixel_size.unit),
        "lower right",
        pad=0.4,
        color="black",
        frameon=True,
        size_vertical=max(1.0, 0.01 * nx),
    )
    bar.patch.set_alpha(0.7)
    axes.add_artist(bar)


def first_valid_index(frame: Frame) -> int:
    """Index of the image shown for ``frame``: 0, or for a stack its first image with valid pixels."""
    return int(np.argmax(frame.valid.reshape(-1, *frame.image_shape).any(axis=(1, 2)))) if frame.is_stack else 0


def sinogram_angles(frame: Frame) -> np.ndarray | None:
    """The rotation angle (degrees) of each row when ``frame`` is a sinogram, else None.

    A single image whose ``meta["angles_deg"]`` has one angle per row is a sinogram
    (rows = projection angles, columns = detector pixels), e.g.
    :func:`asirp.samples.tooth_sinogram` and what is restored from it.
    """
    angles = frame.meta.get("angles_deg")
    if frame.is_stack or angles is None or len(angles) != frame.image_shape[0]:
        return None
    return np.asarray(angles, dtype=float)


def _add_colour_bar(axes: Axes, shown: AxesImage, label: str) -> None:
    """A colour bar beside the image, exactly as tall as it (an inset in axes coordinates follows
    the image box that the aspect ratio leaves, which ``colorbar(ax=...)`` does not)."""
    axes.figure.colorbar(shown, cax=axes.inset_axes((1.03, 0.0, 0.04, 1.0)), label=label)


def draw_frame(
    axes: Axes,
    frame: Frame,
    *,
    limits: tuple[float, float] | None = None,
    title: str | None = None,
    label: str | None = None,
) -> None:
    """Draw one image of ``frame`` on ``axes``: colour bar as tall as the image, grey masked pixels, scale bar, title.

    A stack is drawn by its first image with valid pixels (the default title says
    which). ``limits`` are the colour limits (default: percentiles of the valid pixels).
    A sinogram (:func:`sinogram_angles`) is drawn against its angles in degrees (from
    the first to the last, evenly spaced) and detector columns, filling the panel.
    """
    index = first_valid_index(frame)
    data, valid = (frame.data[index], frame.valid[index]) if frame.is_stack else (frame.data, frame.valid)
    low, high = limits or colour_limits(data[valid])
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=_MASKED_GREY)
    size = frame.pixel_size
    angles = sinogram_angles(frame)
    shown = axes.imshow(
        np.ma.masked_array(data, mask=~valid),
        cmap=cmap,
        vmin=low,
        vmax=high,
        interpolation="nearest",
        aspect="auto" if angles is not None else _aspect(frame.image_shape, size),
        extent=None if angles is None else _sinogram_extent(angles, frame.image_shape[1]),
    )
    _add_colour_bar(axes, shown, label or ("counts" if frame.is_counting else "intensity"))
    axes.set_xlabel("x (pixel)" if angles is None else "detector column (pixel)")
    axes.set_ylabel("y (pixel)" if angles is None else "angle (°)")
    if size is not None:
        add_scale_bar(axes, size, frame.image_shape[1])
    if title is None:
        title = frame.kind if not frame.history else f"{frame.kind}: {frame.history[-1].method}"
        if frame.is_stack:
            title += f" (frame {index + 1} of {frame.shape[0]})"
    axes.set_title(title)


def _aspect(image_shape: tuple[int, int], size: PixelSize | None) -> float:
    """Height / width of a pixel as drawn: the physical one (1 without a pixel size), taller for flat images."""
    ny, nx = image_shape
    physical = 1.0 if size is None else size.y / size.x
    return max(physical, MIN_DRAWN_RATIO * nx / ny)


def _sinogram_extent(angles: np.ndarray, nx: int) -> tuple[float, float, float, float]:
    """``imshow`` extent putting row i at ``angles[i]`` (even spacing assumed) and column j at j px, first angle on top."""
    step = (angles[-1] - angles[0]) / (len(angles) - 1) if len(angles) > 1 else 1.0
    return -0.5, nx - 0.5, angles[-1] + step / 2, angles[0] - step / 2


def new_figure(width_in: float, height_in: float) -> Figure:
    """A matplotlib figure on an Agg canvas (no display, no pyplot global state)."""
    figure = Figure(figsize=(width_in, height_in), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def write_png(frame: Frame, path: Path) -> None:
    """Save a picture of ``frame`` as PNG at ``path`` (a stack: its first frame with valid pixels)."""
    figure = new_figure(6.4, 5.2)
    draw_frame(figure.add_subplot(), frame)
    figure.savefig(path, format="png")
