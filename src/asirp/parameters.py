"""Method parameters written as text (``KEY=VALUE``), as the command line and the viewer take them."""

from __future__ import annotations

import json
from typing import Any

from .errors import ParameterError


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with ``VALUE`` read as JSON when it is JSON (numbers, true/false, lists), else a string.

    The value is validated later by the method's parameter model, which names the
    parameter, its unit and its range in the error.

    >>> parse_assignment("iterations=20")
    ('iterations', 20)
    >>> parse_assignment("psf_file=beam.tif")
    ('psf_file', 'beam.tif')
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParameterError(f"--param expects KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
