"""Element windows: which channels of the spectrum make an element's map.

A window is a range of channels summed per scan point ("channel adding"). It is
given in one of three ways:

* by **line name**: ``"Cu-Ka"``, ``"Fe-Kb"``, ``"Pb-La"``, ``"Au-Ma"`` (also
  ``"Cu_Ka"``, ``"CuKa"``, ``"Cu"`` for Kα, and the MAPS spellings ``"Pb_L"``,
  ``"Au_M"`` for Lα / Mα). Line energies come from xraylib; the window spans the
  family's component lines (Kα1 and Kα2...) widened on each side by half of
  ``width_fwhm`` times the detector FWHM at that energy (default ``width_fwhm = 2``:
  ±1 FWHM, which holds 98 % of a Gaussian peak's counts);
* by **energy range**: ``"7.9-8.2keV"`` or ``{"energy_kev": [7.9, 8.2]}``;
* by **channel range**: ``"ch:820-860"`` or ``{"channels": [820, 860]}`` (first and
  last channel, both included).

:func:`find_overlaps` reports windows that share channels and lines of the other
requested elements (and of argon) that fall inside a window, e.g. Fe Kβ (7.06 keV)
inside a Co Kα window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import xraylib

from ..errors import ParameterError
from .calibration import DetectorResolution, EnergyCalibration

#: Line families and the xraylib lines they are made of (the strong components).
FAMILIES: dict[str, tuple[str, ...]] = {
    "Ka": ("KA1", "KA2"),
    "Kb": ("KB1", "KB3"),
    "La": ("LA1", "LA2"),
    "Lb": ("LB1", "LB2"),
    "Lg": ("LG1",),
    "Ma": ("MA1", "MA2"),
    "Mb": ("MB",),
}
#: MAPS-style shell suffixes: ``Pb_L`` means Pb Lα, ``Au_M`` means Au Mα.
_SHELL_DEFAULT = {"K": "Ka", "L": "La", "M": "Ma"}
#: Default width of a line window, in detector FWHM (±1 FWHM).
DEFAULT_WIDTH_FWHM = 2.0

_LINE_RE = re.compile(r"^\s*([A-Z][a-z]?)\s*[-_ ]?\s*([KLM])?([abg])?\s*$")
_ENERGY_RE = re.compile(r"^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*(kev|ev)\s*$", re.IGNORECASE)
_CHANNEL_RE = re.compile(r"^\s*(?:ch|channels?)\s*:\s*(\d+)\s*[-:]\s*(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    """An X-ray emission line family of one element.

    Attributes
    ----------
    element, family:
        ``"Cu"``, ``"Ka"``.
    z:
        Atomic number.
    energy_kev:
        Rate-weighted mean energy of the components, keV.
    components:
        ``(xraylib line name, energy keV, relative rate)`` of each component.
    """

    element: str
    family: str
    z: int
    energy_kev: float
    components: tuple[tuple[str, float, float], ...]

    @property
    def name(self) -> str:
        return f"{self.element}-{self.family}"

    @property
    def span_kev(self) -> tuple[float, float]:
        energies = [energy for _, energy, _ in self.components]
        return min(energies), max(energies)


@lru_cache(maxsize=512)
def xray_line(element: str, family: str) -> Line:
    """The line ``family`` (a key of :data:`FAMILIES`) of ``element`` from xraylib.

    Raises
    ------
    ParameterError
        Unknown element symbol or family, or a line the element does not have.
    """
    if family not in FAMILIES:
        raise ParameterError(f"unknown line family {family!r}; use one of {', '.join(FAMILIES)}")
    try:
        z = int(xraylib.SymbolToAtomicNumber(element))
    except ValueError:
        raise ParameterError(f"unknown chemical element {element!r}") from None
    components = []
    for name in FAMILIES[family]:
        try:
            energy = float(xraylib.LineEnergy(z, getattr(xraylib, f"{name}_LINE")))
            rate = float(xraylib.RadRate(z, getattr(xraylib, f"{name}_LINE")))
        except ValueError:
            continue
        if energy > 0 and rate > 0:
            components.append((name, energy, rate))
    if not components:
        raise ParameterError(f"{element} has no {family} line in xraylib (too light an element for this shell?)")
    rates = np.array([rate for _, _, rate in components])
    energy = float(np.dot(rates, [e for _, e, _ in components]) / rates.sum())
    return Line(element, family, z, energy, tuple(components))


def parse_line(text: str) -> Line:
    """A :class:`Line` from a name such as ``"Cu-Ka"``, ``"Fe_Kb"``, ``"PbLa"``, ``"Cu"``, ``"Pb_L"``."""
    match = _LINE_RE.match(str(text)) or _LINE_RE.match(str(text).strip().title())  # "cu-ka" -> "Cu-Ka"
    if not match:
        raise ParameterError(f"cannot read {text!r} as an X-ray line such as 'Cu-Ka', 'Fe-Kb' or 'Pb-La'")
    element, shell, greek = match.groups()
    if shell is None:
        family = "Ka"
    elif greek is None:
        family = _SHELL_DEFAULT[shell]
    else:
        family = shell + greek
    return xray_line(element, family)


def line_energy(text: str | float) -> float:
    """Energy in keV of a line name (``"Ar-Ka"``) or of a number given in keV."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(text)
    except ValueError:
        return parse_line(text).energy_kev


@dataclass(frozen=True)
class Window:
    """Channels ``lo .. hi-1`` summed into one map.

    Attributes
    ----------
    name:
        Map name (``"Cu-Ka"`` or the user's name for a channel/energy window).
    lo, hi:
        First channel and one past the last (Python slice convention).
    lo_kev, hi_kev:
        Energies of the first and last channel centres (None without a calibration).
    line:
        The emission line, for windows given by line name.
    how:
        ``"line"``, ``"energy"`` or ``"channels"``.
    clipped:
        True when the window was cut at the end of the spectrum.
    """

    name: str
    lo: int
    hi: int
    lo_kev: float | None = None
    hi_kev: float | None = None
    line: Line | None = None
    how: str = "channels"
    clipped: bool = False

    @property
    def width(self) -> int:
        return self.hi - self.lo

    @property
    def channels(self) -> slice:
        return slice(self.lo, self.hi)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "how": self.how,
            "first_channel": self.lo,
            "last_channel": self.hi - 1,
            "first_kev": self.lo_kev,
            "last_kev": self.hi_kev,
            "clipped": self.clipped,
        }
        if self.line is not None:
            out["line_kev"] = self.line.energy_kev
            out["components"] = [{"line": n, "energy_kev": e, "rate": r} for n, e, r in self.line.components]
        return out


def _channel_range(lo_kev: float, hi_kev: float, calibration: EnergyCalibration) -> tuple[int, int]:
    """Channels whose centre energy lies in ``[lo_kev, hi_kev]`` (at least the nearest one)."""
    c_lo, c_hi = float(calibration.channel(lo_kev)), float(calibration.channel(hi_kev))
    lo, hi = math.ceil(c_lo - 1e-9), math.floor(c_hi + 1e-9) + 1
    if hi <= lo:
        lo = round(0.5 * (c_lo + c_hi))
        hi = lo + 1
    return lo, hi


def _finish(name: str, lo: int, hi: int, n_channels: int, calibration: EnergyCalibration | None, centre: float, **kw: Any) -> Window:
    """Check the window against the spectrum length; clip a window that sticks out at one end."""
    if not 0 <= centre < n_channels or hi <= 0 or lo >= n_channels:
        extent = ""
        if calibration is not None:
            extent = f" = {calibration.energy(-0.5):.3f} to {calibration.energy(n_channels - 0.5):.3f} keV"
        what = f" ({kw['line'].energy_kev:.3f} keV)" if kw.get("line") is not None else ""
        raise ParameterError(
            f"window {name}{what} maps to channels {lo}..{hi - 1}, outside the spectrum (channels 0..{n_channels - 1}"
            f"{extent}); check the energy calibration and the number of channels"
        )
    clipped = lo < 0 or hi > n_channels
    lo, hi = max(lo, 0), min(hi, n_channels)
    lo_kev = hi_kev = None
    if calibration is not None:
        lo_kev, hi_kev = float(calibration.energy(lo)), float(calibration.energy(hi - 1))
    return Window(name, lo, hi, lo_kev, hi_kev, clipped=clipped, **kw)


def line_window(
    line: Line,
    calibration: EnergyCalibration,
    n_channels: int,
    resolution: DetectorResolution | None = None,
    *,
    width_fwhm: float = DEFAULT_WIDTH_FWHM,
    name: str | None = None,
) -> Window:
    """The window of ``line``: its components ± ``width_fwhm/2`` detector FWHM."""
    if not (math.isfinite(width_fwhm) and width_fwhm > 0):
        raise ParameterError(f"window width must be a positive number of FWHM, got {width_fwhm!r}")
    resolution = resolution or DetectorResolution()
    first, last = line.span_kev
    half = 0.5 * width_fwhm * float(resolution.fwhm_kev(line.energy_kev))
    lo, hi = _channel_range(first - half, last + half, calibration)
    centre = float(calibration.channel(line.energy_kev))
    return _finish(name or line.name, lo, hi, n_channels, calibration, centre, line=line, how="line")


def energy_window(name: str, lo_kev: float, hi_kev: float, calibration: EnergyCalibration, n_channels: int) -> Window:
    """The channels between two energies (keV)."""
    if not (math.isfinite(lo_kev) and math.isfinite(hi_kev) and hi_kev > lo_kev):
        raise ParameterError(f"window {name}: energy range must be two increasing numbers in keV, got {lo_kev}, {hi_kev}")
    lo, hi = _channel_range(lo_kev, hi_kev, calibration)
    centre = float(calibration.channel(0.5 * (lo_kev + hi_kev)))
    return _finish(name, lo, hi, n_channels, calibration, centre, how="energy")


def channel_window(name: str, first: int, last: int, n_channels: int, calibration: EnergyCalibration | None = None) -> Window:
    """Channels ``first..last`` (both included)."""
    if isinstance(first, bool) or isinstance(last, bool) or int(first) != first or int(last) != last or last < first:
        raise ParameterError(f"window {name}: channels must be two increasing integers, got {first!r}, {last!r}")
    return _finish(name, int(first), int(last) + 1, n_channels, calibration, 0.5 * (first + last), how="channels")


def _needs_calibration(name: str, calibration: EnergyCalibration | None) -> EnergyCalibration:
    if calibration is None:
        raise ParameterError(
            f"window {name} is given by energy, but there is no energy calibration: give one (file, config or "
            "--calibration) or use channel windows"
        )
    return calibration


def make_window(
    spec: str | Mapping[str, Any],
    calibration: EnergyCalibration | None,
    n_channels: int,
    resolution: DetectorResolution | None = None,
    *,
    name: str | None = None,
    width_fwhm: float = DEFAULT_WIDTH_FWHM,
) -> Window:
    """One window from a line name, an energy range or a channel range (see the module docstring).

    ``spec`` is a string (``"Cu-Ka"``, ``"7.9-8.2keV"``, ``"ch:820-860"``) or a mapping
    with one of ``line``, ``energy_kev`` (two numbers) or ``channels`` (first, last).
    ``name`` names the map (default: the line name or the spec text).
    """
    if isinstance(spec, Mapping):
        keys = set(spec) & {"line", "energy_kev", "channels"}
        if len(keys) != 1 or set(spec) - {"line", "energy_kev", "channels", "width_fwhm"}:
            raise ParameterError(
                f"window {name or spec}: give exactly one of 'line', 'energy_kev' or 'channels' "
                f"(and optionally 'width_fwhm'), got keys {sorted(spec)}"
            )
        width = float(spec.get("width_fwhm", width_fwhm))
        if "line" in spec:
            line = parse_line(str(spec["line"]))
            return line_window(line, _needs_calibration(line.name, calibration), n_channels, resolution, width_fwhm=width, name=name)
        values = list(spec["energy_kev"] if "energy_kev" in spec else spec["channels"])
        if len(values) != 2:
            raise ParameterError(f"window {name}: expected two numbers, got {values!r}")
        label = name or str(dict(spec))
        if "energy_kev" in spec:
            return energy_window(label, float(values[0]), float(values[1]), _needs_calibration(label, calibration), n_channels)
        return channel_window(label, values[0], values[1], n_channels, calibration)
    mapping = spec_mapping(str(spec))
    window_name = name if "line" in mapping else (name or str(spec))
    return make_window(mapping, calibration, n_channels, resolution, name=window_name, width_fwhm=width_fwhm)


def spec_mapping(text: str) -> dict[str, Any]:
    """A text window spec as a mapping: ``"ch:820-860" -> {"channels": [820, 860]}``,
    ``"7.9-8.2keV" -> {"energy_kev": [7.9, 8.2]}``, anything else ``{"line": text}``."""
    if match := _CHANNEL_RE.match(text):
        return {"channels": [int(match.group(1)), int(match.group(2))]}
    if match := _ENERGY_RE.match(text):
        scale = 1e-3 if match.group(3).lower() == "ev" else 1.0
        return {"energy_kev": [float(match.group(1)) * scale, float(match.group(2)) * scale]}
    return {"line": text}


def make_windows(
    specs: Sequence[str | Mapping[str, Any]] | Mapping[str, str | Mapping[str, Any]],
    calibration: EnergyCalibration | None,
    n_channels: int,
    resolution: DetectorResolution | None = None,
    *,
    width_fwhm: float = DEFAULT_WIDTH_FWHM,
) -> list[Window]:
    """Windows for several elements; a mapping gives each window its map name.

    Raises :class:`ParameterError` on duplicate names or an empty list.
    """
    items = list(specs.items()) if isinstance(specs, Mapping) else [(None, spec) for spec in specs]
    if not items:
        raise ParameterError("no element windows given: name lines such as 'Cu-Ka' or channel/energy ranges")
    windows = [make_window(spec, calibration, n_channels, resolution, name=name, width_fwhm=width_fwhm) for name, spec in items]
    names = [w.name for w in windows]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ParameterError(f"window names must be unique; repeated: {', '.join(duplicates)}")
    return windows


@dataclass(frozen=True)
class Overlap:
    """A possible interference between windows: shared channels or a foreign line inside a window."""

    window: str
    other: str
    detail: str

    def __str__(self) -> str:
        return f"{self.window} / {self.other}: {self.detail}"


def _element_lines(elements: Iterable[str]) -> list[Line]:
    lines = []
    for element in sorted(set(elements)):
        for family in FAMILIES:
            try:
                lines.append(xray_line(element, family))
            except ParameterError:
                continue
    return lines


def find_overlaps(windows: Sequence[Window], calibration: EnergyCalibration | None) -> list[Overlap]:
    """Interferences among ``windows``.

    Reported: (1) two windows sharing channels; (2) a line of another requested
    element, or of argon (always in air), whose energy falls inside a window (for
    example Fe Kβ at 7.06 keV inside a Co Kα window, or Pb Lα at 10.55 keV inside an
    As Kα window). Lines of the window's own element are not reported.
    """
    found: list[Overlap] = []
    for i, a in enumerate(windows):
        for b in windows[i + 1 :]:
            shared = min(a.hi, b.hi) - max(a.lo, b.lo)
            if shared > 0:
                found.append(Overlap(a.name, b.name, f"{shared} shared channels ({max(a.lo, b.lo)}..{min(a.hi, b.hi) - 1})"))
    if calibration is None:
        return found
    elements = {w.line.element for w in windows if w.line is not None} | {"Ar"}
    for window in windows:
        lo_kev, hi_kev = float(calibration.energy(window.lo - 0.5)), float(calibration.energy(window.hi - 0.5))
        own = window.line.element if window.line is not None else None
        for line in _element_lines(elements - {own}):
            if lo_kev <= line.energy_kev <= hi_kev:
                found.append(Overlap(window.name, line.name, f"{line.name} line at {line.energy_kev:.3f} keV lies inside the window"))
    return found
