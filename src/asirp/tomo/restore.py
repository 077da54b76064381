"""Restoring a tomography stack with the repertoire: projections before, or slices after, reconstruction.

Projections are restored one batch of images at a time (a progress bar counts the
batches) through the same code as :func:`asirp.restore`, so any registered method
works, and ``"auto"`` lets the selector choose **once for the whole stack** (on its
middle image; every projection of a scan has the same blur and noise model) instead
of once per batch. The stack gets **one** history step: the method's, with the total
duration, the number of batches and, with ``"auto"``, the decision and its reasons.

Restoring the projections is the physical choice for detector blur (the blur acts
on each projection) and keeps projections independent of each other, which the
self-supervised :mod:`~asirp.tomo.noise2inverse` needs; restoring the reconstructed
slices instead (:func:`restore_slices`) suits blur or noise that arise in the
reconstruction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..api import explain, restore_with
from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import HistoryStep
from ..methods.base import get_method
from ..progress import progress, quiet

#: Images restored per call of the method: bounds memory, and drives the progress bar.
BATCH = 16


def _merge_steps(steps: list[HistoryStep], batch: int) -> HistoryStep:
    """One provenance step for the whole stack from the per-batch steps of one method."""
    first = steps[0]
    notes = dict(first.notes)
    per_batch = [{key: value for key, value in step.notes.items() if key != "selection"} for step in steps]
    if any(item != per_batch[0] for item in per_batch[1:]):
        notes["batch_notes"] = per_batch
    notes["batches"] = len(steps)
    notes["batch_size"] = batch
    return replace(first, duration_s=float(sum(step.duration_s for step in steps)), notes=notes)


def _restore_stack(frame: Frame, method: str, what: str, batch: int, params: dict[str, Any]) -> Frame:
    if not isinstance(frame, Frame) or not frame.is_stack:
        raise InputError(f"restoring {what} needs a stack Frame (n, ny, nx)")
    if not isinstance(batch, int) or batch < 1:
        raise ParameterError(f"batch must be a positive number of images, got {batch!r}")
    if method == "auto":
        decision = explain(frame, **params)

        def run(chunk: Frame) -> Frame:
            return restore_with(chunk, decision, **params)
    else:
        restorer = get_method(method)
        restorer.validate(**params)  # bad parameters fail before any work

        def run(chunk: Frame) -> Frame:
            return restorer.run(chunk, **params)

    n = frame.shape[0]
    starts = range(0, n, batch)
    pieces: list[Frame] = []
    for start in progress(starts, desc=f"restoring {what}", unit="batch", total=len(starts)):
        chunk = replace(frame, data=frame.data[start : start + batch], valid=frame.valid[start : start + batch])
        with quiet():  # one bar for the stack, not one per batch
            pieces.append(run(chunk))
    first = pieces[0]
    step = _merge_steps([piece.history[-1] for piece in pieces], batch)
    return replace(
        first,
        data=np.concatenate([piece.data for piece in pieces]),
        valid=np.concatenate([piece.valid for piece in pieces]),
        kind=frame.kind,
        meta=frame.meta,
        history=frame.history + (step,),
    )


def restore_projections(frame: Frame, method: str = "auto", *, batch: int = BATCH, **params: Any) -> Frame:
    """Restore every projection of a stack with a repertoire method.

    Parameters
    ----------
    frame:
        Projections ``(n_angles, ny, nx)``, kind ``"tomo_projection"``; best the counts
        above dark (:func:`asirp.tomo.subtract_dark`), whose Poisson statistics the
        methods and the selector model.
    method:
        A registered method (``asirp.methods()``) or ``"auto"``.
    batch:
        Projections per call of the method.
    **params:
        The method's parameters (e.g. ``psf_sigma=1.3, iterations=10`` for
        ``richardson_lucy``); with ``"auto"`` they override the selector's choice.

    Returns
    -------
    Frame
        The restored stack, same kind and metadata (angles, quantity), one more
        history step. Super-resolution methods return a finer grid (and pixel size).

    Examples
    --------
    >>> from asirp.synth import tomo_phantom, tomo_projections
    >>> noisy = tomo_projections(tomo_phantom(16, n_slices=2), n_angles=8, photons=100.0).noisy
    >>> restored = restore_projections(noisy, "gaussian", sigma=1.0)
    >>> restored.shape, restored.history[-1].method
    ((8, 2, 16), 'gaussian')
    """
    if frame.kind != "tomo_projection":
        raise InputError(f"restore_projections expects kind 'tomo_projection', got {frame.kind!r}", frame.meta.get("source"))
    return _restore_stack(frame, method, "projections", batch, params)


def restore_slices(volume: Frame, method: str = "auto", *, batch: int = BATCH, **params: Any) -> Frame:
    """Restore the reconstructed slices ``(nz, ny, nx)`` of a volume (kind ``"image"``) instead of the projections.

    Same as :func:`restore_projections` otherwise; the circle outside the
    reconstruction stays masked.
    """
    if volume.kind != "image":
        raise InputError(f"restore_slices expects a reconstructed volume (kind 'image'), got {volume.kind!r}",
                         volume.meta.get("source"))
    return _restore_stack(volume, method, "slices", batch, params)
