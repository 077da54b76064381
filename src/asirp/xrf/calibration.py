"""Energy calibration and detector resolution of an energy-dispersive XRF detector.

* :class:`EnergyCalibration`: channel -> energy, ``E(c) = offset + slope·c + quad·c²``
  (keV; ``c`` is the channel index, the energy is that of the channel's centre), the
  convention of MAPS / XRF-Maps and PyMca;
* :class:`DetectorResolution`: the peak FWHM as a function of energy, with the model
  of MAPS / XRF-Maps ``σ² = (FWHM_OFFSET / 2.3548)² + 2.96 · FWHM_FANOPRIME · E``
  (σ and E in keV), which sizes the element windows;
* :func:`read_maps_override`: both (and the incident energy) from a MAPS
  ``maps_fit_parameters_override.txt``;
* :func:`fit_two_peaks`: offset and slope refitted from two peaks of known energy in
  the summed spectrum (e.g. Ar Kα and Cu Kα, or Ar Kα and the elastic peak).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import curve_fit

from ..errors import InputError, ParameterError

#: FWHM / σ of a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: The constant of the MAPS resolution model (eV per electron-hole pair as MAPS writes it).
MAPS_PAIR_CONSTANT = 2.96


@dataclass(frozen=True)
class EnergyCalibration:
    """Channel -> energy mapping ``E(c) = offset_kev + slope_kev·c + quad_kev·c²`` (keV).

    Attributes
    ----------
    offset_kev:
        Energy of channel 0, keV.
    slope_kev:
        keV per channel (> 0).
    quad_kev:
        Quadratic term, keV per channel² (usually 0).
    source:
        Where the numbers came from (a file, ``"config"``, ``"fitted: Ar-Ka, Cu-Ka"``...).

    Examples
    --------
    >>> cal = EnergyCalibration(-0.0042, 0.00952)
    >>> round(cal.energy(845), 3), round(cal.channel(8.041), 1)
    (8.04, 845.1)
    """

    offset_kev: float
    slope_kev: float
    quad_kev: float = 0.0
    source: str = "given"

    def __post_init__(self) -> None:
        for name in ("offset_kev", "slope_kev", "quad_kev"):
            value = getattr(self, name)
            if not isinstance(value, int | float | np.floating | np.integer) or not math.isfinite(float(value)):
                raise ParameterError(f"energy calibration {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.slope_kev <= 0:
            raise ParameterError(
                f"energy calibration slope must be positive (keV per channel), got {self.slope_kev!r}; "
                "a reversed or zero slope cannot map lines to channels"
            )

    def energy(self, channel: ArrayLike) -> np.ndarray | float:
        """Energy in keV at (fractional) channel index ``channel``."""
        c = np.asarray(channel, dtype=np.float64)
        value = self.offset_kev + self.slope_kev * c + self.quad_kev * c * c
        return float(value) if value.ndim == 0 else value

    def energies(self, n_channels: int) -> np.ndarray:
        """Energies (keV) of the centres of channels ``0 .. n_channels-1``."""
        return np.asarray(self.energy(np.arange(n_channels)))

    def channel(self, energy_kev: ArrayLike) -> np.ndarray | float:
        """Fractional channel index of ``energy_kev`` (the inverse of :meth:`energy`).

        With a quadratic term the root on the branch where the calibration increases
        (``slope + 2·quad·c > 0``) is taken.
        """
        e = np.asarray(energy_kev, dtype=np.float64)
        if self.quad_kev == 0.0:
            c = (e - self.offset_kev) / self.slope_kev
        else:
            # quad·c² + slope·c + (offset - e) = 0, numerically stable root of the increasing branch.
            disc = self.slope_kev**2 - 4.0 * self.quad_kev * (self.offset_kev - e)
            root = np.sqrt(np.maximum(disc, 0.0))
            c = 2.0 * (e - self.offset_kev) / (self.slope_kev + root)
        return float(c) if c.ndim == 0 else c

    def check_monotonic(self, n_channels: int, where: str | None = None) -> None:
        """Raise :class:`ParameterError` unless energy increases over all ``n_channels``."""
        last = self.slope_kev + 2.0 * self.quad_kev * max(n_channels - 1, 0)
        if last <= 0:
            raise ParameterError(
                f"{where + ': ' if where else ''}energy calibration {self.describe()} decreases before channel "
                f"{n_channels - 1}; the quadratic term is too large"
            )

    def describe(self) -> str:
        quad = f" + {self.quad_kev:.4g}·c²" if self.quad_kev else ""
        return f"E = {self.offset_kev:.5g} + {self.slope_kev:.6g}·c{quad} keV"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DetectorResolution:
    """Peak width of the detector versus energy (the MAPS / XRF-Maps model).

    ``σ(E)² = (fwhm_offset_kev / 2.3548)² + 2.96 · fano_prime · E`` with σ and E in
    keV; FWHM = 2.3548 σ. The defaults (0.10 keV, 1e-4) give 140 eV at Mn Kα
    (5.9 keV), a typical silicon drift detector at short shaping time.

    Examples
    --------
    >>> round(DetectorResolution().fwhm_kev(5.9), 3)
    0.14
    """

    fwhm_offset_kev: float = 0.10
    fano_prime: float = 1.0e-4
    source: str = "default"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fwhm_offset_kev) and self.fwhm_offset_kev >= 0):
            raise ParameterError(f"FWHM offset must be a non-negative energy in keV, got {self.fwhm_offset_kev!r}")
        if not (math.isfinite(self.fano_prime) and self.fano_prime >= 0):
            raise ParameterError(f"Fano prime must be non-negative, got {self.fano_prime!r}")
        if self.fwhm_offset_kev == 0 and self.fano_prime == 0:
            raise ParameterError("detector resolution of zero width: give a FWHM offset or a Fano prime")

    def sigma_kev(self, energy_kev: ArrayLike) -> np.ndarray | float:
        """Gaussian standard deviation (keV) of a peak at ``energy_kev``."""
        e = np.maximum(np.asarray(energy_kev, dtype=np.float64), 0.0)
        value = np.sqrt((self.fwhm_offset_kev / FWHM_PER_SIGMA) ** 2 + MAPS_PAIR_CONSTANT * self.fano_prime * e)
        return float(value) if value.ndim == 0 else value

    def fwhm_kev(self, energy_kev: ArrayLike) -> np.ndarray | float:
        """Full width at half maximum (keV) of a peak at ``energy_kev``."""
        return self.sigma_kev(energy_kev) * FWHM_PER_SIGMA

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MapsParameters:
    """What asirp takes from a MAPS ``maps_fit_parameters_override.txt``."""

    calibration: EnergyCalibration
    resolution: DetectorResolution | None
    incident_energy_kev: float | None
    elements: tuple[str, ...]


def _override_values(path: Path) -> dict[str, str]:
    """``KEY: value`` lines of a MAPS override file (first occurrence of each key)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read the MAPS parameter file ({exc.strerror})", path) from exc
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and not key[0].isspace() and " " not in key:
            values.setdefault(key, value.strip())
    return values


def _override_float(values: dict[str, str], key: str, path: Path) -> float | None:
    if key not in values or not values[key]:
        return None
    try:
        return float(values[key])
    except ValueError:
        raise InputError(f"{key} should be a number, got {values[key]!r}", path) from None


def read_maps_override(path: str | os.PathLike[str]) -> MapsParameters:
    """Energy calibration, resolution model and incident energy from a MAPS override file.

    Reads ``CAL_OFFSET_[E_OFFSET]``, ``CAL_SLOPE_[E_LINEAR]``, ``CAL_QUAD_[E_QUADRATIC]``
    (keV), ``FWHM_OFFSET``, ``FWHM_FANOPRIME``, ``COHERENT_SCT_ENERGY`` (keV) and
    ``ELEMENTS_TO_FIT``.

    Raises
    ------
    InputError
        Unreadable file, or no offset/slope in it.
    """
    file = Path(path)
    values = _override_values(file)
    offset = _override_float(values, "CAL_OFFSET_[E_OFFSET]", file)
    slope = _override_float(values, "CAL_SLOPE_[E_LINEAR]", file)
    if offset is None or slope is None:
        raise InputError("no CAL_OFFSET_[E_OFFSET] / CAL_SLOPE_[E_LINEAR] energy calibration in this MAPS file", file)
    quad = _override_float(values, "CAL_QUAD_[E_QUADRATIC]", file) or 0.0
    try:
        calibration = EnergyCalibration(offset, slope, quad, source=str(file.absolute()))
    except ParameterError as exc:
        raise InputError(str(exc), file) from None
    fwhm_offset = _override_float(values, "FWHM_OFFSET", file)
    fano = _override_float(values, "FWHM_FANOPRIME", file)
    resolution = None
    if fwhm_offset is not None and fano is not None:
        resolution = DetectorResolution(fwhm_offset, fano, source=str(file.absolute()))
    elements = tuple(e.strip() for e in values.get("ELEMENTS_TO_FIT", "").split(",") if e.strip())
    return MapsParameters(calibration, resolution, _override_float(values, "COHERENT_SCT_ENERGY", file), elements)


def calibration_from_axis(energies: ArrayLike, source: str) -> EnergyCalibration:
    """Calibration from a per-channel energy axis (keV) as files store it, by a quadratic fit.

    Raises :class:`InputError` when the axis is not strictly increasing or not
    quadratic (residuals above 1 % of a channel).
    """
    e = np.asarray(energies, dtype=np.float64).ravel()
    if e.size < 3 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
        raise InputError("the energy axis is not a strictly increasing list of finite energies", source)
    channels = np.arange(e.size, dtype=np.float64)
    quad, slope, offset = np.polyfit(channels, e, 2)
    residual = np.abs(np.polyval([quad, slope, offset], channels) - e).max()
    if residual > 0.01 * abs(slope):
        raise InputError(f"the energy axis is not a quadratic function of the channel (residual {residual:.3g} keV)", source)
    # Terms below 1e-9 of a channel's width over the spectrum are fitting round-off.
    if abs(quad) * e.size**2 < 1e-9 * abs(slope) * e.size:
        quad = 0.0
    if abs(offset) < 1e-9 * abs(slope) * e.size:
        offset = 0.0
    return EnergyCalibration(offset, slope, quad, source=source)


# -- two-peak refit -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeakFit:
    """Result of :func:`fit_two_peaks`: the new calibration and what it rests on."""

    calibration: EnergyCalibration
    energies_kev: tuple[float, float]
    channels: tuple[float, float]
    fwhm_channels: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration.as_dict(),
            "energies_kev": list(self.energies_kev),
            "channels": list(self.channels),
            "fwhm_channels": list(self.fwhm_channels),
        }


def _gaussian_line(x: np.ndarray, area: float, centre: float, sigma: float, b0: float, b1: float) -> np.ndarray:
    return area / (sigma * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((x - centre) / sigma) ** 2) + b0 + b1 * (x - centre)


def peak_centroid(spectrum: np.ndarray, near: float, half_width: float, where: str) -> tuple[float, float]:
    """Centre and FWHM (channels) of the peak nearest channel ``near``.

    The highest channel within ``near ± half_width`` seeds a least-squares fit of a
    Gaussian on a linear background over ±2 estimated FWHM around it (Poisson
    weights), the standard way of locating XRF peaks to a fraction of a channel.
    """
    n = spectrum.size
    lo, hi = max(0, int(math.floor(near - half_width))), min(n, int(math.ceil(near + half_width)) + 1)
    if hi - lo < 5:
        raise InputError(f"peak search window around channel {near:.1f} lies outside the spectrum", where)
    smooth = np.convolve(spectrum.astype(np.float64), np.ones(3) / 3, mode="same")
    top = lo + int(np.argmax(smooth[lo:hi]))
    peak = smooth[top]
    floor = float(np.median(smooth[lo:hi]))
    if peak - floor < 10 or peak <= 2 * floor:
        raise InputError(
            f"no clear peak near channel {near:.1f} (maximum {peak:.3g} counts over a level of {floor:.3g}); "
            "check the line names or give a rough calibration",
            where,
        )
    above = np.flatnonzero(smooth[lo:hi] >= floor + 0.5 * (peak - floor)) + lo
    fwhm0 = float(max(2.0, above.max() - above.min() + 1))
    a, b = max(0, int(top - 2 * fwhm0)), min(n, int(top + 2 * fwhm0) + 1)
    x = np.arange(a, b, dtype=np.float64)
    y = spectrum[a:b].astype(np.float64)
    sigma0 = fwhm0 / FWHM_PER_SIGMA
    start = [max(float((y - floor).sum()), 1.0), float(top), sigma0, floor, 0.0]
    try:
        params, _ = curve_fit(_gaussian_line, x, y, p0=start, sigma=np.sqrt(np.maximum(y, 1.0)), maxfev=5000)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"the peak near channel {near:.1f} could not be fitted ({exc})", where) from None
    centre, sigma = float(params[1]), abs(float(params[2]))
    if not (a <= centre <= b and 0.3 < sigma < 4 * fwhm0):
        raise InputError(f"the peak near channel {near:.1f} could not be fitted (centre {centre:.1f}, σ {sigma:.2f})", where)
    return centre, sigma * FWHM_PER_SIGMA


def fit_two_peaks(
    spectrum: ArrayLike,
    energies_kev: tuple[float, float],
    *,
    guess: EnergyCalibration | None = None,
    channels: tuple[float, float] | None = None,
    search_kev: float = 0.3,
    where: str = "spectrum",
) -> PeakFit:
    """Refit offset and slope from two peaks of known energy in a (summed) spectrum.

    Parameters
    ----------
    spectrum:
        Counts per channel, e.g. the spectrum summed over the map.
    energies_kev:
        The two peaks' energies (keV), e.g. ``(2.957, 8.041)`` for Ar Kα and Cu Kα
        (see :func:`asirp.xrf.lines.line_energy`).
    guess:
        A rough calibration: each peak is searched within ``± search_kev`` of where it
        puts the line; its quadratic term is kept. Without it, ``channels`` must give
        the approximate peak channels.
    channels:
        Approximate channels of the two peaks (searched ± 5 % of the spectrum length).
    search_kev:
        Half-width of the search window around the guessed position, keV.

    Returns
    -------
    PeakFit
        ``calibration`` passes exactly through both fitted peak centres.

    Raises
    ------
    InputError
        A peak cannot be found or fitted, or the fitted peaks are in the wrong order.
    ParameterError
        Neither ``guess`` nor ``channels``, or equal energies.
    """
    counts = np.asarray(spectrum, dtype=np.float64).ravel()
    e1, e2 = (float(e) for e in energies_kev)
    if not (math.isfinite(e1) and math.isfinite(e2)) or e1 == e2:
        raise ParameterError(f"two different peak energies are needed, got {energies_kev!r}")
    quad = 0.0 if guess is None else guess.quad_kev
    if guess is not None:
        near = (float(guess.channel(e1)), float(guess.channel(e2)))
        half = search_kev / guess.slope_kev
    elif channels is not None:
        near = (float(channels[0]), float(channels[1]))
        half = 0.05 * counts.size
    else:
        raise ParameterError("fit_two_peaks needs a rough calibration (guess=) or approximate peak channels (channels=)")
    (c1, w1), (c2, w2) = (peak_centroid(counts, c, half, where) for c in near)
    if (c2 - c1) * (e2 - e1) <= 0:
        raise InputError(
            f"fitted peaks at channels {c1:.1f} and {c2:.1f} are in the wrong order for energies {e1} and {e2} keV", where
        )
    # E = offset + slope·c + quad·c² through both points with quad fixed.
    slope = ((e2 - quad * c2 * c2) - (e1 - quad * c1 * c1)) / (c2 - c1)
    offset = e1 - slope * c1 - quad * c1 * c1
    calibration = EnergyCalibration(offset, slope, quad, source=f"fitted to peaks at {e1:.4g} and {e2:.4g} keV")
    return PeakFit(calibration, (e1, e2), (c1, c2), (w1, w2))

