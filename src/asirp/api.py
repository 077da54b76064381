"""The public functions restore, methods and explain (open and save live in :mod:`asirp.io`).

Everything the CLI does goes through these, so a notebook user and a command-line
user get the same behaviour and the same provenance. ``import asirp`` imports this
module, so it imports the frame, the repertoire and the selector (numpy, scipy,
pydantic) only when a function is called.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from .errors import AsirpError

if TYPE_CHECKING:
    from .frame import Frame
    from .select import Decision


def _as_frame(frame: Frame | str | PathLike[str]) -> Frame:
    from .frame import Frame

    if isinstance(frame, Frame):
        return frame
    if isinstance(frame, str | PathLike):
        from .io import open as open_frame

        return open_frame(frame)
    raise AsirpError(f"expected an asirp.Frame or a file path, got {type(frame).__name__}")


def explain(frame: Frame | str | PathLike[str], *, budget_s: float | None = None, **params: Any) -> Decision:
    """What ``method="auto"`` would do with ``frame``, and why (nothing is restored).

    ``params`` are the parameters the user fixed (``scale=2`` asks for super-resolution).
    """
    from .select import choose

    return choose(_as_frame(frame), budget_s=budget_s, scale=params.get("scale"), fixed=params)


def restore_with(frame: Frame, decision: Decision, **params: Any) -> Frame:
    """Restore ``frame`` as ``decision`` says (``params`` override its parameters) and record the
    decision in the provenance: :meth:`asirp.select.Plan.run`."""
    from .select import Plan

    return Plan.from_decision(frame, decision, params).run(frame)


def restore(
    frame: Frame | str | PathLike[str], method: str = "auto", *, budget_s: float | None = None, **params: Any
) -> Frame:
    """Restore ``frame`` with a method of the repertoire and return a new frame.

    Parameters
    ----------
    frame:
        A :class:`~asirp.Frame` or the path of a file :func:`asirp.open` can read.
    method:
        A registered method name (see :func:`asirp.methods`) or ``"auto"`` to let the
        selector choose without ground truth (:mod:`asirp.select`); the decision, the
        scored candidates and the reasons are recorded in the history step's notes
        under ``"selection"``.
    budget_s:
        The time budget per frame in seconds. With ``"auto"``, deciding and running
        together must fit it; any method whose cost model exceeds it is replaced by the
        cheapest applicable one, and the history step's notes say why (``"budget"``).
        See :func:`asirp.select.make_plan`.
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
    from .select import make_plan

    source = _as_frame(frame)
    return make_plan(source, method, params, budget_s=budget_s).run(source)


def methods() -> list[dict[str, Any]]:
    """Descriptions of every registered method: name, family, task, kinds, needs, parameters."""
    from .methods.base import registry

    return [cls.describe() for cls in registry().values()]
