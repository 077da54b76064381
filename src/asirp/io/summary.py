"""Plain-number summaries of a frame: detector geometry and count statistics.

Used by ``asirp info`` (:func:`asirp.io.file_info`) and by the NeXus writer, which
stores the geometry summary as NXdetector fields next to the PONI text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frame import Frame
from ..geometry import Geometry


def geometry_summary(geometry: Geometry) -> dict[str, Any]:
    """Beam centre, distance, wavelength and detector pixel size of a PONI geometry.

    Returns
    -------
    dict
        ``detector`` (name), ``beam_center_px`` ``[y, x]`` (pixels, pyFAI's Fit2D
        direct-beam position), ``distance_m`` (sample to PONI, metres),
        ``wavelength_A`` (ångström, None when the calibration has none) and
        ``pixel_size_m`` ``[y, x]`` (metres).
    """
    detector = geometry.integrator.detector
    wavelength = geometry.poni.get("wavelength")
    center_y, center_x = geometry.beam_center_px()
    return {
        "detector": str(geometry.poni.get("detector", type(detector).__name__)),
        "beam_center_px": [center_y, center_x],
        "distance_m": float(geometry.poni["dist"]),
        "wavelength_A": None if wavelength is None else float(wavelength) * 1e10,
        "pixel_size_m": [float(detector.pixel1), float(detector.pixel2)],
    }


def count_statistics(frame: Frame) -> dict[str, float]:
    """Statistics of the valid pixels (data units, usually counts).

    ``zero_fraction`` is the fraction of valid pixels that hold exactly 0, a quick
    sign of a low-dose photon-counting frame (zeros are measurements, never masked).
    Sums and means are accumulated in float64.
    """
    values = frame.data[frame.valid].astype(np.float64)
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "sum": float(values.sum()),
        "zero_fraction": float(np.count_nonzero(values == 0) / values.size),
    }
