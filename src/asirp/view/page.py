"""The viewer's page: one Bokeh document per browser tab, wired to a :class:`~asirp.view.workspace.Workspace`.

Layout: controls on the left (open, look, compare, restore, results, export,
workspace), the two linked image panels on the right with the pixel readout, and
below them the line profile and, for a frame with a detector geometry, the azimuthal
profile of the raw frame and every result. This module builds the page and handles
opening files and the look of the panels; the restore controls, the comparisons and
the outputs are the mixins of :mod:`~asirp.view.restoring`,
:mod:`~asirp.view.comparing` and :mod:`~asirp.view.saving`; XRF spectra and
tomography scans those of :mod:`~asirp.view.spectra_controls` and
:mod:`~asirp.view.tomography_controls`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.events import DocumentReady, DoubleTap, RangesUpdate, SelectionGeometry, Tap
from bokeh.layouts import column, row
from bokeh.models.widgets.buttons import Button
from bokeh.models.widgets.groups import CheckboxGroup, RadioButtonGroup
from bokeh.models.widgets.inputs import MultiSelect, Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import Slider

from ..errors import AsirpError
from ..frame import Frame
from . import images
from .clipping import ClipControls
from .comparing import CompareControls
from .files import FrameCache, Opened, listing
from .images import Orientation
from .markup import error, heading, note, options
from .panels import PALETTES, ImagePanels, Look
from .profiles import Line
from .restoring import RestoreControls
from .saving import SaveControls
from .spectra import is_spectra
from .spectra_controls import SpectraControls
from .state import is_workspace
from .tomography import axis_labels, is_scan
from .tomography_controls import TomographyControls
from .workspace import Region, Workspace

#: What the right panel shows (labels), and the names the panels know them by.
RIGHT_MODES = {"restored": "restored", "restored − raw": "difference", "restored / raw": "ratio"}


class ViewerPage(RestoreControls, CompareControls, SaveControls, SpectraControls, TomographyControls):
    """Everything one browser tab shows and does."""

    def __init__(self, doc: Document, cache: FrameCache, paths: list[str], folder: Path) -> None:
        self.doc = doc
        self.workspace = Workspace(cache)
        self.panels = ImagePanels()
        self.line: Line | None = None
        self.first_point: tuple[float, float] | None = None
        self.busy: tuple[str, float] | None = None
        self._busy_callback = None
        self._azimuthal: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        self._full: dict[tuple[int, Orientation], np.ndarray] = {}
        self._right_title = "restored"
        self.region: Region | None = None  # drawn with the box-select tool, in the image's pixels as read
        self._opening = False
        self._ready = False  # the page has been drawn in the browser (Bokeh's DocumentReady)
        self._detail: tuple[Any, ...] | None = None  # what the detail layer shows: (frames and mode, i0, i1, j0, j1)
        self._build_open(paths, folder)
        self._build_look()
        self._build_restore()
        self._build_compare()
        self._build_export()
        self._build_spectra()
        self._build_tomography()
        controls = column(
            heading("Open"), self.folder, self.files, self.path, *self.scan_input_controls(), self.open_button, self.datasets,
            self.open_message,
            *self.tomography_controls(),  # the stack slider among them
            heading("XRF spectra"), *self.spectra_controls(),
            heading("Look"), self.palette, self.scale, self.clip, self.threshold, self.threshold_message,
            self.right_mode, self.axis_units, self.rotate, self.flips, self.reduction,
            heading("Compare"), self.reference_path, self.reference_button, self.reference_message,
            heading("Restore"), self.method, self.method_note, self.form, self.region_note, self.use_region, self.clear_region_button,
            self.whole_stack, row(self.restore_button, self.cancel_button), self.status, self.restore_message,
            self.results,
            heading("Export the result shown"), self.export_path, self.overwrite, self.export_button, self.export_message,
            heading("Workspace"), self.workspace_path, self.save_workspace_button, self.workspace_message,
            width=340,
        )  # fmt: skip
        figures = column(
            row(self.panels.raw_figure, self.panels.right_figure), self.panels.readout,
            self.profile_note, row(self.profile_figure, self.azimuthal_figure), row(self.contrast_table, self.explanation),
            self.spectrum_figure,
        )  # fmt: skip
        for panel in (self.panels.raw_figure, self.panels.right_figure):  # before add_root: Bokeh subscribes on attach
            # A second click soon after the first arrives as a double tap, not a tap: both are points.
            panel.on_event(Tap, self._tap)
            panel.on_event(DoubleTap, self._tap)
            panel.on_event(RangesUpdate, lambda event: self._refresh_detail())
            panel.on_event(SelectionGeometry, self._region_drawn)
        doc.add_root(row(controls, figures))
        doc.title = "asirp view"
        doc.on_event(DocumentReady, lambda event: self._page_ready())
        if paths:
            self.path.value = paths[0]
            self._open_path(paths[0])

    # -- building ----------------------------------------------------------------------
    def _build_open(self, paths: list[str], folder: Path) -> None:
        self.given = paths
        self.folder = TextInput(title="folder", value=str(folder), width=320, css_classes=["asirp-folder"])
        self.folder.on_change("value", lambda attr, old, new: self._list_folder())
        self.files = MultiSelect(title="files (command line, then the folder)", size=8, options=[], width=320, css_classes=["asirp-files"])
        self.files.on_change("value", lambda attr, old, new: self._pick_file(new[-1]) if new else None)
        self.path = TextInput(title="path (FILE or FILE.h5::/dataset)", width=320, css_classes=["asirp-path"])
        self.open_button = Button(label="Open", css_classes=["asirp-open"])
        self.open_button.on_click(lambda: self._open_path(self.path.value))
        self.datasets = Select(title="image datasets in this file", options=[], visible=False, css_classes=["asirp-datasets"])
        self.datasets.on_change("value", lambda attr, old, new: self._open_path(new) if new else None)
        self.open_message = Div(text="", css_classes=["asirp-open-message"])
        self.frame_slider = Slider(title="image of the stack", start=0, end=1, value=0, step=1, visible=False)
        self.frame_slider.on_change("value_throttled", lambda attr, old, new: self._show_image(int(new)))
        self._list_folder()

    def _build_look(self) -> None:
        self.palette = Select(title="colour map", value="viridis", options=options(PALETTES), css_classes=["asirp-palette"])
        self.scale = Select(title="scale", value="linear", options=options(["linear", "log", "asinh"]), css_classes=["asirp-scale"])
        self.clipping = ClipControls(self._look_changed, "colour limits (percentiles of the raw image)")
        self.clip, self.threshold, self.threshold_message = self.clipping.clip, self.clipping.threshold, self.clipping.threshold_message
        self.right_mode = RadioButtonGroup(labels=list(RIGHT_MODES), active=0, css_classes=["asirp-right-mode"])
        self.axis_units = Select(title="axes", value="pixels", options=options([("pixels", "pixels"), ("physical", "pixel size (scan step)")]),
                                 visible=False, css_classes=["asirp-axes"])
        self.axis_units.on_change("value", lambda attr, old, new: self._reoriented())
        self.rotate = Select(title="rotate (°, counter-clockwise)", value="0", options=options(str(r) for r in images.ROTATIONS))
        self.flips = CheckboxGroup(labels=["flip left-right", "flip up-down"], active=[])
        self.reduction = Select(title="large frames are sent as block", value="mean", options=options(["mean", "max"]), visible=False)
        for widget in (self.palette, self.scale, self.reduction):
            widget.on_change("value", lambda attr, old, new: self._look_changed())
        self.right_mode.on_change("active", lambda attr, old, new: self._look_changed())
        self.flips.on_change("active", lambda attr, old, new: self._reoriented())
        self.rotate.on_change("value", lambda attr, old, new: self._reoriented())

    # -- open ----------------------------------------------------------------------------
    def _list_folder(self) -> None:
        folder = Path(self.folder.value).expanduser()
        given = [(str(Path(p).absolute()) if "::" not in p else p, p) for p in self.given]
        try:
            known = {value for value, _ in given}
            entries = [(str((folder / name).absolute()), name) for name in listing(folder)]
            entries = [(value, name) for value, name in entries if value not in known]
        except AsirpError as exc:
            self.open_message.text = error(str(exc))
            entries = []
        else:
            self.open_message.text = ""
        self.files.options = options(given + entries)

    def _pick_file(self, value: str) -> None:
        if not value:
            return
        if value.endswith(("/", "/..")) or Path(value).is_dir():
            self.folder.value = str(Path(value).resolve())
            return
        self.path.value = value
        self._open_path(value)

    def _open_path(self, path: str) -> None:
        if not path.strip():
            self.open_message.text = error("type a file path, or pick a file in the list")
            return
        if is_workspace(path):
            self._open_workspace(path)
            return
        if self.opens_as_scan or is_scan(path):  # projections, sinograms and slices (view/tomography.py), opened in a thread
            self._open_tomography(path)
            return
        if is_spectra(path):  # an XRF spectra cube (view/spectra.py): the spectra view, as from its own field
            self._open_cube(path)
            return
        try:
            opened: Opened = self.workspace.open(path)
        except AsirpError as exc:
            self.open_message.text = error(str(exc))
            return
        if opened.frame is None:
            self.datasets.options = options([("", "(choose one)"), *((name, f"{name.split('::')[-1]}  {shape}") for name, shape in opened.choices)])
            self.datasets.value = ""
            self.datasets.visible = True
            self.open_message.text = note(f"{len(opened.choices)} image datasets and nothing in the file says which is the image: choose one")
            return
        self._show_frame(opened.frame, path)

    def _show_frame(self, frame: Frame, path: str) -> None:
        """Show ``frame``, the workspace's new source read from ``path`` (or an element map made from spectra, a tomography view)."""
        if self.workspace.source is not frame:
            self.workspace.show(frame, path)
        self._tomography_follows(path)
        self._default_look(frame)  # before the hold, which would defer the callbacks this silences
        self.doc.hold("combine")  # one message for the new image, whatever the changes below trigger
        try:
            self._opened(frame, path)
        finally:
            self.doc.unhold()

    def _default_look(self, frame: Frame) -> None:
        """The scale and axes a newly opened frame starts with (set without drawing: the image is drawn once, after)."""
        # Detector patterns span decades (rings over background): a log scale shows them; maps and images start linear.
        # Scan maps are measured in scan steps: physical axes; detector frames and other images in pixels.
        self._opening = True
        self.scale.value = "log" if frame.kind in ("diffraction", "scattering", "pdf") else "linear"
        self.axis_units.visible = frame.pixel_size is not None
        self.axis_units.value = "physical" if frame.kind == "xrf_map" and frame.pixel_size is not None else "pixels"
        self._opening = False

    def _opened(self, frame: Frame, path: str) -> None:
        self.datasets.visible = "::" in path and self.datasets.visible
        stack = f", {frame.shape[0]} images" if frame.is_stack else ""
        geometry = ", detector geometry" if frame.geometry is not None else ""
        self.open_message.text = note(f"{frame.kind}, {frame.image_shape[0]} x {frame.image_shape[1]} px{stack}, "
                                       f"{frame.mask_fraction:.1%} masked{geometry}")
        self.frame_slider.update(end=max(1, self.workspace.count - 1), value=0, visible=frame.is_stack)
        self.whole_stack.update(visible=frame.is_stack, active=False)
        stem = Path(path.split("::")[0]).stem
        self.export_path.value = str(Path.cwd() / f"{stem}_restored.nxs")
        self.workspace_path.value = str(Path.cwd() / f"{stem}_workspace.json")
        self._show_image(0)

    def _show_image(self, index: int) -> None:
        self.workspace.index = index
        self.region = None
        self._fit_extent()
        self._refresh_results()
        self._compute_raw_azimuthal()

    # -- look ----------------------------------------------------------------------------
    @property
    def orientation(self) -> Orientation:
        return Orientation(rotate=int(self.rotate.value), flip_x=0 in self.flips.active, flip_y=1 in self.flips.active)

    @property
    def axes(self) -> images.Axes:
        """The panels' axis units: pixels, or the pixel size's (scan step's) length unit."""
        physical = self.axis_units.value == "physical" and self.axis_units.visible
        return images.Axes.of(self.workspace.raw.pixel_size, self.orientation, physical)

    def _fit_extent(self) -> None:
        """Fit the panels to the image shown as oriented; a profile line drawn before no longer applies."""
        ny, nx = self.orientation.apply(self.workspace.raw.data).shape
        axes = self.axes
        self.panels.set_extent(ny * axes.y, nx * axes.x, axes.unit, axis_labels(self.workspace.raw, self.orientation))
        self._set_region(self.region)
        self.line, self.first_point = None, None
        self.panels.profile_line.data = {"x": [], "y": []}
        self.profile_source.data = {"xs": [], "ys": [], "label": [], "color": []}

    def _reoriented(self) -> None:
        if self.workspace.source is not None and not self._opening:
            self._fit_extent()
            self._refresh_images()

    def _full_resolution(self, frame: Frame) -> np.ndarray:
        """``frame`` as displayed at full resolution (oriented, NaN where masked), kept while it is shown."""
        key = (id(frame), self.orientation)
        if key not in self._full:
            if len(self._full) > 8:  # frames and orientations no longer shown
                self._full.clear()
            self._full[key] = images.display_array(frame.data, frame.valid, self.orientation, 1)
        return self._full[key]

    def _look_changed(self) -> None:
        if not self._opening:
            self._refresh_images()

    def _display(self, frame: Frame) -> np.ndarray:
        factor = images.downsample_factor(frame.image_shape)
        return images.display_array(frame.data, frame.valid, self.orientation, factor, self.reduction.value)

    def _right_shown(self) -> str:
        """What the right panel shows: ``"restored"``, ``"difference"`` or ``"ratio"`` (:data:`RIGHT_MODES`)."""
        return list(RIGHT_MODES.values())[self.right_mode.active or 0]

    def _refresh_images(self) -> None:
        if self.workspace.source is None:
            return
        raw_frame = self.workspace.raw
        self.reduction.visible = images.downsample_factor(raw_frame.image_shape) > 1
        raw = self._display(raw_frame)
        extent = self.orientation.apply(raw_frame.data).shape
        scale = self.scale.value
        low, high = self.clip.value
        limits = images.colour_limits(raw, (low, high), scale)
        result = self.shown_result
        right, title = None, "restored: run a method"
        mode = self._right_shown()
        look = Look(self.palette.value, scale, limits, self.clipping.threshold_value())
        right_box = None
        if result is not None:
            right, title, base = self._display(result.frame), result.label, raw
            if result.region is not None:  # drawn over its region, compared with the raw image's
                i0, i1, j0, j1 = images.to_display(self.orientation, result.region, raw_frame.image_shape)
                right_box = (j0 * self.axes.x, i0 * self.axes.y, (j1 - j0) * self.axes.x, (i1 - i0) * self.axes.y)
                base = self._full_resolution(raw_frame)[i0:i1, j0:j1]
            try:
                if mode == "difference":
                    right = images.difference(right, base)
                    look = replace(look, difference_limits=images.symmetric_limits(right, self.clip.value[1]))
                    title = f"{result.label} − raw"
                elif mode == "ratio":
                    right = images.ratio(right, base)
                    look = replace(look, ratio_limits=images.ratio_limits(right, self.clip.value[1]))
                    title = f"{result.label} / raw"
            except ValueError as exc:
                right, title = None, f"not shown: {exc}"
        self.panels.show(raw, right, self.axes, (int(extent[0]), int(extent[1])), right_title=title, right_mode=mode, look=look,
                         right_box=right_box)
        self._right_title = title
        self._detail = None
        self._refresh_detail()

    def _refresh_detail(self) -> None:
        """For a frame sent as a reduced overview: full-resolution crops of the region zoomed into.

        Sent when the region shown holds no more pixels than the overview (with a margin
        of a quarter of its size each side, so that small pans need nothing new);
        removed when zoomed out again.
        """
        if self.workspace.source is None or images.downsample_factor(self.workspace.raw.image_shape) == 1:
            return
        raw = self._full_resolution(self.workspace.raw)
        ny, nx = raw.shape
        axes, (x_start, x_end, y_start, y_end) = self.axes, self.panels.view()
        x0, x1 = sorted((x_start / axes.x, x_end / axes.x))  # in pixels
        y0, y1 = sorted((y_start / axes.y, y_end / axes.y))
        if (x1 - x0) * (y1 - y0) > images.OVERVIEW_PIXELS:
            if self._detail is not None:
                self.panels.show_detail(None, None, (0, 0, 0, 0), self._right_title, axes)
                self._detail = None
            return
        result = self.shown_result
        shown = (id(self.workspace.raw), None if result is None else id(result.frame), self.right_mode.active, self.orientation, axes)
        if self._detail is not None and self._detail[0] == shown:
            _, i0, i1, j0, j1 = self._detail
            if j0 <= max(0, x0) and min(nx, x1) <= j1 and i0 <= max(0, y0) and min(ny, y1) <= i1:
                return  # the crop sent already covers the region shown
        mx, my = (x1 - x0) / 4, (y1 - y0) / 4
        j0, j1 = max(0, int(x0 - mx)), min(nx, int(np.ceil(x1 + mx)))
        i0, i1 = max(0, int(y0 - my)), min(ny, int(np.ceil(y1 + my)))
        if j1 <= j0 or i1 <= i0:
            return
        crop = raw[i0:i1, j0:j1]
        right = None
        if result is not None and result.region is None:  # a region's result is sent whole, at full resolution
            full = self._full_resolution(result.frame)
            sy, sx = full.shape[0] / ny, full.shape[1] / nx
            right = full[round(i0 * sy) : round(i1 * sy), round(j0 * sx) : round(j1 * sx)]
            mode = self._right_shown()
            if mode != "restored":
                compare = images.difference if mode == "difference" else images.ratio
                right = compare(right, crop) if right.shape == crop.shape else None
        box = (j0 * axes.x, i0 * axes.y, (j1 - j0) * axes.x, (i1 - i0) * axes.y)
        self.panels.show_detail(crop, right, box, self._right_title, axes)
        self._detail = (shown, i0, i1, j0, j1)
