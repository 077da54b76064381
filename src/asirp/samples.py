"""Small real sample data shipped inside the package (no download at run time)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import h5py
import numpy as np

from .frame import Frame
from .history import HistoryStep, sha256_of_file

#: Shipped sample files, by short name (see ``asirp/data/README.md`` for sources and licences).
SAMPLES: dict[str, str] = {"tooth": "tooth.h5"}


def sample_path(name: str) -> Path:
    """Path of a shipped sample file."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    return Path(str(files("asirp") / "data" / SAMPLES[name]))


def tooth_sinogram(row: int = 0) -> Frame:
    """The tooth sample's sinogram of one detector row, as attenuation ``-ln(I/I0)``.

    Projections are flat- and dark-corrected with the mean of the 10 flats and darks
    (``T = (P - D) / (F - D)``), clipped to a transmission of at least 1e-3, and
    turned into line integrals of attenuation (dimensionless). Rows are the 181
    angles (0–180°), columns the 640 detector pixels.
    """
    path = sample_path("tooth")
    with h5py.File(path, "r") as handle:
        projections = handle["exchange/data"][:, row, :].astype(np.float64)
        flat = handle["exchange/data_white"][:, row, :].mean(axis=0)
        dark = handle["exchange/data_dark"][:, row, :].mean(axis=0)
        theta = handle["exchange/theta"][:]
    transmission = np.clip((projections - dark) / np.maximum(flat - dark, 1.0), 1e-3, None)
    step = HistoryStep(
        method="read",
        parameters={"dataset": "exchange/data", "row": row, "correction": "flat/dark, -ln"},
        inputs=({"name": str(path), "sha256": sha256_of_file(path)},),
    )
    return Frame(
        -np.log(transmission),
        kind="image",
        meta={"source": str(path), "angles_deg": theta.tolist(), "description": "tooth sinogram (APS, via TomoPy)"},
        history=(step,),
    )
