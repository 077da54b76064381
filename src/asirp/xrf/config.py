"""The TOML configuration of ``asirp xrf``: what the paper's .ini file held, validated.

Everything a beamline user sets once per experiment: the data file, the elements
(lines or channel/energy windows) and their colours, the normalisation, the scan
step and orientation, the clip levels ("threshold"), the PSF (beam FWHM or σ) and
the iterations of the restoration. Command-line options override the file. Unknown
keys and wrong values are refused with a message naming the file, the section and
the key (pydantic models with ``extra="forbid"``).

Minimal example (paths are relative to the configuration file)::

    [data]
    file = "2xfm_0011_2xfm3__0.h5"

    [calibration]
    file = "maps_fit_parameters_override.txt"

    [elements]
    lines = ["Ca-Ka", "Fe-Ka", "Cu-Ka"]
    colours = { "Cu-Ka" = "copper", "Fe-Ka" = "red" }

    [normalise]
    method = "ar+livetime"

    [scan]
    step = "25um"

    [restore]
    method = "richardson_lucy"
    beam_fwhm = "50um"
    iterations = 10

    [output]
    directory = "maps"
    formats = ["nxs", "png", "txt"]
    threshold = ["p1", "p99"]
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError, ParameterError
from ..units import parse_length
from .normalise import Normalisation

Level = float | str | None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """[data]: the spectra file and how to read it."""

    directory: Path | None = Field(None, description="folder of the data file (default: the config file's folder)")
    file: str | None = Field(None, description="spectra file; FILE.h5::/path names the spectra dataset")
    layout: Literal["auto", "maps", "pyxrf", "nexus"] = "auto"
    detectors: list[int] | None = Field(None, description="0-based detector elements to sum (default: all)")
    channel_axis: int | None = Field(None, description="0 for NeXus/HDF5 spectra stored channels first")
    x: str | None = Field(None, description="x position dataset of a point list")
    y: str | None = Field(None, description="y position dataset of a point list")
    shape: tuple[int, int] | None = Field(None, description="scan shape (rows, columns) of a point list without positions")
    snake: bool = Field(False, description="with shape: odd rows were scanned backwards")
    position_unit: str | None = Field(None, description="unit of the motor positions when the file does not say")
    duplicates: Literal["error", "mean", "last"] = "error"


class CalibrationConfig(_Section):
    """[calibration]: energy calibration and detector resolution (default: what the file says)."""

    file: str | None = Field(None, description="MAPS maps_fit_parameters_override.txt")
    offset_kev: float | None = None
    slope_kev: float | None = Field(None, gt=0)
    quad_kev: float = 0.0
    fit_peaks: list[str | float] | None = Field(None, description="two lines (or keV) to refit offset and slope, e.g. ['Ar-Ka', 'Cu-Ka']")
    fwhm_offset_kev: float | None = Field(None, ge=0)
    fano_prime: float | None = Field(None, ge=0)

    @field_validator("fit_peaks")
    @classmethod
    def _two(cls, value: list[str | float] | None) -> list[str | float] | None:
        if value is not None and len(value) != 2:
            raise ValueError("give exactly two peaks, e.g. ['Ar-Ka', 'Cu-Ka']")
        return value


class WindowConfig(_Section):
    """One named window: exactly one of line, energy_kev, channels."""

    line: str | None = None
    energy_kev: tuple[float, float] | None = None
    channels: tuple[int, int] | None = None
    width_fwhm: float | None = Field(None, gt=0)

    def spec(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


class ElementsConfig(_Section):
    """[elements]: which maps to make and their colours."""

    lines: list[str] = Field(default_factory=list, description="'Cu-Ka', '7.9-8.2keV', 'ch:820-860'")
    windows: dict[str, WindowConfig] = Field(default_factory=dict, description="named windows")
    width_fwhm: float = Field(2.0, gt=0, description="line window width in detector FWHM (2 = ±1 FWHM)")
    colours: dict[str, str] = Field(default_factory=dict, description="map name -> colour map or colour")
    colour: str = Field("viridis", description="colour of maps without their own")


class NormaliseConfig(_Section):
    """[normalise]: beam (i0 | ar) and detector (livetime | deadtime) corrections."""

    method: str = Field("none", description="'none', 'i0', 'ar', 'livetime', 'deadtime' or e.g. 'ar+livetime'")
    i0: str | None = Field(None, description="I0 scaler name (default: found by name)")
    ar_window: str = "Ar-Ka"
    ar_smooth: int | Literal["auto"] = 1

    def normalisation(self) -> Normalisation:
        return Normalisation.parse(self.method, i0=self.i0, ar_window=self.ar_window, ar_smooth=self.ar_smooth)


class ScanConfig(_Section):
    """[scan]: step and orientation."""

    step: str | list[str] | None = Field(None, description="scan step '25um', or ['10um', '25um'] for (y, x)")
    flip: list[Literal["lr", "ud"]] = Field(default_factory=list)
    rotate: int = Field(0, description="counter-clockwise, multiple of 90 degrees")
    transpose: bool = False
    crop_rows: tuple[int, int] | None = None
    crop_cols: tuple[int, int] | None = None
    crop_x: tuple[float | str, float | str] | None = None
    crop_y: tuple[float | str, float | str] | None = None

    @field_validator("rotate")
    @classmethod
    def _quarter(cls, value: int) -> int:
        if value % 90:
            raise ValueError("must be a multiple of 90")
        return value

    @field_validator("step")
    @classmethod
    def _lengths(cls, value: str | list[str] | None) -> str | list[str] | None:
        values = [value] if isinstance(value, str) else (value or [])
        if isinstance(value, list) and len(value) != 2:
            raise ValueError("give one step or two (y, x)")
        for item in values:
            try:
                parse_length(item)
            except ParameterError as exc:
                raise ValueError(str(exc)) from None
        return value


class RestoreConfig(_Section):
    """[restore]: the restoration method and its PSF."""

    method: str | None = Field(None, description="method of the repertoire (see 'asirp methods'); none: no restoration")
    beam_fwhm: str | None = Field(None, description="beam FWHM, e.g. '50um'")
    psf_sigma: float | None = Field(None, gt=0, description="PSF σ in map pixels (instead of beam_fwhm)")
    iterations: int | None = Field(None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict, description="other parameters of the method")


OutputFormat = Literal["nxs", "tif", "png", "txt"]


def _default_formats() -> list[OutputFormat]:
    return ["nxs", "png", "txt"]


class OutputConfig(_Section):
    """[output]: where and what to write."""

    directory: Path = Field(Path("."), description="output folder (created)")
    stem: str | None = Field(None, description="file name stem (default: the input's)")
    formats: list[OutputFormat] = Field(default_factory=_default_formats)
    threshold: tuple[Level, Level] = Field((None, None), description="clip levels of the pictures: numbers or 'p1', 'p99'")
    relative_xy: bool = Field(True, description="TXT x, y relative to the map corner")
    force: bool = False


class ProcessingConfig(_Section):
    """[processing]: streaming."""

    chunk_mb: float = Field(64.0, gt=0, description="MB of spectra read at a time")
    spectrum: bool = Field(True, description="also sum the whole spectrum (for the NeXus summary)")
    hash_input: bool | None = Field(None, description="sha256 of the input for provenance (default: files up to 2 GiB)")


class XRFConfig(_Section):
    """The whole configuration."""

    data: DataConfig = Field(default_factory=DataConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    elements: ElementsConfig = Field(default_factory=ElementsConfig)
    normalise: NormaliseConfig = Field(default_factory=NormaliseConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    restore: RestoreConfig = Field(default_factory=RestoreConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    processing: ProcessingConfig = Field(default_factory=ProcessingConfig)

    def data_path(self) -> str:
        """The spectra file (with its ``::/dataset`` if any), joined to ``data.directory``."""
        if not self.data.file:
            raise ParameterError("no data file: give it on the command line or as [data] file in the configuration")
        path, sep, dataset = self.data.file.partition("::")
        joined = Path(path) if self.data.directory is None else self.data.directory / path
        return f"{joined}{sep}{dataset}"


def _describe_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = [str(item) for item in error["loc"]]
        where = f"[{location[0]}] {'.'.join(location[1:])}" if len(location) > 1 else (location[0] if location else "")
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _resolve_paths(values: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the config's relative paths relative to ``base`` (the config file's folder)."""
    out = {key: dict(section) if isinstance(section, dict) else section for key, section in values.items()}
    data = out.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("directory"), str):
            data["directory"] = str(base / data["directory"])
        elif isinstance(data.get("file"), str) and "directory" not in data:
            data["directory"] = str(base)
    for section, key in (("calibration", "file"), ("output", "directory")):
        if isinstance(out.get(section), dict) and isinstance(out[section].get(key), str):
            out[section][key] = str(base / out[section][key])
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, section by section (None values are ignored)."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for section, values in overrides.items():
        clean = {key: value for key, value in values.items() if value is not None}
        if clean:
            merged[section] = {**merged.get(section, {}), **clean}
    return merged


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML file as a dict, paths made relative to its folder (not yet validated)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError("no such configuration file", file) from None
    except OSError as exc:
        raise InputError(f"cannot read the configuration ({exc.strerror})", file) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", file) from None
    return _resolve_paths(values, file.absolute().parent)


def build_config(values: dict[str, Any], source: str | None = None) -> XRFConfig:
    """Validate a configuration dict; errors name the section and key (and ``source``)."""
    try:
        config = XRFConfig.model_validate(values)
        config.normalise.normalisation()  # checks the method words
    except ValidationError as exc:
        raise ParameterError(f"{source + ': ' if source else ''}invalid configuration: {_describe_errors(exc)}") from None
    except ParameterError as exc:
        raise ParameterError(f"{source + ': ' if source else ''}[normalise] method: {exc}") from None
    return config


def load_config(path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None) -> XRFConfig:
    """Read a TOML configuration (optional), lay ``overrides`` (e.g. CLI options) over it, validate.

    ``overrides`` is ``{section: {key: value}}``; None values leave the file's value.
    """
    values = read_config_file(path) if path is not None else {}
    return build_config(merge(values, overrides or {}), str(path) if path is not None else None)
