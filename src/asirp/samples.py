"""Small real sample data shipped inside the package (no download at run time)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .frame import Frame

#: Shipped sample files, by short name (see ``asirp/data/README.md`` for sources and licences).
SAMPLES: dict[str, str] = {"tooth": "tooth.h5"}


def sample_path(name: str) -> Path:
    """Path of a shipped sample file."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    return Path(str(files("asirp") / "data" / SAMPLES[name]))


def tooth_sinogram(row: int = 0) -> Frame:
    """The tooth sample's sinogram of one detector row, as attenuation ``-ln(I/I0)``.

    Read and corrected by :mod:`asirp.tomo` (one implementation): projections are
    dark- and flat-corrected with the mean of the 10 darks and flats
    (``T = (P - D) / (F - D)``), the transmission floored at 1e-3, and turned into
    line integrals of attenuation (dimensionless). Rows are the 181 angles (0–180°),
    columns the 640 detector pixels; the history holds every step.
    """
    from .tomo import minus_log, normalise, read_scan

    path = sample_path("tooth")
    attenuation = minus_log(normalise(read_scan(path)))  # both rows: a Frame image has at least 2 rows
    return Frame(
        attenuation.data[:, row, :],
        kind="image",
        meta={"source": str(path), "angles_deg": attenuation.meta["angles_deg"], "description": "tooth sinogram (APS, via TomoPy)"},
        history=attenuation.history,
    )
