"""From a spectra file to restored element maps on disk: the steps in order, with provenance.

:func:`element_maps` reads the cube once, block by block, and returns the
channel-added maps and their normalised versions (:class:`XRFMaps`); :func:`run`
does everything a configuration asks (:mod:`asirp.xrf.config`): maps, orientation,
restoration, exports. Each map's history records, in order:

1. ``xrf_channel_add``: input file and sha256, layout, detector elements, window
   channels and energies, calibration; notes: bytes read, throughput, overlaps, grid;
2. ``xrf_normalise``: the corrections and the scalers used; notes: their means and
   the points masked for an unusable normaliser;
3. ``xrf_flip`` / ``xrf_rotate`` / ``xrf_transpose`` / ``xrf_crop``, when asked;
4. the restoration method's own step (``richardson_lucy``...).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..frame import Frame
from ..history import HistoryStep, TimedStep, now_iso, sha256_of_file
from ..io.atomic import prepare_outputs
from ..units import PixelSize, parse_length
from . import export, orient
from .calibration import DetectorResolution, EnergyCalibration, fit_two_peaks, read_maps_override
from .config import XRFConfig
from .lines import DEFAULT_WIDTH_FWHM, Overlap, Window, find_overlaps, line_energy, make_window, make_windows
from .maps import DEFAULT_CHUNK_MB, channel_sums, map_frames
from .normalise import Normalisation, normalise
from .readers import SpectraSource, open_spectra
from .restore import check_restoration, restore_maps
from .scan import Duplicates, check_step_agrees

#: Inputs larger than this are not hashed unless asked (sha256 reads the whole file again).
HASH_LIMIT_BYTES = 2 << 30


@dataclass
class XRFMaps:
    """Element maps of one scan and what they rest on.

    Attributes
    ----------
    counts:
        Channel-added counts per map name (kind ``"xrf_map"``, pixel size = scan step).
    normalised:
        The same maps after :mod:`~asirp.xrf.normalise` (equal to ``counts`` data when
        the normalisation is ``none``), except the argon window under Ar
        normalisation (flat by construction).
    windows, overlaps:
        The windows and their reported interferences.
    spectrum:
        Counts per channel summed over the scan (None if not computed).
    calibration, resolution:
        Energy calibration and detector resolution used (calibration None for channel
        windows without one).
    source:
        :meth:`SpectraSource.describe` of the input.
    warnings:
        Things the user should know (clipped windows, step disagreement, overlaps).
    timings:
        Seconds per stage.
    """

    counts: dict[str, Frame]
    normalised: dict[str, Frame]
    windows: list[Window]
    overlaps: list[Overlap]
    spectrum: np.ndarray | None
    calibration: EnergyCalibration | None
    resolution: DetectorResolution | None
    source: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable facts for the NeXus ``/xrf/summary`` note."""
        return {
            "windows": [w.as_dict() for w in self.windows],
            "overlaps": [str(o) for o in self.overlaps],
            "calibration": None if self.calibration is None else self.calibration.as_dict(),
            "resolution": None if self.resolution is None else self.resolution.as_dict(),
            "source": self.source,
            "warnings": self.warnings,
            "timings_s": self.timings,
        }


def _input_record(source: SpectraSource, hash_input: bool | None) -> tuple[dict[str, str], ...]:
    if source.path is None:
        return ()
    size = source.path.stat().st_size
    if hash_input is False or (hash_input is None and size > HASH_LIMIT_BYTES):
        return ({"name": str(source.path.absolute()), "sha256": f"(not computed: {size} bytes)"},)
    return ({"name": str(source.path.absolute()), "sha256": sha256_of_file(source.path)},)


def resolve_calibration(
    source: SpectraSource,
    *,
    calibration: EnergyCalibration | None = None,
    resolution: DetectorResolution | None = None,
    maps_file: str | os.PathLike[str] | None = None,
) -> tuple[EnergyCalibration | None, DetectorResolution]:
    """Calibration and resolution to use: given > MAPS parameter file > the source's own > default resolution."""
    if maps_file is not None:
        parameters = read_maps_override(maps_file)
        calibration = calibration or parameters.calibration
        resolution = resolution or parameters.resolution
    calibration = calibration or source.calibration
    resolution = resolution or source.resolution or DetectorResolution()
    if calibration is not None:
        calibration.check_monotonic(source.n_channels, source.where)
    return calibration, resolution


def element_maps(
    source: SpectraSource,
    elements: Sequence[str | Mapping[str, Any]] | Mapping[str, str | Mapping[str, Any]],
    *,
    calibration: EnergyCalibration | None = None,
    resolution: DetectorResolution | None = None,
    maps_file: str | os.PathLike[str] | None = None,
    fit_peaks: Sequence[str | float] | None = None,
    width_fwhm: float = DEFAULT_WIDTH_FWHM,
    normalisation: Normalisation | str = "none",
    step: PixelSize | None = None,
    duplicates: Duplicates = "error",
    chunk_mb: float = DEFAULT_CHUNK_MB,
    spectrum: bool = False,
    hash_input: bool | None = None,
    show_progress: bool = True,
) -> XRFMaps:
    """Channel-added and normalised element maps of a spectra cube, in one streaming pass.

    Parameters
    ----------
    source:
        The cube (:func:`~asirp.xrf.readers.open_spectra` or :func:`~asirp.xrf.readers.from_array`).
    elements:
        Line names (``"Cu-Ka"``), energy ranges (``"7.9-8.2keV"``), channel ranges
        (``"ch:820-860"``) or a mapping ``{map name: spec}`` (see :mod:`asirp.xrf.lines`).
    calibration, resolution, maps_file:
        Energy calibration and detector resolution; default: from ``maps_file`` (a
        MAPS override file), else from the source, else (resolution only) a typical SDD.
    fit_peaks:
        Two lines (``["Ar-Ka", "Cu-Ka"]``) or energies in keV whose peaks in the summed
        spectrum refit offset and slope (needs a rough calibration). Costs a first
        pass over the cube for the spectrum.
    width_fwhm:
        Width of line windows in detector FWHM.
    normalisation:
        A :class:`~asirp.xrf.normalise.Normalisation` or its text (``"ar+livetime"``).
        Ar normalisation adds the ``Ar-Ka`` window if it is not among ``elements``.
    step:
        Scan step (pixel size); overrides the positions' step (a warning is recorded
        when they disagree by more than 5 %).
    duplicates:
        What to do with points measured twice: ``"error"``, ``"mean"``, ``"last"``.
    chunk_mb, spectrum, show_progress:
        Streaming block size (MB); whether to also sum the whole spectrum (``spectrum``
        attribute of the result; costs about as much as the channel adding); progress bar.
    hash_input:
        Record the input's sha256 (default: for files up to 2 GiB).
    """
    norm = Normalisation.parse(normalisation) if isinstance(normalisation, str) else normalisation
    timings: dict[str, float] = {}
    warnings: list[str] = []
    calibration, resolution = resolve_calibration(source, calibration=calibration, resolution=resolution, maps_file=maps_file)
    if fit_peaks is not None:
        started = time.perf_counter()
        calibration = _refit(source, calibration, fit_peaks, chunk_mb, show_progress)
        timings["calibration_fit_s"] = time.perf_counter() - started
    windows = make_windows(elements, calibration, source.n_channels, resolution, width_fwhm=width_fwhm)
    if norm.beam == "ar" and norm.ar_window not in {w.name for w in windows}:
        windows.append(make_window(norm.ar_window, calibration, source.n_channels, resolution, width_fwhm=width_fwhm, name=norm.ar_window))
    warnings += [f"window {w.name} was cut at the end of the spectrum" for w in windows if w.clipped]
    overlaps = find_overlaps(windows, calibration)
    warnings += [f"overlap: {o}" for o in overlaps]

    grid = source.grid
    if step is not None:
        disagreement = check_step_agrees(grid, step)
        if disagreement:
            warnings.append(disagreement)
        grid = grid.with_step(step)

    date = now_iso()
    inputs = _input_record(source, hash_input)
    sums = channel_sums(source, windows, spectrum=spectrum, chunk_mb=chunk_mb, show_progress=show_progress)
    timings["channel_add_s"] = sums.seconds
    add_step = HistoryStep(
        "xrf_channel_add",
        {
            "layout": source.layout,
            "detectors": list(source.detectors),
            "windows": [w.as_dict() for w in windows],
            "calibration": None if calibration is None else calibration.as_dict(),
            "resolution": resolution.as_dict(),
            "width_fwhm": width_fwhm,
            "duplicates": duplicates,
            "chunk_mb": chunk_mb,
        },
        date=date,
        duration_s=sums.seconds,
        inputs=inputs,
        notes={
            "bytes_read": sums.bytes_read,
            "throughput_bytes_per_s": sums.throughput(),
            "overlaps": [str(o) for o in overlaps],
            "grid": grid.describe(),
            "warnings": list(warnings),
        },
    )
    meta = {"source": source.where, "layout": source.layout}
    counts = map_frames(sums.total, np.ones(source.n_points, dtype=bool), grid, windows, [add_step], units="counts",
                        duplicates=duplicates, meta=meta, where=source.where)

    timer = TimedStep("xrf_normalise")
    result = normalise(sums, source.scalers, norm, line_points=grid.shape[1], where=source.where)
    norm_step = timer.finish(parameters=result.parameters, notes=result.notes)
    units = "counts" if norm.describe() == "none" else f"counts normalised ({norm.describe()})"
    normalised = map_frames(
        result.values, result.valid, grid, windows, [add_step, norm_step], units=units, duplicates=duplicates, meta=meta, where=source.where
    )
    if norm.beam == "ar":  # the Ar map divided by itself is flat: it stays among the counts only
        del normalised[norm.ar_window]
    timings["normalise_s"] = time.perf_counter() - timer.started
    return XRFMaps(counts, normalised, windows, overlaps, sums.spectrum, calibration, resolution, source.describe(), warnings, timings)


def _refit(
    source: SpectraSource, calibration: EnergyCalibration | None, peaks: Sequence[str | float], chunk_mb: float, show_progress: bool
) -> EnergyCalibration:
    """Refit offset/slope on the summed spectrum (one pass; a one-channel window, since a pass needs one)."""
    if calibration is None:
        raise ParameterError("refitting the calibration from two peaks needs a rough calibration to find them (file, config or offset/slope)")
    if len(peaks) != 2:
        raise ParameterError(f"give exactly two peaks to refit the calibration, got {list(peaks)!r}")
    energies = (line_energy(peaks[0]), line_energy(peaks[1]))
    sums = channel_sums(source, [Window("channel 0", 0, 1)], spectrum=True, chunk_mb=chunk_mb, show_progress=show_progress)
    if sums.spectrum is None:
        raise RuntimeError("channel_sums(spectrum=True) returned no summed spectrum")
    fit = fit_two_peaks(sums.spectrum, energies, guess=calibration, where=source.where)
    return fit.calibration


# -- the whole configured run -----------------------------------------------------------------


@dataclass
class XRFResult:
    """Everything :func:`run` produced."""

    maps: XRFMaps
    stages: dict[str, dict[str, Frame]]
    written: list[Path]

    @property
    def final(self) -> dict[str, Frame]:
        """The maps of the last stage (restored if a method was given)."""
        return list(self.stages.values())[-1]


def _step(config: XRFConfig) -> PixelSize | None:
    value = config.scan.step
    if value is None:
        return None
    if isinstance(value, str):
        size, unit = parse_length(value)
        return PixelSize(size, size, unit)
    (y, unit), (x, unit_x) = parse_length(value[0]), parse_length(value[1])
    return PixelSize(y, PixelSize(x, x, unit_x).to(unit).x, unit)


def _orient(frame: Frame, config: XRFConfig) -> Frame:
    scan = config.scan
    for direction in scan.flip:
        frame = orient.flip(frame, direction)
    if scan.rotate % 360:
        frame = orient.rotate(frame, scan.rotate)
    if scan.transpose:
        frame = orient.transpose(frame)
    if any(v is not None for v in (scan.crop_rows, scan.crop_cols, scan.crop_x, scan.crop_y)):
        frame = orient.crop(frame, rows=scan.crop_rows, cols=scan.crop_cols, x=scan.crop_x, y=scan.crop_y)
    return frame


def _elements(config: XRFConfig) -> dict[str, Any]:
    specs: dict[str, Any] = {}
    for text in config.elements.lines:
        specs[text] = text
    for name, window in config.elements.windows.items():
        specs[name] = window.spec()
    if not specs:
        raise ParameterError("no elements: give lines (--elements Cu-Ka,Fe-Ka) or [elements] windows in the configuration")
    return specs


def _restore_options(config: XRFConfig) -> dict[str, Any]:
    """The [restore] options other than the method, as :func:`~asirp.xrf.restore.restore_maps` takes them."""
    return config.restore.model_dump(include={"beam_fwhm", "psf_sigma", "iterations", "params"})


def run(config: XRFConfig, *, show_progress: bool = True) -> XRFResult:
    """Do everything ``config`` asks: read, channel-add, normalise, orient, restore, export.

    Returns the maps of every stage and the files written (none when
    ``output.formats`` is empty).
    """
    if config.restore.method:  # a bad method or option fails here, before any spectra are read
        check_restoration(config.restore.method, **_restore_options(config))
    calibration = None
    if config.calibration.offset_kev is not None or config.calibration.slope_kev is not None:
        if config.calibration.offset_kev is None or config.calibration.slope_kev is None:
            raise ParameterError("[calibration] needs both offset_kev and slope_kev")
        calibration = EnergyCalibration(config.calibration.offset_kev, config.calibration.slope_kev, config.calibration.quad_kev, source="config")
    resolution = None
    if config.calibration.fwhm_offset_kev is not None or config.calibration.fano_prime is not None:
        default = DetectorResolution()
        resolution = DetectorResolution(
            config.calibration.fwhm_offset_kev if config.calibration.fwhm_offset_kev is not None else default.fwhm_offset_kev,
            config.calibration.fano_prime if config.calibration.fano_prime is not None else default.fano_prime,
            source="config",
        )
    data = config.data
    with open_spectra(
        config.data_path(), layout=data.layout, detectors=data.detectors, channel_axis=data.channel_axis, x=data.x, y=data.y,
        shape=data.shape, snake=data.snake, position_unit=data.position_unit,
    ) as source:  # fmt: skip
        maps = element_maps(
            source, _elements(config), calibration=calibration, resolution=resolution, maps_file=config.calibration.file,
            fit_peaks=config.calibration.fit_peaks, width_fwhm=config.elements.width_fwhm,
            normalisation=config.normalise.normalisation(), step=_step(config), duplicates=data.duplicates,
            chunk_mb=config.processing.chunk_mb, spectrum=config.processing.spectrum, hash_input=config.processing.hash_input,
            show_progress=show_progress,
        )  # fmt: skip
    stem = output_stem(config)
    stages: dict[str, dict[str, Frame]] = {"counts": {n: _orient(f, config) for n, f in maps.counts.items()}}
    if "normalised" in stage_names(config):
        stages["normalised"] = {n: _orient(f, config) for n, f in maps.normalised.items()}
    if "restored" in stage_names(config) and config.restore.method:
        started = time.perf_counter()
        stages["restored"] = restore_maps(list(stages.values())[-1], config.restore.method, **_restore_options(config))
        maps.timings["restore_s"] = time.perf_counter() - started
    written = write_outputs(maps, stages, config, stem)
    return XRFResult(maps, stages, written)


def stage_names(config: XRFConfig) -> list[str]:
    """The stages :func:`run` makes, in order: counts, then normalised and restored when asked for."""
    asked = {"normalised": config.normalise.normalisation().describe() != "none", "restored": bool(config.restore.method)}
    return ["counts"] + [stage for stage, wanted in asked.items() if wanted]


def output_stem(config: XRFConfig) -> str:
    """The stem of the output file names: ``[output] stem``, else the spectra file's."""
    return config.output.stem or Path(config.data_path().partition("::")[0]).stem


def output_files(config: XRFConfig, stem: str, maps: Mapping[str, Sequence[str]]) -> dict[str, list[Path]]:
    """The files :func:`write_outputs` writes, by format, for ``maps`` (each stage's map names, in order).

    Before the spectra are read the map names are unknown: given none, the list holds
    the files named after the stem and stages only (for an early check).
    """
    folder = Path(config.output.directory)
    final = list(maps)[-1]
    files = {
        "nxs": [folder / f"{stem}_maps.nxs"],
        "tif": [folder / f"{stem}_{export.entry_name(name, stage)}.tif" for stage, names in maps.items() for name in names],
        "png": [folder / f"{stem}_{export.entry_name(name, final)}.png" for name in maps[final]],
        "txt": [folder / f"{stem}_{stage}.txt" for stage in maps],
    }
    return {fmt: files[fmt] for fmt in config.output.formats}


def write_outputs(maps: XRFMaps, stages: dict[str, dict[str, Frame]], config: XRFConfig, stem: str) -> list[Path]:
    """Write the formats ``config.output.formats`` asks for into ``config.output.directory``.

    Every file is checked before the first is written (:func:`~asirp.io.atomic.prepare_outputs`),
    so an existing map without ``force`` leaves no other file behind.
    """
    out = config.output
    files = output_files(config, stem, {stage: list(frames) for stage, frames in stages.items()})
    if not files:
        return []
    prepare_outputs([path for paths in files.values() for path in paths], [out.directory], force=out.force)
    Path(out.directory).mkdir(parents=True, exist_ok=True)
    force = out.force
    written: list[Path] = []
    final_stage = list(stages)[-1]
    final = stages[final_stage]
    first_stage = "normalised" if "normalised" in stages else "counts"
    if "nxs" in files:
        energies = None if maps.calibration is None or maps.spectrum is None else maps.calibration.energies(maps.spectrum.size)
        spectrum = None if maps.spectrum is None else (maps.spectrum, energies)
        written.append(export.write_nexus_maps(stages, files["nxs"][0], spectrum=spectrum, summary=maps.summary(), force=force))
    if "tif" in files:
        from ..io import save

        frames = [frame for stage_frames in stages.values() for frame in stage_frames.values()]
        written += [save(frame, path, force=force) for frame, path in zip(frames, files["tif"], strict=True)]
    if "png" in files:
        for (name, frame), path in zip(final.items(), files["png"], strict=True):
            compare = stages[first_stage][name] if final_stage == "restored" else None
            left, right = (compare, frame) if compare is not None else (frame, None)
            colour = config.elements.colours.get(name, config.elements.colour)
            written.append(export.write_png(left, path, compare=right, colour=colour, limits=out.threshold, force=force))
    if "txt" in files:
        for stage_frames, path in zip(stages.values(), files["txt"], strict=True):
            written.append(export.write_txt(stage_frames, path, relative=out.relative_xy, force=force))
    return written
