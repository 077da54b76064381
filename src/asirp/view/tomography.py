"""Tomography scans in the viewer, without Bokeh: the projection, sinogram and slice views of one scan.

A scan in an HDF5 file (Data Exchange ``exchange/data`` with flats, darks and theta, or
NeXus NXtomo), or a TIFF stack (a multi-page TIFF or a folder of TIFFs) with the files
``asirp tomo`` takes beside it (:class:`ScanInputs`: ``--angles``, ``--flats``,
``--darks``), is read once by :func:`asirp.tomo.read_scan` and corrected by
:mod:`asirp.tomo`'s own steps, as ``asirp tomo recon`` corrects it:

* **projection**: the transmission ``(P - D) / (F - D)`` of every angle
  (:func:`asirp.tomo.normalise`; without flats the open beam comes from the air
  columns, and the page says so), a stack the page steps through by angle;
* **sinogram**: one detector row over every angle, as attenuation ``-ln T``
  (:func:`asirp.tomo.minus_log`): rows are angles, columns detector pixels;
* **slice**: that row reconstructed with the options of ``asirp tomo recon``
  (:class:`SliceOptions`: FBP and its filter, or SIRT and its iterations; the rotation
  axis typed, or found once per method by :func:`asirp.tomo.pipeline.locate_centre`,
  ``auto`` by default; zinger and ring removal, a restoration of the projections or the
  slices, Noise2Inverse, by :func:`asirp.tomo.corrected_projections` and the steps of
  :func:`asirp.tomo.reconstruct_scan`), attenuation per voxel (1/px). Finding the axis takes seconds:
  the page reconstructs in a thread (:meth:`Tomography.has_slice` says when it must).

With slice options that correct the projections (zingers, rings, a restoration of the
projections), the projection and sinogram views show the attenuation projections the
slice is reconstructed from (:meth:`Tomography.projections`, made once per scan and
options: :meth:`Tomography.has_projections`), and the note says which corrections
(:func:`shown_note`); without them, the scan as read.

The sinogram's axes are labelled as measured: detector columns (px) and the scan's
angles θ (°) (:func:`axis_labels`).

Each view is a :class:`~asirp.frame.Frame` with its whole history (read, dark, flat,
-log, centre, FBP), which the page shows and restores as any image. Bad input gives the
one-line messages of ``asirp tomo``. Reading and normalising a scan takes about a second
(the tooth): the page opens it in its work thread too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..history import HistoryStep
from ..tomo.options import ALGORITHMS, FILTERS, TARGETS, check_iterations, parse_centre
from .images import AxisLabels, Orientation

if TYPE_CHECKING:
    from ..tomo import CentreEstimate, TomoScan
    from ..tomo.readers import AngleUnit

View = Literal["projection", "sinogram", "slice"]
#: The views offered, in the order of the page's selector.
VIEWS: tuple[View, ...] = ("projection", "sinogram", "slice")


#: Denoisers of ``asirp tomo recon --denoise`` ("": none).
DENOISERS: tuple[str, ...] = ("noise2inverse",)


def _items(text: str | Sequence[str]) -> tuple[str, ...]:
    """``KEY=VALUE`` items typed in one field (separated by spaces), or saved as a list: each checked as ``--param`` checks it."""
    from ..parameters import parse_assignment

    items = tuple(text.split()) if isinstance(text, str) else tuple(str(item).strip() for item in text if str(item).strip())
    for item in items:
        parse_assignment(item)
    return items


def _choice(option: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if among ``choices``, else argparse's message for ``option`` (what ``asirp tomo recon`` prints)."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ParameterError(f"argument {option}: invalid choice: {value!r} (choose from {listed})")
    return value


@dataclass(frozen=True)
class SliceOptions:
    """How a slice is reconstructed, as ``asirp tomo recon``'s options.

    ``--algorithm``, ``--filter``, ``--center``, ``--iterations``; ``--zingers`` and
    ``--rings``; ``--restore METHOD`` with its ``-p KEY=VALUE`` items and
    ``--restore-target``; ``--denoise noise2inverse`` with its ``--denoise-param`` items
    ("" and (): not given). Parameters are kept as the ``KEY=VALUE`` texts typed
    (:meth:`restore_parameters`, :meth:`denoise_parameters` read them as the CLI does).
    """

    algorithm: str = "fbp"
    filter_name: str = "ramp"
    centre: float | str = "auto"
    iterations: int = 100
    zingers: bool = False
    rings: bool = False
    restore: str = ""
    restore_params: tuple[str, ...] = ()
    restore_target: str = "auto"
    denoise: str = ""
    denoise_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, algorithm: str, filter_name: str, centre: str, iterations: str, *, zingers: bool = False, rings: bool = False,
              restore: str = "", restore_params: str | Sequence[str] = "", restore_target: str = "auto", denoise: str = "",
              denoise_params: str | Sequence[str] = "") -> SliceOptions:  # fmt: skip
        """The options typed on the page (an empty centre: ``auto``), checked by ``asirp tomo``'s own code and messages.

        A restoration method is looked up in the registry and its parameters validated by
        the method (``method 'gaussian': sigma: must be greater than 0``); Noise2Inverse's
        names and types are checked here, its ranges against the scan by
        :meth:`Tomography.check_options`.
        """
        if algorithm not in ALGORITHMS or filter_name not in FILTERS:  # the page offers only these
            raise ParameterError(f"algorithm {algorithm!r} / filter {filter_name!r}: use one of {ALGORITHMS} / {FILTERS}")
        try:
            count = int(iterations.strip())
        except ValueError:
            raise ParameterError(f"--iterations expects a whole number, got {iterations.strip()!r}") from None
        default = cls()  # what the options do not use stays the default: the same slice, made once
        fbp = algorithm == "fbp"
        restore = restore.strip()
        restoring: tuple[str, ...] = ()
        if restore:
            from ..parameters import parse_assignment

            restoring = _items(restore_params)
            _choice("--restore-target", restore_target, TARGETS)
            if restore != "auto":
                from ..methods import get_method

                get_method(restore).validate(**dict(parse_assignment(item) for item in restoring))
        denoise = _choice("--denoise", denoise.strip(), DENOISERS) if denoise.strip() else ""
        denoising: tuple[str, ...] = ()
        if denoise:
            if not fbp:
                raise ParameterError("denoise='noise2inverse' is the only denoiser and works with algorithm='fbp'")
            from ..parameters import parse_assignment
            from ..tomo.noise2inverse import PARAMETERS

            denoising = _items(denoise_params)
            unknown = [key for key, _ in map(parse_assignment, denoising) if key not in PARAMETERS]
            if unknown:
                raise ParameterError(f"unknown Noise2Inverse parameter {unknown[0]!r}; use one of {', '.join(PARAMETERS)}")
        return cls(algorithm, filter_name if fbp else default.filter_name, parse_centre(centre.strip() or "auto"),
                   default.iterations if fbp else check_iterations(count), bool(zingers), bool(rings), restore, restoring,
                   restore_target if restore else default.restore_target, denoise, denoising)  # fmt: skip

    def restore_parameters(self) -> dict[str, Any]:
        """The restoration's parameters as ``-p KEY=VALUE`` gives them."""
        from ..parameters import parse_assignment

        return dict(parse_assignment(item) for item in self.restore_params)

    def denoise_parameters(self) -> dict[str, Any]:
        """Noise2Inverse's parameters as ``--denoise-param KEY=VALUE`` gives them."""
        from ..parameters import parse_assignment

        return dict(parse_assignment(item) for item in self.denoise_params)

    def to_dict(self) -> dict[str, Any]:
        """For a workspace file: the options as :meth:`from_dict` reads them back."""
        return {"algorithm": self.algorithm, "filter": self.filter_name, "centre": self.centre, "iterations": self.iterations,
                "zingers": self.zingers, "rings": self.rings, "restore": self.restore, "restore_params": list(self.restore_params),
                "restore_target": self.restore_target, "denoise": self.denoise, "denoise_params": list(self.denoise_params)}  # fmt: skip

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> SliceOptions:
        """Options saved by :meth:`to_dict` (missing keys: the defaults), checked as when typed."""
        default = cls()

        def items(key: str) -> str | Sequence[str]:
            value = saved.get(key, ())
            return value if isinstance(value, str) else [str(item) for item in value]

        return cls.parse(str(saved.get("algorithm", default.algorithm)), str(saved.get("filter", default.filter_name)),
                         str(saved.get("centre", default.centre)), str(saved.get("iterations", default.iterations)),
                         zingers=saved.get("zingers") is True, rings=saved.get("rings") is True, restore=str(saved.get("restore") or ""),
                         restore_params=items("restore_params"), restore_target=str(saved.get("restore_target", default.restore_target)),
                         denoise=str(saved.get("denoise") or ""), denoise_params=items("denoise_params"))  # fmt: skip


@dataclass(frozen=True)
class ScanInputs:
    """What ``asirp tomo`` reads beside a scan's path: ``--angles`` and ``--angles-unit``, ``--flats``, ``--darks`` ("": not given),
    and ``--rows`` (``(start, stop)`` detector rows to read; None: all).

    A TIFF stack carries neither angles nor flats nor darks: they come from these files,
    as on the command line (:func:`asirp.tomo.read_scan`'s ``angles``, ``flats``,
    ``darks``); an HDF5 scan carries its own (an angles file overrides its angles).
    ``rows`` reads only those detector rows, as ``asirp tomo recon --rows`` does (from an
    HDF5 file only those are read): the scan opened is ``stop - start`` rows high, its row 0
    the detector's row ``start``.
    """

    angles: str = ""
    angles_unit: AngleUnit = "deg"
    flats: str = ""
    darks: str = ""
    rows: tuple[int, int] | None = None

    def read(self, path: str) -> TomoScan:
        """The scan at ``path`` read with these inputs, as ``asirp tomo`` reads it (its errors and messages)."""
        from ..tomo import read_scan

        return read_scan(path, angles=self.angles or None, angles_unit=self.angles_unit, flats=self.flats or None,
                         darks=self.darks or None, rows=self.rows)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """For a workspace file: the inputs given, files as absolute paths, rows as ``[start, stop]`` (nothing given: empty)."""
        files = {name: str(Path(value).absolute()) for name, value in (("angles", self.angles), ("flats", self.flats),
                                                                        ("darks", self.darks)) if value}  # fmt: skip
        return files | ({"angles_unit": self.angles_unit} if self.angles else {}) | ({"rows": list(self.rows)} if self.rows else {})

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> ScanInputs:
        """Inputs saved by :meth:`to_dict` (an angle unit other than ``deg`` or ``rad`` refused as ``--angles-unit`` refuses it,
        rows not ``[start, stop]`` as ``--rows`` refuses them)."""
        from ..tomo.options import parse_rows

        unit = str(saved.get("angles_unit", "deg"))
        if unit not in ("deg", "rad"):
            raise ParameterError(f"--angles-unit: invalid choice {unit!r} (choose from 'deg', 'rad')")
        rows = saved.get("rows")
        if rows is not None:
            pair = isinstance(rows, (list, tuple)) and len(rows) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in rows)
            rows = parse_rows(":".join(str(v) for v in rows) if pair else str(rows))
        return cls(str(saved.get("angles", "")), "rad" if unit == "rad" else "deg", str(saved.get("flats", "")), str(saved.get("darks", "")),
                   rows)  # fmt: skip


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
    inputs: ScanInputs = field(default_factory=ScanInputs)
    _corrected: dict[tuple[Any, ...], Frame] = field(default_factory=dict)
    _centred: dict[tuple[tuple[Any, ...], float | str], tuple[Frame, CentreEstimate]] = field(default_factory=dict)
    _slices: dict[tuple[int, SliceOptions], Frame] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str, inputs: ScanInputs | None = None) -> Tomography:
        """Read the scan at ``path`` (with ``inputs``: a TIFF stack's angles, flats, darks) and normalise it.

        ``asirp tomo``'s errors: no such file, a TIFF stack without angles, flats not above
        the dark... About a second for the tooth: the page calls this in its work thread.
        """
        from ..progress import observing
        from ..tomo import minus_log, normalise

        inputs = inputs or ScanInputs()
        scan = inputs.read(path.strip())  # its loops (blocks of projections, files) report to the page and stop on Cancel
        watched = observing()
        if watched is not None:
            watched.check()  # cancelled while the last block was read: no normalising
        transmission = normalise(scan)
        return cls(path.strip(), scan, transmission, minus_log(transmission), inputs)

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
        if self.inputs.rows is not None:
            start, stop = self.inputs.rows
            text += f"; detector rows {start} to {stop - 1} read (rows {start}:{stop}): row 0 here is detector row {start}"
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

    def frame(self, view: View, row: int = 0, options: SliceOptions | None = None) -> Frame:
        """What ``view`` shows: the transmission stack (every angle), or the sinogram or slice of detector ``row``.

        With ``options`` that correct the projections (zingers, rings, a restoration of the
        projections), the projection and sinogram views show the attenuation projections
        a slice with those options is reconstructed from (:meth:`projections`, made once);
        without, the scan's transmission and attenuation as read. A slice not made yet
        takes seconds (the axis found, the row reconstructed), and so do corrected
        projections: :meth:`has_slice` and :meth:`has_projections` say so beforehand.
        """
        corrected = options is not None and self.corrects(options)
        if view == "projection":
            return self.projections(options) if corrected and options is not None else self.transmission
        row = self.check(view, row)
        if view == "sinogram":
            return self.sinogram(row, options if corrected else None)
        return self.slice(row, options or SliceOptions())

    def corrects(self, options: SliceOptions) -> bool:
        """Whether ``options`` change the projections (zingers or rings removed, the projections restored): the views show them corrected."""
        return self.corrections_key(options) != (False, False)

    def has_projections(self, options: SliceOptions) -> bool:
        """Whether the projections corrected with ``options`` are made already (else :meth:`projections` takes seconds: a thread)."""
        key = self.corrections_key(options)
        return key == (False, False) or key in self._corrected

    def sinogram(self, row: int, options: SliceOptions | None = None) -> Frame:
        """Attenuation ``-ln T`` of detector ``row`` at every angle: ``(n_angles, nx)``, rows in angle order (``meta["angles_deg"]``).

        With ``options``: that row of the projections they correct (:meth:`projections`);
        on a grid refined ``s`` times by a super-resolution restoration, detector row
        ``r`` is the refined row ``s r`` (``s nx`` columns).
        """
        attenuation = self.attenuation if options is None else self.projections(options)
        scale = max(1, attenuation.shape[1] // self.rows)
        step = HistoryStep(method="sinogram", parameters={"row": int(row)} | ({"refined_row": int(row) * scale} if scale > 1 else {}))
        meta = {**attenuation.meta, "row": int(row), "description": f"sinogram of detector row {row} (attenuation -ln T)"}
        index = row * scale
        return attenuation.derive(attenuation.data[:, index, :], step, valid=attenuation.valid[:, index, :], kind="image",
                                  pixel_size=None, meta=meta)  # fmt: skip

    @property
    def centre(self) -> CentreEstimate:
        """The rotation axis of the scan, found once (``asirp tomo recon``'s default, ``--center auto``)."""
        return self._centre(SliceOptions())[1]

    def check_centre(self, options: SliceOptions) -> None:
        """A typed rotation axis off the detector: the reconstruction's own message, before any work."""
        if not isinstance(options.centre, str):
            from ..tomo.reconstruct import check_centre

            check_centre(options.centre, self.scan.shape[2])

    def check_options(self, options: SliceOptions) -> None:
        """What only the scan can tell, before any work: the axis on the detector, Noise2Inverse's ranges (``asirp tomo``'s messages)."""
        self.check_centre(options)
        if options.denoise:
            from ..tomo.noise2inverse import check_parameters

            check_parameters(self.scan.shape, **options.denoise_parameters())

    def restore_target(self, options: SliceOptions) -> tuple[str, str] | None:
        """Where ``options``' restoration applies, ``projections`` or ``slices``, and why (as ``asirp tomo recon`` chooses); None: no restoration."""
        if not options.restore:
            return None
        from ..tomo.restore import choose_target

        return choose_target(self.scan.shape, options.restore_target)

    def corrections_key(self, options: SliceOptions) -> tuple[Any, ...]:
        """What of ``options`` changes the projections: zingers, rings, and the restoration when it applies to the projections."""
        chosen = self.restore_target(options)
        if chosen is None or chosen[0] != "projections":
            return (options.zingers, options.rings)
        return (options.zingers, options.rings, options.restore, options.restore_params, options.restore_target)

    def projections(self, options: SliceOptions) -> Frame:
        """The attenuation projections a slice with ``options`` is reconstructed from (made once per corrections and restoration).

        :func:`asirp.tomo.corrected_projections`, as ``asirp tomo recon`` calls it: zingers
        removed from the raw counts, the counts above dark restored (when the restoration
        applies to the projections), flat field, -log, rings removed. Without any of them,
        the scan's :attr:`attenuation`.
        """
        key = self.corrections_key(options)
        if key == (False, False):
            return self.attenuation
        if key not in self._corrected:
            from ..tomo import corrected_projections

            chosen = self.restore_target(options)
            restoring = len(key) > 2
            notes = None
            if chosen is not None and restoring:
                notes = {"restore_target": {"requested": options.restore_target, "restored": chosen[0], "reason": chosen[1]}}
            self._corrected[key] = corrected_projections(self.scan, restore=options.restore if restoring else None,
                                                         restore_params=options.restore_parameters() if restoring else None,
                                                         restore_notes=notes, zingers=options.zingers, rings=options.rings)  # fmt: skip
        return self._corrected[key]

    def _centre(self, options: SliceOptions) -> tuple[Frame, CentreEstimate]:
        key = (self.corrections_key(options), options.centre)
        if key not in self._centred:
            from ..tomo.pipeline import locate_centre

            attenuation = self.projections(options)
            scale = attenuation.shape[2] // self.scan.shape[2]  # > 1 after a super-resolution restoration
            self._centred[key] = locate_centre(attenuation, options.centre, scale=scale)  # type: ignore[arg-type]  # a method name or px
        return self._centred[key]

    def has_slice(self, row: int, options: SliceOptions) -> bool:
        """Whether the slice of ``row`` with ``options`` is made already (else :meth:`slice` takes seconds: run it in a thread)."""
        return (row, options) in self._slices

    def slice(self, row: int, options: SliceOptions | None = None) -> Frame:
        """Detector ``row`` reconstructed with ``options`` (default: FBP, ramp, axis found): ``(nx, nx)``, 1/px.

        The steps of :func:`asirp.tomo.reconstruct_scan` with the same options: the
        projections corrected and perhaps restored (:meth:`projections`), the axis found
        on them, FBP, SIRT or Noise2Inverse, and the slices restored when the restoration
        applies to them. The reconstructions need a projection stack at least two rows
        high: the row is reconstructed with its neighbour, and both slices are kept (on a
        grid refined ``s`` times by a super-resolution restoration, detector row ``r`` is
        the refined row ``s r``). Noise2Inverse trains, and a restoration of the slices
        decides (``auto``, a PSF estimated), on these two rows only: on a scan of more
        rows than the tooth's two, ``asirp tomo recon`` sees them all.
        """
        options = options or SliceOptions()
        if (row, options) not in self._slices:
            from ..tomo import fbp, restore_slices, sirt

            self.check_options(options)
            centred, estimate = self._centre(options)
            scale = max(1, centred.shape[1] // self.rows)
            first = min(row * scale, centred.shape[1] - 2)
            rows = centred.derive(centred.data[:, first : first + 2], HistoryStep(method="rows", parameters={"rows": [first, first + 2]}),
                                  valid=centred.valid[:, first : first + 2])  # fmt: skip
            if options.denoise:
                from ..tomo.noise2inverse import noise2inverse

                volume = noise2inverse(rows, centre=estimate.centre_px, filter_name=options.filter_name,  # type: ignore[arg-type]
                                       **options.denoise_parameters())  # fmt: skip
            elif options.algorithm == "sirt":
                volume = sirt(rows, iterations=options.iterations, centre=estimate.centre_px)
            else:
                volume = fbp(rows, centre=estimate.centre_px, filter_name=options.filter_name)
            chosen = self.restore_target(options)
            if chosen is not None and chosen[0] == "slices":
                notes = {"restore_target": {"requested": options.restore_target, "restored": chosen[0], "reason": chosen[1]}}
                volume = restore_slices(volume, options.restore, notes=notes, **options.restore_parameters())
            for k in range(volume.shape[0]):
                if (first + k) % scale == 0:
                    meta = {**volume.meta, "row": (first + k) // scale}
                    self._slices[((first + k) // scale, options)] = replace(volume, data=volume.data[k], valid=volume.valid[k], meta=meta)
        return self._slices[(row, options)]


def slider_title(tomography: Tomography, view: View, index: int) -> str:
    """The title of ``view``'s slider at ``index``: the projection and its angle, or the detector row."""
    if view == "projection":
        return f"projection {index} of {tomography.count(view)} (θ = {tomography.angle(index):.4g}°)"
    return f"detector row {index} (0 to {tomography.rows - 1})"


def corrections(frame: Frame) -> list[str]:
    """The corrections in ``frame``'s history, as the page says them: zingers removed, rings removed, what was restored with what."""
    done = [{"remove_zingers": "zingers removed", "remove_rings": "rings removed"}[step.method] for step in frame.history
            if step.method in ("remove_zingers", "remove_rings")]  # fmt: skip
    return done + [f"{step.notes['restore_target']['restored']} restored with {step.method}" for step in frame.history
                   if "restore_target" in step.notes]  # fmt: skip


def shown_note(tomography: Tomography, view: View, frame: Frame) -> str:
    """What the page says about a view shown: its quantity and the corrections shown, and for a slice the rotation axis and how it was found."""
    done = corrections(frame)
    if view == "projection":
        if done:
            return (f"projections as attenuation -ln T with the slice options' corrections ({', '.join(done)}), {frame.shape[0]} angles: "
                    "step through them with the slider; untick and clear them for the transmission as read")  # fmt: skip
        return f"projections as transmission (P - D) / (F - D), {frame.shape[0]} angles: step through them with the slider"
    if view == "sinogram":
        shown = f"sinogram of row {frame.meta['row']}: attenuation -ln T, {frame.shape[0]} angles (down) x {frame.shape[1]} px"
        return shown + (f", with the slice options' corrections ({', '.join(done)})" if done else " as read (no corrections)")
    found = next(step.notes for step in frame.history if step.method == "find_centre")
    made = next(step for step in frame.history if step.method in ("fbp", "sirt", "noise2inverse"))
    if made.method == "fbp":
        how = f"FBP ({made.parameters['filter_name']})"
    elif made.method == "sirt":
        how = f"SIRT ({made.parameters['iterations']} iterations)"
    else:
        how = f"Noise2Inverse (FBP {made.parameters['filter_name']}, {made.parameters['steps']} training steps)"
    after = f" ({', '.join(done)})" if done else ""
    return (f"slice of row {frame.meta['row']}: {how}{after}, attenuation per voxel (1/px), rotation axis at column "
            f"{found['centre_px']:.2f} px ({found['method']})")  # fmt: skip


def axis_labels(frame: Frame, orientation: Orientation) -> AxisLabels | None:
    """For a sinogram: its axes as measured, detector columns (px) and the scan's angles θ (°) at round values; else None.

    The angle ticks sit where the angles were measured (they need not be evenly spaced),
    on whichever axis the orientation turns the angles to.
    """
    if not frame.history or frame.history[-1].method != "sinogram":
        return None
    angles = np.asarray(frame.meta["angles_deg"], dtype=float)
    shown = orientation.apply(np.broadcast_to(np.arange(frame.shape[0])[:, None], frame.shape))
    vertical = shown.shape[0] > 1 and shown[0, 0] != shown[1, 0]
    along = angles[shown[:, 0] if vertical else shown[0, :]]  # the angle of each displayed row (or column)
    span = float(np.ptp(angles)) or 1.0
    step = next((s for s in (1, 2, 5, 10, 15, 30, 45, 90) if span / s <= 8), 180)
    ticks = np.arange(np.ceil(angles.min() / step) * step, angles.max() + 1e-9, step)
    order = np.argsort(along)
    positions = np.interp(ticks, along[order], np.arange(along.size, dtype=float)[order] + 0.5)  # pixel centres
    labels = {float(p): f"{t:g}°" for p, t in zip(positions, ticks, strict=True)}
    angle, detector = "θ (°)", "detector column (px)"
    if vertical:
        return AxisLabels(x=detector, y=angle, y_ticks=labels)
    return AxisLabels(x=angle, y=detector, x_ticks=labels)
