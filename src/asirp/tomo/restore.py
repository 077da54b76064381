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
reconstruction. :func:`choose_target` decides between the two when asked to
(``restore_target="auto"``): projections thinner than :data:`MIN_PROJECTION_SIDE`
are too small for a 2-D restoration, their reconstructed slices are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from ..errors import AsirpError, InputError, ParameterError
from ..frame import Frame
from ..history import HistoryStep
from ..progress import progress, quiet
from ..select.plan import make_plan
from .options import MIN_PROJECTION_SIDE, TARGETS

#: Images restored per call of the method: bounds memory, and drives the progress bar.
BATCH = 16

Target = Literal["projections", "slices"]


def choose_target(projection_shape: tuple[int, ...], requested: str = "auto") -> tuple[Target, str]:
    """Where to restore a scan, the projections (before reconstruction) or its slices (after), and why.

    Parameters
    ----------
    projection_shape:
        Shape of the projection stack ``(n_angles, ny, nx)`` (or of one projection).
    requested:
        ``"projections"`` or ``"slices"`` (kept as asked) or ``"auto"``: the
        projections when both sides are at least :data:`MIN_PROJECTION_SIDE` px (the
        physical place for detector blur), else the slices.

    Returns
    -------
    tuple
        The target and a one-sentence reason, for the output and the provenance.
    """
    if requested not in TARGETS:
        raise ParameterError(f"restore_target must be one of {', '.join(TARGETS)}, got {requested!r}")
    if requested != "auto":
        return requested, f"restore_target={requested!r} was asked for"  # type: ignore[return-value]
    ny, nx = projection_shape[-2:]
    if min(ny, nx) >= MIN_PROJECTION_SIDE:
        return "projections", (f"projections of {ny}x{nx} px are at least {MIN_PROJECTION_SIDE} px a side, large "
                               "enough for a 2-D restoration, and detector blur acts on them")
    return "slices", (f"projections of {ny}x{nx} px are thinner than {MIN_PROJECTION_SIDE} px, too small to estimate "
                      "a 2-D PSF or restore in 2-D; the reconstructed slices are restored instead")


@contextmanager
def _naming_the_source(frame: Frame, what: str, method: str) -> Iterator[None]:
    """Errors raised while restoring name the scan file, what was restored, and a way out for thin projections."""
    try:
        yield
    except ParameterError:  # the user's parameters, refused before any image was restored: named as they are
        raise
    except AsirpError as exc:
        problem = exc.problem if isinstance(exc, InputError) and exc.path is None else str(exc)
        hint = ""
        if what == "projections" and min(frame.shape[-2:]) < MIN_PROJECTION_SIDE:
            hint = "; restore the reconstructed slices instead (restore_target='slices', --restore-target slices)"
        shape = "x".join(map(str, frame.shape[-2:]))
        raise InputError(f"restoring the {what} ({shape} px) with {method}: {problem}{hint}", frame.meta.get("source")) from exc


def _merge_steps(steps: list[HistoryStep], batch: int, extra: Mapping[str, Any] | None) -> HistoryStep:
    """One provenance step for the whole stack from the per-batch steps of one method, plus ``extra`` notes."""
    first = steps[0]
    notes = {**first.notes, **(extra or {})}
    per_batch = [{key: value for key, value in step.notes.items() if key != "selection"} for step in steps]
    if any(item != per_batch[0] for item in per_batch[1:]):
        notes["batch_notes"] = per_batch
    notes["batches"] = len(steps)
    notes["batch_size"] = batch
    return replace(first, duration_s=float(sum(step.duration_s for step in steps)), notes=notes)


def _restore_stack(frame: Frame, method: str, what: str, batch: int, notes: Mapping[str, Any] | None,
                   params: dict[str, Any]) -> Frame:
    if not isinstance(frame, Frame) or not frame.is_stack:
        raise InputError(f"restoring {what} needs a stack Frame (n, ny, nx)")
    if not isinstance(batch, int) or batch < 1:
        raise ParameterError(f"batch must be a positive number of images, got {batch!r}")
    starts = range(0, frame.shape[0], batch)
    pieces: list[Frame] = []
    with _naming_the_source(frame, what, method):
        plan = make_plan(frame, method, params)  # auto: decided once, on the stack's middle image
        for start in progress(starts, desc=f"restoring {what}", unit="batch", total=len(starts)):
            chunk = replace(frame, data=frame.data[start : start + batch], valid=frame.valid[start : start + batch])
            with quiet():  # one bar for the stack, not one per batch
                pieces.append(plan.run(chunk))
    first = pieces[0]
    step = _merge_steps([piece.history[-1] for piece in pieces], batch, notes)
    return replace(
        first,
        data=np.concatenate([piece.data for piece in pieces]),
        valid=np.concatenate([piece.valid for piece in pieces]),
        kind=frame.kind,
        meta=frame.meta,
        history=frame.history + (step,),
    )


def restore_projections(
    frame: Frame, method: str = "auto", *, batch: int = BATCH, notes: Mapping[str, Any] | None = None, **params: Any
) -> Frame:
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
    notes:
        Added to the history step's notes (e.g. why the projections were restored).
    **params:
        The method's parameters (e.g. ``psf_sigma=1.3, iterations=10`` for
        ``richardson_lucy``); with ``"auto"`` they override the selector's choice.

    Returns
    -------
    Frame
        The restored stack, same kind and metadata (angles, quantity), one more
        history step. Super-resolution methods return a finer grid (and pixel size).

    Raises
    ------
    InputError
        The restoration failed on these images (e.g. too small to estimate a PSF):
        the message names the scan file and, for thin projections, suggests the slices.

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
    return _restore_stack(frame, method, "projections", batch, notes, params)


def restore_slices(
    volume: Frame, method: str = "auto", *, batch: int = BATCH, notes: Mapping[str, Any] | None = None, **params: Any
) -> Frame:
    """Restore the reconstructed slices ``(nz, ny, nx)`` of a volume (kind ``"image"``) instead of the projections.

    Same as :func:`restore_projections` otherwise; the circle outside the
    reconstruction stays masked.
    """
    if volume.kind != "image":
        raise InputError(f"restore_slices expects a reconstructed volume (kind 'image'), got {volume.kind!r}",
                         volume.meta.get("source"))
    return _restore_stack(volume, method, "slices", batch, notes, params)
