"""The whole chain from a scan to a volume, one provenance step per operation.

::

    read ─► [remove_zingers] ─► subtract_dark ─► [restore projections] ─► flat_field
         ─► minus_log ─► [remove_rings] ─► find_centre ─► fbp | sirt | noise2inverse
         ─► [restore slices] ─► volume (NeXus, with every step as an NXprocess)

Used by ``asirp tomo recon``, the ``tomo`` benchmark and the demo, so they all do
exactly the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ParameterError
from ..frame import Frame
from ..history import TimedStep
from .centre import CentreEstimate, CentreMethod, find_centre
from .correct import TRANSMISSION_FLOOR, ZeroFlat, flat_field, minus_log, remove_rings, remove_zingers, subtract_dark
from .readers import TomoScan
from .reconstruct import Algorithm, FilterName, fbp, sirt
from .restore import Target, choose_target, restore_projections, restore_slices

RestoreTarget = Literal["auto", "projections", "slices"]
Denoiser = Literal["noise2inverse"]


@dataclass(frozen=True)
class Reconstruction:
    """What :func:`reconstruct_scan` made.

    Attributes
    ----------
    volume:
        The reconstructed slices ``(ny, N, N)``, kind ``"image"``, with the full history.
    attenuation:
        The corrected (and possibly restored) projections that were reconstructed.
    centre:
        The rotation axis used and how it was found.
    timings_s:
        Wall time of the stages, seconds.
    restore_target:
        What was restored, ``"projections"`` or ``"slices"`` (None without restoration).
    restore_reason:
        Why there (also in the restoration step's notes, ``restore_target``).
    """

    volume: Frame
    attenuation: Frame
    centre: CentreEstimate
    timings_s: dict[str, float] = field(default_factory=dict)
    restore_target: Target | None = None
    restore_reason: str | None = None


def corrected_projections(
    scan: TomoScan,
    *,
    restore: str | None = None,
    restore_params: dict[str, Any] | None = None,
    restore_notes: Mapping[str, Any] | None = None,
    zingers: bool = False,
    rings: bool = False,
    air_px: int = 10,
    zero_flat: ZeroFlat = "error",
    floor: float = TRANSMISSION_FLOOR,
) -> Frame:
    """Attenuation projections ready to reconstruct: corrections, and restoration of the counts above dark.

    Parameters
    ----------
    restore:
        A repertoire method or ``"auto"`` applied to the projections (counts above
        dark), or None.
    restore_params:
        Its parameters.
    restore_notes:
        Added to the restoration step's notes (why the projections were restored).
    zingers, rings:
        Remove zingers (:func:`~asirp.tomo.correct.remove_zingers`) from the raw
        projections; remove ring artefacts (:func:`~asirp.tomo.correct.remove_rings`)
        from the attenuation sinograms.
    air_px, zero_flat, floor:
        See :func:`~asirp.tomo.correct.flat_field` and :func:`~asirp.tomo.correct.minus_log`.
    """
    if zingers:
        scan = scan.with_projections(remove_zingers(scan.projections))
    counts = subtract_dark(scan)
    if restore is not None:
        counts = restore_projections(counts, restore, notes=restore_notes, **(restore_params or {}))
    attenuation = minus_log(flat_field(counts, scan, air_px=air_px, zero_flat=zero_flat), floor=floor)
    return remove_rings(attenuation) if rings else attenuation


def locate_centre(attenuation: Frame, centre: float | CentreMethod = "auto", *, scale: int = 1) -> tuple[Frame, CentreEstimate]:
    """The rotation axis (found, or as given) and the projections with a ``"find_centre"`` step recording it.

    A given ``centre`` is a detector column of the scan as measured; when a restoration
    made the projections' grid ``scale`` times finer, it is converted to the finer grid
    (pixel centres: ``c' = (c + 0.5) scale - 0.5``).
    """
    step = TimedStep("find_centre", centre=centre)
    if isinstance(centre, str):
        estimate = find_centre(attenuation, method=centre)
    elif scale == 1:
        estimate = CentreEstimate(float(centre), "given")
    else:
        estimate = CentreEstimate((float(centre) + 0.5) * scale - 0.5, "given",
                                  {"given_px": float(centre), "grid_refined_by": scale})
    notes = {"centre_px": estimate.centre_px, "method": estimate.method, "details": estimate.details}
    return step.apply(attenuation, attenuation.data, notes=notes), estimate


def reconstruct_scan(
    scan: TomoScan,
    *,
    restore: str | None = None,
    restore_params: dict[str, Any] | None = None,
    restore_target: RestoreTarget = "auto",
    algorithm: Algorithm = "fbp",
    centre: float | CentreMethod = "auto",
    filter_name: FilterName = "ramp",
    iterations: int = 100,
    denoise: Denoiser | None = None,
    denoise_params: dict[str, Any] | None = None,
    zingers: bool = False,
    rings: bool = False,
    air_px: int = 10,
    zero_flat: ZeroFlat = "error",
    floor: float = TRANSMISSION_FLOOR,
) -> Reconstruction:
    """Reconstruct a scan, with optional restoration of its projections or slices.

    Parameters
    ----------
    scan:
        From :func:`asirp.tomo.read_scan` (or :func:`asirp.tomo.make_scan`).
    restore, restore_params:
        Repertoire method (or ``"auto"``) and parameters; None for no restoration.
    restore_target:
        ``"projections"`` (before reconstruction), ``"slices"`` (after), or ``"auto"``
        (default): the projections unless they are thinner than
        :data:`~asirp.tomo.restore.MIN_PROJECTION_SIDE` px (a 2-row scan such as the
        tooth), then the slices (:func:`~asirp.tomo.restore.choose_target`); the
        choice and its reason are in the result and the restoration step's notes.
    algorithm:
        ``"fbp"`` or ``"sirt"`` (with ``iterations``).
    centre:
        Rotation axis as a detector column of the scan (px), or a
        :func:`~asirp.tomo.find_centre` method name.
    filter_name:
        FBP filter.
    denoise, denoise_params:
        ``"noise2inverse"`` to reconstruct with the self-supervised denoiser
        (:func:`~asirp.tomo.noise2inverse.noise2inverse`, FBP only) and its parameters.
    zingers, rings, air_px, zero_flat, floor:
        See :func:`corrected_projections`.

    Returns
    -------
    Reconstruction
    """
    target, reason = choose_target(scan.shape, restore_target)
    notes = {"restore_target": {"requested": restore_target, "restored": target, "reason": reason}}
    if denoise is not None and (denoise != "noise2inverse" or algorithm != "fbp"):
        raise ParameterError("denoise='noise2inverse' is the only denoiser and works with algorithm='fbp'")
    if denoise is not None:
        from .noise2inverse import check_parameters

        check_parameters(scan.shape, **(denoise_params or {}))  # before any work, in one line
    timings: dict[str, float] = {}
    started = time.perf_counter()
    attenuation = corrected_projections(
        scan,
        restore=restore if target == "projections" else None,
        restore_params=restore_params,
        restore_notes=notes,
        zingers=zingers,
        rings=rings,
        air_px=air_px,
        zero_flat=zero_flat,
        floor=floor,
    )
    timings["corrections_and_restoration_s"] = time.perf_counter() - started
    started = time.perf_counter()
    attenuation, estimate = locate_centre(attenuation, centre, scale=attenuation.shape[2] // scan.shape[2])
    timings["centre_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if denoise == "noise2inverse":
        from .noise2inverse import noise2inverse

        volume = noise2inverse(attenuation, centre=estimate.centre_px, filter_name=filter_name, **(denoise_params or {}))
    elif algorithm == "sirt":
        volume = sirt(attenuation, iterations=iterations, centre=estimate.centre_px)
    else:
        volume = fbp(attenuation, centre=estimate.centre_px, filter_name=filter_name)
    timings["reconstruction_s"] = time.perf_counter() - started
    if restore is not None and target == "slices":
        started = time.perf_counter()
        volume = restore_slices(volume, restore, notes=notes, **(restore_params or {}))
        timings["slice_restoration_s"] = time.perf_counter() - started
    chosen = (target, reason) if restore is not None else (None, None)
    return Reconstruction(volume, attenuation, estimate, timings, *chosen)
