"""Physical lengths: pixel sizes, scan steps, beam widths.

Lengths are stored as a float and a unit symbol; conversions use exact powers of ten. Only
lengths are needed by asirp, so this stays a few lines instead of a units library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParameterError

#: Power of ten of one metre for the length units asirp accepts (exact integer
#: exponents keep conversions such as 25 µm -> 0.025 mm free of rounding noise).
LENGTH_UNITS: dict[str, int] = {"m": 0, "mm": -3, "um": -6, "µm": -6, "nm": -9, "A": -10, "Å": -10}


def _check_unit(unit: str) -> str:
    if unit not in LENGTH_UNITS:
        raise ParameterError(f"unknown length unit {unit!r}; use one of {', '.join(LENGTH_UNITS)}")
    return "um" if unit == "µm" else ("A" if unit == "Å" else unit)


def convert_length(value: float, unit: str, to: str) -> float:
    """Convert ``value`` from ``unit`` to ``to`` (both keys of :data:`LENGTH_UNITS`)."""
    exponent = LENGTH_UNITS[_check_unit(unit)] - LENGTH_UNITS[_check_unit(to)]
    return value * 10.0**exponent if exponent >= 0 else value / 10.0**-exponent


_LENGTH_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Zµ]+)?\s*$")


def parse_length(text: str | float, default_unit: str = "um") -> tuple[float, str]:
    """Parse ``"50um"``, ``"0.05 mm"`` or a bare number (in ``default_unit``).

    Returns ``(value, unit)``. Raises :class:`ParameterError` on anything else.
    """
    if isinstance(text, int | float):
        return float(text), _check_unit(default_unit)
    match = _LENGTH_RE.match(str(text))
    if not match:
        raise ParameterError(f"cannot read {text!r} as a length such as '50um' or '0.05mm'")
    value, unit = match.groups()
    return float(value), _check_unit(unit or default_unit)


@dataclass(frozen=True)
class PixelSize:
    """Physical size of one pixel (or scan step) along y (rows) and x (columns).

    Examples
    --------
    >>> PixelSize(25, 25, "um").to("mm")
    PixelSize(y=0.025, x=0.025, unit='mm')
    """

    y: float
    x: float
    unit: str = "um"

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", _check_unit(self.unit))
        for axis, value in (("y", self.y), ("x", self.x)):
            if not (value > 0 and value < float("inf")):
                raise ParameterError(f"pixel size along {axis} must be a positive length, got {value}")

    @classmethod
    def square(cls, size: float, unit: str = "um") -> PixelSize:
        """A square pixel of side ``size``."""
        return cls(size, size, unit)

    def to(self, unit: str) -> PixelSize:
        """The same size expressed in ``unit``."""
        return PixelSize(convert_length(self.y, self.unit, unit), convert_length(self.x, self.unit, unit), unit)

    def scaled(self, factor: float) -> PixelSize:
        """Pixel size after resampling by ``factor`` (``factor`` > 1 = finer pixels)."""
        return PixelSize(self.y / factor, self.x / factor, self.unit)

    def as_dict(self) -> dict[str, float | str]:
        return {"y": self.y, "x": self.x, "unit": self.unit}
