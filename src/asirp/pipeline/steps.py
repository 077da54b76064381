"""The per-frame work of a pipeline, as plain picklable functions for any backend.

:func:`process_item` is what a worker (a thread, or a Dask worker process) runs for
one item: read the frame, restore it with the planned method, and compute its
azimuthal profile when the analyse step asks for it. Any exception becomes a
:class:`~asirp.pipeline.items.Result` with ``error`` set, so one bad frame never
stops a run.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import AsirpError, InputError
from ..feedback.profile import ring_profile
from ..frame import Frame
from ..geometry import Geometry
from ..history import TimedStep
from ..kinds import KINDS, Kind, is_kind
from ..methods.base import Method
from ..select.decide import Mode
from ..select.plan import Plan, make_plan
from .config import AnalyseConfig, ReadConfig
from .items import DatumRef, FileRef, Item, Result


@lru_cache(maxsize=8)
def load_geometry(poni: str) -> Geometry:
    """The geometry of a PONI file, read once per process."""
    return Geometry.from_file(poni)


def _hdf5_image(ref: FileRef, index: int, read: ReadConfig) -> Frame:
    """Image ``index`` (``ref.index``) of the 3-D dataset of an HDF5 file (SWMR-safe when ``ref.swmr``)."""
    import h5py

    from ..io.hdf5 import find_image_dataset

    timer = TimedStep("read", dataset=ref.dataset, index=index, kind=read.kind, saturation=read.saturation, mask=read.mask)
    try:
        handle = h5py.File(ref.path, "r", swmr=True, libver="latest") if ref.swmr else h5py.File(ref.path, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", ref.path) from None
    with handle:
        name, dataset = find_image_dataset(handle, ref.dataset, ref.path)
        if dataset.ndim != 3:
            raise InputError(f"dataset {name} of shape {dataset.shape} is not a 3-D image stack", ref.path)
        if ref.swmr:
            dataset.refresh()
        if not 0 <= index < dataset.shape[0]:
            raise InputError(f"image {index} requested but dataset {name} holds {dataset.shape[0]}", ref.path)
        data = np.asarray(dataset[index])
    valid = _valid(data, read)
    geometry = load_geometry(read.poni) if read.poni else None
    step = timer.finish(parameters={**timer.parameters, "dataset": name}, inputs=({"name": f"{ref.path}::{name}", "sha256": ""},))
    return Frame.from_array(
        data, valid, kind=_kind(read), geometry=geometry, meta={"source": f"{ref.path}::{name}", "index": index}, history=(step,)
    )


def _kind(read: ReadConfig) -> Kind:
    """The configured kind of the frames (:class:`ReadConfig` accepts only :data:`asirp.KINDS`)."""
    if not is_kind(read.kind):
        raise InputError(f"unknown kind {read.kind!r}; expected one of {', '.join(KINDS)}")
    return read.kind


@lru_cache(maxsize=4)
def _user_mask(path: str) -> np.ndarray:
    """The user's mask file, read once per run (True = masked)."""
    from ..io.mask_file import read_mask

    return read_mask(path)


def _valid(data: np.ndarray, read: ReadConfig) -> np.ndarray | None:
    """Measured pixels of an array payload: below the saturation, outside the user's mask (None: all)."""
    valid = None if read.saturation is None else data < read.saturation
    if read.mask is not None:
        masked = _user_mask(read.mask)
        if masked.shape != data.shape[-2:]:
            raise InputError(f"the mask has shape {masked.shape}, the frames {data.shape[-2:]}", read.mask)
        valid = ~masked if valid is None else valid & ~masked
    return valid


def load_frame(item: Item, read: ReadConfig) -> Frame:
    """The frame of ``item``: read from its file, wrapped from its array, or as given."""
    payload = item.payload
    if isinstance(payload, Frame):
        return payload
    if isinstance(payload, FileRef):
        if payload.index is not None:
            return _hdf5_image(payload, payload.index, read)
        from ..io import open as open_frame

        return open_frame(payload.path, kind=read.kind, poni=read.poni, dataset=payload.dataset, saturation=read.saturation,
                          mask=read.mask)
    if isinstance(payload, np.ndarray):
        geometry = load_geometry(read.poni) if read.poni else None
        valid = _valid(payload, read)
        meta = {"source": f"run {item.run}", "seq": item.seq}
        return Frame.from_array(payload, valid, kind=_kind(read), geometry=geometry, meta=meta)
    if isinstance(payload, DatumRef):
        raise InputError(f"{item.describe()}: external data reference was not filled before processing")
    raise InputError(f"{item.describe()}: cannot read a payload of type {type(payload).__name__}")


@dataclass(frozen=True)
class WorkerSteps:
    """Everything a worker needs besides the item: read options, the method, analyse options.

    ``method`` is a registered method name or ``"auto"``; ``custom`` a :class:`Method`
    instance given in code (it must be picklable for the Dask backend).
    """

    read: ReadConfig
    method: str
    params: dict[str, Any]
    budget_s: float | None
    analyse: AnalyseConfig
    custom: Method | None = None

    def plan_for(self, frame: Frame) -> Plan:
        """The plan for ``frame`` and the run's frames like it: :func:`asirp.select.make_plan` for a
        series (what the method estimates per frame is estimated once), online rules when the run
        has a per-frame budget."""
        if self.custom is not None:
            return Plan(self.custom.name, dict(self.params))
        mode: Mode = "online" if self.budget_s is not None else "offline"
        return make_plan(frame, self.method, self.params, budget_s=self.budget_s, mode=mode, series=True)

    def fixed_plan(self) -> Plan | None:
        """The plan when it does not depend on the frame (a method given in code), else None."""
        return Plan(self.custom.name, dict(self.params)) if self.custom is not None else None

    @property
    def needs_profile(self) -> bool:
        change = self.analyse.change
        return self.analyse.profile or (change is not None and change.on == "profile")


def error_text(exc: BaseException) -> str:
    if isinstance(exc, AsirpError):
        return f"{type(exc).__name__}: {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{place}"


def process_item(item: Item, plan: Plan | None, steps: WorkerSteps) -> Result:
    """Read, restore and analyse one item; never raises (errors are returned in the result).

    ``plan`` is the run's method decision; None (or a plan made for another shape)
    makes the worker plan for this frame itself, and so does an ``auto`` plan whose
    data this frame has drifted from (:meth:`Plan.drift`): the new plan, with the
    reason in its notes (``redecided``), is returned in ``result.replanned`` for the
    run's next frames.
    """
    result = Result(item.run, item.seq, item.arrived, dict(item.meta), started=time.time())
    try:
        frame = load_frame(item, steps.read)
        if plan is None or not plan.fits(frame):
            plan = steps.plan_for(frame)
        elif (drift := plan.drift(frame)) is not None:
            plan = replace(steps.plan_for(frame), redecided=f"decided anew at frame {item.seq}: {drift}")
            result.replanned = plan
        result.frame = plan.run(frame, steps.custom)
        if steps.needs_profile:
            result.profile = ring_profile(result.frame, steps.analyse.bins)
    except Exception as exc:  # one bad frame must not stop the run: recorded with its error
        result.frame, result.error = None, error_text(exc)
    result.finished = time.time()
    return result
