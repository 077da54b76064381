"""The live page (``asirp view --follow``): one Bokeh document per browser tab over a shared :class:`LiveFollower`.

Layout: the newest raw and restored frames side by side (the offline viewer's
:class:`~asirp.view.panels.ImagePanels`: linked zoom and pan, one colour scale, masked
pixels in their own colour, the two-panel readout) with the ROI proposals outlined on
both; below them the change-detection timeline. On the left: the status of the source
(missing, waiting, running, idle, finished), the frame, the pipeline's rate and the
page's, the method with the decision's reasons, the look, and the ROI proposals to
accept or edit and publish as feedback.

The page only reads the follower's latest snapshot from a periodic callback on the
server's event loop (every :data:`REFRESH_MS`); a snapshot newer than the last one drawn
replaces it, so a browser slower than the pipeline simply skips frames.
"""

from __future__ import annotations

import html
import math
import time
from collections import deque
from typing import Any

from bokeh.document import Document
from bokeh.events import SelectionGeometry
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource
from bokeh.models.annotations import LabelSet
from bokeh.models.callbacks import CustomJS
from bokeh.models.widgets.buttons import Button, Toggle
from bokeh.models.widgets.inputs import Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.tables import DataTable, NumberFormatter, TableColumn
from bokeh.plotting import figure

from ..errors import AsirpError
from ..feedback.roi import Roi
from . import images
from .clipping import ClipControls
from .images import Axes, Scale
from .live import LiveFollower, LiveSnapshot, RoiFeedback, edited_roi
from .markup import error, heading, note
from .panels import PALETTES, ImagePanels, Look

#: How often the page looks for a newer snapshot, ms (the follower makes one at most --max-fps times a second).
REFRESH_MS = 50
#: Appends [time since the page loaded (ms), the panel's title] to window.asirpFrames when a frame arrives.
FRAME_LOG_JS = "if (source.data.name.length) { (window.asirpFrames ??= []).push([performance.now(), source.data.name[0]]) }"
#: Colour of the source's status, by status.
#: The look's choices (typed as Bokeh's Select expects).
PALETTE_OPTIONS: list[str | tuple[Any, str]] = list(PALETTES)
SCALE_OPTIONS: list[str | tuple[Any, str]] = ["linear", "log", "asinh"]
#: Least seconds between two updates of the text, ROI table and timeline beside the panels (the panels follow every frame).
SIDE_EVERY_S = 1.0
STATUS_COLOURS = {"missing": "#b00020", "waiting": "#8a6d00", "running": "#1b7a1b", "idle": "#8a6d00", "finished": "#1f4e9a"}


def _roi_columns(rois: tuple[Roi, ...]) -> dict[str, list]:
    """The proposals' table: rank, pixel box, the extent along each motor (first…last position), score."""
    extents = [list(r.motors.values()) for r in rois]
    return {
        "rank": [k + 1 for k in range(len(rois))],
        "rows": [f"{r.y0}:{r.y1}" for r in rois],
        "columns": [f"{r.x0}:{r.x1}" for r in rois],
        "y_extent": [f"{e[0][0]:.4g}…{e[0][1]:.4g}" for e in extents],
        "x_extent": [f"{e[1][0]:.4g}…{e[1][1]:.4g}" for e in extents],
        "score": [r.score for r in rois],
    }


class LivePage:
    """Everything one live browser tab shows and does."""

    def __init__(self, doc: Document, follower: LiveFollower, feedback: RoiFeedback | None) -> None:
        self.doc = doc
        self.follower = follower
        self.feedback = feedback
        self.panels = ImagePanels(rgba=True)  # coloured in this process: the browser copies colours (see panels.py)
        self.shown: LiveSnapshot | None = None
        self._limits: dict[tuple[str, tuple[float, float]], tuple[float, float]] = {}  # the limits shown, per scale and clip (kept while steady)
        self._listed: tuple[Roi, ...] = ()  # the proposals in the table
        self._side_at = -math.inf  # time.monotonic() of the last update of the text beside the panels
        self._side_shown: tuple[Any, ...] = ()  # what the text beside the panels was last made from
        self._shape: tuple[int, int] | None = None
        self._drawn: deque[float] = deque(maxlen=20)
        self.frames_drawn = 0
        self._timeline_run = ""
        self._seen = -1  # the version of the last snapshot looked at
        self.status = Div(text="", css_classes=["asirp-live-status"], width=330)
        self.frame_line = Div(text="", css_classes=["asirp-live-frame"], width=330)
        self.rates = Div(text="", css_classes=["asirp-live-rates"], width=330)
        self.decision = Div(text="", css_classes=["asirp-live-decision"], width=330)
        self.raw_note = Div(text="", css_classes=["asirp-live-raw-note"], width=330)
        self.palette = Select(title="colour map", value="viridis", options=PALETTE_OPTIONS, css_classes=["asirp-palette"])
        self.scale = Select(title="scale", value="linear" if follower.config.read.kind in ("image", "xrf_map", "tomo_projection") else "log",
                            options=SCALE_OPTIONS, css_classes=["asirp-scale"])
        self.hold = Toggle(label="hold this frame (the pipeline goes on)", active=False, css_classes=["asirp-live-hold"])
        self.clipping = ClipControls(self._look_changed, "colour limits (percentiles of the frame)")
        self._threshold: float | None = None  # the threshold typed, read when it changes (not at every frame)
        for widget in (self.palette, self.scale):
            widget.on_change("value", lambda attr, old, new: self._draw(force=True))
        self.hold.on_change("active", lambda attr, old, new: self._draw(force=True))
        self._build_rois()
        self._build_timeline()
        controls = column(
            heading("Source"), self.status, self.frame_line, self.rates, self.raw_note,
            heading("Restoration"), self.decision,
            heading("Look"), self.palette, self.scale, self.clipping.clip, self.clipping.threshold, self.clipping.threshold_message,
            self.hold,
            heading("Regions of interest"), self.roi_table, self.roi_note, row(self.y0, self.y1), row(self.x0, self.x1),
            self.accept_button, self.roi_message,
            width=350,
        )  # fmt: skip
        for panel in (self.panels.raw_figure, self.panels.right_figure):
            panel.quad(left="left", right="right", top="top", bottom="bottom", source=self.roi_boxes, fill_alpha=0,
                       line_color="color", line_width="width")  # fmt: skip
            panel.add_layout(LabelSet(x="left", y="top", text="label", source=self.roi_boxes, text_color="color", text_font_size="11px",
                                      y_offset=2))  # fmt: skip
            panel.on_event(SelectionGeometry, self._box_drawn)
        self.panels.raw_figure.title.text = "raw (newest)"
        # The browser notes when each new restored frame reaches it (ms since the page loaded, and the frame's title), so
        # the rate a page really receives can be measured (asirp bench view) without polling its text.
        source = self.panels.right.overview["rgba"].data_source
        source.js_on_change("data", CustomJS(args={"source": source}, code=FRAME_LOG_JS))
        figures = column(row(self.panels.raw_figure, self.panels.right_figure), self.panels.readout, self.timeline_note, self.timeline)
        doc.add_root(row(controls, figures))
        doc.title = "asirp view: live"
        doc.add_periodic_callback(self._draw, REFRESH_MS)
        self._draw()

    # -- building ------------------------------------------------------------------------------------
    def _build_rois(self) -> None:
        self.roi_source = ColumnDataSource(_roi_columns(()))
        self.roi_boxes = ColumnDataSource({"left": [], "right": [], "top": [], "bottom": [], "label": [], "color": [], "width": []})
        y_motor, x_motor = self.follower.roi_config.motors
        columns = [TableColumn(field="rank", title="#", width=20), TableColumn(field="rows", title="rows", width=50),
                   TableColumn(field="columns", title="columns", width=50), TableColumn(field="y_extent", title=y_motor, width=80),
                   TableColumn(field="x_extent", title=x_motor, width=80),
                   TableColumn(field="score", title="score", formatter=NumberFormatter(format="0.0"), width=40)]  # fmt: skip
        self.roi_table = DataTable(source=self.roi_source, columns=columns, width=330, height=150, index_position=None,
                                   css_classes=["asirp-roi-table"])  # fmt: skip
        self.roi_source.selected.on_change("indices", lambda attr, old, new: self._roi_picked(new))
        self.roi_note = Div(text=note("pick a proposal, or draw a box with the box-select tool; edit its rows and columns, then accept"),
                            width=330)  # fmt: skip
        self.y0, self.y1, self.x0, self.x1 = (TextInput(title=title, width=160, css_classes=[f"asirp-roi-{name}"]) for name, title in
                                              (("y0", "first row"), ("y1", "end row"), ("x0", "first column"), ("x1", "end column")))  # fmt: skip
        for widget in (self.y0, self.y1, self.x0, self.x1):
            widget.on_change("value", lambda attr, old, new: self._outline())
        self.accept_button = Button(label="Accept ROI: publish as feedback", button_type="primary", css_classes=["asirp-roi-accept"],
                                    disabled=self.feedback is None)  # fmt: skip
        self.accept_button.on_click(self._accept)
        self.roi_message = Div(text="" if self.feedback else note("no --publish address: ROIs cannot be sent"), width=330,
                               css_classes=["asirp-roi-message"])  # fmt: skip

    def _build_timeline(self) -> None:
        self.timeline_source = ColumnDataSource({"seq": [], "distance": []})
        self.change_source = ColumnDataSource({"seq": [], "distance": [], "confidence": []})
        self.timeline = figure(title="change between successive frames (relative RMS difference, the pipeline's change detection)", height=190,
                               width=900, x_axis_label="frame (sequence number)", y_axis_label="d", tools="pan,wheel_zoom,reset,hover",
                               css_classes=["asirp-timeline"])  # fmt: skip
        self.timeline.line("seq", "distance", source=self.timeline_source, line_color="#1f77b4")
        self.timeline.scatter("seq", "distance", source=self.timeline_source, size=4, color="#1f77b4")
        self.timeline.scatter("seq", "distance", source=self.change_source, size=12, marker="triangle", color="#d62728",
                              legend_label="change detected")  # fmt: skip
        self.timeline.legend.location = "top_left"
        self.timeline_note = Div(text="", css_classes=["asirp-timeline-note"], width=900)

    # -- drawing ---------------------------------------------------------------------------------------
    def _look_changed(self) -> None:
        """The percentiles or the threshold changed: read the threshold (a bad one is said beside it) and redraw."""
        self._threshold = self.clipping.threshold_value()
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        """Draw the follower's latest snapshot when it is newer than the one seen (``force``: the look or hold changed).

        While the frame is held, only the status follows the source; the held frame is drawn at full resolution
        (frames of 4 Mpx and more as the offline viewer's overview) so that it can be zoomed into. Everything changed
        in one call reaches the browser as one message (one patch, one layout pass).
        """
        latest = self.follower.latest()
        if latest.version == self._seen and not force:
            self._show_side(latest, force=False)  # text held back by the once-a-second rule, now due
            return
        self._seen = latest.version
        self.doc.hold("combine")
        try:
            if self.hold.active:
                if force and self.shown is not None and self.shown.restored is not None:
                    self._show_frame(self.shown, full=True)
            else:
                new_frame = latest.restored is not None and (self.shown is None or (latest.seq, latest.run) != (self.shown.seq, self.shown.run))
                if latest.restored is not None:
                    self.shown = latest
                if self.shown is not None and self.shown.restored is not None and (new_frame or force):
                    self._show_frame(self.shown, full=False)
            self._show_side(latest, force=force)
        finally:
            self.doc.unhold()

    def _show_frame(self, snap: LiveSnapshot, *, full: bool) -> None:
        """Draw ``snap``'s frames (``full``: at full resolution, for a held frame).

        The panels' titles name the frame only when held: a title that changes with every frame costs the browser a
        layout pass each time; the frame line beside says which frame is shown (at most a second late).
        """
        assert snap.restored is not None and snap.restored_display is not None
        restored, raw = snap.restored_display, snap.raw_display
        if full:
            factor, orientation = images.downsample_factor(snap.shape), images.Orientation()
            restored = images.display_array(snap.restored.data, snap.restored.valid, orientation, factor)
            raw = images.display_array(snap.raw.data, snap.raw.valid, orientation, factor) if snap.raw is not None else None
        if snap.shape != self._shape:
            self._shape = snap.shape
            self.panels.set_extent(snap.shape[0], snap.shape[1], "pixel")
        scale: Scale = "log" if self.scale.value == "log" else "asinh" if self.scale.value == "asinh" else "linear"
        clip = self.clipping.percentiles
        limits = images.steady_limits(self._limits.get((scale, clip)), snap.colour_limits(clip, scale), scale)
        look = Look(palette=self.palette.value, scale=scale, limits=limits, threshold=self._threshold)
        self._limits[(scale, clip)] = limits
        axes = Axes()
        name = f"restored: frame {snap.seq} ({snap.method})"  # the readout's (and asirpFrames') name of the image: data, no layout
        right_title = f"{name} (held, full resolution)" if full else f"restored: {snap.method} (newest)"
        self.panels.show(raw if raw is not None else restored, restored, axes, snap.shape, right_title=right_title,
                         right_mode="restored", look=look, right_name=name)  # fmt: skip
        if raw is None:  # nothing raw to show: the left panel stays empty, the note says why
            self.panels.raw.fill(self.panels.raw.overview, None, (0.0, 0.0, float(snap.shape[1]), float(snap.shape[0])), "raw", axes, look)
        raw_title = f"raw: frame {snap.seq} (held, full resolution)" if full else "raw (newest)"
        self._set_text(self.panels.raw_figure.title, raw_title if raw is not None else "raw: not followed")
        if not full:
            self._drawn.append(time.monotonic())
            self.frames_drawn += 1
            self._outline()

    def _show_side(self, latest: LiveSnapshot, *, force: bool) -> None:
        """The status, frame line, rates, decision, ROI table and timeline: at most once a second (:data:`SIDE_EVERY_S`).

        Each of these costs the browser a layout pass of the page when it changes (a third of its time per frame when
        they followed every frame); the status word itself (running, idle, finished...) and the look's changes at once.
        """
        colour = STATUS_COLOURS.get(latest.status, "#555")
        status = f'<b style="color:{colour}">{html.escape(latest.status)}</b> <span style="color:#555">{html.escape(latest.message)}</span>'
        now = time.monotonic()
        word_changed = f">{html.escape(latest.status)}</b>" not in self.status.text
        shown = (status, None if self.shown is None else (self.shown.run, self.shown.seq), self.hold.active)
        if not (force or word_changed or now - self._side_at >= SIDE_EVERY_S) or shown == self._side_shown:
            return
        self._side_at, self._side_shown = now, shown
        self._set_text(self.status, status)
        snap = self.shown
        if snap is None or snap.restored is None or self.hold.active:
            return
        drawn = self._drawn
        page_fps = (len(drawn) - 1) / (drawn[-1] - drawn[0]) if len(drawn) > 2 and drawn[-1] > drawn[0] else None
        self._set_text(self.frame_line, note(f"frame {snap.seq} of run {snap.run} ({snap.shape[0]} x {snap.shape[1]} px); "
                                             f"{self.frames_drawn} drawn by this page"))  # fmt: skip
        pipeline = f"{snap.pipeline_fps:.1f}" if snap.pipeline_fps else "–"
        page = f"{page_fps:.1f}" if page_fps else "–"
        self._set_text(self.rates, note(f"pipeline {pipeline} frames/s written; page {page} frames/s drawn"))
        self._set_text(self.raw_note, error(snap.raw_note) if snap.raw_note and self.follower.raw is not None else note(snap.raw_note))
        self._set_text(self.decision, "<br>".join(html.escape(line) for line in snap.decision) or note("method not recorded yet"))
        columns = _roi_columns(snap.rois)
        if columns != self.roi_source.data:
            self.roi_source.data = columns
            self._listed = snap.rois
        self._draw_timeline(snap)

    @staticmethod
    def _set_text(model: Any, text: str) -> None:
        if model.text != text:
            model.text = text

    def _draw_timeline(self, snap: LiveSnapshot) -> None:
        """Append the timeline's new points (the whole series again after a new run or a gap), and the changes."""
        drawn = list(self.timeline_source.data["seq"])
        points = snap.timeline
        if snap.run == self._timeline_run and drawn and points and points[0][0] == drawn[0]:  # the same series, grown
            new = [(seq, d) for seq, d in points if seq > drawn[-1]]
            if new:
                self.timeline_source.stream({"seq": [s for s, _ in new], "distance": [d for _, d in new]})
        else:
            self._timeline_run = snap.run
            self.timeline_source.data = {"seq": [s for s, _ in points], "distance": [d for _, d in points]}
        changes = {"seq": [e.seq for e in snap.changes], "distance": [e.distance for e in snap.changes],
                   "confidence": [e.confidence for e in snap.changes]}  # fmt: skip
        if changes != self.change_source.data:
            self.change_source.data = changes
        listed = "; ".join(f"change at frame {e.seq} (confidence {e.confidence:.2f}, z {e.z_score:.1f})" for e in snap.changes[-5:])
        source = f" ({snap.timeline_source})" if snap.timeline_source else ""
        self._set_text(self.timeline_note, note((listed or "no change detected") + source))

    def _typed_box(self) -> tuple[int, int, int, int] | None:
        """The box typed in the four fields (rows y0:y1, columns x0:x1), or None while one is empty or not an integer."""
        try:
            return int(self.y0.value), int(self.y1.value), int(self.x0.value), int(self.x1.value)
        except ValueError:
            return None

    def _outline(self) -> None:
        """Outline the proposals (cyan, numbered) and the box being edited (orange) on both panels."""
        rois = self.shown.rois if self.shown is not None else ()
        boxes: dict[str, list] = {"left": [], "right": [], "top": [], "bottom": [], "label": [], "color": [], "width": []}
        for rank, roi in enumerate(rois, 1):
            for key, value in zip(boxes, (roi.x0, roi.x1, roi.y0, roi.y1, str(rank), "cyan", 1.5)):
                boxes[key].append(value)
        box = self._typed_box()
        if box is not None:
            for key, value in zip(boxes, (box[2], box[3], box[0], box[1], "edited", "orange", 3)):
                boxes[key].append(value)
        if boxes != self.roi_boxes.data:
            self.roi_boxes.data = boxes

    # -- ROIs --------------------------------------------------------------------------------------------
    def _roi_picked(self, indices: list[int]) -> None:
        if not indices or indices[0] >= len(self._listed):
            return
        roi = self._listed[indices[0]]
        self.y0.value, self.y1.value, self.x0.value, self.x1.value = str(roi.y0), str(roi.y1), str(roi.x0), str(roi.x1)

    def _box_drawn(self, event: SelectionGeometry) -> None:
        """A box drawn with the box-select tool becomes the ROI being edited (whole pixels, clipped to the frame)."""
        geometry: dict[str, Any] = dict(event.geometry or {})
        if not event.final or geometry.get("type") != "rect" or self._shape is None:
            return
        ny, nx = self._shape
        x0, x1 = sorted((geometry["x0"], geometry["x1"]))
        y0, y1 = sorted((geometry["y0"], geometry["y1"]))
        self.y0.value, self.y1.value = str(max(0, int(y0))), str(min(ny, int(-(-y1 // 1))))
        self.x0.value, self.x1.value = str(max(0, int(x0))), str(min(nx, int(-(-x1 // 1))))

    def _accept(self) -> None:
        """Publish the box being edited, on the frame shown, as one feedback run (stream ``roi``)."""
        snap = self.shown
        box = self._typed_box()
        if self.feedback is None:
            self.roi_message.text = error("no --publish address: ROIs cannot be sent")
            return
        if snap is None or snap.restored is None:
            self.roi_message.text = error("no frame yet: an ROI is accepted on the frame shown")
            return
        if box is None:
            self.roi_message.text = error("pick a proposal or type whole numbers for the rows and columns of the ROI")
            return
        try:
            roi = edited_roi(snap.restored, box, self.follower.roi_config)
        except AsirpError as exc:
            self.roi_message.text = error(str(exc))
            return
        self.feedback.accept(snap.run, snap.seq, roi)
        extent = ", ".join(f"{m} {a:.4g} … {b:.4g}" for m, (a, b) in roi.motors.items())
        self.roi_message.text = note(f"published: rows {roi.y0}:{roi.y1}, columns {roi.x0}:{roi.x1} of frame {snap.seq} "
                                     f"({extent}) as feedback of run {snap.run}")  # fmt: skip
