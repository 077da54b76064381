"""The two linked image panels (raw | restored or difference), their colour scale and the pixel readout.

Bokeh does the drawing: image glyphs, one shared x and one shared y range (zoom and
pan move both panels), colour mappers (linear, logarithmic; NaN = masked pixels in a
colour the palette lacks), colour bars, hover tools and a crosshair shared by both
panels. The y axis is flipped so that row 0 is at the top, as detector images are shown.

Each panel has one image renderer per colour mapper, sharing the panel's data, and
shows one of them: an image glyph keeps the colours it mapped when its mapper is
replaced, while a renderer made visible draws with its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bokeh.events import MouseMove
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    CrosshairTool,
    CustomJS,
    Div,
    HoverTool,
    LinearColorMapper,
    LogColorMapper,
    Range1d,
    Span,
)
from bokeh.palettes import Cividis256, Greys256, Inferno256, Magma256, Plasma256, RdBu, Viridis256, interp_palette
from bokeh.plotting import figure

from .images import Scale

#: Colour maps offered, each with the colour of masked pixels (one the map does not contain).
PALETTES: dict[str, tuple[tuple[str, ...], str]] = {
    "viridis": (tuple(Viridis256), "#ff00ff"),
    "gray": (tuple(Greys256[::-1]), "#ff2020"),
    "magma": (tuple(Magma256), "#00d0ff"),
    "inferno": (tuple(Inferno256), "#00d0ff"),
    "plasma": (tuple(Plasma256), "#00d0ff"),
    "cividis": (tuple(Cividis256), "#ff00ff"),
}
#: Diverging map of difference images (blue: restored below raw, red: above), masked pixels grey.
DIFFERENCE_PALETTE = tuple(interp_palette(RdBu[11], 256))
DIFFERENCE_MASKED = "#808080"
#: Largest side of an image panel on screen, CSS pixels.
PANEL_SIZE = 440
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"

# Bokeh's hover tool reports the value under the cursor in the panel hovered only; this
# callback writes the value of the same pixel in both panels into one line of text.
# Coordinates are the raw image's pixels; each panel's array may be reduced or
# super-resolved, so the pixel index is scaled by its shape over the extent (dw, dh).
_READOUT_JS = """
function value(source, x, y) {  // the value of the pixel at (x, y) of a panel's array
    const image = source.data.image[0]
    if (image === undefined || source.data.dw[0] === undefined) { return null }
    const [ny, nx] = image.shape
    const j = Math.floor(x / source.data.dw[0] * nx), i = Math.floor(y / source.data.dh[0] * ny)
    if (i < 0 || j < 0 || i >= ny || j >= nx) { return null }
    return image[i * nx + j]
}
function text(v) { return v === null ? "–" : (Number.isNaN(v) ? "masked" : v.toPrecision(5)) }
const x = cb_obj.x, y = cb_obj.y
const a = value(raw, x, y), b = value(right, x, y)
const name = right.data.name[0] ?? "restored"
readout.text = `x ${Math.floor(x)}, y ${Math.floor(y)}: raw ${text(a)} | ${name}: ${text(b)}`
"""


@dataclass(frozen=True)
class Look:
    """How both panels are coloured: palette name, scale, colour limits, and the difference's limits."""

    palette: str = "viridis"
    scale: Scale = "linear"
    limits: tuple[float, float] = (0.0, 1.0)
    difference_limits: tuple[float, float] = (-1.0, 1.0)


class ImagePanels:
    """Raw and right-hand (restored or difference) panels with linked ranges and a shared colour scale."""

    def __init__(self) -> None:
        self.x_range = Range1d(0, 1)
        self.y_range = Range1d(1, 0)
        self.linear = LinearColorMapper(palette=PALETTES["viridis"][0], nan_color=PALETTES["viridis"][1])
        self.log = LogColorMapper(palette=PALETTES["viridis"][0], nan_color=PALETTES["viridis"][1], low=1, high=10)
        self.difference = LinearColorMapper(palette=DIFFERENCE_PALETTE, nan_color=DIFFERENCE_MASKED)
        self.raw_source = ColumnDataSource(data={"image": [], "dw": [], "dh": [], "name": []})
        self.right_source = ColumnDataSource(data={"image": [], "dw": [], "dh": [], "name": []})
        self.profile_line = ColumnDataSource(data={"x": [], "y": []})
        crosshair = CrosshairTool(overlay=[Span(dimension="width", line_color="white", line_alpha=0.6),
                                           Span(dimension="height", line_color="white", line_alpha=0.6)])
        self.raw_figure, self.raw_renderers, self.raw_bar = self._panel("raw", self.raw_source, crosshair, difference=False)
        self.right_figure, self.right_renderers, self.right_bar = self._panel("restored", self.right_source, crosshair, difference=True)
        self.readout = Div(text="move the cursor over an image", css_classes=["asirp-readout"])
        readout = CustomJS(args={"raw": self.raw_source, "right": self.right_source, "readout": self.readout}, code=_READOUT_JS)
        for panel in (self.raw_figure, self.right_figure):
            panel.js_on_event(MouseMove, readout)

    def _panel(self, title: str, source: ColumnDataSource, crosshair: CrosshairTool, *, difference: bool):  # noqa: ANN202
        """A panel (figure, its renderers by mapper name, its colour bar); the linear renderer is shown first."""
        panel = figure(title=title, x_range=self.x_range, y_range=self.y_range, tools=TOOLS, active_scroll="wheel_zoom",
                       frame_width=PANEL_SIZE, frame_height=PANEL_SIZE, x_axis_label="x (pixel)", y_axis_label="y (pixel)",
                       css_classes=[f"asirp-panel-{title}"])
        mappers = {"linear": self.linear, "log": self.log} | ({"difference": self.difference} if difference else {})
        renderers = {name: panel.image(image="image", x=0, y=0, dw="dw", dh="dh", source=source, color_mapper=mapper,
                                       visible=name == "linear")
                     for name, mapper in mappers.items()}
        panel.add_tools(HoverTool(renderers=list(renderers.values()), tooltips=[("value", "@image{0.[000]}")]), crosshair)
        panel.line("x", "y", source=self.profile_line, line_color="white", line_width=2, line_dash="dashed")
        panel.scatter("x", "y", source=self.profile_line, size=7, fill_color="white", line_color="black")
        bar = ColorBar(color_mapper=self.linear, width=12)
        panel.add_layout(bar, "right")
        panel.grid.visible = False
        return panel, renderers, bar

    def set_extent(self, ny: int, nx: int) -> None:
        """Fit the panels to an image of ``ny`` x ``nx`` (display) pixels: ranges, reset view, square pixels."""
        self.x_range.update(start=0, end=nx, reset_start=0, reset_end=nx)
        self.y_range.update(start=ny, end=0, reset_start=ny, reset_end=0)
        scale = PANEL_SIZE / max(ny, nx)
        for panel in (self.raw_figure, self.right_figure):
            panel.frame_width, panel.frame_height = max(120, round(nx * scale)), max(120, round(ny * scale))

    def show(self, raw: np.ndarray, right: np.ndarray | None, extent: tuple[int, int], *, right_title: str, difference: bool, look: Look) -> None:
        """Draw ``raw`` and ``right`` (None: an empty right panel) over ``extent`` (ny, nx) with ``look``."""
        palette, masked = PALETTES[look.palette]
        mapper = self.log if look.scale == "log" else self.linear
        mapper.update(palette=palette, nan_color=masked, low=look.limits[0], high=look.limits[1])
        self.difference.update(low=look.difference_limits[0], high=look.difference_limits[1])
        ny, nx = extent
        right_name = "difference" if difference else look.scale
        for name, renderer in self.raw_renderers.items():
            renderer.visible = name == look.scale
        for name, renderer in self.right_renderers.items():
            renderer.visible = name == right_name
        self.raw_bar.color_mapper = mapper
        self.right_bar.color_mapper = self.difference if difference else mapper
        self.raw_source.data = {"image": [raw], "dw": [nx], "dh": [ny], "name": ["raw"]}
        shown = [] if right is None else [right]
        self.right_source.data = {"image": shown, "dw": [nx] * len(shown), "dh": [ny] * len(shown), "name": [right_title] * len(shown)}
        self.right_figure.title.text = right_title
