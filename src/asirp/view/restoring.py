"""The page's restore controls: the method and its form, the restoration thread, the results kept, the region.

A mixin of :class:`~asirp.view.page.ViewerPage`: it builds its widgets in
``_build_restore`` and uses the page's ``doc``, ``workspace``, ``panels``,
``orientation``, ``axes`` and refresh methods. Restorations run in a thread; the page
stays responsive and shows the method, the loops it is in (its progress bars:
:class:`asirp.progress.Observation`) and the elapsed time until the result arrives
(Bokeh's documented way to update a document from a thread:
:meth:`Document.add_next_tick_callback`). Cancel stops a restoration at the next
iteration of any of those loops (or between its stages), keeping nothing of it. Other
slow work of the page (a workspace's restorations, opening a tomography scan, a
tomography slice) runs the same way, one at a time, its loops shown alike
(:meth:`RestoreControls._in_thread`).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import numpy as np
from bokeh.events import SelectionGeometry
from bokeh.layouts import column
from bokeh.models.widgets.buttons import Button
from bokeh.models.widgets.inputs import Checkbox, Select, TextInput
from bokeh.models.widgets.markups import Div

from ..errors import AsirpError
from ..progress import Observation
from . import images
from .forms import FieldSpec, method_form, parse_form
from .markup import error, note, options
from .parts import PageParts
from .profiles import azimuthal
from .workspace import Cancelled, Region, Result

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Milliseconds between updates of the elapsed time shown while a restoration runs.
BUSY_TICK_MS = 250


class RestoreControls(PageParts):
    """Method, parameters, region, the Restore button and the results kept (see the module's description)."""

    def _build_restore(self) -> None:
        from ..api import methods

        self.described = {method["name"]: method for method in methods()}
        self.method = Select(title="method", value="auto", options=options(["auto", *self.described]), css_classes=["asirp-method"])
        self.method.on_change("value", lambda attr, old, new: self._method_changed())
        self.method_note = Div(text="", width=320)
        self.form = column(children=[], styles={"max-height": "360px", "overflow-y": "auto"}, width=330)
        self.fields: dict[str, TextInput | Select] = {}
        self.region_note = Div(text=note("to restore a region only, draw it with the box-select tool"), width=320,
                               css_classes=["asirp-region-note"])
        self.use_region = Checkbox(label="restore only the region drawn", active=False, visible=False, css_classes=["asirp-use-region"])
        self.clear_region_button = Button(label="Clear the region", visible=False)
        self.clear_region_button.on_click(lambda: self._set_region(None))
        self.whole_stack = Checkbox(label="restore every image of the stack", active=False, visible=False, css_classes=["asirp-whole-stack"])
        self.restore_button = Button(label="Restore", button_type="primary", css_classes=["asirp-restore"])
        self.restore_button.on_click(self._start_restore)
        self.cancel_button = Button(label="Cancel", button_type="warning", visible=False, css_classes=["asirp-cancel"])
        self.cancel_button.on_click(self._cancel_restore)
        self._cancel = threading.Event()
        self._progress: tuple[int, int] | None = None  # images done and in all, of a whole-stack restoration
        self._stage = ""  # what the work is at, when it has several parts (a workspace's restorations), set from its thread
        self._observation: Observation | None = None  # the loops of the work running in the thread (read by _tick)
        self._waiting: list[Callable[[], None]] = []  # called once the work running in a thread ends (_when_idle)
        self.status = Div(text="", css_classes=["asirp-status"])
        self.restore_message = Div(text="", width=320, css_classes=["asirp-restore-message"])
        self.results = Select(title="result shown", options=[], css_classes=["asirp-results"])
        self.results.on_change("value", lambda attr, old, new: self._result_changed())
        self.explanation = Div(text="", width=900, visible=False, styles={"max-height": "320px", "overflow": "auto"})
        self._method_changed()

    # -- restore -------------------------------------------------------------------------
    def _method_changed(self) -> None:
        name = self.method.value
        if name == "auto":
            self.method_note.text = note("the selector chooses the method and its parameters without ground truth, and says why")
        else:
            described = self.described[name]
            needs = f"; needs: {', '.join(described['needs'])}" if described["needs"] else ""
            self.method_note.text = note(f"{described['task']} (kinds: {', '.join(described['kinds'])}{needs})")
        specs = method_form(name)
        self.fields = {spec.name: self._field_widget(spec) for spec in specs}
        self.form.children = list(self.fields.values()) or [Div(text=note("no parameters to set"))]

    @staticmethod
    def _field_widget(spec: FieldSpec) -> TextInput | Select:
        tip = f"{spec.description} ({spec.hint})"
        if spec.widget == "choice":
            choices = options((choice, choice or "(default)") for choice in spec.choices)
            return Select(title=spec.title, value=spec.text, options=choices, description=tip, width=300,
                          css_classes=[f"asirp-param-{spec.name}"])
        return TextInput(title=spec.title, value=spec.text, placeholder=spec.hint, description=tip, width=300,
                         css_classes=[f"asirp-param-{spec.name}"])

    def _start_restore(self) -> None:
        if self.busy is not None:
            return
        if self.workspace.source is None:
            self.restore_message.text = error("open a file first")
            return
        method = self.method.value
        try:
            params = parse_form(method, {name: widget.value for name, widget in self.fields.items()})
        except AsirpError as exc:
            self.restore_message.text = error(str(exc))
            return
        self.restore_message.text = ""
        self._cancel = threading.Event()  # one per restoration: a late click cannot cancel the next one
        self.cancel_button.update(visible=True, disabled=False)
        region = self.region if self.use_region.active else None
        stack = self.whole_stack.active and self.whole_stack.visible and region is None
        self._in_thread(f"running {method}", partial(self._restore_work, method, params, region, stack, self._cancel),
                        partial(self._restore_done, method), cancel=self._cancel)  # fmt: skip

    def _cancel_restore(self) -> None:
        """Ask the running restoration to stop at its next step: the next iteration of a loop of its method (iterations,
        training steps, images), or between its decision and restoration."""
        self._cancel.set()
        self.cancel_button.disabled = True
        self._tick()

    def _restore_work(self, method: str, params: dict[str, Any], region: Region | None, stack: bool, cancel: threading.Event) -> Result:
        """The restoration (of the image shown, its region, or every image of the stack), in the work thread."""
        if stack:
            result = self.workspace.restore_stack(method, params, cancel=cancel, progress=self._set_progress)[self.workspace.index]
        else:
            result = self.workspace.restore(method, params, region, cancel=cancel)
        self._azimuthal[id(result.frame)] = azimuthal(result.frame)
        return result

    # -- work off the page's thread ----------------------------------------------------------
    def _in_thread(self, label: str, work: Callable[[], T], done: Callable[[T | None, str, float], None], *,
                   cancel: threading.Event | None = None) -> None:
        """Run ``work`` in a thread while the status says ``label``, the loops it is in and the time since; Restore waits meanwhile.

        The work runs under an :class:`~asirp.progress.Observation` (its loops' tqdm bars
        kept off the server's terminal): the status shows where its progress loops are
        (``Richardson-Lucy (at most 200): 37/200 iterations``), and ``cancel`` set makes
        the next iteration of any of them raise :class:`Cancelled`.

        Then, on the page's loop (Bokeh's :meth:`Document.add_next_tick_callback`),
        ``done(value, problem, seconds)``: ``problem`` is ``""`` with the value, or with
        None when cancelled (:class:`Cancelled`), else the error's one line (an unexpected
        one logged with its traceback); then whatever waited for the page to be idle
        (:meth:`_when_idle`).
        """
        self.busy = (label, time.perf_counter())
        self.restore_button.disabled = True
        self._progress = None  # set by a whole-stack restoration as it goes
        self._stage = ""
        observation = self._observation = Observation(cancel=cancel, bars=False)
        self._tick()
        self._busy_callback = self.doc.add_periodic_callback(self._tick, BUSY_TICK_MS)

        def run() -> None:
            value, problem = None, ""
            try:
                with observation:
                    value = work()
            except Cancelled:
                pass
            except AsirpError as exc:
                problem = str(exc)
            except Exception as exc:
                log.exception("%s failed", label)
                problem = f"{label} failed: {type(exc).__name__}: {exc}"
            self.doc.add_next_tick_callback(partial(self._work_done, done, value, problem))

        threading.Thread(target=run, daemon=True, name="asirp-view-work").start()

    def _work_done(self, done: Callable[[T | None, str, float], None], value: T | None, problem: str) -> None:
        _, started = self.busy or ("", time.perf_counter())
        self.busy = None
        if self._busy_callback is not None:
            self.doc.remove_periodic_callback(self._busy_callback)
            self._busy_callback = None
        self.restore_button.disabled = False
        done(value, problem, time.perf_counter() - started)
        while self._waiting and self.busy is None:  # a callback may start work again: the others wait for it
            self._waiting.pop(0)()

    def _when_idle(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` now, or when the work running in a thread has ended (one thread at a time)."""
        if self.busy is None:
            callback()
        else:
            self._waiting.append(callback)

    def _tick(self) -> None:
        if self.busy is not None:
            label, started = self.busy
            stage = f" {html.escape(self._stage)}," if self._stage else ""
            images_done = "" if self._progress is None else f" image {min(self._progress[0] + 1, self._progress[1])} of {self._progress[1]},"
            loops = "" if self._observation is None else self._observation.describe()
            where = f" {html.escape(loops)}," if loops else ""
            cancelling = " cancelling at the next iteration…" if self._cancel.is_set() and self.cancel_button.visible else ""
            self.status.text = f"<b>{html.escape(label)}…</b>{stage}{images_done}{where} {time.perf_counter() - started:.1f} s{cancelling}"

    def _set_progress(self, done: int, total: int) -> None:
        self._progress = (done, total)  # read by _tick on the server's loop

    def _restore_done(self, method: str, result: Result | None, problem: str, seconds: float) -> None:
        """The restoration's end: a result, a problem, or neither (cancelled: the results shown before stay)."""
        self.cancel_button.visible = False
        if result is None:
            stopped = None if self._observation is None else self._observation.stopped
            at = f", in {html.escape(' · '.join(str(step) for step in stopped))}" if stopped else ""
            self.status.text = "" if problem else f"cancelled: {html.escape(method)} after {seconds:.1f} s{at}; nothing kept"
            self.restore_message.text = error(problem) if problem else ""
            return
        if self._progress is not None:  # a whole stack: the time of all its images
            self.status.text = f"done: {html.escape(result.label)}, {self._progress[1]} images in {seconds:.2f} s"
        else:
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
        self.results.options = options((str(i), result.label) for i, result in enumerate(kept))
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

    def _region_drawn(self, event: SelectionGeometry) -> None:
        """The box-select tool's rectangle, as the region to restore (in whole pixels of the image as read)."""
        geometry = event.geometry
        if not event.final or geometry is None or geometry["type"] != "rect" or self.workspace.source is None:
            return
        axes = self.axes
        ny, nx = self.orientation.apply(self.workspace.raw.data).shape
        x0, x1 = sorted((geometry["x0"] / axes.x, geometry["x1"] / axes.x))
        y0, y1 = sorted((geometry["y0"] / axes.y, geometry["y1"] / axes.y))
        box = (max(0, int(np.floor(y0))), min(ny, int(np.ceil(y1))), max(0, int(np.floor(x0))), min(nx, int(np.ceil(x1))))
        if box[1] - box[0] < 2 or box[3] - box[2] < 2:
            self.region_note.text = error("a region needs at least 2 x 2 pixels of the image")
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
            self.region_note.text = note("to restore a region only, draw it with the box-select tool")
            return
        i0, i1, j0, j1 = images.to_display(self.orientation, region, self.workspace.raw.image_shape)
        axes = self.axes
        self.panels.show_region((j0 * axes.x, i0 * axes.y, (j1 - j0) * axes.x, (i1 - i0) * axes.y))
        self.region_note.text = note(f"region: rows {region[0]}:{region[1]}, columns {region[2]}:{region[3]} "
                                      f"({region[1] - region[0]} x {region[3] - region[2]} px of the image as read)")

