"""Normalisation of element counts for the beam intensity and the detector dead time.

Two independent corrections, each optional, both applied point by point to the
window sums (the maps are linear in the spectra, so normalising the sums equals
normalising every spectrum):

**Detector** (choose one; they correct the same dead time, so never both):

* ``"livetime"``: ``counts · ⟨t_live⟩ / t_live``: counts per live second, scaled back
  to counts at the mean live time. Also evens out dwell-time differences of a fly
  scan (the first point of each line of the APS example is 2.4 times longer);
* ``"deadtime"``: ``counts · ICR / OCR``: the input/output count-rate ratio of the
  pulse processor (XIA, Xspress3). Corrects dead time only, not dwell time.

With one scaler per detector element, each element's counts are corrected with its
own scaler before the elements are added.

**Beam** (choose one):

* ``"i0"``: ``counts · ⟨I0⟩ / I0``, the ionisation-chamber (or other monitor) counts;
* ``"ar"``: ``counts · ⟨Ar⟩ / Ar``, the counts of the argon Kα window at the same point,
  the paper's choice: argon in the air between sample and detector is excited by
  the same beam and recorded by the same detector, so its counts follow the beam
  intensity (and the dead time) even where the monitor does not. Ar counts are few
  per point, so their Poisson noise enters the map; ``ar_smooth`` averages them over
  that many consecutive points **in acquisition order** (shorter than the beam's
  sawtooth period, so the beam's variation is kept while the noise drops by
  ``sqrt(ar_smooth)``); ``"auto"`` picks the smallest odd count that gathers about
  :data:`AR_TARGET_COUNTS` counts, at most one scan line.

Points whose normaliser is zero, negative or not finite (a dropped monitor reading,
zero live time) are **masked** in the maps and counted in the provenance; if no
point is left, an :class:`~asirp.errors.InputError` is raised. Scaling by the mean of
the normaliser keeps the maps in counts, so Poisson-based restoration (Richardson-
Lucy) still sees count-like values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

from ..errors import InputError, ParameterError
from .maps import ChannelSums

BEAM_MODES: tuple[str, ...] = ("none", "i0", "ar")
DETECTOR_MODES: tuple[str, ...] = ("none", "livetime", "deadtime")
#: Ar counts per point (after averaging) aimed at by ``ar_smooth="auto"`` (5 % Poisson noise).
AR_TARGET_COUNTS = 400.0
#: Scaler names recognised for each role (lower case; the first found is used).
SCALER_ALIASES: dict[str, tuple[str, ...]] = {
    "i0": ("i0", "io", "us_ic", "ic0", "ic1", "sclr_i0", "sclr1_ch2", "i0_counts", "monitor", "ion_chamber"),
    "live_time": ("live_time", "livetime", "elapsed_livetime", "elt", "lt"),
    "real_time": ("real_time", "realtime", "elapsed_realtime", "ert", "count_time"),
    "icr": ("icr", "input_counts", "inputcounts", "input_count_rate"),
    "ocr": ("ocr", "output_counts", "outputcounts", "ouputcounts", "output_count_rate"),
}


@dataclass(frozen=True)
class Normalisation:
    """What to normalise by (see the module docstring).

    Attributes
    ----------
    beam:
        ``"none"``, ``"i0"`` or ``"ar"``.
    detector:
        ``"none"``, ``"livetime"`` or ``"deadtime"``.
    i0:
        Name of the I0 scaler (default: found by name, see :data:`SCALER_ALIASES`).
    ar_window:
        Name of the argon window (default ``"Ar-Ka"``; added to the windows if absent).
    ar_smooth:
        Points averaged along acquisition order for the Ar counts (odd), or ``"auto"``.
    """

    beam: str = "none"
    detector: str = "none"
    i0: str | None = None
    ar_window: str = "Ar-Ka"
    ar_smooth: int | str = 1

    def __post_init__(self) -> None:
        if self.beam not in BEAM_MODES:
            raise ParameterError(f"unknown beam normalisation {self.beam!r}; use one of {', '.join(BEAM_MODES)}")
        if self.detector not in DETECTOR_MODES:
            raise ParameterError(f"unknown detector correction {self.detector!r}; use one of {', '.join(DETECTOR_MODES)}")
        smooth = self.ar_smooth
        if smooth != "auto" and (isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1 or smooth % 2 == 0):
            raise ParameterError(f"ar_smooth must be 'auto' or an odd number of points >= 1, got {smooth!r}")

    @classmethod
    def parse(cls, text: str, **options: Any) -> Normalisation:
        """From ``"none"``, ``"i0"``, ``"ar"``, ``"livetime"``, ``"deadtime"`` or a ``+`` combination (``"i0+livetime"``).

        Raises :class:`ParameterError` for an unknown word, or for two beam or two
        detector corrections together (``"livetime+deadtime"`` corrects the dead time twice).
        """
        words = [w for w in re.split(r"[+,\s]+", str(text).strip().lower()) if w]
        beams = [w for w in words if w in BEAM_MODES[1:]]
        detectors = [w for w in words if w in DETECTOR_MODES[1:]]
        unknown = [w for w in words if w not in BEAM_MODES and w not in DETECTOR_MODES]
        if unknown:
            raise ParameterError(
                f"unknown normalisation {'+'.join(unknown)!r}; combine one of i0, ar with one of livetime, deadtime (or none)"
            )
        if len(beams) > 1:
            raise ParameterError(f"normalise by one beam monitor only, not {' and '.join(beams)}")
        if len(detectors) > 1:
            raise ParameterError("live time and dead-time correction both correct the dead time: choose one, not both")
        return cls(beams[0] if beams else "none", detectors[0] if detectors else "none", **options)

    def describe(self) -> str:
        parts = [p for p in (self.beam, self.detector) if p != "none"]
        return "+".join(parts) or "none"


def find_scaler(scalers: Mapping[str, np.ndarray], role: str, name: str | None = None, where: str | None = None) -> tuple[str, np.ndarray]:
    """The scaler called ``name``, or the first whose name is an alias of ``role``.

    Raises :class:`InputError` listing the scalers the file has when none fits.
    """
    if name is not None:
        if name not in scalers:
            raise InputError(f"no scaler named {name!r}; the file has: {', '.join(sorted(scalers)) or 'none'}", where)
        return name, scalers[name]
    lowered = {key.lower(): key for key in scalers}
    for alias in SCALER_ALIASES[role]:
        if alias in lowered:
            return lowered[alias], scalers[lowered[alias]]
    raise InputError(
        f"no {role} scaler found (looked for {', '.join(SCALER_ALIASES[role])}); the file has: "
        f"{', '.join(sorted(scalers)) or 'none'}. Name it explicitly",
        where,
    )


@dataclass(frozen=True)
class Normalised:
    """Normalised per-point values and what was done.

    Attributes
    ----------
    values:
        ``(n_points, n_windows)`` float64, in counts at the mean normaliser.
    valid:
        ``(n_points,)``: False where the normaliser was unusable.
    parameters, notes:
        For the provenance step (``"xrf_normalise"``).
    """

    values: np.ndarray
    valid: np.ndarray
    parameters: dict[str, Any]
    notes: dict[str, Any]


def _usable(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _factor(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``mean / values`` where usable (1 elsewhere), the usable mask and the mean."""
    ok = _usable(values)
    mean = float(values[ok].mean()) if ok.any() else math.nan
    factor = np.where(ok, mean / np.where(ok, values, 1.0), 1.0)
    return factor, ok, mean


def _detector_correction(
    sums: ChannelSums, scalers: Mapping[str, np.ndarray], mode: str, where: str | None
) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """Dead-time / live-time corrected ``(n_points, n_windows)`` sums, usable mask, parameters, notes."""
    n_det, n_points, _ = sums.sums.shape
    parameters: dict[str, Any]
    if mode == "none":
        return sums.total.astype(np.float64), np.ones(n_points, dtype=bool), {}, {}
    if mode == "livetime":
        name, live = find_scaler(scalers, "live_time", where=where)
        per_point = live
        parameters = {"live_time": name}
    else:
        icr_name, icr = find_scaler(scalers, "icr", where=where)
        ocr_name, ocr = find_scaler(scalers, "ocr", where=where)
        if icr.shape != ocr.shape:
            raise InputError(f"scalers {icr_name} {icr.shape} and {ocr_name} {ocr.shape} differ in shape", where)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_point = np.where(icr > 0, ocr / np.where(icr > 0, icr, 1.0), 0.0)  # live fraction OCR/ICR
        parameters = {"icr": icr_name, "ocr": ocr_name}
    if per_point.ndim == 2 and per_point.shape[0] == n_det:
        factors, oks = zip(*[_factor(per_point[d])[:2] for d in range(n_det)], strict=True)
        corrected = sum(sums.sums[d] * factors[d][:, None] for d in range(n_det))
        ok = np.logical_and.reduce(oks)
        parameters["per_detector"] = True
    else:
        if per_point.ndim == 2:  # one scaler per element but the elements were already summed: use their mean
            per_point = per_point.mean(axis=0)
        factor, ok, _ = _factor(per_point)
        corrected = sums.total * factor[:, None]
        parameters["per_detector"] = False
    notes = {"detector_unusable_points": int((~ok).sum())}
    return np.asarray(corrected, dtype=np.float64), ok, parameters, notes


def _ar_counts(sums: ChannelSums, corrected: np.ndarray, norm: Normalisation, line_points: int, where: str | None) -> tuple[np.ndarray, int]:
    column = sums.index(norm.ar_window)
    ar = corrected[:, column]
    if norm.ar_smooth == "auto":
        median = float(np.median(ar))
        size = 1 if median <= 0 else math.ceil(AR_TARGET_COUNTS / median)
        size = max(1, min(size, line_points))
        size += 1 - size % 2
    else:
        size = int(norm.ar_smooth)
    if np.median(ar) <= 0:
        raise InputError(
            f"the {norm.ar_window} window holds no counts at most points; Ar normalisation is impossible (check the calibration, or normalise by i0)",
            where,
        )
    smoothed = ar if size == 1 else uniform_filter1d(ar, size, mode="nearest")
    return smoothed, size


def normalise(
    sums: ChannelSums,
    scalers: Mapping[str, np.ndarray],
    norm: Normalisation,
    *,
    line_points: int = 1,
    where: str | None = None,
) -> Normalised:
    """Apply ``norm`` to the window sums (see the module docstring).

    Parameters
    ----------
    sums:
        Window sums per detector element (:func:`asirp.xrf.maps.channel_sums`).
    scalers:
        Per-point scalers of the source.
    norm:
        What to do.
    line_points:
        Points per scan line (upper bound of ``ar_smooth="auto"``).

    Raises
    ------
    InputError
        A scaler is missing, has the wrong number of points, or is unusable at every point.
    """
    n_points = sums.sums.shape[1]
    for name, values in scalers.items():
        if values.shape[-1] != n_points:
            raise InputError(f"scaler {name} has {values.shape[-1]} values for {n_points} scan points", where)
    corrected, ok, parameters, notes = _detector_correction(sums, scalers, norm.detector, where)
    parameters = {"beam": norm.beam, "detector": norm.detector, **parameters}
    if norm.beam == "i0":
        name, i0 = find_scaler(scalers, "i0", norm.i0, where)
        if i0.ndim != 1:
            i0 = i0.mean(axis=0)
        factor, beam_ok, mean = _factor(i0)
        parameters["i0"] = name
        notes["i0_mean"] = mean
        notes["beam_unusable_points"] = int((~beam_ok).sum())
    elif norm.beam == "ar":
        ar, size = _ar_counts(sums, corrected, norm, line_points, where)
        factor, beam_ok, mean = _factor(ar)
        parameters.update(ar_window=norm.ar_window, ar_smooth=norm.ar_smooth)
        notes.update(ar_smooth_points=size, ar_mean_counts=mean, beam_unusable_points=int((~beam_ok).sum()))
    else:
        factor, beam_ok = np.ones(n_points), np.ones(n_points, dtype=bool)
    valid = ok & beam_ok
    if not valid.any():
        raise InputError(f"no scan point has a usable normaliser ({norm.describe()}): all are zero or invalid", where)
    notes["masked_points"] = int((~valid).sum())
    values = np.where(valid[:, None], corrected * factor[:, None], 0.0)
    return Normalised(values, valid, parameters, notes)


def row_stripes(image: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Strength of row-to-row stripes: relative standard deviation of the row sums of ``image / reference``.

    ``reference`` is what the map would be under a constant beam (e.g. the noise-free
    blurred truth, or any map of the same sample), so the sample's own structure
    cancels and what is left is the beam's variation from row to row (rows are
    acquired one after the other) plus the Poisson noise of the row sums. 0 means no
    stripes. Only rows with valid points count.
    """
    image, reference = np.asarray(image, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    ok = np.ones(image.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    rows = (np.where(ok, image, 0.0).sum(axis=1), np.where(ok, reference, 0.0).sum(axis=1))
    keep = rows[1] > 0
    ratio = rows[0][keep] / rows[1][keep]
    return float(ratio.std() / ratio.mean())
