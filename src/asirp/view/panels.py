"""The two linked image panels (raw | restored or difference), their colour scale and the pixel readout.

Bokeh does the drawing: image glyphs, one shared x and one shared y range (zoom and
pan move both panels), colour mappers (linear, logarithmic; NaN = masked pixels in a
colour the palette lacks), colour bars, hover tools and a crosshair shared by both
panels. The y axis is flipped so that row 0 is at the top, as detector images are shown.

Each panel has one image renderer per colour mapper and shows one of them (an image
glyph keeps the colours it mapped when its mapper is replaced, while a renderer made
visible draws with its own), and for frames sent as a reduced overview a second layer
holding a full-resolution crop of the region zoomed into. Panels made with ``rgba=True``
(the live page; every page for the asinh scale, which Bokeh's mappers lack) are coloured
here instead: an ``image_rgba`` renderer draws 4-byte colours that the browser only
copies (no per-pixel colour mapping in JavaScript, the largest cost of a live frame),
with the values beside them for the readout and hover tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
from bokeh.events import MouseMove
from bokeh.models import ColumnDataSource, CrosshairTool, CustomJS, FixedTicker, HoverTool, LinearColorMapper, LogColorMapper, Range1d
from bokeh.models.annotations.geometry import Span
from bokeh.models.annotations.legends import ColorBar
from bokeh.models.renderers.glyph_renderer import GlyphRenderer
from bokeh.models.widgets.markups import Div
from bokeh.palettes import Cividis256, Greys256, Inferno256, Magma256, Plasma256, RdBu, Viridis256, interp_palette
from bokeh.plotting import figure

from . import images
from .images import PANEL_SIZE, Axes, AxisLabels, Scale

#: Colour maps offered, each with the colour of masked pixels (one the map does not contain).
PALETTES: dict[str, tuple[tuple[str, ...], str]] = {
    "viridis": (tuple(Viridis256), "#ff00ff"),
    "gray": (tuple(Greys256[::-1]), "#ff2020"),
    "magma": (tuple(Magma256), "#00d0ff"),
    "inferno": (tuple(Inferno256), "#00d0ff"),
    "plasma": (tuple(Plasma256), "#00d0ff"),
    "cividis": (tuple(Cividis256), "#ff00ff"),
}
#: Diverging map of difference and ratio images (blue: restored below raw, red: above), masked pixels grey.
DIFFERENCE_PALETTE = tuple(interp_palette(RdBu[11], 256))
DIFFERENCE_MASKED = "#808080"
TOOLS = "pan,wheel_zoom,box_zoom,box_select,reset,save"

# Bokeh's hover tool reports the value under the cursor in the panel hovered only; this
# callback writes the value of the same pixel in both panels into one line of text.
# Coordinates are the raw image's pixels; a panel's arrays may be reduced (overview of a
# large frame), cropped (detail at full resolution) or super-resolved, so the index is
# scaled by each array's shape over its box (x, y, dw, dh). The detail wins where it lies.
_READOUT_JS = """
function value(sources, x, y) {
    for (const source of sources) {
        const d = source.data, image = (d.value ?? d.image)[0]  // coloured here: the values travel beside the colours
        if (image === undefined) { continue }
        const [ny, nx] = image.shape
        const j = Math.floor((x - d.x[0]) / d.dw[0] * nx), i = Math.floor((y - d.y[0]) / d.dh[0] * ny)
        if (i >= 0 && j >= 0 && i < ny && j < nx) { return [image[i * nx + j], d.name[0]] }
    }
    return [null, null]
}
function text(v) { return v === null ? "–" : (Number.isNaN(v) ? "masked" : v.toPrecision(5)) }
const x = cb_obj.x, y = cb_obj.y
const [a] = value(raw, x, y), [b, name] = value(right, x, y)
const scale = raw.find((source) => source.data.image.length > 0)  // axis units per pixel: the readout gives pixels
const [sx, sy] = scale === undefined ? [1, 1] : [scale.data.sx[0], scale.data.sy[0]]
readout.text = `x ${Math.floor(x / sx)}, y ${Math.floor(y / sy)}: raw ${text(a)} | ${name ?? "restored"}: ${text(b)}`
"""


@dataclass(frozen=True)
class Look:
    """How both panels are coloured: palette name, scale, colour limits, threshold, and the difference's and ratio's limits.

    Pixels below ``threshold`` (None: no threshold) are not drawn (the panel's background shows through).
    """

    palette: str = "viridis"
    scale: Scale = "linear"
    limits: tuple[float, float] = (0.0, 1.0)
    threshold: float | None = None
    difference_limits: tuple[float, float] = (-1.0, 1.0)
    ratio_limits: tuple[float, float] = (0.5, 2.0)


def _empty(rgba: bool = False) -> dict[str, list]:
    return {"image": [], "x": [], "y": [], "dw": [], "dh": [], "name": [], "sx": [], "sy": []} | ({"value": []} if rgba else {})


def _lut(palette: tuple[str, ...], masked: str) -> np.ndarray:
    """``palette``, the ``masked`` colour and a transparent one as RGBA uint32 (bytes R, G, B, A in memory: what ``image_rgba`` reads)."""
    rgba = np.array([[int(c[k : k + 2], 16) for k in (1, 3, 5)] + [255] for c in (*palette, masked)] + [[0, 0, 0, 0]], np.uint8)
    return rgba.view("<u4").ravel()


_LUTS = {name: _lut(palette, masked) for name, (palette, masked) in PALETTES.items()}


def coloured(values: np.ndarray, look: Look) -> np.ndarray:
    """``values`` (float, NaN where masked) as RGBA uint32 colours with ``look``, as the page's colour mappers would draw them."""
    lut = _LUTS[look.palette]
    index = images.colour_index(values, look.limits, look.scale, len(lut) - 2)
    if look.threshold is not None:
        index[values < look.threshold] = len(lut) - 1  # NaN compares False: masked pixels keep their colour
    return lut[index]


def asinh_bar_palette(look: Look) -> tuple[str, ...]:
    """The palette of a linear colour bar from ``look.limits`` that shows the asinh scale's colours at their values."""
    palette = PALETTES[look.palette][0]
    steps = np.linspace(*look.limits, len(palette))
    return tuple(palette[k] for k in images.colour_index(steps, look.limits, "asinh", len(palette)))


def _source(renderer: GlyphRenderer[Any]) -> ColumnDataSource:
    """The data of one of the panels' renderers: each is made with a ColumnDataSource (the stubs say DataSource)."""
    return cast(ColumnDataSource, renderer.data_source)


def _axis_value(value: float | datetime | timedelta) -> float:
    """An end of the panels' ranges: a number (Bokeh's ranges may also hold dates, which these axes never do)."""
    if isinstance(value, datetime | timedelta):
        raise TypeError(f"the image panels' axes are numeric, not {type(value).__name__}")
    return float(value)


@dataclass
class _Panel:
    """One image panel: its figure, colour bar, and per colour mapper an overview and a detail renderer.

    Only the renderers of the mapper shown hold data (an image renderer maps its data
    to colours even while hidden).
    """

    figure: Any
    bar: ColorBar
    hover: HoverTool
    overview: dict[str, GlyphRenderer[Any]]
    detail: dict[str, GlyphRenderer[Any]]
    shown: str = "linear"

    def sources(self) -> list[ColumnDataSource]:
        """Every data source, details first (the readout reads the first holding the pixel; only shown ones hold data)."""
        return [_source(renderer) for layer in (self.detail, self.overview) for renderer in layer.values()]

    def fill(self, layer: dict[str, GlyphRenderer[Any]], image: np.ndarray | None, box: tuple[float, float, float, float], name: str,
             axes: Axes, look: Look) -> None:
        """Give ``image`` over ``box`` (x, y, dw, dh in axis units) to the shown mapper's renderer of ``layer``; empty the others.

        The ``"rgba"`` renderer gets ``image`` coloured with ``look``, and the values beside.
        """
        for mapper, renderer in layer.items():
            renderer.visible = mapper == self.shown
            source = _source(renderer)
            if mapper == self.shown and image is not None:
                x, y, dw, dh = box
                values = {"image": [coloured(image, look)], "value": [image]} if mapper == "rgba" else {"image": [image]}
                source.data = values | {"x": [x], "y": [y], "dw": [dw], "dh": [dh], "name": [name], "sx": [axes.x],
                                                      "sy": [axes.y]}  # fmt: skip
            elif source.data["image"]:
                source.data = _empty(mapper == "rgba")
        # Hover reports the top layer holding data only (the detail where there is one), one value per pixel.
        detail = self.detail[self.shown]
        self.hover.renderers = [detail if _source(detail).data["image"] else self.overview[self.shown]]
        self.hover.tooltips = [("value", "@value{0.[000]}" if self.shown == "rgba" else "@image{0.[000]}")]


class ImagePanels:
    """Raw and right-hand (restored or difference) panels with linked ranges and a shared colour scale."""

    def __init__(self, *, rgba: bool = False) -> None:
        #: Colour images here and send RGBA (see the module docstring); without it, only the asinh scale is.
        self.rgba = rgba
        self.look = Look()
        self.x_range = Range1d(start=0, end=1)
        self.y_range = Range1d(start=1, end=0)
        self.linear = LinearColorMapper(palette=PALETTES["viridis"][0], nan_color=PALETTES["viridis"][1])
        self.log = LogColorMapper(palette=PALETTES["viridis"][0], nan_color=PALETTES["viridis"][1], low=1, high=10)
        self.difference = LinearColorMapper(palette=DIFFERENCE_PALETTE, nan_color=DIFFERENCE_MASKED)
        self.ratio = LogColorMapper(palette=DIFFERENCE_PALETTE, nan_color=DIFFERENCE_MASKED, low=0.5, high=2)
        self.asinh = LinearColorMapper(palette=PALETTES["viridis"][0])  # the asinh scale's colour bar only (images coloured here)
        self.profile_line = ColumnDataSource(data={"x": [], "y": []})
        #: The region drawn with the box-select tool, as a rectangle in axis units.
        self.region = ColumnDataSource(data={"left": [], "right": [], "top": [], "bottom": []})
        crosshair = CrosshairTool(overlay=(Span(dimension="width", line_color="white", line_alpha=0.6),
                                           Span(dimension="height", line_color="white", line_alpha=0.6)))
        self.raw = self._panel("raw", crosshair, compared=False)
        self.right = self._panel("restored", crosshair, compared=True)
        self.raw_figure, self.right_figure = self.raw.figure, self.right.figure
        self._tickers: dict[str, Any] = {}  # each axis's own ticker, by axis id, while it shows chosen ticks
        self.readout = Div(text="move the cursor over an image", css_classes=["asirp-readout"])
        readout = CustomJS(args={"raw": self.raw.sources(), "right": self.right.sources(), "readout": self.readout}, code=_READOUT_JS)
        for panel in (self.raw_figure, self.right_figure):
            panel.js_on_event(MouseMove, readout)

    def _panel(self, title: str, crosshair: CrosshairTool, *, compared: bool) -> _Panel:
        panel = figure(title=title, x_range=self.x_range, y_range=self.y_range, tools=TOOLS, active_scroll="wheel_zoom",
                       frame_width=PANEL_SIZE, frame_height=PANEL_SIZE, x_axis_label="x (pixel)", y_axis_label="y (pixel)",
                       css_classes=[f"asirp-panel-{title}"])
        mappers = {"linear": self.linear, "log": self.log} | ({"difference": self.difference, "ratio": self.ratio} if compared else {})
        # color_mapper is a property of the Image glyph that figure.image passes on; bokeh's ImageArgs stub omits it.
        layers: list[dict[str, GlyphRenderer[Any]]] = [
            {name: panel.image(image="image", x="x", y="y", dw="dw", dh="dh", source=ColumnDataSource(_empty()),
                               color_mapper=mapper)  # type: ignore[call-arg]
             for name, mapper in mappers.items()}
            | {"rgba": panel.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=ColumnDataSource(_empty(rgba=True)))}
            for _ in ("overview", "detail")
        ]
        hover = HoverTool(renderers=[layers[0]["linear"]], tooltips=[("value", "@image{0.[000]}")])
        panel.add_tools(hover, crosshair)
        panel.quad(left="left", right="right", top="top", bottom="bottom", source=self.region, fill_alpha=0,
                   line_color="orange", line_width=2, line_dash="dotted")
        panel.line("x", "y", source=self.profile_line, line_color="white", line_width=2, line_dash="dashed")
        panel.scatter("x", "y", source=self.profile_line, size=7, fill_color="white", line_color="black")
        bar = ColorBar(color_mapper=self.linear, width=12)
        panel.add_layout(bar, "right")
        panel.grid.visible = False
        overview, detail = layers
        return _Panel(panel, bar, hover, overview, detail)

    def set_extent(self, height: float, width: float, unit: str, labels: AxisLabels | None = None) -> None:
        """Fit the panels to an image ``height`` x ``width`` in axis units: ranges, reset view, true aspect, axis labels.

        The axes are ``x (unit)`` and ``y (unit)`` with Bokeh's ticks, or as ``labels`` say
        (a sinogram's detector columns and angles): its names, and its tick labels where given.
        """
        self.x_range.update(start=0, end=width, reset_start=0, reset_end=width)
        self.y_range.update(start=height, end=0, reset_start=height, reset_end=0)
        scale = PANEL_SIZE / max(height, width)
        labels = labels or AxisLabels(f"x ({unit})", f"y ({unit})")
        for panel in (self.raw_figure, self.right_figure):
            panel.frame_width, panel.frame_height = max(120, round(width * scale)), max(120, round(height * scale))
            for axis, name, ticks in ((panel.xaxis[0], labels.x, labels.x_ticks), (panel.yaxis[0], labels.y, labels.y_ticks)):
                default = self._tickers.setdefault(axis.id, axis.ticker)  # Bokeh's own, kept for the next image
                axis.update(axis_label=name, ticker=FixedTicker(ticks=sorted(ticks)) if ticks else default,
                            major_label_overrides=dict(ticks or {}))

    def show(self, raw: np.ndarray, right: np.ndarray | None, axes: Axes, shape: tuple[int, int], *, right_title: str, right_mode: str,
             look: Look, right_box: tuple[float, float, float, float] | None = None, right_name: str | None = None) -> None:
        """Draw ``raw`` and ``right`` (None: an empty right panel) over an image of ``shape`` pixels with ``look``; drop any detail.

        ``right_name`` names the right image in the readout (default: ``right_title``).

        ``right_mode`` is ``"restored"`` (the raw image's colour scale), ``"difference"`` or ``"ratio"``;
        ``right_box`` (x, y, dw, dh in axis units) places a result of a region (default: the whole image).
        """
        palette, masked = PALETTES[look.palette]
        mapper = self.log if look.scale == "log" else self.asinh if look.scale == "asinh" else self.linear
        mapper.update(palette=asinh_bar_palette(look) if look.scale == "asinh" else palette, nan_color=masked, low=look.limits[0],
                      high=look.limits[1])  # fmt: skip
        self.difference.update(low=look.difference_limits[0], high=look.difference_limits[1])
        self.ratio.update(low=look.ratio_limits[0], high=look.ratio_limits[1])
        self.look = look
        colours = "rgba" if self.rgba or look.scale == "asinh" or look.threshold is not None else look.scale
        self.raw.shown, self.right.shown = colours, colours if right_mode == "restored" else right_mode
        self.raw.bar.color_mapper = mapper
        self.right.bar.color_mapper = mapper if self.right.shown == "rgba" else self.right.overview[self.right.shown].glyph.color_mapper
        box = (0.0, 0.0, shape[1] * axes.x, shape[0] * axes.y)
        self.raw.fill(self.raw.overview, raw, box, "raw", axes, look)
        self.right.fill(self.right.overview, right, right_box or box, right_name or right_title, axes, look)
        self.show_detail(None, None, box, right_title, axes)
        if self.right_figure.title.text != right_title:  # a title changed costs the browser a layout pass
            self.right_figure.title.text = right_title

    def view(self) -> tuple[float, float, float, float]:
        """The part of the image shown (zoom and pan): x start, x end, y start, y end in axis units."""
        x0, x1, y0, y1 = (_axis_value(end) for end in (self.x_range.start, self.x_range.end, self.y_range.start, self.y_range.end))
        return x0, x1, y0, y1

    def show_region(self, box: tuple[float, float, float, float] | None) -> None:
        """Outline the region ``box`` (x, y, dw, dh in axis units) on both panels; None removes it."""
        if box is None:
            self.region.data = {"left": [], "right": [], "top": [], "bottom": []}
        else:
            x, y, dw, dh = box
            self.region.data = {"left": [x], "right": [x + dw], "top": [y], "bottom": [y + dh]}

    def show_detail(self, raw: np.ndarray | None, right: np.ndarray | None, box: tuple[float, float, float, float], right_title: str,
                    axes: Axes) -> None:
        """Draw full-resolution crops over ``box`` (x, y, dw, dh in axis units) on top of the overviews; None removes them."""
        self.raw.fill(self.raw.detail, raw, box, "raw", axes, self.look)
        self.right.fill(self.right.detail, right, box, right_title, axes, self.look)
