"""The page's outputs: exporting the result shown, and workspace files (saving and reopening a view).

A mixin of :class:`~asirp.view.page.ViewerPage`: it builds its widgets in
``_build_export`` and uses the page's widgets and methods to read and restore a view.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path

from bokeh.models.widgets.buttons import Button
from bokeh.models.widgets.inputs import Checkbox, TextInput
from bokeh.models.widgets.markups import Div

from ..errors import AsirpError
from .markup import error, note
from .parts import PageParts
from .profiles import Line, azimuthal
from .state import PageState, Restoration, Run, absolute_path, load_state, save_state
from .workspace import stale

log = logging.getLogger(__name__)


class SaveControls(PageParts):
    """Export and workspace files (see the module's description)."""

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

    # -- export --------------------------------------------------------------------------
    def _export(self) -> None:
        result = self.shown_result
        if result is None:
            self.export_message.text = error("restore the image first: export writes the result shown")
            return
        try:
            written = self.workspace.export(result, self.export_path.value, force=self.overwrite.active)
        except AsirpError as exc:
            self.export_message.text = error(str(exc))
            return
        self.export_message.text = note(f"wrote {written}")


    # -- workspace files -----------------------------------------------------------------
    def _page_state(self) -> PageState:
        """What this page shows, as a workspace (every restoration made, in order; the image shown's also as ``restorations``)."""
        line = None if self.line is None else (self.line.x0, self.line.y0, self.line.x1, self.line.y1)
        look = {"palette": self.palette.value, "scale": self.scale.value, "clip": list(self.clip.value),
                "right_mode": self.right_mode.active, "axes": self.axis_units.value, "rotate": self.rotate.value,
                "flips": list(self.flips.active), "reduction": self.reduction.value, "threshold": self.threshold.value}
        restorations = tuple(Restoration(r.method, r.params, r.region) for r in self.workspace.shown_results)
        absolute = absolute_path(self.workspace.path or "")
        reference = self.reference_path.value.strip() if self.workspace.reference is not None else None
        return PageState(absolute, self.workspace.index, look, self.region, line,
                         self.panels.view(),
                         None if not reference else str(Path(reference.split("::")[0]).absolute()), restorations,
                         self._tomography_state(), self._xrf_state(), tuple(self.workspace.runs), self.workspace.sha256)

    def _save_workspace(self) -> None:
        if self.workspace.source is None:
            self.workspace_message.text = error("open a file first")
            return
        try:
            written = save_state(self._page_state(), self.workspace_path.value, force=self.overwrite.active)
        except AsirpError as exc:
            self.workspace_message.text = error(str(exc))
            return
        self.workspace_message.text = note(f"wrote {written}")

    def _open_workspace(self, path: str) -> None:
        """Reopen a workspace: the file (a tomography scan's view), image, look, region and reference, the restorations in a thread.

        A tomography slice is reconstructed in a thread too, and an element map made again from its spectra cube: the rest
        follows once it is shown.
        """
        try:
            state = load_state(path)
        except AsirpError as exc:
            self.open_message.text = error(str(exc))
            return
        if state.tomography is not None:
            self._open_tomography(state.path.split("::")[0], state.tomography)
        elif state.xrf is not None:  # an element map: made again from its spectra cube, in the work thread
            self._reopen_map(state.xrf)
        else:
            self._open_path(state.path)
        self._when_idle(partial(self._reopen, path, state))

    def _reopen(self, path: str, state: PageState) -> None:
        """The rest of :meth:`_open_workspace` once its file is shown: the look, image, region, reference and restorations."""
        if self.workspace.source is None or self.workspace.path != state.path:
            return
        look = state.look
        self._opening = True  # one drawing below, not one per control
        for widget, key in ((self.palette, "palette"), (self.scale, "scale"), (self.axis_units, "axes"), (self.rotate, "rotate"),
                            (self.reduction, "reduction"), (self.threshold, "threshold")):
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
        runs, problems = self._runs_to_redo(state)
        said = f"workspace {Path(path).name}: {len(runs)} restoration{'' if len(runs) == 1 else 's'} to run again"
        self.open_message.text = note(said) + (" " + error("; ".join(problems)) if problems else "")
        self._cancel = threading.Event()
        self.cancel_button.update(visible=True, disabled=False)
        redone: list[Run] = []
        self._in_thread("redoing the workspace's restorations", partial(self._rerun, runs, redone, self._cancel),
                        partial(self._rerun_done, state, runs, redone), cancel=self._cancel)  # fmt: skip

    def _runs_to_redo(self, state: PageState) -> tuple[list[Run], list[str]]:
        """The workspace's restorations that can be made again on the file as now read, and why each other cannot, one line each.

        A workspace written before runs were recorded redoes its ``restorations`` on the image shown. A file whose sha256
        is not the one recorded has changed since: none is redone.
        """
        if state.runs is None:
            index = self.workspace.index
            runs = [Run(r.method, r.parameters, index, r.region) for r in state.restorations]
        else:
            runs = list(state.runs)
        problems = list(state.skipped)
        now = self.workspace.sha256
        if runs and state.tomography is None and state.xrf is None and state.sha256 and now and now != state.sha256:
            name = Path(state.path.split("::")[0]).name
            problems.append(f"{name} has changed since the workspace was saved (its sha256 differs): "
                            f"its {len(runs)} restoration{'' if len(runs) == 1 else 's'} not run again")
            return [], problems
        kept = []
        for number, run in enumerate(runs, 1):
            why = stale(run, self.workspace.count, set(self.described))
            if why:
                problems.append(f"restoration {number} ({run.describe()}): {why}; skipped")
            else:
                kept.append(run)
        return kept, problems

    def _rerun(self, runs: list[Run], redone: list[Run], cancel: threading.Event) -> list[str]:
        """Make the workspace's restorations again, in order (in the work thread); what went wrong with each, one line each.

        The status says which is running (``2 of 5: gaussian (sigma=1.5) on image 3``), and a whole-stack run its image;
        Cancel stops the one running and the rest, keeping those already made.
        """
        problems = []
        for number, run in enumerate(runs, 1):
            self._stage = f"{number} of {len(runs)}: {run.describe()}"
            self._progress = None
            try:
                if run.images is not None:
                    results = self.workspace.restore_stack(run.method, run.parameters, images=run.images, decide_on=run.index,
                                                           cancel=cancel, progress=self._set_progress)  # fmt: skip
                else:
                    results = [self.workspace.restore(run.method, run.parameters, run.region, index=run.index, cancel=cancel)]
                for result in results:
                    self._azimuthal[id(result.frame)] = azimuthal(result.frame)
                redone.append(run)
                chosen = results[0].frame.history[-1].method
                if run.decision is not None and run.decision.get("method") not in (None, chosen):
                    problems.append(f"restoration {number} ({run.describe()}): auto chose {chosen} this time "
                                    f"(the workspace recorded {run.decision['method']})")
            except AsirpError as exc:
                problems.append(f"restoration {number} ({run.describe()}): {exc}")
            except Exception as exc:
                log.exception("restoration with %s failed", run.method)
                problems.append(f"restoration {number} ({run.describe()}) failed: {type(exc).__name__}: {exc}")
        self._stage, self._progress = "", None
        return problems

    def _rerun_done(self, state: PageState, runs: list[Run], redone: list[Run], problems: list[str] | None, problem: str,
                    seconds: float) -> None:
        self.cancel_button.visible = False
        if problems is None and not problem:  # cancelled: the restorations made before stay
            self.status.text = (f"cancelled: the workspace's restorations after {seconds:.1f} s; "
                                f"{len(redone)} of {len(runs)} made again, the rest not run")
            problems = []
        else:
            self.status.text = f"workspace: {len(redone)} of {len(runs)} restorations done in {seconds:.1f} s"
        problems = [*(problems or []), *([problem] if problem else [])]
        self.restore_message.text = error("; ".join(problems))
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

