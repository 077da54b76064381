"""The viewer's page: one Bokeh document per browser tab, wired to a :class:`~asirp.view.workspace.Workspace`.

Layout: controls on the left (open, look, restore, results, export), the two linked
image panels on the right with the pixel readout, and below them the line profile
and, for a frame with a detector geometry, the azimuthal profile of the raw frame and
every result. Restorations run in a thread; the page stays responsive and shows the
method and the elapsed time until the result arrives (Bokeh's documented way to
update a document from a thread: :meth:`Document.add_next_tick_callback`).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.events import DocumentReady, DoubleTap, RangesUpdate, SelectionGeometry, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    Checkbox,
    CheckboxGroup,
    ColumnDataSource,
    Div,
    MultiSelect,
    RadioButtonGroup,
    RangeSlider,
    Select,
    Slider,
    TextInput,
)
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from ..errors import AsirpError
from ..frame import Frame
from . import images
from .files import FrameCache, Opened, listing
from .forms import FieldSpec, method_form, parse_form
from .images import Orientation
from .panels import PALETTES, ImagePanels, Look
from .profiles import Line, against_reference, azimuthal, contrast, line_profile
from .state import PageState, Restoration, is_workspace, load_state, save_state
from .workspace import Region, Result, Workspace, crop

log = logging.getLogger(__name__)

#: Seconds between updates of the elapsed time shown while a restoration runs.
BUSY_TICK_MS = 250
#: What the right panel shows (labels), and the names the panels know them by.
RIGHT_MODES = {"restored": "restored", "restored − raw": "difference", "restored / raw": "ratio"}


def _error(text: str) -> str:
    return f'<span style="color:#b00020">{html.escape(text)}</span>' if text else ""


def _note(text: str) -> str:
    return f'<span style="color:#555">{html.escape(text)}</span>' if text else ""


def _heading(text: str) -> Div:
    return Div(text=f"<b>{html.escape(text)}</b>", styles={"margin-top": "10px"})


class ViewerPage:
    """Everything one browser tab shows and does."""

    def __init__(self, doc: Document, cache: FrameCache, paths: list[str], folder: Path) -> None:
        self.doc = doc
        self.workspace = Workspace(cache)
        self.panels = ImagePanels()
        self.line: Line | None = None
        self.first_point: tuple[float, float] | None = None
        self.busy: tuple[str, float] | None = None
        self._busy_callback: Any = None
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
        controls = column(
            _heading("Open"), self.folder, self.files, self.path, self.open_button, self.datasets, self.open_message, self.frame_slider,
            _heading("Look"), self.palette, self.scale, self.clip, self.right_mode, self.axis_units, self.rotate, self.flips, self.reduction,
            _heading("Compare"), self.reference_path, self.reference_button, self.reference_message,
            _heading("Restore"), self.method, self.method_note, self.form, self.region_note, self.use_region, self.clear_region_button,
            self.restore_button, self.status, self.restore_message,
            self.results,
            _heading("Export the result shown"), self.export_path, self.overwrite, self.export_button, self.export_message,
            _heading("Workspace"), self.workspace_path, self.save_workspace_button, self.workspace_message,
            width=340,
        )  # fmt: skip
        figures = column(
            row(self.panels.raw_figure, self.panels.right_figure), self.panels.readout,
            self.profile_note, row(self.profile_figure, self.azimuthal_figure), row(self.contrast_table, self.explanation),
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
        self.files.on_change("value", lambda attr, old, new: new and self._pick_file(new[-1]))
        self.path = TextInput(title="path (FILE or FILE.h5::/dataset)", width=320, css_classes=["asirp-path"])
        self.open_button = Button(label="Open", css_classes=["asirp-open"])
        self.open_button.on_click(lambda: self._open_path(self.path.value))
        self.datasets = Select(title="image datasets in this file", options=[], visible=False, css_classes=["asirp-datasets"])
        self.datasets.on_change("value", lambda attr, old, new: new and self._open_path(new))
        self.open_message = Div(text="", css_classes=["asirp-open-message"])
        self.frame_slider = Slider(title="image of the stack", start=0, end=1, value=0, step=1, visible=False)
        self.frame_slider.on_change("value_throttled", lambda attr, old, new: self._show_image(int(new)))
        self._list_folder()

    def _build_look(self) -> None:
        self.palette = Select(title="colour map", value="viridis", options=list(PALETTES), css_classes=["asirp-palette"])
        self.scale = Select(title="scale", value="linear", options=["linear", "log"], css_classes=["asirp-scale"])
        low, high = images.DEFAULT_CLIP
        self.clip = RangeSlider(title="colour limits (percentiles of the raw image)", start=0, end=100, step=0.1, value=(low, high))
        self.right_mode = RadioButtonGroup(labels=list(RIGHT_MODES), active=0, css_classes=["asirp-right-mode"])
        self.axis_units = Select(title="axes", value="pixels", options=[("pixels", "pixels"), ("physical", "pixel size (scan step)")],
                                 visible=False, css_classes=["asirp-axes"])
        self.axis_units.on_change("value", lambda attr, old, new: self._reoriented())
        self.rotate = Select(title="rotate (°, counter-clockwise)", value="0", options=[str(r) for r in images.ROTATIONS])
        self.flips = CheckboxGroup(labels=["flip left-right", "flip up-down"], active=[])
        self.reduction = Select(title="large frames are sent as block", value="mean", options=["mean", "max"], visible=False)
        for widget in (self.palette, self.scale, self.reduction):
            widget.on_change("value", lambda attr, old, new: self._look_changed())
        self.clip.on_change("value_throttled", lambda attr, old, new: self._look_changed())
        self.right_mode.on_change("active", lambda attr, old, new: self._look_changed())
        self.flips.on_change("active", lambda attr, old, new: self._reoriented())
        self.rotate.on_change("value", lambda attr, old, new: self._reoriented())

    def _build_restore(self) -> None:
        from ..api import methods

        self.described = {method["name"]: method for method in methods()}
        self.method = Select(title="method", value="auto", options=["auto", *self.described], css_classes=["asirp-method"])
        self.method.on_change("value", lambda attr, old, new: self._method_changed())
        self.method_note = Div(text="", width=320)
        self.form = column(children=[], styles={"max-height": "360px", "overflow-y": "auto"}, width=330)
        self.fields: dict[str, TextInput | Select] = {}
        self.region_note = Div(text=_note("to restore a region only, draw it with the box-select tool"), width=320,
                               css_classes=["asirp-region-note"])
        self.use_region = Checkbox(label="restore only the region drawn", active=False, visible=False, css_classes=["asirp-use-region"])
        self.clear_region_button = Button(label="Clear the region", visible=False)
        self.clear_region_button.on_click(lambda: self._set_region(None))
        self.restore_button = Button(label="Restore", button_type="primary", css_classes=["asirp-restore"])
        self.restore_button.on_click(self._start_restore)
        self.status = Div(text="", css_classes=["asirp-status"])
        self.restore_message = Div(text="", width=320, css_classes=["asirp-restore-message"])
        self.results = Select(title="result shown", options=[], css_classes=["asirp-results"])
        self.results.on_change("value", lambda attr, old, new: self._result_changed())
        self.explanation = Div(text="", width=900, visible=False, styles={"max-height": "320px", "overflow": "auto"})
        self._method_changed()

    def _build_compare(self) -> None:
        self.profile_source = ColumnDataSource(data={"xs": [], "ys": [], "label": [], "color": []})
        self.profile_note = Div(text=_note("line profile: click two points on an image"), css_classes=["asirp-profile-note"])
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

    def _build_export(self) -> None:
        self.export_path = TextInput(title="file (.nxs/.h5 NeXus, .tif, .png figure, .txt for Origin)", width=320, css_classes=["asirp-export-path"])
        self.overwrite = Checkbox(label="replace an existing file", active=False)
        self.export_button = Button(label="Export", disabled=True, css_classes=["asirp-export"])
        self.export_button.on_click(self._export)
        self.export_message = Div(text="", width=320, css_classes=["asirp-export-message"])
        self.workspace_path = TextInput(title="workspace file (.json): this view, to reopen with asirp view FILE.json", width=320,
                                        css_classes=["asirp-workspace-path"])
        self.save_workspace_button = Button(label="Save workspace", css_classes=["asirp-save-workspace"])
        self.save_workspace_button.on_click(self._save_workspace)
        self.workspace_message = Div(text="", width=320, css_classes=["asirp-workspace-message"])

    # -- open ----------------------------------------------------------------------------
    def _list_folder(self) -> None:
        folder = Path(self.folder.value).expanduser()
        given = [(str(Path(p).absolute()) if "::" not in p else p, p) for p in self.given]
        try:
            known = {value for value, _ in given}
            entries = [(str((folder / name).absolute()), name) for name in listing(folder)]
            entries = [(value, name) for value, name in entries if value not in known]
        except AsirpError as exc:
            self.open_message.text = _error(str(exc))
            entries = []
        else:
            self.open_message.text = ""
        self.files.options = given + entries

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
            self.open_message.text = _error("type a file path, or pick a file in the list")
            return
        if is_workspace(path):
            self._open_workspace(path)
            return
        try:
            opened: Opened = self.workspace.open(path)
        except AsirpError as exc:
            self.open_message.text = _error(str(exc))
            return
        if opened.frame is None:
            self.datasets.options = [("", "(choose one)")] + [(name, f"{name.split('::')[-1]}  {shape}") for name, shape in opened.choices]
            self.datasets.value = ""
            self.datasets.visible = True
            self.open_message.text = _note(f"{len(opened.choices)} image datasets and nothing in the file says which is the image: choose one")
            return
        self.doc.hold("combine")  # one message for the new image, whatever the changes below trigger
        try:
            self._opened(opened.frame, path)
        finally:
            self.doc.unhold()

    def _opened(self, frame: Frame, path: str) -> None:
        self.datasets.visible = "::" in path and self.datasets.visible
        stack = f", {frame.shape[0]} images" if frame.is_stack else ""
        geometry = ", detector geometry" if frame.geometry is not None else ""
        self.open_message.text = _note(f"{frame.kind}, {frame.image_shape[0]} x {frame.image_shape[1]} px{stack}, "
                                       f"{frame.mask_fraction:.1%} masked{geometry}")
        self.frame_slider.update(end=max(1, self.workspace.count - 1), value=0, visible=frame.is_stack)
        # Detector patterns span decades (rings over background): a log scale shows them; maps and images start linear.
        # Maps and images are measured in scan steps: physical axes; detector frames in pixels.
        pattern = frame.kind in ("diffraction", "scattering", "pdf")
        self._opening = True  # _show_image draws once below
        self.scale.value = "log" if pattern else "linear"
        self.axis_units.visible = frame.pixel_size is not None
        self.axis_units.value = "pixels" if pattern or frame.pixel_size is None else "physical"
        self._opening = False
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
        self.panels.set_extent(ny * axes.y, nx * axes.x, axes.unit)
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
        return images.display_array(frame.data, frame.valid, self.orientation, factor, self.reduction.value)  # type: ignore[arg-type]

    def _refresh_images(self) -> None:
        if self.workspace.source is None:
            return
        raw_frame = self.workspace.raw
        self.reduction.visible = images.downsample_factor(raw_frame.image_shape) > 1
        raw = self._display(raw_frame)
        extent = self.orientation.apply(raw_frame.data).shape
        scale = self.scale.value
        limits = images.colour_limits(raw, tuple(self.clip.value), scale)  # type: ignore[arg-type]
        result = self.shown_result
        right, title = None, "restored: run a method"
        mode = list(RIGHT_MODES.values())[self.right_mode.active]
        look = Look(self.palette.value, scale, limits)  # type: ignore[arg-type]
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
        axes, x_range, y_range = self.axes, self.panels.x_range, self.panels.y_range
        x0, x1 = sorted((x_range.start / axes.x, x_range.end / axes.x))  # in pixels
        y0, y1 = sorted((y_range.start / axes.y, y_range.end / axes.y))
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
            mode = list(RIGHT_MODES.values())[self.right_mode.active]
            if mode != "restored":
                compare = images.difference if mode == "difference" else images.ratio
                right = compare(right, crop) if right.shape == crop.shape else None
        box = (j0 * axes.x, i0 * axes.y, (j1 - j0) * axes.x, (i1 - i0) * axes.y)
        self.panels.show_detail(crop, right, box, self._right_title, axes)
        self._detail = (shown, i0, i1, j0, j1)

    # -- restore -------------------------------------------------------------------------
    def _method_changed(self) -> None:
        name = self.method.value
        if name == "auto":
            self.method_note.text = _note("the selector chooses the method and its parameters without ground truth, and says why")
        else:
            described = self.described[name]
            needs = f"; needs: {', '.join(described['needs'])}" if described["needs"] else ""
            self.method_note.text = _note(f"{described['task']} (kinds: {', '.join(described['kinds'])}{needs})")
        specs = method_form(name)
        self.fields = {spec.name: self._field_widget(spec) for spec in specs}
        self.form.children = list(self.fields.values()) or [Div(text=_note("no parameters to set"))]

    @staticmethod
    def _field_widget(spec: FieldSpec) -> TextInput | Select:
        tip = f"{spec.description} ({spec.hint})"
        if spec.widget == "choice":
            options = [(choice, choice or "(default)") for choice in spec.choices]
            return Select(title=spec.title, value=spec.text, options=options, description=tip, width=300,
                          css_classes=[f"asirp-param-{spec.name}"])
        return TextInput(title=spec.title, value=spec.text, placeholder=spec.hint, description=tip, width=300,
                         css_classes=[f"asirp-param-{spec.name}"])

    def _start_restore(self) -> None:
        if self.busy is not None:
            return
        if self.workspace.source is None:
            self.restore_message.text = _error("open a file first")
            return
        method = self.method.value
        try:
            params = parse_form(method, {name: widget.value for name, widget in self.fields.items()})
        except AsirpError as exc:
            self.restore_message.text = _error(str(exc))
            return
        self.restore_message.text = ""
        self.busy = (method, time.perf_counter())
        self.restore_button.disabled = True
        self._tick()
        self._busy_callback = self.doc.add_periodic_callback(self._tick, BUSY_TICK_MS)
        region = self.region if self.use_region.active else None
        threading.Thread(target=self._restore_in_thread, args=(method, params, region), daemon=True, name="asirp-view-restore").start()

    def _tick(self) -> None:
        if self.busy is not None:
            method, started = self.busy
            self.status.text = f"<b>running {html.escape(method)}…</b> {time.perf_counter() - started:.1f} s"

    def _restore_in_thread(self, method: str, params: dict[str, Any], region: Region | None) -> None:
        try:
            result = self.workspace.restore(method, params, region)
            self._azimuthal[id(result.frame)] = azimuthal(result.frame)
        except AsirpError as exc:
            self.doc.add_next_tick_callback(partial(self._restore_done, None, str(exc)))
        except Exception as exc:  # noqa: BLE001  (a failing method must not take the page down; the log has the traceback)
            log.exception("restoration with %s failed", method)
            self.doc.add_next_tick_callback(partial(self._restore_done, None, f"{method} failed: {type(exc).__name__}: {exc}"))
        else:
            self.doc.add_next_tick_callback(partial(self._restore_done, result, ""))

    def _restore_done(self, result: Result | None, error: str) -> None:
        self.busy = None
        if self._busy_callback is not None:
            self.doc.remove_periodic_callback(self._busy_callback)
            self._busy_callback = None
        self.restore_button.disabled = False
        if result is None:
            self.status.text = ""
            self.restore_message.text = _error(error)
            return
        self.status.text = f"done: {html.escape(result.label)} in {result.seconds:.2f} s"
        self._refresh_results(select=len(self.workspace.shown_results) - 1)

    # -- results -------------------------------------------------------------------------
    @property
    def shown_result(self) -> Result | None:
        kept = self.workspace.shown_results
        if not kept or not self.results.value:
            return None
        return kept[int(self.results.value)]

    def _refresh_results(self, select: int | None = None) -> None:
        kept = self.workspace.shown_results
        self.results.options = [(str(i), result.label) for i, result in enumerate(kept)]
        value = "" if not kept else str(len(kept) - 1 if select is None else select)
        if self.results.value != value:
            self.results.value = value  # triggers _result_changed
        else:
            self._result_changed()

    def _result_changed(self) -> None:
        result = self.shown_result
        self.export_button.disabled = result is None
        self.explanation.visible = result is not None and result.explanation is not None
        self.explanation.text = "" if result is None or result.explanation is None else (
            f"<b>why auto chose {html.escape(result.frame.history[-1].method)}</b>"
            f"<pre style='font-size:11px; white-space:pre-wrap'>{html.escape(result.explanation)}</pre>")
        self._refresh_images()
        self._refresh_profiles()
        self._refresh_azimuthal()
        self._refresh_contrast()

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
            self.profile_note.text = _note("line profile: click the end point")
            return
        (x0, y0), self.first_point = self.first_point, None
        self.line = Line(x0 / axes.x, y0 / axes.y, float(event.x) / axes.x, float(event.y) / axes.y)  # in pixels
        self.panels.profile_line.data = {"x": [x0, event.x], "y": [y0, event.y]}
        self._refresh_profiles()

    def _region_drawn(self, event: SelectionGeometry) -> None:
        """The box-select tool's rectangle, as the region to restore (in whole pixels of the image as read)."""
        geometry = event.geometry or {}
        if not event.final or geometry.get("type") != "rect" or self.workspace.source is None:
            return
        axes = self.axes
        ny, nx = self.orientation.apply(self.workspace.raw.data).shape
        x0, x1 = sorted((geometry["x0"] / axes.x, geometry["x1"] / axes.x))
        y0, y1 = sorted((geometry["y0"] / axes.y, geometry["y1"] / axes.y))
        box = (max(0, int(np.floor(y0))), min(ny, int(np.ceil(y1))), max(0, int(np.floor(x0))), min(nx, int(np.ceil(x1))))
        if box[1] - box[0] < 2 or box[3] - box[2] < 2:
            self.region_note.text = _error("a region needs at least 2 x 2 pixels of the image")
            return
        self._set_region(images.to_source(self.orientation, box, self.workspace.raw.image_shape))
        self.use_region.active = True

    def _set_region(self, region: Region | None) -> None:
        """Keep ``region`` (None: none), outline it on both panels and say what it is."""
        self.region = region
        self.use_region.visible = self.clear_region_button.visible = region is not None
        if region is None:
            self.panels.show_region(None)
            self.use_region.active = False
            self.region_note.text = _note("to restore a region only, draw it with the box-select tool")
            return
        i0, i1, j0, j1 = images.to_display(self.orientation, region, self.workspace.raw.image_shape)
        axes = self.axes
        self.panels.show_region((j0 * axes.x, i0 * axes.y, (j1 - j0) * axes.x, (i1 - i0) * axes.y))
        self.region_note.text = _note(f"region: rows {region[0]}:{region[1]}, columns {region[2]}:{region[3]} "
                                      f"({region[1] - region[0]} x {region[3] - region[2]} px of the image as read)")

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
        self.profile_note.text = _note(f"line profile along {line.length:.0f} px; click two points for another")

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
            self.reference_message.text = _error(str(exc))
            return
        self.reference_message.text = _note(f"reference: {reference.kind}, {' x '.join(map(str, reference.shape))} px")
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
                same = region is None or reference.shape != self.workspace.raw.shape
                scores = against_reference(reference if same else crop(reference, region), frame)
                cells += ["another shape", ""] if scores is None else [f"{scores[0]:.2f}", f"{scores[1]:.4f}"]
            rows.append("<tr>" + "".join(f"<td style='padding:0 6px'>{cell}</td>" for cell in cells) + "</tr>")
        heads = ["image", "contrast (std)", "pixels"] + (["PSNR (dB)", "SSIM"] if reference is not None else [])
        header = "<tr>" + "".join(f"<th style='padding:0 6px'>{head}</th>" for head in heads) + "</tr>"
        self.contrast_table.text = f"<table>{header}{''.join(rows)}</table>"

    # -- workspace files -----------------------------------------------------------------
    def _page_state(self) -> PageState:
        """What this page shows, as a workspace (the restorations of the image shown)."""
        line = None if self.line is None else (self.line.x0, self.line.y0, self.line.x1, self.line.y1)
        x_range, y_range = self.panels.x_range, self.panels.y_range
        look = {"palette": self.palette.value, "scale": self.scale.value, "clip": list(self.clip.value),
                "right_mode": self.right_mode.active, "axes": self.axis_units.value, "rotate": self.rotate.value,
                "flips": list(self.flips.active), "reduction": self.reduction.value}
        restorations = tuple(Restoration(r.method, r.params, r.region) for r in self.workspace.shown_results)
        path = self.workspace.path or ""
        absolute = str(Path(path.split("::")[0]).absolute()) + (f"::{path.split('::', 1)[1]}" if "::" in path else "")
        reference = self.reference_path.value.strip() if self.workspace.reference is not None else None
        return PageState(absolute, self.workspace.index, look, self.region, line,
                         (x_range.start, x_range.end, y_range.start, y_range.end),
                         None if not reference else str(Path(reference.split("::")[0]).absolute()), restorations)

    def _save_workspace(self) -> None:
        if self.workspace.source is None:
            self.workspace_message.text = _error("open a file first")
            return
        try:
            written = save_state(self._page_state(), self.workspace_path.value, force=self.overwrite.active)
        except AsirpError as exc:
            self.workspace_message.text = _error(str(exc))
            return
        self.workspace_message.text = _note(f"wrote {written}")

    def _open_workspace(self, path: str) -> None:
        """Reopen a workspace: the file, image, look, region and reference at once, the restorations in a thread."""
        try:
            state = load_state(path)
        except AsirpError as exc:
            self.open_message.text = _error(str(exc))
            return
        self._open_path(state.path)
        if self.workspace.source is None or self.workspace.path != state.path:
            return
        look = state.look
        self._opening = True  # one drawing below, not one per control
        for widget, key in ((self.palette, "palette"), (self.scale, "scale"), (self.axis_units, "axes"), (self.rotate, "rotate"),
                            (self.reduction, "reduction")):
            if key in look:
                widget.value = str(look[key])
        if "clip" in look:
            self.clip.value = tuple(look["clip"])
        self.right_mode.active = int(look.get("right_mode", 0))
        self.flips.active = list(look.get("flips", []))
        self._opening = False
        self.frame_slider.value = min(state.index, self.workspace.count - 1)
        self._show_image(int(self.frame_slider.value))
        if state.region is not None:
            self._set_region(state.region)
            self.use_region.active = True
        if state.reference:
            self.reference_path.value = state.reference
            self._load_reference()
        self.open_message.text = _note(f"workspace {Path(path).name}: {len(state.restorations)} restorations to run again")
        self.busy = ("the workspace's restorations", time.perf_counter())
        self.restore_button.disabled = True
        self._busy_callback = self.doc.add_periodic_callback(self._tick, BUSY_TICK_MS)
        threading.Thread(target=self._rerun_in_thread, args=(state,), daemon=True, name="asirp-view-workspace").start()

    def _rerun_in_thread(self, state: PageState) -> None:
        problems = []
        for restoration in state.restorations:
            try:
                result = self.workspace.restore(restoration.method, restoration.parameters, restoration.region)
                self._azimuthal[id(result.frame)] = azimuthal(result.frame)
            except AsirpError as exc:
                problems.append(f"{restoration.method}: {exc}")
            except Exception as exc:  # noqa: BLE001  (one failing method must not stop the others; the log has the traceback)
                log.exception("restoration with %s failed", restoration.method)
                problems.append(f"{restoration.method} failed: {type(exc).__name__}: {exc}")
        self.doc.add_next_tick_callback(partial(self._rerun_done, state, problems))

    def _rerun_done(self, state: PageState, problems: list[str]) -> None:
        self.busy = None
        if self._busy_callback is not None:
            self.doc.remove_periodic_callback(self._busy_callback)
            self._busy_callback = None
        self.restore_button.disabled = False
        self.status.text = f"workspace: {len(state.restorations) - len(problems)} of {len(state.restorations)} restorations done"
        self.restore_message.text = _error("; ".join(problems))
        self._refresh_results()
        if state.view is not None:
            x0, x1, y0, y1 = state.view
            self.panels.x_range.update(start=x0, end=x1)
            self.panels.y_range.update(start=y0, end=y1)
            self._refresh_detail()
        if state.line is not None:
            axes = self.axes
            self.line = Line(*state.line)
            self.panels.profile_line.data = {"x": [self.line.x0 * axes.x, self.line.x1 * axes.x],
                                             "y": [self.line.y0 * axes.y, self.line.y1 * axes.y]}
            self._refresh_profiles()

    # -- export --------------------------------------------------------------------------
    def _export(self) -> None:
        result = self.shown_result
        if result is None:
            self.export_message.text = _error("restore the image first: export writes the result shown")
            return
        try:
            written = self.workspace.export(result, self.export_path.value, force=self.overwrite.active)
        except AsirpError as exc:
            self.export_message.text = _error(str(exc))
            return
        self.export_message.text = _note(f"wrote {written}")
