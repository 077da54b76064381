"""Tomography scans in the viewer, without Bokeh: the projection, sinogram and slice views of one scan.

A scan in an HDF5 file (Data Exchange ``exchange/data`` with flats, darks and theta, or
NeXus NXtomo: whatever :func:`asirp.tomo.read_scan` reads) is read once and corrected
by :mod:`asirp.tomo`'s own steps, as ``asirp tomo recon`` corrects it:

* **projection**: the transmission ``(P - D) / (F - D)`` of every angle
  (:func:`asirp.tomo.normalise`; without flats the open beam comes from the air
  columns, and the page says so), a stack the page steps through by angle;
* **sinogram**: one detector row over every angle, as attenuation ``-ln T``
  (:func:`asirp.tomo.minus_log`): rows are angles, columns detector pixels;
* **slice**: that row reconstructed by filtered back-projection
  (:func:`asirp.tomo.fbp`, ramp filter) about the rotation axis found once for the scan
  (:func:`asirp.tomo.pipeline.locate_centre`, ``auto``), attenuation per voxel (1/px).

Each view is a :class:`~asirp.frame.Frame` with its whole history (read, dark, flat,
-log, centre, FBP), which the page shows and restores as any image. Bad input gives the
one-line messages of ``asirp tomo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import HistoryStep

if TYPE_CHECKING:
    from ..tomo import CentreEstimate, TomoScan

View = Literal["projection", "sinogram", "slice"]
#: The views offered, in the order of the page's selector.
VIEWS: tuple[View, ...] = ("projection", "sinogram", "slice")


def is_scan(path: str) -> bool:
    """Whether the page opens ``path`` as a tomography scan: an HDF5 file (no ``::dataset``) laid out as Data Exchange or NXtomo."""
    from ..io.sniff import DATASET_SEPARATOR, HDF5_SUFFIXES
    from ..tomo.readers import scan_layout

    file = Path(path.strip())
    if DATASET_SEPARATOR in path or file.suffix.lower() not in HDF5_SUFFIXES or not file.is_file():
        return False
    try:
        return scan_layout(file) is not None
    except InputError:  # not HDF5 after all: the ordinary reader says why
        return False


@dataclass
class Tomography:
    """An open scan, its transmission and attenuation projections, and the slices reconstructed so far (by row)."""

    path: str
    scan: TomoScan
    transmission: Frame
    attenuation: Frame
    _centred: tuple[Frame, CentreEstimate] | None = None
    _slices: dict[int, Frame] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str) -> Tomography:
        """Read the scan at ``path`` and normalise it (``asirp tomo``'s errors: no such file, flats not above the dark...)."""
        from ..tomo import minus_log, normalise, read_scan

        scan = read_scan(path.strip())
        transmission = normalise(scan)
        return cls(path.strip(), scan, transmission, minus_log(transmission))

    @property
    def rows(self) -> int:
        """Detector rows (slices)."""
        return self.scan.shape[1]

    def count(self, view: View) -> int:
        """Positions of ``view``'s slider: angles for projections, detector rows for sinograms and slices."""
        return self.scan.shape[0] if view == "projection" else self.rows

    def angle(self, index: int) -> float:
        """Rotation angle of projection ``index``, degrees."""
        return float(self.scan.angles_deg[index])

    def describe(self) -> str:
        """One line: projections and angles, detector, flats and darks (and how the open beam was found without flats)."""
        n, ny, nx = self.scan.shape
        angles = self.scan.angles_deg
        flats = "no flats" if self.scan.flats is None else f"{self.scan.flats.shape[0]} flats"
        darks = "no darks (dark taken as 0)" if self.scan.darks is None else f"{self.scan.darks.shape[0]} darks"
        text = f"tomography scan: {n} projections, {angles[0]:.4g}° to {angles[-1]:.4g}°, detector {ny} x {nx} px, {flats}, {darks}"
        notes = self.transmission.history[-1].notes
        return text + (f"; {notes['flat']}" if "flat" in notes else "")

    def check(self, view: View, index: int) -> int:
        """``index`` if ``view`` has it; else ``asirp tomo``'s message for a row out of range (``--rows``), or the angles'."""
        if view == "projection":
            if not 0 <= index < self.scan.shape[0]:
                n = self.scan.shape[0]
                raise ParameterError(f"projection {index} asked for but the scan has {n} projections (0 to {n - 1})")
            return index
        from ..tomo.readers import check_rows

        return int(check_rows((index, index + 1), self.rows, self.path).start)

    def frame(self, view: View, row: int = 0) -> Frame:
        """What ``view`` shows: the transmission stack (every angle), or the sinogram or slice of detector ``row``."""
        if view == "projection":
            return self.transmission
        row = self.check(view, row)
        return self.sinogram(row) if view == "sinogram" else self.slice(row)

    def sinogram(self, row: int) -> Frame:
        """Attenuation ``-ln T`` of detector ``row`` at every angle: ``(n_angles, nx)``, rows in angle order (``meta["angles_deg"]``)."""
        attenuation = self.attenuation
        step = HistoryStep(method="sinogram", parameters={"row": int(row)})
        meta = {**attenuation.meta, "row": int(row), "description": f"sinogram of detector row {row} (attenuation -ln T)"}
        return attenuation.derive(attenuation.data[:, row, :], step, valid=attenuation.valid[:, row, :], kind="image",
                                  pixel_size=None, meta=meta)  # fmt: skip

    @property
    def centre(self) -> CentreEstimate:
        """The rotation axis of the scan, found once (``asirp tomo recon``'s default, ``--center auto``)."""
        return self._centre()[1]

    def _centre(self) -> tuple[Frame, CentreEstimate]:
        if self._centred is None:
            from ..tomo.pipeline import locate_centre

            self._centred = locate_centre(self.attenuation, "auto")
        return self._centred

    def slice(self, row: int) -> Frame:
        """Detector ``row`` reconstructed by FBP (ramp) about :attr:`centre`: ``(nx, nx)``, attenuation per voxel (1/px).

        FBP needs a projection stack at least two rows high: the row is reconstructed
        with its neighbour, and both slices are kept.
        """
        if row not in self._slices:
            from ..tomo import fbp

            centred, estimate = self._centre()
            first = min(row, self.rows - 2)
            rows = centred.derive(centred.data[:, first : first + 2], HistoryStep(method="rows", parameters={"rows": [first, first + 2]}),
                                  valid=centred.valid[:, first : first + 2])  # fmt: skip
            volume = fbp(rows, centre=estimate.centre_px)
            for k in range(2):
                meta = {**volume.meta, "row": first + k}
                self._slices[first + k] = replace(volume, data=volume.data[k], valid=volume.valid[k], meta=meta)
        return self._slices[row]


def slider_title(tomography: Tomography, view: View, index: int) -> str:
    """The title of ``view``'s slider at ``index``: the projection and its angle, or the detector row."""
    if view == "projection":
        return f"projection {index} of {tomography.count(view)} (θ = {tomography.angle(index):.4g}°)"
    return f"detector row {index} (0 to {tomography.rows - 1})"


def shown_note(tomography: Tomography, view: View, frame: Frame) -> str:
    """What the page says about a view shown: its quantity, and for a slice the rotation axis and how it was found."""
    if view == "projection":
        return f"projections as transmission (P - D) / (F - D), {frame.shape[0]} angles: step through them with the slider"
    if view == "sinogram":
        return f"sinogram of row {frame.meta['row']}: attenuation -ln T, {frame.shape[0]} angles (down) x {frame.shape[1]} px"
    centre = tomography.centre
    return (f"slice of row {frame.meta['row']}: FBP (ramp), attenuation per voxel (1/px), rotation axis at column "
            f"{centre.centre_px:.2f} px ({centre.method})")  # fmt: skip
