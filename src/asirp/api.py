"""The public functions restore, methods and explain (open and save live in :mod:`asirp.io`).

Everything the CLI does goes through these, so a notebook user and a command-line
user get the same behaviour and the same provenance.
"""

from __future__ import annotations

from dataclasses import replace
from os import PathLike
from typing import Any

from .errors import AsirpError
from .frame import Frame
from .methods.base import get_method, registry
from .select import Decision, choose


def _as_frame(frame: Frame | str | PathLike[str]) -> Frame:
    if isinstance(frame, Frame):
        return frame
    if isinstance(frame, str | PathLike):
        from .io import open as open_frame

        return open_frame(frame)
    raise AsirpError(f"expected an asirp.Frame or a file path, got {type(frame).__name__}")


def explain(frame: Frame | str | PathLike[str]) -> Decision:
    """What ``method="auto"`` would do with ``frame``, and why (nothing is restored)."""
    return choose(_as_frame(frame))


def restore(frame: Frame | str | PathLike[str], method: str = "auto", **params: Any) -> Frame:
    """Restore ``frame`` with a method of the repertoire and return a new frame.

    Parameters
    ----------
    frame:
        A :class:`~asirp.Frame` or the path of a file :func:`asirp.open` can read.
    method:
        A registered method name (see :func:`asirp.methods`) or ``"auto"`` to let the
        selector choose; the decision and its reasons are recorded in the history
        step's notes under ``"selection"``.
    **params:
        The method's parameters; validated against its parameter model. With
        ``"auto"``, they override the parameters the selector chose.

    Examples
    --------
    >>> import asirp
    >>> result = asirp.synth.mesh_grid_map("AG175", step_um=25)
    >>> restored = asirp.restore(result.noisy, "gaussian", sigma=1.0)
    >>> [step.method for step in restored.history]
    ['gaussian']
    """
    source = _as_frame(frame)
    if method != "auto":
        return get_method(method).run(source, **params)
    decision = choose(source)
    restored = get_method(decision.method).run(source, **{**decision.parameters, **params})
    last = restored.history[-1]
    annotated = replace(last, notes={**last.notes, "selection": decision.to_dict()})
    return replace(restored, history=restored.history[:-1] + (annotated,))


def methods() -> list[dict[str, Any]]:
    """Descriptions of every registered method: name, family, task, kinds, needs, parameters."""
    return [cls.describe() for cls in registry().values()]
