"""Workspace files: what a page shows, saved as JSON, and reopened by ``asirp view FILE.json``.

A workspace records the file open (absolute path, ``::dataset`` included), the image of
a stack shown, the look (colour map, scale, limits, axes, orientation, right panel),
the region drawn, the profile line, the zoom, the reference, the restorations of the
image shown as method, parameters and region (read by every version), and every
restoration the page made, in order (:class:`Run`: of one image of a stack, with its
index, or a whole-stack run with its range; for ``auto`` the decision as a record),
with the sha256 of the file read, to tell a changed file; for a tomography scan also its view
(projection, sinogram or slice), detector row and slice options; for an XRF element map
the spectra cube it was made from, its line (channel window) and normalisation, since the
map itself is no file. Reopening reads the file again and
runs the restorations again (results are not stored: the NeXus export is the record of
a result; a workspace is the way back to a session). Parameters are the ones the user
set, as on a command line: the others take the defaults of the asirp that reopens the
workspace, and ``auto`` decides again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from ..io.atomic import atomic_output

#: What the ``format`` key of a workspace file says, and the layout version this code writes and reads.
FORMAT = "asirp view workspace"
VERSION = 1
SUFFIX = ".json"


@dataclass(frozen=True)
class Restoration:
    """One restoration to run again: method (or ``"auto"``), parameters, region (rows i0:i1, columns j0:j1) or None."""

    method: str
    parameters: dict[str, Any]
    region: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Run:
    """One restoration the page made, in the order made, to make again.

    Of image ``index`` (``region`` of it, or the whole image), or, with ``images``
    (first, end), of those images of the stack with one plan decided on image ``index``
    (a whole-stack run). ``decision``: what ``auto`` chose (``{"method", "parameters"}``),
    a record: ``auto`` decides again when the workspace is reopened.
    """

    method: str
    parameters: dict[str, Any]
    index: int = 0
    region: tuple[int, int, int, int] | None = None
    images: tuple[int, int] | None = None
    decision: dict[str, Any] | None = None

    def describe(self) -> str:
        """``gaussian (sigma=1.5) on image 2``, ``auto on images 0:4``: what the status and messages call it."""
        params = ", ".join(f"{key}={value}" for key, value in self.parameters.items())
        what = self.method + (f" ({params})" if params else "")
        if self.images is not None:
            return f"{what} on images {self.images[0]}:{self.images[1]}"
        return f"{what} on image {self.index}" + ("" if self.region is None else " (a region)")


@dataclass(frozen=True)
class XrfMap:
    """How an element map was made, to make it again: the cube (absolute ``FILE`` or ``FILE::/spectra``), line, normalisation.

    ``line`` is as typed (``Cu-Ka``, ``7.9-8.2keV``, ``ch:820-860``); ``channels`` the
    window it gave (first, end), a record: the map is made again from ``line``.
    """

    spectra: str
    line: str
    normalisation: str = "none"
    channels: tuple[int, int] | None = None


@dataclass(frozen=True)
class PageState:
    """Everything a workspace file holds (see the module's description)."""

    path: str
    index: int = 0
    look: dict[str, Any] = field(default_factory=dict)
    region: tuple[int, int, int, int] | None = None
    line: tuple[float, float, float, float] | None = None
    view: tuple[float, float, float, float] | None = None
    reference: str | None = None
    restorations: tuple[Restoration, ...] = ()
    #: A tomography scan's view: ``{"view": ..., "row": ..., "slice": {...}}`` (None: not a scan); ``path`` names the view shown.
    tomography: dict[str, Any] | None = None
    #: An element map's making (None: not a map); ``path`` names the map shown (``CUBE::line (normalisation)``).
    xrf: XrfMap | None = None
    #: Every restoration made, in order (None: a workspace written before they were recorded: ``restorations`` are redone).
    runs: tuple[Run, ...] | None = None
    #: The sha256 of the file read (its read step's), to tell a file changed since; None: not known.
    sha256: str | None = None
    #: Entries of ``runs`` that could not be read, one line each (said beside Open; not written).
    skipped: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        values = asdict(self)
        del values["skipped"]
        return json.dumps({"format": FORMAT, "version": VERSION, **values}, indent=2, default=str)


def absolute_path(path: str) -> str:
    """``path`` (``FILE`` or ``FILE::dataset``) with its file made absolute: what a workspace records, to reopen from anywhere."""
    file, separator, dataset = path.partition("::")
    return str(Path(file).absolute()) + separator + dataset


def is_workspace(path: str) -> bool:
    """True for a path the viewer opens as a workspace (``.json``) rather than as an image."""
    return path.strip().lower().endswith(SUFFIX)


def save_state(state: PageState, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``state`` as a workspace file, atomically; never over the image it names, over another file only with ``force``."""
    target = Path(path).expanduser().absolute()
    if target.suffix.lower() != SUFFIX:
        raise OutputError(f"{target}: a workspace file is JSON; name it {target.stem}{SUFFIX}")
    with atomic_output(target, force=force, inputs=[state.path.split("::")[0]]) as temporary:
        temporary.write_text(state.to_json() + "\n")
    return target


def _box(value: Any, name: str, path: Path) -> tuple[float, float, float, float] | None:
    """Four numbers (a line, a view) or None; :class:`~asirp.errors.InputError` naming the file otherwise."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):  # fmt: skip
        raise InputError(f"not an asirp view workspace: {name} must be a list of 4 numbers", path)
    a, b, c, d = (float(v) for v in value)
    return a, b, c, d


def _region(value: Any, name: str, path: Path) -> tuple[int, int, int, int] | None:
    """A region (rows i0:i1, columns j0:j1) or None: four whole numbers."""
    box = _box(value, name, path)
    if box is None:
        return None
    if not all(v.is_integer() for v in box):
        raise InputError(f"not an asirp view workspace: {name} must be a list of 4 whole numbers (pixel indices)", path)
    i0, i1, j0, j1 = (int(v) for v in box)
    return i0, i1, j0, j1


def _xrf_map(value: Any, path: Path) -> XrfMap | None:
    """An element map's making (see :class:`XrfMap`) or None; :class:`~asirp.errors.InputError` naming the file otherwise."""
    if value is None:
        return None
    if not (isinstance(value, dict) and all(isinstance(value.get(key), str) for key in ("spectra", "line", "normalisation"))):
        raise InputError("not an asirp view workspace: the xrf entry needs the spectra file, the line and the normalisation", path)
    channels = value.get("channels")
    if channels is not None and not (isinstance(channels, list) and len(channels) == 2 and all(type(c) is int for c in channels)):
        raise InputError("not an asirp view workspace: the xrf entry's channels must be 2 whole numbers", path)
    return XrfMap(value["spectra"], value["line"], value["normalisation"], None if channels is None else (channels[0], channels[1]))


def _whole(value: Any) -> bool:
    return type(value) is int and value >= 0


def _runs(value: Any, path: Path) -> tuple[tuple[Run, ...] | None, tuple[str, ...]]:
    """The ``runs`` entry: the restorations made in order (None when absent), and those that cannot be read, one line each."""
    if value is None:
        return None, ()
    if not isinstance(value, list):
        raise InputError("not an asirp view workspace: runs must be a list", path)
    runs, skipped = [], []
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict) or not isinstance(item.get("method"), str):
            skipped.append(f"restoration {number}: no method; skipped")
            continue
        parameters, images, decision = item.get("parameters") or {}, item.get("images"), item.get("decision")
        problem = ""
        if not isinstance(parameters, dict):
            problem = "its parameters are not a mapping"
        elif not _whole(item.get("index", 0)):
            problem = f"image index {item.get('index')!r} is not a whole number"
        elif images is not None and not (isinstance(images, list) and len(images) == 2 and all(_whole(i) for i in images)
                                         and images[0] < images[1]):  # fmt: skip
            problem = f"images {images!r} is not a range (first, end) of whole numbers"
        elif decision is not None and not isinstance(decision, dict):
            problem = "its decision is not a mapping"
        if problem:
            skipped.append(f"restoration {number} ({item['method']}): {problem}; skipped")
            continue
        try:
            region = _region(item.get("region"), "a region", path)
        except InputError:
            skipped.append(f"restoration {number} ({item['method']}): its region is not 4 whole numbers; skipped")
            continue
        runs.append(Run(item["method"], dict(parameters), item.get("index", 0), region,
                        None if images is None else (images[0], images[1]), decision))  # fmt: skip
    return tuple(runs), tuple(skipped)


def load_state(path: str | os.PathLike[str]) -> PageState:
    """Read a workspace file; :class:`~asirp.errors.InputError` (one line naming the file) when it is not one."""
    source = Path(path).expanduser()
    try:
        raw = json.loads(source.read_text())
    except OSError as exc:
        raise InputError(f"cannot read the workspace file ({exc.strerror})", source) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not a workspace file: invalid JSON at line {exc.lineno}", source) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"not an asirp view workspace (no \"format\": \"{FORMAT}\")", source)
    if raw.get("version") != VERSION:
        raise InputError(f"workspace version {raw.get('version')!r}; this asirp reads version {VERSION}", source)
    if not isinstance(raw.get("path"), str):
        raise InputError("not an asirp view workspace: no image path", source)
    try:
        restorations = tuple(
            Restoration(str(item["method"]), dict(item.get("parameters") or {}), _region(item.get("region"), "a region", source))
            for item in raw.get("restorations") or []
        )
    except (KeyError, TypeError):
        raise InputError("not an asirp view workspace: each restoration needs a method", source) from None
    xrf = _xrf_map(raw.get("xrf"), source)
    tomography = raw.get("tomography")
    if tomography is not None and not (isinstance(tomography, dict) and isinstance(tomography.get("view"), str)):
        raise InputError("not an asirp view workspace: the tomography entry needs a view", source)
    runs, skipped = _runs(raw.get("runs"), source)
    sha256 = raw.get("sha256")
    return PageState(
        path=raw["path"],
        index=int(raw.get("index") or 0),
        look=dict(raw.get("look") or {}),
        region=_region(raw.get("region"), "the region", source),
        line=_box(raw.get("line"), "the line", source),
        view=_box(raw.get("view"), "the view", source),
        reference=raw.get("reference"),
        restorations=restorations,
        tomography=tomography,
        xrf=xrf,
        runs=runs,
        sha256=sha256 if isinstance(sha256, str) else None,
        skipped=skipped,
    )
