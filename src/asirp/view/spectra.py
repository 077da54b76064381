"""XRF spectra cubes in the viewer, without Bokeh: the summed spectrum, the line under a click, an element map.

A spectra cube (APS MAPS, PyXRF, NeXus, point lists: whatever :func:`asirp.xrf.open_spectra`
reads) is opened once and kept open while the page shows it; its spectrum summed over the
scan is plotted, a click on it names the X-ray line there that stands out most, and a
line name (``Cu-Ka``, an energy range ``7.9-8.2keV``, channels ``ch:820-860``) becomes an
element map through :func:`asirp.xrf.element_maps`, exactly as ``asirp xrf`` makes it: a
frame of kind ``xrf_map`` on the scan step, which the page then shows and restores as any
image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..frame import Frame

#: Line families a click may name (the strong ones of an energy-dispersive spectrum).
CLICK_FAMILIES = ("Ka", "Kb", "La", "Lb", "Ma")
#: Normalisations offered (:class:`asirp.xrf.Normalisation` text, as ``asirp xrf --normalise``).
NORMALISATIONS = ("none", "i0", "livetime", "i0+livetime", "ar", "ar+livetime", "deadtime")


def is_spectra(path: str) -> bool:
    """Whether the page opens ``path`` as an XRF spectra cube: a whole HDF5 file in which :func:`asirp.xrf.open_spectra` finds spectra.

    The readers' own test (:func:`asirp.xrf.readers.holds_spectra`), reading no counts. A
    path naming a dataset (``FILE.h5::/path``) is an image asked for, never a cube.
    """
    import h5py

    from ..io.sniff import DATASET_SEPARATOR, HDF5_SUFFIXES
    from ..xrf.readers import holds_spectra

    file = Path(path.strip())
    if DATASET_SEPARATOR in path or not (file.suffix.lower() in HDF5_SUFFIXES and file.is_file()):
        return False
    try:
        with h5py.File(file, "r") as handle:
            return holds_spectra(handle)
    except OSError:  # not HDF5 after all: the ordinary reader says why
        return False


@lru_cache(maxsize=1)
def _lines() -> tuple[Any, ...]:
    """Every line of :data:`CLICK_FAMILIES` of the elements Na to U that xraylib knows."""
    import xraylib

    from ..xrf.lines import xray_line

    found = []
    for z in range(11, 93):
        for family in CLICK_FAMILIES:
            try:
                found.append(xray_line(xraylib.AtomicNumberToSymbol(z), family))
            except ParameterError:  # too light an element for this shell
                continue
    return tuple(found)


@dataclass
class Spectra:
    """An open spectra cube and its spectrum summed over every point and detector element.

    ``energies`` are the channels' energies (keV) when the file gives a calibration, else None.
    """

    path: str
    source: Any
    spectrum: np.ndarray
    energies: np.ndarray | None

    @classmethod
    def open(cls, path: str) -> Spectra:
        """Open ``path`` (``FILE.h5`` or ``FILE.h5::/spectra``) and sum its spectra (one pass over the cube)."""
        from ..xrf import channel_sums, open_spectra
        from ..xrf.lines import channel_window

        source = open_spectra(path)
        try:
            whole = channel_window("all", 0, source.n_channels - 1, source.n_channels)
            summed = channel_sums(source, [whole], spectrum=True, show_progress=False).spectrum
        except BaseException:
            source.close()
            raise
        assert summed is not None
        energies = None if source.calibration is None else np.asarray(source.calibration.energy(np.arange(source.n_channels)), float)
        return cls(path, source, np.asarray(summed, np.float64), energies)

    def close(self) -> None:
        self.source.close()

    def describe(self) -> str:
        """One line: points, channels, detector elements, calibration."""
        ny, nx = self.source.grid.shape
        calibrated = "calibrated in keV" if self.energies is not None else "no energy calibration (channels)"
        return f"spectra: {ny} x {nx} points, {self.source.n_channels} channels, {len(self.source.detectors)} detector element(s), {calibrated}"

    def images_beside(self) -> list[str]:
        """The file's other datasets that read as images (``FILE::/path``), not the spectra nor datasets of their shape.

        A spectra cube file may also hold maps or monitors an image reader opens; the page
        opens the cube and names these, so that one can still be opened as an image.
        """
        from ..io.hdf5 import image_datasets

        if self.source.path is None:
            return []
        found = image_datasets(Path(self.source.path))
        spectra = {name.strip("/") for name in self.source.detectors}
        shapes = {shape for name, shape, _ in found if name.strip("/") in spectra}
        return [f"{self.path.split('::')[0]}::{name}" for name, shape, _ in found if shape not in shapes]

    def line_at(self, energy_kev: float) -> tuple[str, float] | None:
        """The line within one detector FWHM of ``energy_kev`` that stands out of the summed spectrum, and its significance.

        Significance: net counts of the line's window above the SNIP continuum, in Poisson
        standard deviations (:func:`asirp.xrf.spectrum.line_significance`); of the lines at
        least half as significant as the most significant, a K line first, then L, then M,
        and the nearest the click. None
        without a calibration or with no line near.
        """
        from ..xrf.calibration import DetectorResolution
        from ..xrf.spectrum import line_significance

        calibration, energies = self.source.calibration, self.energies
        if calibration is None or energies is None:
            return None
        resolution = self.source.resolution or DetectorResolution()
        fwhm = float(resolution.fwhm_kev(energy_kev))
        inside = (energies[0] + fwhm, energies[-1] - fwhm)
        near = [line.name for line in _lines() if abs(line.energy_kev - energy_kev) <= fwhm and inside[0] <= line.energy_kev <= inside[1]]
        if not near:
            return None
        signals = line_significance(self.spectrum, near, calibration, resolution)
        strongest = max(signal.significance for signal in signals)
        # Lines of one peak (Ar-Ka and Ag-La at 2.96 keV) share its counts: of those nearly as strong, a K line before an L
        # line before an M line (K lines dominate micro-XRF spectra), then the nearest the click.
        energy = {line.name: line.energy_kev for line in _lines()}
        best = min((s for s in signals if s.significance >= 0.5 * strongest),
                   key=lambda s: ("KLM".index(s.window.name.split("-")[1][0]), abs(energy[s.window.name] - energy_kev)))  # fmt: skip
        return best.window.name, best.significance

    def element_map(self, line: str, normalisation: str) -> tuple[Frame, tuple[int, int]]:
        """The normalised map of ``line`` (as ``asirp xrf`` makes it) and its window's channels (first, end)."""
        from ..xrf import element_maps

        if not line.strip():
            raise ParameterError("type an element line such as Cu-Ka (or click a peak of the spectrum)")
        maps = element_maps(self.source, [line.strip()], normalisation=normalisation, show_progress=False)
        window = maps.windows[0]
        return maps.normalised[window.name], (window.lo, window.hi)
