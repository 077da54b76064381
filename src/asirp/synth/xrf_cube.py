"""Synthetic micro-XRF spectra cubes: a copper mesh grid seen by an energy-dispersive detector.

Every scan point gets a full spectrum, built from the Cu Kα map of
:func:`~asirp.synth.mesh.mesh_grid_map` (AG175 / AG300 grids under a Gaussian beam)
and what a real spectrum holds besides:

* **element lines**: Cu Kα1, Kα2, Kβ1, Kβ3 (energies and relative rates from
  xraylib; the Kα lines carry the map's counts), plus optional further elements
  with their own maps;
* **Ar Kα/Kβ** from the air in the beam path, the same at every point;
* **elastic** (at the incident energy) and **Compton** scatter (at the Compton energy
  for a 90° detector, broadened), stronger on copper than in the holes;
* a **continuum** background falling with energy, cut at low energy (detector window);
* the **detector response**: Gaussian peaks of energy-dependent FWHM
  (:class:`~asirp.xrf.calibration.DetectorResolution`), integrated over each channel;
* **beam intensity** from a :class:`~asirp.synth.beam.Sawtooth` (points acquired row by
  row, x fastest), **dead time** (paralysable: live fraction ``exp(-ICR·τ)``), and
  **Poisson** noise;
* the **scalers** a beamline records: ``i0`` (ionisation chamber: Poisson counts of
  the beam, plus an optional dark offset that I0 normalisation cannot remove),
  ``live_time``, ``real_time``, ``icr`` (input counts), ``ocr`` (output counts).

Expected spectra are built row by row (``(rows x nx, components) @ (components,
channels)``) and each row's noise comes from its own seed, so a cube far larger than
memory can be written block by block (:func:`write_xrf_cube`) and equals the
in-memory one exactly. Layouts written: ``pyxrf``, ``maps`` (MAPS_RAW, with a
``maps_fit_parameters_override.txt`` beside it), ``nexus`` (a map) and ``points`` (a
flat list in acquisition order, optionally snake, with jittered positions): the
layouts :func:`asirp.xrf.open_spectra` reads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xraylib
from scipy.special import erf

from ..errors import ParameterError
from ..xrf.calibration import DetectorResolution, EnergyCalibration
from ..xrf.lines import Line, xray_line
from . import _checks
from .beam import Sawtooth
from .mesh import mesh_grid_map
from .result import SynthResult

LAYOUTS = ("pyxrf", "maps", "nexus", "points")
#: Default calibration: 5 eV per channel, 4096 channels up to 20.5 keV.
DEFAULT_CALIBRATION = EnergyCalibration(0.0, 0.005, 0.0, source="asirp.synth.xrf_cube")
#: Scattering angle of the detector, degrees (90°: the usual side-looking geometry).
SCATTER_ANGLE_DEG = 90.0
_SCALERS = ("i0", "live_time", "real_time", "icr", "ocr")


def _peak(energies: np.ndarray, slope: float, centre: float, sigma: float) -> np.ndarray:
    """Unit-area Gaussian integrated over each channel (channel ``c`` spans ``E(c) ± slope/2``)."""
    lower = (energies - 0.5 * slope - centre) / (math.sqrt(2.0) * sigma)
    upper = (energies + 0.5 * slope - centre) / (math.sqrt(2.0) * sigma)
    return 0.5 * (erf(upper) - erf(lower))


def line_profile(element: str, energies: np.ndarray, slope: float, resolution: DetectorResolution) -> np.ndarray:
    """Spectrum of one count of the element's Kα, with its Kβ in proportion (xraylib rates)."""
    ka, kb = xray_line(element, "Ka"), xray_line(element, "Kb")
    ka_rate = sum(rate for _, _, rate in ka.components)
    profile = np.zeros_like(energies)
    lines: list[Line] = [ka, kb]
    for line in lines:
        for _, energy, rate in line.components:
            profile += rate / ka_rate * _peak(energies, slope, energy, float(resolution.sigma_kev(energy)))
    return profile


def continuum_profile(energies: np.ndarray, incident_kev: float) -> np.ndarray:
    """Unit-sum continuum: falling exponentially with energy (scale E0/4), zero above E0,
    suppressed below ~1.5 keV as by a detector window."""
    shape = np.exp(-energies / (incident_kev / 4.0)) * (1.0 - np.exp(-((np.maximum(energies, 0.0) / 1.5) ** 3)))
    shape[(energies <= 0) | (energies >= incident_kev)] = 0.0
    total = shape.sum()
    if total <= 0:
        raise ParameterError("the spectrum holds no energies below the incident energy: check the calibration")
    return shape / total


@dataclass(frozen=True)
class XRFCube:
    """A synthetic spectra cube and its ground truth.

    Attributes
    ----------
    counts:
        ``(n_detectors, ny, nx, n_channels)`` int32 counts (None when only the model
        was built, for block-wise writing).
    scalers:
        ``{name: (ny, nx) float64}``: ``i0``, ``live_time``, ``real_time`` (s),
        ``icr``, ``ocr`` (counts, all detector elements).
    x_um, y_um:
        Motor positions of every point, ``(ny, nx)``, µm (jittered if asked).
    calibration, resolution, incident_energy_kev:
        The detector and beam the spectra were made with.
    mesh:
        The Cu Kα map of :func:`~asirp.synth.mesh.mesh_grid_map` (``truth``: the
        unblurred Kα counts per point at full beam and live time; ``blurred``: seen
        through the beam).
    element_maps:
        Expected Kα counts per point (blurred, full beam, full live time) of every
        element, ``{"Cu": ..., "Fe": ...}``.
    beam_factor, live_fraction:
        True relative beam intensity and detector live fraction at each point.
    meta:
        Every parameter.
    """

    counts: np.ndarray | None
    scalers: dict[str, np.ndarray]
    x_um: np.ndarray
    y_um: np.ndarray
    calibration: EnergyCalibration
    resolution: DetectorResolution
    incident_energy_kev: float
    mesh: SynthResult
    element_maps: dict[str, np.ndarray]
    beam_factor: np.ndarray
    live_fraction: np.ndarray
    meta: dict[str, Any]
    components: np.ndarray
    amplitudes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.beam_factor.shape

    @property
    def n_channels(self) -> int:
        return int(self.components.shape[1])

    @property
    def n_detectors(self) -> int:
        return int(self.meta["n_detectors"])

    def expected_rows(self, start: int, stop: int) -> np.ndarray:
        """Expected counts (all detector elements) of rows ``start..stop``, ``(rows, nx, n_channels)`` float64."""
        amplitudes = self.amplitudes[start:stop]
        scale = (self.beam_factor[start:stop] * self.live_fraction[start:stop])[..., None]
        return (amplitudes * scale) @ self.components

    def expected_window(self, lo: int, hi: int, *, measured: bool = False, unblurred: bool = False) -> np.ndarray:
        """Expected counts in channels ``lo..hi-1`` at every point, ``(ny, nx)``, all detector elements.

        Default: at full beam and full live time, the map a perfect normalisation
        recovers (the reference for stripe and accuracy measures). ``measured``: as
        recorded, with the beam factor and the live fraction. ``unblurred``: as a
        point-like beam would see the sample (copper and its scatter from the mesh's
        ``truth``): what a perfect deconvolution of the normalised map recovers.
        """
        amplitudes = self.amplitudes
        if unblurred:
            amplitudes = amplitudes.copy()
            truth = self.mesh.truth.data.astype(np.float64)
            scatter = 1.0 + self.meta["scatter_contrast"] * truth / self.meta["cu_counts"]
            amplitudes[..., 0] = truth
            levels = np.array([self.meta["elastic_counts"], self.meta["compton_counts"], self.meta["continuum_counts"]])
            amplitudes[..., -3:] = scatter[..., None] * levels
        expected = amplitudes @ self.components[:, lo:hi].sum(axis=1)
        return expected * self.beam_factor * self.live_fraction if measured else expected

    def rows(self, start: int, stop: int, detector: int) -> np.ndarray:
        """Counts of detector ``detector`` in rows ``start..stop`` (generated; same as ``counts``)."""
        out = np.empty((stop - start, self.shape[1], self.n_channels), dtype=np.int32)
        for index, row in enumerate(range(start, stop)):  # one row at a time: bounded float64 temporaries
            expected = self.expected_rows(row, row + 1)[0] / self.n_detectors
            if self.meta["noise"]:
                out[index] = np.random.default_rng([self.meta["seed"], 1, row, detector]).poisson(expected)
            else:
                out[index] = np.rint(expected)
        return out


def xrf_cube(
    grid: str = "AG175",
    *,
    shape: tuple[int, int] = (64, 64),
    step_um: float = 25.0,
    beam_fwhm_um: float = 50.0,
    cu_counts: float = 100.0,
    elements: Mapping[str, float | np.ndarray] | None = None,
    ar_counts: float = 40.0,
    elastic_counts: float = 60.0,
    compton_counts: float = 150.0,
    continuum_counts: float = 300.0,
    scatter_contrast: float = 0.5,
    compton_broadening: float = 2.0,
    incident_energy_kev: float = 15.0,
    n_channels: int = 4096,
    calibration: EnergyCalibration = DEFAULT_CALIBRATION,
    resolution: DetectorResolution | None = None,
    sawtooth: Sawtooth | None = None,
    dwell_s: float = 0.05,
    dead_time_s: float = 5e-6,
    i0_offset: float = 0.0,
    n_detectors: int = 1,
    position_jitter_um: float = 0.0,
    noise: bool = True,
    generate: bool = True,
    seed: int = 0,
) -> XRFCube:
    """A synthetic spectra cube of a copper mesh grid (see the module docstring).

    Parameters
    ----------
    grid, shape, step_um, beam_fwhm_um:
        As :func:`~asirp.synth.mesh.mesh_grid_map`: the sample, the map size (rows,
        columns), the scan step (µm) and the beam FWHM (µm).
    cu_counts:
        Cu Kα counts per point on a bar at full beam and live time.
    elements:
        Further elements: symbol -> Kα counts per point, a number (uniform) or an
        ``(ny, nx)`` map of expected counts (taken as already seen through the beam).
    ar_counts, elastic_counts, compton_counts, continuum_counts:
        Counts per point at full beam of the Ar Kα line (air), the elastic and Compton
        peaks and the continuum (scatter and continuum are ``1 + scatter_contrast``
        times stronger on copper).
    compton_broadening:
        Compton peak width over the detector's at that energy (Doppler broadening).
    incident_energy_kev:
        Beam energy, keV (BSRF 4W1B's pink beam spans 10-18 keV).
    n_channels, calibration, resolution:
        The detector: channels, channel -> energy, peak widths (default: a typical SDD).
    sawtooth:
        Beam intensity over time (None: constant); its ``dwell_s`` sets the dwell time,
        its ``i0_counts`` the I0 counts at full beam (1e5 without a sawtooth).
    dwell_s:
        Dwell time per point without a sawtooth, s.
    dead_time_s:
        Paralysable dead time τ of the pulse processor, s.
    i0_offset:
        Dark offset of the I0 chamber, as a fraction of its full-beam counts (0: none).
    n_detectors:
        Detector elements; each records an independent share of the counts.
    position_jitter_um:
        Gaussian encoder noise of the recorded positions, µm.
    noise:
        Poisson noise (False: rounded expected counts, for throughput tests).
    generate:
        Build ``counts`` in memory (False: only the model, for :func:`write_xrf_cube`).
    seed:
        Seed of the mesh position, the beam phase, the scalers and the noise.
    """
    ny, nx = _checks.image_shape(shape, 4)
    n_channels = _checks.integer("n_channels", n_channels, 16)
    n_detectors = _checks.integer("n_detectors", n_detectors, 1)
    _checks.positive("cu_counts", cu_counts)
    for name, value in (("ar_counts", ar_counts), ("elastic_counts", elastic_counts),
                        ("compton_counts", compton_counts), ("continuum_counts", continuum_counts),
                        ("scatter_contrast", scatter_contrast), ("dead_time_s", dead_time_s), ("i0_offset", i0_offset),
                        ("position_jitter_um", position_jitter_um)):  # fmt: skip
        _checks.positive(name, value, allow_zero=True)
    _checks.positive("incident_energy_kev", incident_energy_kev, unit="keV")
    _checks.positive("compton_broadening", compton_broadening)
    resolution = resolution or DetectorResolution()
    seed = _checks.seed(seed)
    dwell = sawtooth.dwell_s if sawtooth is not None else _checks.positive("dwell_s", dwell_s, unit="s")
    i0_full = sawtooth.i0_counts if sawtooth is not None else 1e5

    mesh = mesh_grid_map(
        grid, shape=(ny, nx), step_um=step_um, beam_fwhm_um=beam_fwhm_um, counts=cu_counts, background=0.0, sawtooth=sawtooth, seed=seed
    )
    beam = mesh.meta["beam_factor"] if sawtooth is not None else np.ones((ny, nx))
    coverage = mesh.blurred.data.astype(np.float64) / cu_counts if cu_counts > 0 else np.zeros((ny, nx))

    energies = calibration.energies(n_channels)
    slope = calibration.slope_kev
    element_maps = {"Cu": mesh.blurred.data.astype(np.float64)}
    for symbol, given in (elements or {}).items():
        array = np.broadcast_to(np.asarray(given, dtype=np.float64), (ny, nx))
        if not (np.isfinite(array).all() and (array >= 0).all()):
            raise ParameterError(f"element {symbol}: counts must be finite and non-negative")
        element_maps[symbol] = np.array(array)
    compton_kev = float(xraylib.ComptonEnergy(incident_energy_kev, math.radians(SCATTER_ANGLE_DEG)))
    components = [line_profile(symbol, energies, slope, resolution) for symbol in element_maps]
    components += [
        line_profile("Ar", energies, slope, resolution),
        _peak(energies, slope, incident_energy_kev, float(resolution.sigma_kev(incident_energy_kev))),
        _peak(energies, slope, compton_kev, compton_broadening * float(resolution.sigma_kev(compton_kev))),
        continuum_profile(energies, incident_energy_kev),
    ]
    scatter = 1.0 + scatter_contrast * coverage
    amplitudes = np.stack(
        [*element_maps.values(), np.full((ny, nx), float(ar_counts)), elastic_counts * scatter, compton_counts * scatter, continuum_counts * scatter],
        axis=-1,
    )
    profile = np.stack(components)
    # Paralysable dead time: recorded fraction exp(-true input rate · τ).
    total_at_full = amplitudes @ profile.sum(axis=1)
    input_rate = total_at_full * beam / dwell
    live = np.exp(-input_rate * dead_time_s)

    rng = np.random.default_rng([seed, 2])
    i0 = rng.poisson(i0_full * beam).astype(np.float64) + i0_offset * i0_full
    icr = rng.poisson(input_rate * dwell).astype(np.float64)
    jitter = position_jitter_um
    y_um = np.arange(ny)[:, None] * step_um + np.zeros((1, nx)) + (rng.normal(0.0, jitter, (ny, nx)) if jitter else 0.0)
    x_um = np.arange(nx)[None, :] * step_um + np.zeros((ny, 1)) + (rng.normal(0.0, jitter, (ny, nx)) if jitter else 0.0)
    meta = {
        "generator": "xrf_cube", "grid": grid, "shape": (ny, nx), "step_um": step_um, "beam_fwhm_um": beam_fwhm_um,
        "cu_counts": cu_counts, "elements": sorted(element_maps), "ar_counts": ar_counts, "elastic_counts": elastic_counts,
        "compton_counts": compton_counts, "compton_kev": compton_kev, "continuum_counts": continuum_counts,
        "scatter_contrast": scatter_contrast, "incident_energy_kev": incident_energy_kev, "n_channels": n_channels,
        "dwell_s": dwell, "dead_time_s": dead_time_s, "i0_offset": i0_offset, "i0_full_beam": i0_full,
        "n_detectors": n_detectors, "position_jitter_um": jitter, "noise": bool(noise), "seed": seed,
        "sawtooth": None if sawtooth is None else sawtooth.as_dict(), "scan_order": "row by row, x fastest",
    }  # fmt: skip
    scalers = {"i0": i0, "live_time": np.full((ny, nx), dwell) * live, "real_time": np.full((ny, nx), dwell), "icr": icr}
    cube = XRFCube(None, scalers, x_um, y_um, calibration, resolution, incident_energy_kev, mesh, element_maps, beam, live, meta, profile, amplitudes)
    counts = None
    if generate:
        counts = np.stack([cube.rows(0, ny, d) for d in range(n_detectors)])
        ocr = counts.sum(axis=(0, 3), dtype=np.int64).astype(np.float64)
    else:
        ocr = total_at_full * beam * live  # expected recorded counts
    scalers["ocr"] = ocr
    return XRFCube(
        counts, scalers, x_um, y_um, calibration, resolution, incident_energy_kev, mesh, element_maps, beam, live, meta, profile, amplitudes
    )


# -- writing ------------------------------------------------------------------------------------


def _row_blocks(cube: XRFCube, detector: int, chunk_mb: float) -> Iterator[tuple[int, int, np.ndarray]]:
    ny, nx = cube.shape
    per_block = max(1, int(chunk_mb * 1e6) // (nx * cube.n_channels * 4))
    for start in range(0, ny, per_block):
        stop = min(ny, start + per_block)
        block = cube.counts[detector, start:stop] if cube.counts is not None else cube.rows(start, stop, detector)
        yield start, stop, block


def _maps_override_text(cube: XRFCube) -> str:
    cal, res = cube.calibration, cube.resolution
    return "\n".join(
        [
            "   written by asirp.synth.write_xrf_cube",
            "VERSION: 5.0",
            f"DETECTOR_ELEMENTS: {cube.n_detectors}",
            f"CAL_OFFSET_[E_OFFSET]: {cal.offset_kev}",
            f"CAL_SLOPE_[E_LINEAR]: {cal.slope_kev}",
            f"CAL_QUAD_[E_QUADRATIC]: {cal.quad_kev}",
            f"FWHM_OFFSET: {res.fwhm_offset_kev}",
            f"FWHM_FANOPRIME: {res.fano_prime}",
            f"COHERENT_SCT_ENERGY: {cube.incident_energy_kev}",
            "",
        ]
    )


def write_xrf_cube(
    cube: XRFCube,
    path: str | os.PathLike[str],
    layout: str = "pyxrf",
    *,
    snake: bool = False,
    chunk_mb: float = 64.0,
) -> Path:
    """Write ``cube`` as an HDF5 file in ``layout`` (one of :data:`LAYOUTS`), block by block.

    A cube built with ``generate=False`` is generated row block by row block while
    writing, so memory stays near ``chunk_mb`` whatever the cube's size. ``snake``
    (``points`` layout only) stores odd rows right to left, as a snake scan acquires
    them. Datasets are contiguous and uncompressed (the fastest to stream). The
    ``maps`` layout also writes ``maps_fit_parameters_override.txt`` (calibration,
    resolution) beside the file; it has no I0.
    """
    if layout not in LAYOUTS:
        raise ParameterError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    target = Path(path)
    ny, nx = cube.shape
    n_channels, n_det = cube.n_channels, cube.n_detectors
    with h5py.File(target, "w") as handle:
        if layout == "pyxrf":
            root = handle.create_group("xrfmap")
            names = ["detsum"] + ([f"det{d + 1}" for d in range(n_det)] if n_det > 1 else [])
            datasets = {name: root.create_dataset(f"{name}/counts", (ny, nx, n_channels), dtype=np.int32) for name in names}
            for d in range(n_det):
                for start, stop, block in _row_blocks(cube, d, chunk_mb):
                    if n_det > 1:
                        datasets[f"det{d + 1}"][start:stop] = block
                        datasets["detsum"][start:stop] = block if d == 0 else datasets["detsum"][start:stop] + block
                    else:
                        datasets["detsum"][start:stop] = block
            root.create_dataset("scalers/name", data=np.array(list(_SCALERS), dtype="S"))
            root.create_dataset("scalers/val", data=np.stack([cube.scalers[n] for n in _SCALERS], axis=-1))
            root.create_dataset("positions/name", data=np.array(["x_pos", "y_pos"], dtype="S"))
            pos = root.create_dataset("positions/pos", data=np.stack([cube.x_um, cube.y_um]) * 1e-3)
            pos.attrs["units"] = "mm"
            metadata = root.create_group("scan_metadata")
            metadata.attrs["instrument_mono_incident_energy"] = cube.incident_energy_kev
        elif layout == "maps":
            group = handle.create_group("MAPS_RAW")
            for d in range(n_det):
                dataset = group.create_dataset(f"data_{chr(ord('a') + d)}", (n_channels, ny, nx), dtype=np.int32)
                for start, stop, block in _row_blocks(cube, d, chunk_mb):
                    dataset[:, start:stop, :] = block.transpose(2, 0, 1)
            per_det = {"livetime": cube.scalers["live_time"], "realtime": cube.scalers["real_time"],
                       "inputcounts": cube.scalers["icr"] / n_det, "ouputcounts": cube.scalers["ocr"] / n_det}  # fmt: skip
            for name, values in per_det.items():
                group.create_dataset(name, data=np.broadcast_to(values, (n_det, ny, nx)).astype(np.float32))
            (target.parent / "maps_fit_parameters_override.txt").write_text(_maps_override_text(cube))
        else:
            entry = handle.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            entry.attrs["default"] = "data"
            data = entry.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            handle.attrs["default"] = "entry"
            scalers = entry.create_group("scalers")
            scalers.attrs["NX_class"] = "NXcollection"
            energy = data.create_dataset("energy", data=cube.calibration.energies(n_channels))
            energy.attrs["units"] = "keV"
            if layout == "nexus":
                _write_nexus_map(cube, data, scalers, chunk_mb)
            else:
                _write_points(cube, data, scalers, snake, chunk_mb)
    return target


def _summed_blocks(cube: XRFCube, chunk_mb: float) -> Iterator[tuple[int, int, np.ndarray]]:
    """Row blocks of counts summed over the detector elements."""
    iterators = [_row_blocks(cube, d, chunk_mb) for d in range(cube.n_detectors)]
    for parts in zip(*iterators, strict=True):
        start, stop = parts[0][0], parts[0][1]
        yield start, stop, sum(block for _, _, block in parts)


def _write_nexus_map(cube: XRFCube, data: h5py.Group, scalers: h5py.Group, chunk_mb: float) -> None:
    ny, nx = cube.shape
    data.attrs["signal"] = "counts"
    data.attrs["axes"] = ["y", "x", "energy"]
    counts = data.create_dataset("counts", (ny, nx, cube.n_channels), dtype=np.int32)
    counts.attrs["interpretation"] = "spectrum"
    for start, stop, block in _summed_blocks(cube, chunk_mb):
        counts[start:stop] = block
    for name, values in (("y", cube.y_um[:, 0]), ("x", cube.x_um[0, :])):
        data.create_dataset(name, data=values).attrs["units"] = "um"
    for name in _SCALERS:
        scalers.create_dataset(name, data=cube.scalers[name])


def _write_points(cube: XRFCube, data: h5py.Group, scalers: h5py.Group, snake: bool, chunk_mb: float) -> None:
    ny, nx = cube.shape
    grid = np.arange(ny * nx).reshape(ny, nx)
    if snake:
        grid[1::2] = grid[1::2, ::-1]
    order = grid.ravel()
    data.attrs["signal"] = "spectra"
    data.attrs["axes"] = ["point", "energy"]
    spectra = data.create_dataset("spectra", (ny * nx, cube.n_channels), dtype=np.int32)
    spectra.attrs["interpretation"] = "spectrum"
    for start, stop, block in _summed_blocks(cube, chunk_mb):
        flat = block.reshape(-1, cube.n_channels)
        if snake:
            rows = block.copy()
            rows[(np.arange(start, stop) % 2 == 1)] = rows[(np.arange(start, stop) % 2 == 1), ::-1]
            flat = rows.reshape(-1, cube.n_channels)
        spectra[start * nx : stop * nx] = flat
    data.create_dataset("x", data=cube.x_um.ravel()[order]).attrs["units"] = "um"
    data.create_dataset("y", data=cube.y_um.ravel()[order]).attrs["units"] = "um"
    for name in _SCALERS:
        scalers.create_dataset(name, data=cube.scalers[name].ravel()[order])
