"""The page's comparisons: line profiles, azimuthal profiles, contrast and PSNR/SSIM against a reference.

A mixin of :class:`~asirp.view.page.ViewerPage`: it builds its figures and widgets in
``_build_compare`` and uses the page's ``doc``, ``workspace``, ``panels``,
``orientation``, ``axes`` and ``_full_resolution``.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import numpy as np
from bokeh.events import Tap
from bokeh.models import ColumnDataSource
from bokeh.models.widgets.buttons import Button
from bokeh.models.widgets.inputs import TextInput
from bokeh.models.widgets.markups import Div
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from ..errors import AsirpError
from ..frame import Frame
from . import images
from .markup import error, note
from .parts import PageParts
from .profiles import Line, against_reference, azimuthal, contrast, line_profile
from .workspace import Region, crop


class CompareControls(PageParts):
    """Profiles, the azimuthal profiles, the table of figures and the reference (see the module's description)."""

    def _build_compare(self) -> None:
        self.profile_source = ColumnDataSource(data={"xs": [], "ys": [], "label": [], "color": []})
        self.profile_note = Div(text=note("line profile: click two points on an image"), css_classes=["asirp-profile-note"])
        self.profile_figure = figure(title="line profile", width=520, height=300,
                                     x_axis_label="distance (pixel)", y_axis_label="value", tools="pan,wheel_zoom,box_zoom,reset,save",
                                     css_classes=["asirp-profile"])
        self.profile_figure.multi_line("xs", "ys", line_color="color", legend_field="label", source=self.profile_source, line_width=1.5)
        self.profile_figure.legend.location = "top_right"
        self.profile_figure.legend.update(background_fill_alpha=0.6, click_policy="hide")  # click a name to hide its line
        self.azimuthal_source = ColumnDataSource(data={"xs": [], "ys": [], "label": [], "color": []})
        self.azimuthal_figure = figure(title="azimuthal profile", width=520, height=300, x_axis_label="q (nm⁻¹)",
                                       y_axis_label="mean intensity", tools="pan,wheel_zoom,box_zoom,reset,save", visible=False,
                                       css_classes=["asirp-azimuthal"])
        self.azimuthal_figure.multi_line("xs", "ys", line_color="color", legend_field="label", source=self.azimuthal_source, line_width=1.5)
        self.azimuthal_figure.legend.location = "top_right"
        self.azimuthal_figure.legend.update(background_fill_alpha=0.6, click_policy="hide")  # click a name to hide its line
        self.contrast_table = Div(text="", css_classes=["asirp-contrast"])
        self.reference_path = TextInput(title="reference (ground truth) for PSNR and SSIM", width=320,
                                        css_classes=["asirp-reference-path"])
        self.reference_button = Button(label="Load reference", css_classes=["asirp-reference"])
        self.reference_button.on_click(self._load_reference)
        self.reference_message = Div(text="", width=320, css_classes=["asirp-reference-message"])

    # -- compare -------------------------------------------------------------------------
    def _tap(self, event: Tap) -> None:
        """A click on an image: the start, then the end of a profile line (a second click on the start is ignored)."""
        if self.workspace.source is None or event.x is None or event.y is None:
            return
        axes = self.axes
        if self.first_point is not None and np.hypot((event.x - self.first_point[0]) / axes.x, (event.y - self.first_point[1]) / axes.y) < 1:
            return
        if self.first_point is None:
            self.first_point = (float(event.x), float(event.y))
            self.panels.profile_line.data = {"x": [event.x], "y": [event.y]}
            self.profile_note.text = note("line profile: click the end point")
            return
        (x0, y0), self.first_point = self.first_point, None
        self.line = Line(x0 / axes.x, y0 / axes.y, float(event.x) / axes.x, float(event.y) / axes.y)  # in pixels
        self.panels.profile_line.data = {"x": [x0, event.x], "y": [y0, event.y]}
        self._refresh_profiles()

    def _compared(self) -> list[tuple[str, Frame, Region | None]]:
        """The raw image and every result of it, with their labels and the regions they restored."""
        kept = self.workspace.shown_results
        return [("raw", self.workspace.raw, None)] + [(result.label, result.frame, result.region) for result in kept]

    def _refresh_profiles(self) -> None:
        if self.line is None or self.workspace.source is None:
            self.profile_source.data = {"xs": [], "ys": [], "label": [], "color": []}
            return
        reference = self.orientation.apply(self.workspace.raw.data).shape
        axes, line = self.axes, self.line
        # Distances in axis units: the line's length in them over its length in pixels.
        per_pixel = float(np.hypot((line.x1 - line.x0) * axes.x, (line.y1 - line.y0) * axes.y)) / line.length if line.length else 1.0
        data: dict[str, list[Any]] = {"xs": [], "ys": [], "label": [], "color": []}
        for index, (label, frame, region) in enumerate(self._compared()):
            shifted, shape = line, reference
            if region is not None:  # the line in the region's own pixels
                i0, i1, j0, j1 = images.to_display(self.orientation, region, self.workspace.raw.image_shape)
                shifted, shape = Line(line.x0 - j0, line.y0 - i0, line.x1 - j0, line.y1 - i0), (i1 - i0, j1 - j0)
            distance, values = line_profile(self._full_resolution(frame), shifted, shape)
            data["xs"].append(distance * per_pixel)
            data["ys"].append(values)
            data["label"].append(label)
            data["color"].append(Category10_10[index % 10])
        self.profile_source.data = data
        self.profile_figure.xaxis.axis_label = f"distance ({axes.unit})"
        self.profile_note.text = note(f"line profile along {line.length:.0f} px; click two points for another")

    def _page_ready(self) -> None:
        self._ready = True
        if self.workspace.source is not None:
            self._compute_raw_azimuthal()

    def _compute_raw_azimuthal(self) -> None:
        """The raw image's azimuthal profile, in a thread, once the page is drawn (so it does not delay the first image)."""
        raw = self.workspace.raw
        self.azimuthal_figure.visible = raw.geometry is not None
        if raw.geometry is None or id(raw) in self._azimuthal or not self._ready:
            self._refresh_azimuthal()
            return

        def work() -> None:
            self._azimuthal[id(raw)] = azimuthal(raw)
            self.doc.add_next_tick_callback(self._refresh_azimuthal)

        threading.Thread(target=work, daemon=True, name="asirp-view-azimuthal").start()

    def _refresh_azimuthal(self) -> None:
        if self.workspace.source is None:
            return
        data: dict[str, list[Any]] = {"xs": [], "ys": [], "label": [], "color": []}
        for index, (label, frame, _) in enumerate(self._compared()):
            profile = self._azimuthal.get(id(frame))
            if profile is not None:
                data["xs"].append(profile[0])
                data["ys"].append(profile[1])
                data["label"].append(label)
                data["color"].append(Category10_10[index % 10])
        self.azimuthal_source.data = data

    def _load_reference(self) -> None:
        try:
            reference = self.workspace.open_reference(self.reference_path.value)
        except AsirpError as exc:
            self.reference_message.text = error(str(exc))
            return
        self.reference_message.text = note(f"reference: {reference.kind}, {' x '.join(map(str, reference.shape))} px")
        self._refresh_contrast()

    def _refresh_contrast(self) -> None:
        """The table of contrast (and PSNR/SSIM against the reference, when one is loaded) of the raw image and every result."""
        if self.workspace.source is None:
            self.contrast_table.text = ""
            return
        reference = self.workspace.reference_image
        rows = []
        compared = self._compared()
        regions = list(dict.fromkeys(region for _, _, region in compared if region is not None))
        # The raw image over each region restored, so that a region's figures have their own baseline.
        raw_regions = [(f"raw [rows {r[0]}:{r[1]}, columns {r[2]}:{r[3]}]", crop(self.workspace.raw, r), r) for r in regions]
        for label, frame, region in compared[:1] + raw_regions + compared[1:]:
            cells = [html.escape(label), f"{contrast(frame):.5g}", f"{frame.image_shape[0]} x {frame.image_shape[1]}"]
            if reference is not None:
                # The whole reference, or its crop to the region a result restored (when it has the raw image's shape).
                truth = reference if region is None or reference.shape != self.workspace.raw.shape else crop(reference, region)
                scores = against_reference(truth, frame)
                cells += ["another shape", ""] if scores is None else [f"{scores[0]:.2f}", f"{scores[1]:.4f}"]
            rows.append("<tr>" + "".join(f"<td style='padding:0 6px'>{cell}</td>" for cell in cells) + "</tr>")
        heads = ["image", "contrast (std)", "pixels"] + (["PSNR (dB)", "SSIM"] if reference is not None else [])
        header = "<tr>" + "".join(f"<th style='padding:0 6px'>{head}</th>" for head in heads) + "</tr>"
        self.contrast_table.text = f"<table>{header}{''.join(rows)}</table>"

