"""The few detector header entries asirp uses: exposure time, pixel size, saturation.

Two header styles are understood:

* the PILATUS/EIGER text header (``# Pixel_size 172e-6 m x 172e-6 m``, ``# Count_cutoff
  1048500 counts``...), stored in the TIFF ImageDescription tag and in CBF
  ``_array_data.header_contents``; it is parsed by fabio's own parser;
* key/value headers of ESRF EDF and similar files (``ExposureTime``, ``PSize_1``...),
  as fabio returns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabio.cbfimage import PilatusHeader

from ..errors import ParameterError
from ..units import PixelSize

# Key/value header names (compared case-insensitively) and what they mean.
_EXPOSURE_KEYS = ("exposuretime", "exposure_time", "count_time", "acq_expo_time")
_SATURATION_KEYS = ("count_cutoff", "saturation_value", "saturation")
# ESRF convention: PSize_1 along Dim_1 (x, fast axis), PSize_2 along Dim_2 (y), in metres.
_PIXEL_X_KEY, _PIXEL_Y_KEY = "psize_1", "psize_2"


@dataclass
class HeaderHints:
    """What a header says: metadata entries, pixel size, saturation (counts)."""

    meta: dict[str, Any] = field(default_factory=dict)
    pixel_size: PixelSize | None = None
    saturation: float | None = None


def _leading_float(value: Any) -> float | None:
    """``"1097223 counts"`` -> 1097223.0; None when the value does not start with a number."""
    try:
        return float(str(value).split()[0])
    except (ValueError, IndexError):
        return None


def _pixel_size_m(x_m: float | None, y_m: float | None) -> PixelSize | None:
    if x_m is None or y_m is None:
        return None
    try:
        return PixelSize(y_m * 1e6, x_m * 1e6, "um")
    except ParameterError:  # zero or negative sizes in a header: not a pixel size
        return None


def pilatus_hints(text: str) -> HeaderHints:
    """Hints from a PILATUS/EIGER text header (``# Key value unit`` lines).

    Returns empty hints when ``text`` is not such a header.
    """
    if not text or not text.lstrip().startswith("#"):
        return HeaderHints()
    try:
        values = PilatusHeader(text)
    except (ValueError, IndexError, TypeError):
        return HeaderHints()
    hints = HeaderHints()
    simple = {
        "Exposure_time": "exposure_time_s",
        "Wavelength": "wavelength_A",
        "Detector_distance": "detector_distance_m",
    }
    for key, name in simple.items():
        if key in values:
            hints.meta[name] = float(values[key])
    if "Beam_xy" in values:
        hints.meta["beam_xy_px"] = [float(v) for v in values["Beam_xy"]]
    if "Pixel_size" in values:
        # "Pixel_size <x> m x <y> m"
        x_m, y_m = (float(v) for v in values["Pixel_size"])
        hints.pixel_size = _pixel_size_m(x_m, y_m)
    if "Count_cutoff" in values:
        hints.saturation = float(values["Count_cutoff"])
    return hints


def keyed_hints(header: Mapping[str, Any]) -> HeaderHints:
    """Hints from a key/value header (EDF and the other fabio formats)."""
    lower = {str(key).lower(): value for key, value in header.items()}
    hints = HeaderHints()
    for key in _EXPOSURE_KEYS:
        if key in lower and (value := _leading_float(lower[key])) is not None:
            hints.meta["exposure_time_s"] = value
            break
    for key in _SATURATION_KEYS:
        if key in lower and (value := _leading_float(lower[key])) is not None:
            hints.saturation = value
            break
    hints.pixel_size = _pixel_size_m(
        _leading_float(lower.get(_PIXEL_X_KEY)), _leading_float(lower.get(_PIXEL_Y_KEY))
    )
    if "_array_data.header_contents" in lower:  # CBF: the PILATUS header sits in here
        pilatus = pilatus_hints(str(lower["_array_data.header_contents"]))
        hints.meta.update(pilatus.meta)
        hints.pixel_size = pilatus.pixel_size or hints.pixel_size
        hints.saturation = pilatus.saturation if pilatus.saturation is not None else hints.saturation
    return hints
