"""Benchmark harness: registered suites, best-of-N timing, and the report they produce.

A benchmark is not a timed test: a *suite* runs the same data through several methods
in one process, measures quality against a synthetic ground truth and speed against a
named baseline timed **in the same run** (so the ratio is meaningful on any machine),
and yields one flat row of figures per case::

    @register_suite("deconv", description="Richardson-Lucy vs scikit-image on mesh grids")
    def deconv_suite(ctx: BenchContext):
        for case in ctx.track(cases, desc="deconv"):
            restored, seconds = ctx.timeit(method, case.data)
            _, baseline_s = ctx.timeit(skimage_method, case.data)
            yield {"case": case.name, "method": "richardson_lucy", "baseline": "skimage",
                   "psnr_db": psnr(case.truth, restored), "time_s": seconds,
                   "speedup": baseline_s / seconds}

:func:`run_suite` runs one and returns a :class:`SuiteReport` (JSON and a Markdown
table, with the machine it ran on and the command that reproduces it).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import InputError, ParameterError
from ..history import now_iso
from ..progress import progress as progress_bar
from .env import environment

T = TypeVar("T")
Row = dict[str, Any]
SuiteFunction = Callable[["BenchContext"], Iterable[Row]]

#: Timed calls of :meth:`BenchContext.timeit` (after one warm-up call), normal and quick runs.
DEFAULT_REPEAT = 5
QUICK_REPEAT = 2

#: Where the suites shipped with asirp live; importing it registers them.
_BUILTIN_SUITES = "asirp.bench.suites"


@dataclass(frozen=True)
class _Suite:
    name: str
    description: str
    function: SuiteFunction


_REGISTRY: dict[str, _Suite] = {}


def register_suite(name: str, description: str) -> Callable[[SuiteFunction], SuiteFunction]:
    """Register a benchmark suite under ``name`` (the ``asirp bench NAME`` argument).

    The decorated function takes a :class:`BenchContext` and yields rows: flat dicts
    of figures (str, int, float, bool or None values).

    Raises
    ------
    ParameterError
        ``name`` is empty or has white space, or another function already holds it.
    """
    if not name or any(char.isspace() for char in name):
        raise ParameterError(f"suite name must be one word, got {name!r}")

    def decorator(function: SuiteFunction) -> SuiteFunction:
        existing = _REGISTRY.get(name)
        same_function = existing is not None and (
            (existing.function.__module__, existing.function.__qualname__)
            == (function.__module__, function.__qualname__)
        )
        if existing is not None and not same_function:  # re-importing a module re-registers, fine
            raise ParameterError(
                f"benchmark suite {name!r} is already registered by "
                f"{existing.function.__module__}.{existing.function.__qualname__}"
            )
        _REGISTRY[name] = _Suite(name, description, function)
        return function

    return decorator


def _load_builtin_suites() -> None:
    importlib.import_module(_BUILTIN_SUITES)


def suites() -> dict[str, str]:
    """The registered suites, ``{name: description}``, sorted by name."""
    _load_builtin_suites()
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


@dataclass
class BenchContext:
    """What a suite gets to run with.

    Attributes
    ----------
    quick:
        Smaller cases and fewer repeats, for a fast check (CI, a first look).
    data:
        Folder of real measured data given with ``--data``, or None: suites must run
        on synthetic data without it and may add real-data cases with it.
    seed:
        Seed for the synthetic data, so two runs measure the same images.
    progress:
        Whether to show progress bars (see :meth:`track`).
    device:
        The torch device asked for with ``--device`` (``auto``, ``cpu`` or ``cuda``), or None:
        the suite's own default.
    """

    quick: bool = False
    data: Path | None = None
    seed: int = 0
    progress: bool = True
    device: str | None = None

    def rng(self) -> np.random.Generator:
        """A fresh random generator seeded with :attr:`seed` (same numbers every run)."""
        return np.random.default_rng(self.seed)

    def track(self, items: Iterable[T], *, desc: str, total: int | None = None) -> Iterable[T]:
        """``items`` with a progress bar on stderr when :attr:`progress` is on."""
        return progress_bar(items, desc=desc, total=total, unit="case") if self.progress else items

    def timeit(self, fn: Callable[..., T], *args: Any, repeat: int | None = None, **kw: Any) -> tuple[T, float]:
        """Best-of-N wall time of ``fn(*args, **kw)``, after one untimed warm-up call.

        The warm-up absorbs one-off costs (imports, JIT, FFT plans, caches, GPU
        context) that a beamline pays once per session, not once per image. The
        minimum of N is the least disturbed by other processes. ``fn`` must finish its
        work before returning (call ``torch.cuda.synchronize()`` for GPU work).

        Parameters
        ----------
        repeat:
            Number N of timed calls; default :data:`DEFAULT_REPEAT`, or
            :data:`QUICK_REPEAT` when :attr:`quick`. Pass 1 for work that takes minutes.

        Returns
        -------
        (result, seconds)
            The result of the last call and the best time in seconds.
        """
        n = (QUICK_REPEAT if self.quick else DEFAULT_REPEAT) if repeat is None else repeat
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(f"timeit repeat must be a positive integer, got {repeat!r}")
        result = fn(*args, **kw)
        best = math.inf
        for _ in range(n):
            start = time.perf_counter()
            result = fn(*args, **kw)
            best = min(best, time.perf_counter() - start)
        return result, best


def _json_safe(value: Any) -> Any:
    """Strict JSON has no inf/NaN: write them as the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _format_cell(value: Any) -> str:
    """A table cell: 4 significant digits for floats, no exponent below 1e6."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if 1e4 <= abs(value) < 1e6:
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


@dataclass
class SuiteReport:
    """The outcome of one suite run: its rows, where and when it ran, how to rerun it.

    Attributes
    ----------
    suite, description:
        The suite's registered name and description.
    quick:
        Whether it ran in quick mode.
    started:
        UTC start time, ISO 8601.
    duration_s:
        Wall time of the whole suite, seconds.
    environment:
        :func:`asirp.bench.env.environment` of the machine.
    rows:
        The figures, one flat dict per case.
    command:
        The ``asirp bench`` command line that reproduces the run.
    """

    suite: str
    description: str
    quick: bool
    started: str
    duration_s: float
    environment: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    command: str = ""

    def to_json(self) -> str:
        """The report as strict JSON (non-finite numbers become "inf", "-inf", "nan")."""
        return json.dumps(_json_safe(asdict(self)), indent=2, allow_nan=False)

    def columns(self) -> list[str]:
        """Union of the rows' keys, in order of first appearance."""
        return list(dict.fromkeys(key for row in self.rows for key in row))

    def to_markdown(self) -> str:
        """A header with date, machine and command, then a Markdown table of the rows.

        Columns are the union of the row keys; a row without a key has an empty cell;
        floats show 4 significant digits.
        """
        env = self.environment
        cuda = env.get("cuda_device") or ("yes" if env.get("cuda") else "no")
        lines = [
            f"### {self.suite}: {self.description}",
            "",
            f"{self.started}, {self.duration_s:.3g} s{' (quick)' if self.quick else ''} on {env.get('hostname')}: "
            f"{env.get('cpu')} ({env.get('cpus_available')} of {env.get('n_cpus')} CPUs), CUDA {cuda}; "
            f"Python {env.get('python')}, asirp {env.get('asirp')}, numpy {env.get('numpy')}, "
            f"torch {env.get('torch')} ({env.get('torch_threads')} threads). Reproduce: `{self.command}`",
            "",
        ]
        columns = self.columns()
        if not columns:
            return "\n".join([*lines, "(no rows)"])
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(_format_cell(row.get(key)) for key in columns) + " |")
        return "\n".join(lines)

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically (temporary file, then rename).

        A reader never sees a half-written report, and an interrupted run leaves any
        previous report intact. Missing parent folders are created.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
        try:
            with handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return target


def _clean_row(suite: str, index: int, row: Any) -> Row:
    """Check that a row is a flat dict of scalars; numpy scalars become Python ones."""
    if not isinstance(row, dict):
        raise TypeError(f"suite {suite!r} yielded {type(row).__name__} as row {index}; rows must be dicts")
    clean: Row = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int | float | bool)):
            raise TypeError(
                f"suite {suite!r} row {index}: {key!r} = {value!r}; rows must map names to str, int, float, bool or None"
            )
        clean[key] = value
    return clean


def _command(name: str, quick: bool, data: Path | None, device: str | None = None) -> str:
    parts = ["asirp", "bench", name]
    if quick:
        parts.append("--quick")
    if data is not None:
        parts += ["--data", str(data)]
    if device is not None:
        parts += ["--device", device]
    return shlex.join(parts)


def run_suite(
    name: str,
    *,
    quick: bool = False,
    data: str | os.PathLike[str] | None = None,
    progress: bool = True,
    device: str | None = None,
) -> SuiteReport:
    """Run the suite registered as ``name`` and collect its rows into a report.

    Parameters
    ----------
    name:
        A key of :func:`suites`.
    quick:
        Smaller cases and fewer timing repeats.
    data:
        Folder of real data for suites that use it (``--data``).
    progress:
        Show progress bars on stderr.
    device:
        Torch device for the suites that use one (:attr:`BenchContext.device`).

    Raises
    ------
    ParameterError
        Unknown suite (the message lists the available ones).
    InputError
        ``data`` is not an existing folder.
    """
    available = suites()
    if name not in available:
        raise ParameterError(f"unknown benchmark suite {name!r}; available: {', '.join(available) or 'none'}")
    folder = None if data is None else Path(data).expanduser()
    if folder is not None and not folder.is_dir():
        raise InputError("benchmark data folder does not exist or is not a folder", folder)
    suite = _REGISTRY[name]
    context = BenchContext(quick=quick, data=folder, progress=progress, device=device)
    started = now_iso()
    start = time.perf_counter()
    rows = [_clean_row(name, index, row) for index, row in enumerate(suite.function(context))]
    return SuiteReport(
        suite=name,
        description=suite.description,
        quick=quick,
        started=started,
        duration_s=time.perf_counter() - start,
        environment=environment(),
        rows=rows,
        command=_command(name, quick, folder, device),
    )

