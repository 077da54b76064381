"""The page's XRF spectra controls: open a spectra cube, its summed spectrum, element lines clicked or typed, the map.

A mixin of :class:`~asirp.view.page.ViewerPage` (it uses the page's ``doc``,
``workspace`` and the way a newly opened frame is shown). The element map made is
shown and restored as any image; the spectra stay open for the next line. A workspace
of a map records how it was made (:class:`~asirp.view.state.XrfMap`), and reopening it
opens the cube and makes the map again in the page's work thread.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.events import Event, Tap
from bokeh.models import ColumnDataSource, Range1d
from bokeh.models.annotations import BoxAnnotation
from bokeh.models.widgets.buttons import Button
from bokeh.models.widgets.inputs import Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.plotting import figure

from ..errors import AsirpError
from ..frame import Frame
from .markup import error, note, options
from .parts import PageParts
from .spectra import NORMALISATIONS, Spectra
from .state import XrfMap, absolute_path

#: Spectrum plot area, CSS pixels, and its left border: fixed, so that a place clicked maps to an energy the same way always.
SPECTRUM_WIDTH, SPECTRUM_HEIGHT, SPECTRUM_LEFT = 800, 220, 80


class SpectraControls(PageParts):
    """Spectra file, summed spectrum, element line (click or type), normalisation, Make map (see the module's description)."""

    spectra: Spectra | None

    def _build_spectra(self) -> None:
        self.spectra = None
        self.made_map: tuple[str, XrfMap] | None = None  # the path of the last map made, and how it was made
        self.spectra_path = TextInput(title="XRF spectra file (FILE.h5 or FILE.h5::/spectra)", width=320, css_classes=["asirp-spectra-path"])
        self.spectra_button = Button(label="Open spectra", css_classes=["asirp-spectra-open"])
        self.spectra_button.on_click(self._spectra_field)
        self.spectra_message = Div(text="", width=320, css_classes=["asirp-spectra-message"])
        self.xrf_line = TextInput(title="element line (Cu-Ka, 7.9-8.2keV, ch:820-860), or click a peak", width=320, visible=False,
                              css_classes=["asirp-xrf-line"])  # fmt: skip
        options: list[str | tuple[Any, str]] = list(NORMALISATIONS)
        self.normalisation = Select(title="normalisation", value="none", options=options, visible=False,
                                    css_classes=["asirp-xrf-normalisation"])  # fmt: skip
        self.map_button = Button(label="Make the element map", button_type="primary", visible=False, css_classes=["asirp-xrf-map"])
        self.map_button.on_click(self._make_map)
        self.spectrum_source = ColumnDataSource({"x": [], "counts": []})
        self.spectrum_figure = figure(title="summed spectrum", x_range=Range1d(start=0, end=1), frame_width=SPECTRUM_WIDTH,
                                      frame_height=SPECTRUM_HEIGHT, min_border_left=SPECTRUM_LEFT,
                                      y_axis_type="log", tools="pan,wheel_zoom,box_zoom,reset,save", visible=False,
                                      css_classes=["asirp-spectrum"])  # fmt: skip
        self.spectrum_figure.line("x", "counts", source=self.spectrum_source, line_color="#1f4e9a")
        self.spectrum_figure.yaxis.axis_label = "counts (all points)"
        self.window_box = BoxAnnotation(fill_color="orange", fill_alpha=0.3, visible=False)
        self.spectrum_figure.add_layout(self.window_box)
        self.spectrum_figure.on_event(Tap, self._spectrum_clicked)
        self.doc.on_session_destroyed(lambda context: self._close_spectra())  # the tab closed: the file too

    def _close_spectra(self) -> None:
        if self.spectra is not None:
            self.spectra.close()

    def spectra_controls(self) -> list[Any]:
        """The controls, in the order the page's left column shows them."""
        return [self.spectra_path, self.spectra_button, self.spectra_message, self.xrf_line, self.normalisation, self.map_button]

    def _spectra_field(self) -> None:
        """Open spectra: the cube typed in the field."""
        self._open_spectra(self.spectra_path.value)

    def _open_cube(self, path: str) -> None:
        """Open ``path``, a spectra cube (:func:`~asirp.view.spectra.is_spectra`) picked in the file list or given on the command line.

        The cube opens in the spectra view, as from its own field, and the page's open message
        says so; its other datasets that read as images are offered in the page's dataset
        chooser, which opens one as an image (``FILE::/path``).
        """
        self.spectra_path.value = path
        if not self._open_spectra(path):
            self.open_message.text = self.spectra_message.text
            return
        assert self.spectra is not None
        images = self.spectra.images_beside()
        self.datasets.options = options([("", "(open one as an image)"), *((name, name.split("::")[-1]) for name in images)])
        self.datasets.value = ""
        self.datasets.visible = bool(images)
        beside = f"; it also holds {len(images)} dataset(s) that read as images: choose one below to open it as an image" if images else ""
        self.open_message.text = note(f"an XRF spectra cube: opened as spectra (summed spectrum under the panels; type or click an element "
                                      f"line under XRF spectra to make its map){beside}")  # fmt: skip

    def _open_spectra(self, path: str) -> bool:
        """Open the spectra cube ``path`` and show its summed spectrum; False (said beside the field) when it cannot be."""
        if not path.strip():
            self.spectra_message.text = error("type the path of a spectra file")
            return False
        try:
            opened = Spectra.open(path.strip())
        except AsirpError as exc:
            self.spectra_message.text = error(str(exc))
            return False
        self._show_spectra(opened)
        return True

    def _show_spectra(self, opened: Spectra) -> None:
        """Keep ``opened`` (the cube open before is closed) and plot its summed spectrum."""
        if self.spectra is not None and self.spectra is not opened:
            self.spectra.close()
        self.spectra = opened
        path = opened.path
        x = opened.energies if opened.energies is not None else np.arange(opened.spectrum.size, dtype=float)
        self.spectrum_source.data = {"x": x, "counts": np.maximum(opened.spectrum, 0.5)}  # a log axis: empty channels at 0.5
        self.spectrum_figure.xaxis.axis_label = "energy (keV)" if opened.energies is not None else "channel"
        self.spectrum_figure.x_range.update(start=float(x[0]), end=float(x[-1]))
        self.spectrum_figure.title = f"summed spectrum of {Path(path.split('::')[0]).name}"
        self.window_box.visible = False
        for widget in (self.spectrum_figure, self.xrf_line, self.normalisation, self.map_button):
            widget.visible = True
        click = "; click a peak to name its line" if opened.energies is not None else ""
        self.spectra_message.text = note(opened.describe() + click)

    def _spectrum_clicked(self, event: Event) -> None:
        if self.spectra is None or not isinstance(event, Tap) or event.x is None:
            return
        found = self.spectra.line_at(float(event.x))
        if found is None:
            self.spectra_message.text = note(f"no X-ray line stands out near {event.x:.2f} keV" if self.spectra.energies is not None
                                             else "no energy calibration: type channels (ch:FIRST-LAST)")  # fmt: skip
            return
        name, significance = found
        self.xrf_line.value = name
        self.spectra_message.text = note(f"{name} near {event.x:.2f} keV: {significance:.0f} σ above the continuum")

    def _make_map(self) -> None:
        if self.spectra is None:
            return
        making = XrfMap(absolute_path(self.spectra.path), self.xrf_line.value.strip(), self.normalisation.value)
        try:
            frame, window = self.spectra.element_map(making.line, making.normalisation)
        except AsirpError as exc:
            self.spectra_message.text = error(str(exc))
            return
        self._show_map(replace(making, channels=window), frame)

    def _show_map(self, making: XrfMap, frame: Frame) -> None:
        """Mark the map's window on the spectrum, say what was made, and show the map as the page's image (``CUBE::line (norm)``)."""
        assert making.channels is not None
        lo, hi = making.channels
        x = self.spectrum_source.data["x"]
        self.window_box.update(left=float(x[lo]), right=float(x[min(hi, len(x)) - 1]), visible=True)
        label = f"{making.line} ({making.normalisation})"
        self.spectra_message.text = note(f"{label}: map {frame.image_shape[0]} x {frame.image_shape[1]}, channels {lo}..{hi - 1}")
        path = f"{making.spectra.split('::')[0]}::{label}"
        self.made_map = (path, making)
        self._show_frame(frame, path)

    def _xrf_state(self) -> XrfMap | None:
        """How the image shown was made from a spectra cube, for a workspace file (None: it is no element map)."""
        if self.made_map is None or self.workspace.source is None or self.workspace.path != self.made_map[0]:
            return None
        return self.made_map[1]

    def _reopen_map(self, saved: XrfMap) -> None:
        """A workspace's element map: open its cube and make the map again in the page's work thread, then show both."""

        def work() -> tuple[Spectra, Frame, tuple[int, int]]:
            opened = Spectra.open(saved.spectra)
            try:
                frame, window = opened.element_map(saved.line, saved.normalisation)
            except BaseException:
                opened.close()
                raise
            return opened, frame, window

        name = Path(saved.spectra.split("::")[0]).name
        self._in_thread(f"making the {saved.line} map of {name} again", work, partial(self._map_remade, saved))

    def _map_remade(self, saved: XrfMap, made: tuple[Spectra, Frame, tuple[int, int]] | None, problem: str, seconds: float) -> None:
        if made is None:
            self.open_message.text = error(problem or "cancelled: the workspace's map was not made")
            return
        opened, frame, window = made
        self.spectra_path.value, self.xrf_line.value, self.normalisation.value = saved.spectra, saved.line, saved.normalisation
        self._show_spectra(opened)
        self._show_map(replace(saved, channels=window), frame)
