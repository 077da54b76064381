"""Argument checks shared by the generators: one clear :class:`ParameterError` per mistake."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..errors import ParameterError


def choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid ones."""
    options = list(choices)
    if value not in options:
        raise ParameterError(f"unknown {name} {value!r}; valid choices: {', '.join(options)}")
    return str(value)


def positive(name: str, value: Any, *, allow_zero: bool = False, unit: str = "") -> float:
    """``value`` as a finite float > 0 (or >= 0 with ``allow_zero``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    ok = math.isfinite(number) and (number >= 0 if allow_zero else number > 0)
    if not ok:
        bound = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name} must be a finite {bound} number{' in ' + unit if unit else ''}, got {value!r}")
    return number


def number(name: str, value: Any, unit: str = "") -> float:
    """``value`` as a finite float of any sign."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        raise ParameterError(f"{name} must be a finite number{' in ' + unit if unit else ''}, got {value!r}")
    return result


def integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def seed(value: Any) -> int:
    """A non-negative integer seed for :class:`numpy.random.SeedSequence`."""
    return integer("seed", value, 0)


def image_shape(value: Any, minimum: int, name: str = "shape") -> tuple[int, int]:
    """A ``(ny, nx)`` pair of ints, each at least ``minimum`` pixels."""
    try:
        ny, nx = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a pair (ny, nx) of pixel counts, got {value!r}") from None
    try:
        return integer(f"{name}[0]", ny, minimum), integer(f"{name}[1]", nx, minimum)
    except ParameterError as exc:
        raise ParameterError(f"{name} {tuple(value)!r} is too small or not integer: {exc}") from None
