"""The state behind one page: the open frame, the image shown, the results kept; restoring and exporting.

Nothing here knows about Bokeh, so it is tested directly. Restorations and exports go
through the same functions as ``asirp restore`` (:func:`asirp.select.make_plan` +
:meth:`asirp.select.Plan.run`, :func:`asirp.io.save`,
:func:`asirp.report.compare_figure` for ``--figure``), so a result exported from the
page is the file the CLI would have written, provenance included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from threading import Event
from typing import Any

from ..errors import InputError, OutputError
from ..frame import Frame
from ..history import HistoryStep
from ..progress import Cancelled
from .files import FrameCache, Opened
from .state import Run

log = logging.getLogger("asirp.view")

#: Output suffixes the export offers: NeXus, TIFF, a PNG before/after figure (as ``--figure``) and
#: the tab- or comma-separated table for Origin (as ``asirp xrf`` writes it).
EXPORT_SUFFIXES = (".nxs", ".h5", ".tif", ".tiff", ".png", ".txt", ".dat", ".tsv", ".csv")
TABLE_SUFFIXES = (".txt", ".dat", ".tsv", ".csv")


#: A region of an image as read: rows i0:i1, columns j0:j1.
Region = tuple[int, int, int, int]


def crop(frame: Frame, region: Region) -> Frame:
    """The ``region`` of a 2-D frame as a frame of its own: its history records the crop, its geometry moves with it."""
    i0, i1, j0, j1 = region
    geometry = None if frame.geometry is None else frame.geometry.cropped((i0, j0), (i1 - i0, j1 - j0))
    step = HistoryStep(method="crop", parameters={"rows": [i0, i1], "columns": [j0, j1]})
    return frame.derive(frame.data[i0:i1, j0:j1], step, valid=frame.valid[i0:i1, j0:j1], geometry=geometry)


@dataclass(frozen=True)
class Result:
    """One restoration of the image shown: its label, frame, the auto selector's account (if auto), run time,
    and the region of the image it restored (None: the whole image)."""

    label: str
    method: str
    frame: Frame
    explanation: str | None
    seconds: float
    region: Region | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def base(self, raw: Frame) -> Frame:
        """What this result restored: ``raw``, or its region."""
        return raw if self.region is None else crop(raw, self.region)


def _check(cancel: Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled


def _short(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def _decision(plan: Any) -> dict[str, Any] | None:
    """What ``auto`` chose (method and parameters, as JSON values), or None for a method named."""
    if plan.decision is None:
        return None
    parameters = json.loads(json.dumps(plan.params, default=str))
    return {"method": plan.method, "parameters": parameters}


def stale(run: Run, count: int, methods: set[str]) -> str:
    """Why ``run`` cannot be made again on a frame of ``count`` images with these ``methods`` (``""``: it can)."""
    if run.method != "auto" and run.method not in methods:
        return f"unknown method {run.method!r}"
    last = run.index if run.images is None else max(run.index, run.images[1] - 1)
    if last >= count:
        return f"image {last} is beyond the {count} image{'s' if count != 1 else ''} of {'the stack' if count > 1 else 'the file'}"
    return ""


@dataclass
class Workspace:
    """What one page has open. ``source`` is the frame as read (an image or a stack);
    ``index`` is the image of a stack shown and restored; results are kept per image."""

    cache: FrameCache
    path: str | None = None
    source: Frame | None = None
    index: int = 0
    results: dict[int, list[Result]] = field(default_factory=dict)
    #: Every restoration kept, in the order made, as a workspace file records it.
    runs: list[Run] = field(default_factory=list)
    reference: Frame | None = None
    _images: dict[int, Frame] = field(default_factory=dict)

    def open(self, path: str) -> Opened:
        """Open ``path``; on a frame, show its first image and forget the previous file's results."""
        opened = self.cache.open(path)
        if opened.frame is not None:
            self.show(opened.frame, opened.path)
        return opened

    def show(self, frame: Frame, path: str) -> None:
        """Make ``frame`` (read from ``path``, or made from it: an XRF element map) the one shown; forget the previous results."""
        self.path, self.source, self.index, self.results, self._images, self.runs = path, frame, 0, {}, {}, []

    @property
    def sha256(self) -> str | None:
        """The sha256 of the file the open frame was read from (its read step's), or None when its history has none."""
        if self.source is None:
            return None
        for step in self.source.history:
            if step.method == "read" and step.inputs:
                return step.inputs[0].get("sha256")
        return None

    @property
    def count(self) -> int:
        """Images in the open frame (1 for a single image, 0 when nothing is open)."""
        if self.source is None:
            return 0
        return self.source.shape[0] if self.source.is_stack else 1

    @property
    def raw(self) -> Frame:
        """The 2-D image shown (image ``index`` of a stack), with the read step in its history; one object per image."""
        return self.image(self.index)

    def image(self, index: int) -> Frame:
        """Image ``index`` of the open stack (the image itself when one is open), with the read step in its history."""
        if self.source is None:
            raise OutputError("no file is open")
        if not self.source.is_stack:
            return self.source
        if index not in self._images:
            source = self.source
            self._images[index] = replace(source, data=source.data[index], valid=source.valid[index])
        return self._images[index]

    def open_reference(self, path: str) -> Frame:
        """Open a ground-truth image (or stack, one image per image of the open frame) to score results against."""
        opened = self.cache.open(path)
        if opened.frame is None:
            raise InputError(f"{len(opened.choices)} image datasets and nothing says which is the image; name one as FILE::/path", path)
        self.reference = opened.frame
        return opened.frame

    @property
    def reference_image(self) -> Frame | None:
        """The reference of the image shown: the reference itself, or its image ``index`` when it is a stack as long as the open one."""
        reference = self.reference
        if reference is None or not reference.is_stack:
            return reference
        return reference.images()[self.index] if reference.shape[0] == self.count else None

    @property
    def shown_results(self) -> list[Result]:
        """The results of the image shown, oldest first."""
        return self.results.get(self.index, [])

    def restore(self, method: str, params: dict[str, Any], region: Region | None = None, *, index: int | None = None,
                cancel: Event | None = None) -> Result:
        """Restore the image shown (image ``index`` when given), or its ``region``, with ``method`` (or ``"auto"``) and keep the result.

        Blocking: run it in a thread. The region's crop is a step of the result's history.
        ``cancel`` set stops it between its stages (the decision, the restoration) with
        :class:`Cancelled`, keeping nothing (and, with ``cancel`` the event of the
        :class:`~asirp.progress.Observation` the calling thread entered, at the next
        iteration of the method's own loops).
        """
        from ..select import make_plan

        index = self.index if index is None else index
        image = self.image(index)
        raw = image if region is None else crop(image, region)
        started = time.perf_counter()
        _check(cancel)
        plan = make_plan(raw, method, params)
        _check(cancel)
        frame = plan.run(raw)
        _check(cancel)
        result = self._result(index, method, params, plan, frame, time.perf_counter() - started, region)
        self.results.setdefault(index, []).append(result)
        self.runs.append(Run(method, dict(params), index, region, None, _decision(plan)))
        return result

    def restore_stack(self, method: str, params: dict[str, Any], *, images: tuple[int, int] | None = None,
                      decide_on: int | None = None, cancel: Event | None = None,
                      progress: Callable[[int, int], None] | None = None) -> list[Result]:
        """Restore every image of the open stack (``images``: first, end) with one plan, decided on the image shown
        (image ``decide_on`` when given), as ``asirp restore`` on a stack.

        ``progress(done, total)`` is called before each image and at the end; ``cancel``
        set stops it between images with :class:`Cancelled`, keeping nothing. The results,
        one per image, are kept together at the end.
        """
        from ..select import make_plan

        if self.source is None:
            raise OutputError("no file is open")
        first, end = (0, self.count) if images is None else images
        if not 0 <= first < end <= self.count:
            raise OutputError(f"images {first}:{end} are not within the {self.count} images of the stack")
        decide_on = self.index if decide_on is None else decide_on
        total = end - first
        started = time.perf_counter()
        _check(cancel)
        plan = make_plan(self.image(decide_on), method, params)
        made = []
        for done, index in enumerate(range(first, end)):
            if progress is not None:
                progress(done, total)
            _check(cancel)
            image_started = started if done == 0 else time.perf_counter()  # the first image's time includes the decision
            made.append((index, plan.run(self.image(index)), time.perf_counter() - image_started))
        _check(cancel)
        if progress is not None:
            progress(total, total)
        note = f" [stack, {total} images]" if total == self.count else f" [stack, images {first}:{end}]"
        results = []
        for index, frame, seconds in made:
            result = self._result(index, method, params, plan, frame, seconds, None, note)
            self.results.setdefault(index, []).append(result)
            results.append(result)
        self.runs.append(Run(method, dict(params), decide_on, None, (first, end), _decision(plan)))
        return results

    def _result(self, index: int, method: str, params: dict[str, Any], plan: Any, frame: Frame, seconds: float, region: Region | None,
                note: str = "") -> Result:
        """The result of ``method`` on image ``index`` (its label numbered after the ones kept), from the ``plan`` that made it."""
        if plan.decision is not None:
            label, explanation = f"auto → {plan.method}", plan.decision.explain()
        else:
            label, explanation = method + (f" ({_short(params)})" if params else ""), None
        where = "" if region is None else f" [rows {region[0]}:{region[1]}, columns {region[2]}:{region[3]}]"
        number = len(self.results.get(index, [])) + 1
        return Result(f"{number}: {label}{where}{note}", method, frame, explanation, seconds, region, params)

    def export(self, result: Result, path: str, *, force: bool = False) -> Path:
        """Write ``result`` to ``path`` as the CLI would; never over an input, over an existing file only with ``force``.

        ``.nxs``/``.h5``: NeXus with one NXprocess per step (the read and the
        restoration, with the auto decision); ``.tif``: float32 TIFF, masked pixels NaN;
        ``.png``: the raw/restored figure of ``asirp restore --figure``; ``.txt``
        (``.dat``, ``.tsv``, ``.csv``): the table for Origin of ``asirp xrf``, columns
        x, y (scan coordinates or pixels), raw and restored values of the points
        measured in both.
        """
        from ..io import save
        from ..io.atomic import input_files, prepare_outputs

        target = Path(path.strip()).expanduser().absolute()
        if target.suffix.lower() not in EXPORT_SUFFIXES:
            raise OutputError(f"{target}: export writes {', '.join(EXPORT_SUFFIXES)}; got {target.suffix or '(no suffix)'!r}")
        for notice in prepare_outputs([target], force=force, inputs=input_files(self.raw)):
            log.info(notice)  # stale temporaries of a dead process removed from the folder
        panels = {"raw": result.base(self.raw), result.frame.history[-1].method: result.frame}
        if target.suffix.lower() == ".png":
            from ..report import compare_figure

            return compare_figure(panels, target, force=force)
        if target.suffix.lower() in TABLE_SUFFIXES:
            from ..xrf.export import write_txt

            return write_txt(panels, target, force=force)
        return save(result.frame, target, force=force)
