"""Micro-XRF: from raw spectra cubes to normalised, restored element maps.

The paper's beamline tool, as a library and the ``asirp xrf`` command:

>>> from asirp import xrf
>>> with xrf.open_spectra("scan.h5") as source:                          # doctest: +SKIP
...     maps = xrf.element_maps(source, ["Cu-Ka", "Fe-Ka"], normalisation="ar+livetime")
>>> restored = xrf.restore_maps(maps.normalised, "richardson_lucy", beam_fwhm="50um")  # doctest: +SKIP

Modules, one job each:

* :mod:`~asirp.xrf.readers`: APS MAPS, PyXRF, NeXus and point-list files, read block by block;
* :mod:`~asirp.xrf.scan`: scan shape, step and snake order from motor positions;
* :mod:`~asirp.xrf.calibration`: energy calibration and detector resolution, two-peak refit;
* :mod:`~asirp.xrf.lines`: element windows by line name (xraylib), energy or channels; overlaps;
* :mod:`~asirp.xrf.maps`: channel adding, streamed in bounded memory;
* :mod:`~asirp.xrf.normalise`: I0, Ar Kα, live time or dead time;
* :mod:`~asirp.xrf.orient`: flip, rotate, transpose, crop with physical axes kept;
* :mod:`~asirp.xrf.restore`: repertoire methods with the PSF from beam size and step;
* :mod:`~asirp.xrf.export`: NeXus, TIFF, PNG, TXT for Origin;
* :mod:`~asirp.xrf.config`, :mod:`~asirp.xrf.workflow`, :mod:`~asirp.xrf.cli`: the configured run.
"""

_EXPORTS = {
    "DetectorResolution": "calibration",
    "EnergyCalibration": "calibration",
    "MapAxes": "orient",
    "Normalisation": "normalise",
    "ScanGrid": "scan",
    "SpectraSource": "readers",
    "Window": "lines",
    "XRFConfig": "config",
    "XRFMaps": "workflow",
    "XRFResult": "workflow",
    "channel_sums": "maps",
    "crop": "orient",
    "element_maps": "workflow",
    "find_overlaps": "lines",
    "fit_two_peaks": "calibration",
    "flip": "orient",
    "from_array": "readers",
    "grid_from_position_maps": "scan",
    "grid_from_positions": "scan",
    "grid_from_shape": "scan",
    "load_config": "config",
    "make_window": "lines",
    "make_windows": "lines",
    "open_spectra": "readers",
    "parse_line": "lines",
    "read_maps_override": "calibration",
    "restore_maps": "restore",
    "rotate": "orient",
    "run": "workflow",
    "transpose": "orient",
    "window_sums": "maps",
    "write_nexus_maps": "export",
    "write_png": "export",
    "write_txt": "export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # PEP 562: submodules (h5py, xraylib, matplotlib users) load on first use
    import importlib

    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
