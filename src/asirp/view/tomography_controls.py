"""The page's tomography controls: the view selector (projection, sinogram, slice), the row slider, a position typed, the slice options.

A mixin of :class:`~asirp.view.page.ViewerPage` (it uses the page's ``frame_slider``,
its way of showing a new frame and of showing an image of a stack, and its work
thread). A tomography file opened in the page (:func:`~asirp.view.tomography.is_scan`)
shows its projections first, stepped through by angle with the page's stack slider;
the sinogram and slice views show one detector row, chosen with the row slider. A TIFF
stack opens as a scan when "open as a tomography scan" is ticked, with the angles, flats
and darks ``asirp tomo`` takes (:class:`~asirp.view.tomography.ScanInputs`). A scan is
read and normalised in the page's work thread (the status says "opening tooth.h5…"). A
slice is reconstructed with the options of ``asirp tomo recon`` (algorithm, filter or
iterations, rotation axis typed or found, zingers, rings, a restoration and where,
Noise2Inverse), in the page's work thread as a restoration is (the status says
"reconstructing row r…" and the loop it is in; the page stays responsive; Cancel stops
it, and the opening of a scan, at the next iteration). The options' zinger and ring
removal and a restoration of the projections apply to the projection and sinogram views
too (corrected in the work thread, once per options). Each view is
shown and restored as any image (a new view or row starts without results).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import partial
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bokeh.layouts import column
from bokeh.models.widgets.groups import CheckboxGroup, RadioButtonGroup
from bokeh.models.widgets.inputs import Checkbox, Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import Slider

from ..errors import AsirpError, ParameterError
from ..frame import Frame
from ..tomo.options import ALGORITHMS, FILTERS, TARGETS, parse_rows
from .markup import error, heading, note, options
from .parts import PageParts
from .tomography import DENOISERS, VIEWS, ScanInputs, SliceOptions, Tomography, View, shown_note, slider_title

if TYPE_CHECKING:
    from ..tomo.readers import AngleUnit

#: The stack slider's title when no tomography scan is open.
STACK_TITLE = "image of the stack"


class TomographyControls(PageParts):
    """View selector, row slider, typed position, slice options and notes of an open tomography scan (see the module's description)."""

    tomography: Tomography | None

    def _build_tomography(self) -> None:
        self.tomography = None
        self._corrections_shown: tuple[Any, ...] | None = None  # what the projection or sinogram view shown was corrected with
        self.tomo_view = RadioButtonGroup(labels=list(VIEWS), active=0, css_classes=["asirp-tomo-view"])
        self.tomo_view.on_change("active", lambda attr, old, new: self._show_view())
        self.tomo_row = Slider(title="detector row", start=0, end=1, value=0, step=1, visible=False, css_classes=["asirp-tomo-row"])
        self.tomo_row.on_change("value_throttled", lambda attr, old, new: self._show_view())
        self.tomo_go = TextInput(title="go to projection (angle index)", width=320, css_classes=["asirp-tomo-go"])
        self.tomo_go.on_change("value", lambda attr, old, new: self._go_to(new))
        self.tomo_go_message = Div(text="", css_classes=["asirp-tomo-go-message"])
        self.tomo_message = Div(text="", width=320, css_classes=["asirp-tomo-message"])
        self.tomo_algorithm = Select(title="slice: algorithm", value="fbp", options=options(ALGORITHMS), css_classes=["asirp-tomo-algorithm"])
        self.tomo_filter = Select(title="FBP filter", value="ramp", options=options(FILTERS), css_classes=["asirp-tomo-filter"])
        self.tomo_iterations = TextInput(title="SIRT iterations", value="100", visible=False, width=320, css_classes=["asirp-tomo-iterations"])
        self.tomo_centre = TextInput(title="rotation axis, detector column in px (empty: found)", placeholder="auto", width=320,
                                     css_classes=["asirp-tomo-centre"])  # fmt: skip
        self.tomo_corrections = CheckboxGroup(labels=["remove zingers (--zingers)", "remove rings (--rings)"], active=[],
                                              css_classes=["asirp-tomo-corrections"])  # fmt: skip
        self.tomo_corrections.on_change("active", lambda attr, old, new: self._slice_options_changed())
        from ..api import methods

        self.tomo_restore = Select(title="restore (--restore): a method of the repertoire", value="",
                                   options=[("", "none"), ("auto", "auto"), *options(method["name"] for method in methods())],
                                   css_classes=["asirp-tomo-restore"])  # fmt: skip
        self.tomo_restore_params = TextInput(title="its parameters (-p), KEY=VALUE separated by spaces", placeholder="sigma=1.5",
                                             visible=False, width=320, css_classes=["asirp-tomo-restore-params"])  # fmt: skip
        self.tomo_restore_target = Select(title="restore the (--restore-target)", value="auto", options=options(TARGETS), visible=False,
                                          css_classes=["asirp-tomo-restore-target"])  # fmt: skip
        self.tomo_denoise = Select(title="denoise (--denoise, FBP)", value="", options=[("", "none"), *options(DENOISERS)],
                                   css_classes=["asirp-tomo-denoise"])  # fmt: skip
        self.tomo_denoise_params = TextInput(title="its parameters (--denoise-param), KEY=VALUE separated by spaces",
                                             placeholder="steps=300", visible=False, width=320,
                                             css_classes=["asirp-tomo-denoise-params"])  # fmt: skip
        for widget in (self.tomo_algorithm, self.tomo_filter, self.tomo_iterations, self.tomo_centre, self.tomo_restore,
                       self.tomo_restore_params, self.tomo_restore_target, self.tomo_denoise, self.tomo_denoise_params):  # fmt: skip
            widget.on_change("value", lambda attr, old, new: self._slice_options_changed())
        self.tomo_slice_message = Div(text="", width=320, css_classes=["asirp-tomo-slice-message"])
        self.tomo_slice = column(self.tomo_algorithm, self.tomo_filter, self.tomo_iterations, self.tomo_centre, self.tomo_corrections,
                                 self.tomo_restore, self.tomo_restore_params, self.tomo_restore_target, self.tomo_denoise,
                                 self.tomo_denoise_params, self.tomo_slice_message, visible=False)  # fmt: skip
        self.tomo_box = column(heading("Tomography"), self.tomo_view, self.tomo_row, self.tomo_slice, visible=False)
        self.tomo_notes = column(self.tomo_go, self.tomo_go_message, self.tomo_message, visible=False)
        self.frame_slider.on_change("value", lambda attr, old, new: self._projection_title())
        self._build_scan_inputs()

    def _build_scan_inputs(self) -> None:
        """The box "open as a tomography scan" and the files ``asirp tomo`` takes beside the path (shown when ticked)."""
        self.tomo_as_scan = Checkbox(label="open as a tomography scan (a TIFF stack: multi-page file or folder, with its angles)",
                                     active=False, css_classes=["asirp-tomo-as-scan"])  # fmt: skip
        self.tomo_angles = TextInput(title="angles file (text or .npy, one per projection; required for TIFF)", width=320,
                                     css_classes=["asirp-tomo-angles"])  # fmt: skip
        self.tomo_angles_unit = Select(title="unit of the angles", value="deg", options=options(["deg", "rad"]),
                                       css_classes=["asirp-tomo-angles-unit"])  # fmt: skip
        self.tomo_flats = TextInput(title="flat-field TIFF or folder (optional)", width=320, css_classes=["asirp-tomo-flats"])
        self.tomo_darks = TextInput(title="dark-field TIFF or folder (optional)", width=320, css_classes=["asirp-tomo-darks"])
        self.tomo_inputs = column(self.tomo_angles, self.tomo_angles_unit, self.tomo_flats, self.tomo_darks, visible=False)
        self.tomo_as_scan.on_change("active", lambda attr, old, new: setattr(self.tomo_inputs, "visible", bool(new)))
        self.tomo_rows = TextInput(title="tomography rows START:STOP (--rows; empty: all)",
                                   placeholder="all", width=320, css_classes=["asirp-tomo-rows"])  # fmt: skip

    def scan_input_controls(self) -> list[Any]:
        """The rows of a scan, the box and files of a scan opened as ``asirp tomo`` reads it, for the page's Open section."""
        return [self.tomo_rows, self.tomo_as_scan, self.tomo_inputs]

    def tomography_controls(self) -> list[Any]:
        """The controls, in the order the page's left column shows them, the page's stack slider (the projections' angle) among them."""
        return [self.tomo_box, self.frame_slider, self.tomo_notes]

    @property
    def opens_as_scan(self) -> bool:
        """Whether Open reads any path as ``asirp tomo`` does (with the files given beside it), not only HDF5 scans."""
        return bool(self.tomo_as_scan.active)

    def _scan_inputs(self) -> ScanInputs:
        """The rows typed (``--rows``'s message when not START:STOP), and the angles, flats and darks typed (none when the box
        is not ticked: an HDF5 scan carries its own)."""
        rows = parse_rows(self.tomo_rows.value) if self.tomo_rows.value.strip() else None
        if not self.opens_as_scan:
            return ScanInputs(rows=rows)
        unit: AngleUnit = "rad" if self.tomo_angles_unit.value == "rad" else "deg"
        return ScanInputs(self.tomo_angles.value.strip(), unit, self.tomo_flats.value.strip(), self.tomo_darks.value.strip(), rows)

    @property
    def view(self) -> View:
        """The view selected."""
        return VIEWS[self.tomo_view.active or 0]

    def _open_tomography(self, path: str, saved: Mapping[str, Any] | None = None) -> None:
        """Open the scan at ``path`` in the page's work thread, then show its projections, or the view ``saved`` in a workspace.

        The status says "opening <file>…" and the time since, the page answering
        meanwhile; a scan that cannot be read or normalised gets ``asirp tomo``'s message
        beside Open. After the work running, if any (one thread at a time).
        """
        if self.busy is not None:
            self._when_idle(partial(self._open_tomography, path, saved))
            return
        try:
            inputs = self._scan_inputs() if saved is None else ScanInputs.from_dict(saved.get("scan") or {})
        except AsirpError as exc:
            self.open_message.text = error(str(exc))
            return
        name = Path(path.strip()).name or path.strip()
        self.open_message.text = note(f"opening {name}: reading and normalising the scan (the status below says for how long)")
        self._in_thread(f"opening {name}", partial(Tomography.open, path, inputs),
                        partial(self._tomography_opened, name, saved or {}, self.workspace.source), cancel=self._cancellable())  # fmt: skip

    def _cancellable(self) -> threading.Event:
        """A new cancel event for tomography work about to start in the thread, and the Cancel button shown for it."""
        self._cancel = threading.Event()  # one per piece of work: a late click cannot cancel the next one
        self.cancel_button.update(visible=True, disabled=False)
        return self._cancel

    def _cancelled_note(self, what: str, seconds: float, kept: str) -> str:
        """The status after a Cancel: what stopped, after how long, in which loop, and what stays shown."""
        stopped = None if self._observation is None else self._observation.stopped
        at = f", in {' · '.join(str(step) for step in stopped)}" if stopped else ""
        return f"cancelled: {escape(what)} after {seconds:.1f} s{escape(at)}; {kept}"

    def _tomography_opened(self, name: str, saved: Mapping[str, Any], shown: Frame | None, opened: Tomography | None, problem: str,
                           seconds: float) -> None:  # fmt: skip
        """A scan read and normalised (or why not): shown, unless another file was opened meanwhile (``shown``: the frame shown before)."""
        self.cancel_button.visible = False
        if opened is None:
            kept = "the file shown before stays" if self.workspace.source is not None else "nothing opened"
            self.status.text = "" if problem else self._cancelled_note(f"opening {name}", seconds, kept)
            self.open_message.text = error(problem) if problem else ""
            return
        if self.workspace.source is not shown:
            self.status.text = f"opened {name} in {seconds:.2f} s; not shown: another file was opened meanwhile"
            return
        self.status.text = f"done: opened {name} in {seconds:.2f} s"
        self.tomography = None  # the controls set below show nothing until the scan is in
        rows = opened.inputs.rows
        self.tomo_rows.value = f"{rows[0]}:{rows[1]}" if rows else ""  # the rows read (a workspace's, when reopened)
        self.tomo_row.update(end=max(1, opened.rows - 1), value=min(int(saved.get("row", 0)), opened.rows - 1))
        slice_options = SliceOptions.from_dict(saved.get("slice") or {}) if "slice" in saved else SliceOptions()
        self.tomo_algorithm.value, self.tomo_filter.value = slice_options.algorithm, slice_options.filter_name
        self.tomo_iterations.value = str(slice_options.iterations)
        self.tomo_centre.value = "" if slice_options.centre == "auto" else str(slice_options.centre)
        self.tomo_corrections.active = [index for index, on in enumerate((slice_options.zingers, slice_options.rings)) if on]
        self.tomo_restore.value, self.tomo_restore_target.value = slice_options.restore, slice_options.restore_target
        self.tomo_restore_params.value = " ".join(slice_options.restore_params)
        self.tomo_denoise.value, self.tomo_denoise_params.value = slice_options.denoise, " ".join(slice_options.denoise_params)
        self.tomo_view.active = VIEWS.index(saved["view"]) if saved.get("view") in VIEWS else 0
        self.tomography = opened
        self.tomo_box.visible = self.tomo_notes.visible = True
        self.tomo_go_message.text = ""
        self._show_view()

    def _tomography_follows(self, path: str) -> None:
        """A frame from ``path`` is about to be shown: the controls go when it is not a view of the open scan."""
        if self.tomography is not None and not path.startswith(f"{self.tomography.path}::"):
            self.tomography = None
            self.tomo_box.visible = self.tomo_notes.visible = False
            self.frame_slider.title = STACK_TITLE

    def _tomography_state(self) -> dict[str, Any] | None:
        """The view, row and slice options of the scan open, for a workspace file (None: no scan open)."""
        if self.tomography is None:
            return None
        saved = {"view": self.view, "row": int(self.tomo_row.value)} | ({"scan": inputs} if (inputs := self.tomography.inputs.to_dict()) else {})
        try:
            return saved | {"slice": self._slice_options().to_dict()}
        except AsirpError:  # options typed wrong: the defaults are saved
            return saved

    def _slice_options(self) -> SliceOptions:
        """The slice options typed, checked as ``asirp tomo recon`` checks them (its messages)."""
        active = set(self.tomo_corrections.active or [])
        options = SliceOptions.parse(self.tomo_algorithm.value, self.tomo_filter.value, self.tomo_centre.value, self.tomo_iterations.value,
                                     zingers=0 in active, rings=1 in active, restore=self.tomo_restore.value,
                                     restore_params=self.tomo_restore_params.value, restore_target=self.tomo_restore_target.value,
                                     denoise=self.tomo_denoise.value if self.tomo_denoise.visible else "",
                                     denoise_params=self.tomo_denoise_params.value)  # fmt: skip
        if self.tomography is not None:
            self.tomography.check_options(options)
        return options

    def _slice_options_changed(self) -> None:
        fbp = self.tomo_algorithm.value == "fbp"
        self.tomo_filter.visible, self.tomo_iterations.visible, self.tomo_denoise.visible = fbp, not fbp, fbp
        self.tomo_restore_params.visible = self.tomo_restore_target.visible = bool(self.tomo_restore.value)
        self.tomo_denoise_params.visible = fbp and bool(self.tomo_denoise.value)
        if self.view == "slice":
            self._show_view()
        elif self.tomography is not None:  # the projections and sinogram change only with their corrections
            try:
                changed = self.tomography.corrections_key(self._slice_options()) != self._corrections_shown
            except AsirpError:
                changed = True  # _show_view says why beside the options
            if changed:
                self._show_view()

    def _show_view(self) -> None:
        """Show the view selected: the projections (every angle), or the sinogram or slice of the row on the slider.

        A slice not made yet is reconstructed in the page's work thread (after the work
        running, if any) and shown when done.
        """
        if self.tomography is None:
            return
        view, row = self.view, int(self.tomo_row.value)
        self.tomo_slice.visible = True  # the corrections and restoration of the projections apply to every view
        try:
            self.tomography.check(view, row)
        except AsirpError as exc:
            self.tomo_message.text = error(str(exc))
            return
        self.tomo_slice_message.text = ""
        try:
            slice_options = self._slice_options()
        except AsirpError as exc:  # asirp tomo recon's message, beside the options
            self.tomo_slice_message.text = error(str(exc))
            return
        if view != "slice" and not self.tomography.has_projections(slice_options):
            if self.busy is not None:
                self._when_idle(self._show_view)
                return
            self.tomo_message.text = note("correcting the projections with the slice options…")
            self._in_thread("correcting the projections", partial(self.tomography.projections, slice_options),
                            partial(self._projections_done, self.tomography), cancel=self._cancellable())  # fmt: skip
            return
        if view == "slice" and not self.tomography.has_slice(row, slice_options):
            if self.busy is not None:  # one thread at a time: this view once the work running ends
                self._when_idle(self._show_view)
                return
            how = slice_options.denoise or slice_options.algorithm
            self.tomo_message.text = note(f"reconstructing row {row} with {how}…")
            self._in_thread(f"reconstructing row {row}", partial(self.tomography.slice, row, slice_options),
                            partial(self._slice_done, self.tomography, row), cancel=self._cancellable())  # fmt: skip
            return
        self._corrections_shown = self.tomography.corrections_key(slice_options) if view != "slice" else None
        self._show_tomography(self.tomography.frame(view, row, slice_options))

    def _work_ended_for_this_scan(self, tomography: Tomography, problem: str) -> bool:
        """Work of the page's thread on ``tomography`` ended: Cancel hidden; True when its result is to be shown
        (the scan is still open and nothing went wrong; a problem is said beside the slice options)."""
        self.cancel_button.visible = False
        if tomography is not self.tomography:
            return False
        if problem:
            self.tomo_slice_message.text = error(problem)
            return False
        return True

    def _projections_done(self, tomography: Tomography, frame: Frame | None, problem: str, seconds: float) -> None:
        """Projections corrected with the slice options (or why not, or cancelled: what was shown stays): the view selected now is shown."""
        if not self._work_ended_for_this_scan(tomography, problem):
            return
        if frame is None:
            self.status.text = self._cancelled_note("correcting the projections", seconds, "the image shown before stays")
            self.tomo_message.text = note("projections not corrected: cancelled")
            return
        self.status.text = f"done: projections corrected in {seconds:.2f} s"
        self._show_view()

    def _slice_done(self, tomography: Tomography, row: int, frame: Frame | None, problem: str, seconds: float) -> None:
        """A slice reconstructed (or why not, or cancelled: what was shown stays): the view selected now is shown, if the scan is still open."""
        if not self._work_ended_for_this_scan(tomography, problem):
            return
        if frame is None:
            self.status.text = self._cancelled_note(f"reconstructing row {row}", seconds, "the image shown before stays")
            self.tomo_message.text = note(f"row {row} not reconstructed: cancelled")
            return
        self.status.text = f"done: row {frame.meta['row'] if frame else ''} reconstructed in {seconds:.2f} s"
        self._show_view()

    def _show_tomography(self, frame: Frame) -> None:
        """Show ``frame``, a view of the open scan, with its slider, notes and the rotation axis found."""
        assert self.tomography is not None
        view, row = self.view, int(self.tomo_row.value)
        projection = view == "projection"
        self._show_frame(frame, f"{self.tomography.path}::{view}" + ("" if projection else f" row {row}"))
        self.tomo_row.update(visible=not projection, title=slider_title(self.tomography, "slice", row))
        self.tomo_go.title = "go to projection (angle index)" if projection else "go to detector row"
        self._projection_title()
        self.tomo_message.text = note(f"{self.tomography.describe()}. {shown_note(self.tomography, view, frame)}")
        if view == "slice":
            found = next(step.notes for step in frame.history if step.method == "find_centre")
            self.tomo_centre.placeholder = f"{found['method']}: {found['centre_px']:.2f} px"

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
            self._show_image(index)
        else:
            self.tomo_row.value = index
            self._show_view()
