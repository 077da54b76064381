"""The page's tomography controls: the view selector (projection, sinogram, slice), the row slider, a position typed.

A mixin of :class:`~asirp.view.page.ViewerPage` (it uses the page's ``frame_slider``,
its way of showing a new frame and of showing an image of a stack). A tomography
file opened in the page (:func:`~asirp.view.tomography.is_scan`) shows its
projections first, stepped through by angle with the page's stack slider; the
sinogram and slice views show one detector row, chosen with the row slider. Each
view is shown and restored as any image (a new view or row starts without results).
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column
from bokeh.models.widgets.groups import RadioButtonGroup
from bokeh.models.widgets.inputs import TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import Slider

from ..errors import AsirpError, ParameterError
from .markup import error, heading, note
from .tomography import VIEWS, Tomography, View, shown_note, slider_title

#: The stack slider's title when no tomography scan is open.
STACK_TITLE = "image of the stack"


class TomographyControls:
    """View selector, row slider, typed position and notes of an open tomography scan (see the module's description)."""

    frame_slider: Slider
    open_message: Div
    tomography: Tomography | None

    def _build_tomography(self) -> None:
        self.tomography = None
        self.tomo_view = RadioButtonGroup(labels=list(VIEWS), active=0, css_classes=["asirp-tomo-view"])
        self.tomo_view.on_change("active", lambda attr, old, new: self._show_view())
        self.tomo_row = Slider(title="detector row", start=0, end=1, value=0, step=1, visible=False, css_classes=["asirp-tomo-row"])
        self.tomo_row.on_change("value_throttled", lambda attr, old, new: self._show_view())
        self.tomo_go = TextInput(title="go to projection (angle index)", width=320, css_classes=["asirp-tomo-go"])
        self.tomo_go.on_change("value", lambda attr, old, new: self._go_to(new))
        self.tomo_go_message = Div(text="", css_classes=["asirp-tomo-go-message"])
        self.tomo_message = Div(text="", width=320, css_classes=["asirp-tomo-message"])
        self.tomo_box = column(heading("Tomography"), self.tomo_view, self.tomo_row, visible=False)
        self.tomo_notes = column(self.tomo_go, self.tomo_go_message, self.tomo_message, visible=False)
        self.frame_slider.on_change("value", lambda attr, old, new: self._projection_title())

    def tomography_controls(self) -> list[Any]:
        """The controls, in the order the page's left column shows them, the page's stack slider (the projections' angle) among them."""
        return [self.tomo_box, self.frame_slider, self.tomo_notes]

    @property
    def view(self) -> View:
        """The view selected."""
        return VIEWS[self.tomo_view.active or 0]

    def _open_tomography(self, path: str) -> None:
        """Open the scan at ``path`` and show its projections (or say, beside Open, why it cannot be opened)."""
        try:
            opened = Tomography.open(path)
        except AsirpError as exc:
            self.open_message.text = error(str(exc))
            return
        self.tomography = opened
        self.tomo_box.visible = self.tomo_notes.visible = True
        self.tomo_row.update(end=max(1, opened.rows - 1), value=0)
        self.tomo_go_message.text = ""
        if self.tomo_view.active == 0:
            self._show_view()
        else:
            self.tomo_view.active = 0  # shows the projections

    def _tomography_follows(self, path: str) -> None:
        """A frame from ``path`` is about to be shown: the controls go when it is not a view of the open scan."""
        if self.tomography is not None and not path.startswith(f"{self.tomography.path}::"):
            self.tomography = None
            self.tomo_box.visible = self.tomo_notes.visible = False
            self.frame_slider.title = STACK_TITLE

    def _show_view(self) -> None:
        """Show the view selected: the projections (every angle), or the sinogram or slice of the row on the slider."""
        if self.tomography is None:
            return
        view, row = self.view, int(self.tomo_row.value)
        projection = view == "projection"
        try:
            frame = self.tomography.frame(view, row)
        except AsirpError as exc:
            self.tomo_message.text = error(str(exc))
            return
        page: Any = self  # the page shows the view as a frame opened (ViewerPage._show_frame)
        page._show_frame(frame, f"{self.tomography.path}::{view}" + ("" if projection else f" row {row}"))
        self.tomo_row.update(visible=not projection, title=slider_title(self.tomography, "slice", row))
        self.tomo_go.title = "go to projection (angle index)" if projection else "go to detector row"
        self._projection_title()
        self.tomo_message.text = note(f"{self.tomography.describe()}. {shown_note(self.tomography, view, frame)}")

    def _projection_title(self) -> None:
        if self.tomography is not None and self.view == "projection":
            self.frame_slider.title = slider_title(self.tomography, "projection", int(self.frame_slider.value))

    def _go_to(self, text: str) -> None:
        """Show projection or row ``text`` (typed); a position out of range gets ``asirp tomo``'s message beside the field."""
        if self.tomography is None or not text.strip():
            return
        try:
            try:
                index = int(text.strip())
            except ValueError:
                raise ParameterError(f"type a whole number, not {text.strip()!r}") from None
            self.tomography.check(self.view, index)
        except AsirpError as exc:
            self.tomo_go_message.text = error(str(exc))
            return
        self.tomo_go_message.text = ""
        self.tomo_go.value = ""  # the same position may be typed again
        if self.view == "projection":
            self.frame_slider.value = index  # a value set here is not "throttled": show it
            page: Any = self
            page._show_image(index)
        else:
            self.tomo_row.value = index
            self._show_view()
