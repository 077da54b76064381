"""The pipeline configuration: a validated object, read from TOML or built in code.

A pipeline file holds one table per step, in the order the steps run, plus how to
run them::

    [read]                      # how a frame is read (any source)
    kind = "diffraction"
    poni = "pilatus.poni"

    [restore]
    method = "auto"             # or a method name: "wiener", "richardson_lucy", ...
    budget_s = 0.08             # per-frame time budget for "auto" (and named methods)

    [analyse]
    profile = true              # azimuthal 1-D profile of each restored frame
    change = { threshold = 6.0 }

    [write]
    output = "restored"         # one NeXus file per run in this folder

    [execution]
    backend = "thread"          # local | thread | dask
    workers = 2

Unknown keys anywhere are errors naming the table and key (``restore.methd: unknown
key``), and so are values out of range; a TOML syntax error names the file and line.
Every table is optional; :class:`PipelineConfig` gives the defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import InputError, ParameterError
from ..frame import KINDS


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadConfig(_Table):
    """How a source's data become frames."""

    kind: str = Field("image", description="what the frames are: one of asirp.KINDS")
    poni: str | None = Field(None, description="pyFAI PONI geometry file attached to every frame")
    saturation: float | None = Field(None, gt=0, description="counts at or above this are masked")
    mask: str | None = Field(None, description="mask file applied to every frame (pyFAI/Dioptas: nonzero = masked)")
    dataset: str | None = Field(None, description="HDF5 dataset of image stacks (offline and SWMR sources)")
    field: str | None = Field(None, description="Bluesky event field holding the image (default: the first 2-D array field)")
    pattern: str = Field("*", description="file-name pattern for folders (glob, e.g. '*.cbf')")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind {value!r}; expected one of {', '.join(KINDS)}")
        return value


class XrfMapConfig(_Table):
    """Assemble micro-XRF map lines (one per event or file) into element maps.

    A line is either the element counts of each point (1-D, ``nx`` values) or the
    spectra of each point (2-D, ``nx x channels``); spectra are reduced by "channel
    adding" over ``channels`` (the ASIRP paper's choice for weak elements).
    """

    shape: tuple[int, int] = Field(description="map size (lines, points per line)")
    step_um: tuple[float, float] | None = Field(None, description="scan step (y, x) in µm: the map's pixel size")
    channels: tuple[int, int] | None = Field(None, description="channel window [first, last) summed per point")
    snake: bool = Field(False, description="odd lines were scanned backwards (snake / boustrophedon scan)")

    @field_validator("shape")
    @classmethod
    def _map_shape(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 2:
            raise ValueError(f"a map needs at least 2 x 2 points, got {list(value)}")
        return value

    @field_validator("channels")
    @classmethod
    def _window(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not (0 <= value[0] < value[1]):
            raise ValueError(f"channel window must be [first, last) with 0 <= first < last, got {list(value)}")
        return value


class RestoreConfig(_Table):
    """Which method restores each frame, with what parameters, in how much time."""

    method: str = Field("auto", description="a registered method name, or 'auto'")
    params: dict[str, Any] = Field(default_factory=dict, description="method parameters (validated by the method)")
    budget_s: float | None = Field(None, gt=0, description="per-frame time budget, s; over it the cheapest method is used")


class ChangeConfig(_Table):
    """Change detection on a time series of restored frames."""

    on: Literal["profile", "frame"] = Field("profile", description="compare 1-D azimuthal profiles or whole frames")
    threshold: float = Field(6.0, gt=0, description="robust z-score (median/MAD units) that flags a change")
    min_history: int = Field(3, ge=2, description="frames needed before a change can be flagged")


class RoiConfig(_Table):
    """Regions of interest proposed on restored maps."""

    mode: Literal["concentration", "gradient"] = "concentration"
    threshold: float = Field(0.5, gt=0, lt=1, description="fraction of the map's robust range above which a point is of interest")
    min_area: int = Field(4, ge=1, description="smallest region kept, in map points")
    pad: int = Field(1, ge=0, description="points added around each box")
    motors: tuple[str, str] = Field(("y", "x"), description="names of the slow (row) and fast (column) scan motors")
    origin: tuple[float, float] = Field((0.0, 0.0), description="motor positions (y, x) of the map's first point")
    step: tuple[float, float] | None = Field(None, description="motor step (y, x) between points; default the map's pixel size")


class AnalyseConfig(_Table):
    profile: bool = Field(False, description="compute the azimuthal profile of each restored frame")
    bins: int = Field(256, ge=8, le=65536, description="profile bins")
    change: ChangeConfig | None = None
    roi: RoiConfig | None = None


class WriteConfig(_Table):
    output: str = Field("restored", description="folder receiving one NeXus file per run")
    png_every_s: float = Field(0.0, ge=0, description="PNG snapshot of the latest frame at most this often (0: none)")
    documents: bool = Field(False, description="re-emit restored frames as Bluesky documents")


class ExecutionConfig(_Table):
    backend: Literal["local", "thread", "dask"] = "thread"
    workers: int = Field(1, ge=1, le=256, description="worker threads or Dask workers")
    max_in_flight: int | None = Field(None, ge=1, description="frames submitted and not yet written (default 2 x workers)")
    queue_size: int = Field(16, ge=1, description="frames held in memory between the acquisition and the pipeline")
    overflow: Literal["spill", "skip"] = Field("spill", description="when the queue is full: spill to disk, or record as skipped")
    scheduler: str | None = Field(None, description="Dask scheduler address (tcp://host:port); default a LocalCluster")

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> ExecutionConfig:
        if self.scheduler is not None and self.backend != "dask":
            raise ValueError("scheduler is only used with backend = 'dask'")
        return self

    @property
    def in_flight(self) -> int:
        return self.max_in_flight or 2 * self.workers


class PipelineConfig(_Table):
    """A whole pipeline: the steps in order (read -> [xrf_map] -> restore -> analyse -> write) and how to run them."""

    name: str = "pipeline"
    read: ReadConfig = ReadConfig()
    xrf_map: XrfMapConfig | None = None
    restore: RestoreConfig = RestoreConfig()
    analyse: AnalyseConfig = AnalyseConfig()
    write: WriteConfig = WriteConfig()
    execution: ExecutionConfig = ExecutionConfig()


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "pipeline"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required"
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    return f"{where}: {message}"


def parse_config(data: dict[str, Any], source: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Validate a pipeline configuration given as a dict (the parsed TOML).

    Raises
    ------
    ParameterError
        (or :class:`InputError` naming ``source`` when given) listing every problem,
        e.g. ``restore.budget_s: must be greater than 0; execution.backnd: unknown key``.
    """
    try:
        return PipelineConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        if source is not None:
            raise InputError(f"invalid pipeline: {problems}", source) from None
        raise ParameterError(f"invalid pipeline: {problems}") from None
    except TypeError as exc:  # a top-level value that is not a table
        raise InputError(f"invalid pipeline: {exc}", source) from None


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate a pipeline TOML file; relative ``poni`` and ``output`` are taken from the file's folder."""
    file = Path(path)
    if not file.is_file():
        raise InputError("no such pipeline file", file)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file) from None
    except UnicodeDecodeError:
        raise InputError("not a text (UTF-8) TOML file", file) from None
    config = parse_config(data, file)
    base = file.parent
    read, write = config.read, config.write
    if read.poni is not None and not Path(read.poni).is_absolute():
        read = read.model_copy(update={"poni": str(base / read.poni)})
    if not Path(write.output).is_absolute():
        write = write.model_copy(update={"output": str(base / write.output)})
    return config.model_copy(update={"read": read, "write": write})
