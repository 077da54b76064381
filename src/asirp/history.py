"""Provenance: one :class:`HistoryStep` per operation applied to a frame.

Steps are written to NeXus as one ``NXprocess`` group each (see :mod:`asirp.io.hdf5`),
so a restored file says exactly what was done to it, with which parameters, on which
input (by sha256), with which model weights, how long it took and on which host.
:class:`TimedStep` is how every operation of asirp makes its step: start the clock
before the work, then :meth:`~TimedStep.apply` (or :meth:`~TimedStep.finish`).
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from os import PathLike
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # Frame holds HistorySteps: imported for the annotations only
    import numpy as np

    from .frame import Frame


def sha256_of_file(path: str | PathLike[str], chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 digest of a file, read in chunks (files may be many GB).

    Watched by an :class:`asirp.progress.Observation` (the viewer opening a scan), a
    cancel stops it between chunks.
    """
    from .progress import observing

    watched = observing()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
            if watched is not None:
                watched.check()
    return digest.hexdigest()


def now_iso() -> str:
    """Current UTC time, ISO 8601 with time zone (NeXus NX_DATE_TIME)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class HistoryStep:
    """One processing step in a frame's provenance.

    Attributes
    ----------
    method:
        Registry name of the method or operation (``"read"``, ``"richardson_lucy"``...).
    parameters:
        The full, validated parameters, JSON-serialisable (defaults included).
    program, version:
        Software that did it (``asirp`` and its version).
    date:
        UTC start time, ISO 8601.
    duration_s:
        Wall time in seconds.
    inputs:
        Input files as ``{"name": path, "sha256": digest}``.
    weights_sha256:
        Checksum of the network weights used, when a network was used.
    host:
        Machine name and platform.
    notes:
        Results of the step worth keeping (iterations used and why it stopped, the
        selection decision and its reasons, estimated PSF width...).
    """

    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    program: str = "asirp"
    version: str = __version__
    date: str = field(default_factory=now_iso)
    duration_s: float = 0.0
    inputs: tuple[dict[str, str], ...] = ()
    weights_sha256: str | None = None
    host: str = field(default_factory=lambda: f"{socket.gethostname()} ({platform.platform()})")
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["inputs"] = list(self.inputs)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HistoryStep:
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        known["inputs"] = tuple(dict(item) for item in known.get("inputs", ()))
        return cls(**known)

    def parameters_json(self) -> str:
        return json.dumps(self.parameters, sort_keys=True, default=_json_default)

    def notes_json(self) -> str:
        return json.dumps(self.notes, sort_keys=True, default=_json_default)


class TimedStep:
    """Start the clock of an operation; :meth:`apply` makes the derived frame with its history step.

    Examples
    --------
    >>> import numpy as np
    >>> from asirp.frame import Frame
    >>> frame = Frame(np.ones((4, 4)))
    >>> out = TimedStep("scale", factor=2.0).apply(frame, frame.data * 2, notes={"why": "example"})
    >>> out.history[-1].method, out.history[-1].parameters
    ('scale', {'factor': 2.0})
    """

    def __init__(self, method: str, **parameters: Any):
        self.method = method
        self.parameters = parameters
        self.date = now_iso()
        self.started = time.perf_counter()

    def finish(
        self,
        *,
        notes: dict[str, Any] | None = None,
        inputs: tuple[dict[str, str], ...] = (),
        weights_sha256: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> HistoryStep:
        """The step, timed from the start of the operation until now; ``parameters`` replace the
        ones given at the start (an operation that learns them on the way, such as reading a file)."""
        return HistoryStep(
            method=self.method,
            parameters=self.parameters if parameters is None else parameters,
            date=self.date,
            duration_s=time.perf_counter() - self.started,
            inputs=inputs,
            weights_sha256=weights_sha256,
            notes=notes or {},
        )

    def apply(
        self,
        frame: Frame,
        data: np.ndarray,
        *,
        notes: dict[str, Any] | None = None,
        valid: np.ndarray | None = None,
        inputs: tuple[dict[str, str], ...] = (),
        weights_sha256: str | None = None,
        **changes: Any,
    ) -> Frame:
        """``frame.derive`` with this step appended (float32 data); ``changes`` are other fields of the frame."""
        import numpy as np

        step = self.finish(notes=notes, inputs=inputs, weights_sha256=weights_sha256)
        return frame.derive(np.asarray(data, dtype=np.float32), step, valid=valid, **changes)


def _json_default(value: Any) -> Any:
    """JSON encoder fallback for numpy scalars/arrays and paths inside parameters."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
