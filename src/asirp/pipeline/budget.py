"""Choosing the method for a frame under a per-frame time budget.

Online, a method slower than the acquisition makes the queue grow, so the pipeline
gives every frame a time budget. For ``auto`` the budget is passed to the selector
(:func:`asirp.select.choose`, online mode); then, for ``auto`` and named methods
alike, when the chosen method's cost model (:meth:`Method.cost`, seconds on one
core) exceeds the budget, the cheapest applicable restoring method is used instead,
and the reason is recorded in the frame's history. This is the whole budget logic,
kept in one function so that the adaptive selector can absorb it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..frame import Frame
from ..methods.base import Method, get_method, registry
from ..select.stream import Fingerprint

#: Families a budget fallback may use (super-resolution changes the grid: never a silent fallback).
_FALLBACK_FAMILIES = frozenset({"reference", "denoising", "deconvolution"})


@dataclass(frozen=True)
class Plan:
    """The method a frame gets, its parameters, and the notes explaining the choice."""

    method: str
    params: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)
    #: Shape of the frame the plan was made for (the cost depends on it); None: any.
    shape: tuple[int, ...] | None = None
    #: For an ``auto`` plan, the data it was decided on: a frame whose fingerprint drifted
    #: from it (kind, shape, counts or noise level, see :class:`asirp.select.Selector`) is decided anew.
    fingerprint: Fingerprint | None = None

    def drift(self, frame: Frame) -> str | None:
        """Why ``frame`` needs a new decision (its data drifted from this plan's), or None."""
        return None if self.fingerprint is None else Fingerprint.of(frame).drifted_from(self.fingerprint)


def _applicable(frame: Frame) -> list[tuple[float, str]]:
    """(estimated cost s, name) of the methods usable on ``frame`` with default parameters, cheapest first.

    Usable: suits the frame's kind, and needs nothing the frame does not carry (a
    geometry if it has one; no PSF, symmetry or training, which default parameters
    cannot provide).
    """
    offered = {"gpu_faster"} | ({"geometry"} if frame.geometry is not None else set())
    found = []
    for name, cls in registry().items():
        if frame.kind not in cls.kinds or cls.family not in _FALLBACK_FAMILIES or not cls.needs <= offered:
            continue
        method = cls()
        found.append((float(method.cost(frame.shape, method.validate())), name))
    return sorted(found)


def plan_method(frame: Frame, method: str, params: dict[str, Any], budget_s: float | None) -> Plan:
    """Decide the method and parameters for ``frame`` (and frames like it).

    Parameters
    ----------
    frame:
        A representative frame (the first of a run).
    method:
        A registered method name or ``"auto"`` (the selector decides).
    params:
        Parameters overriding the selector's (or the named method's defaults).
    budget_s:
        Per-frame time budget in seconds, or None for no limit.

    Returns
    -------
    Plan
        ``notes`` holds ``"selection"`` (the selector's decision, for ``auto``) and
        ``"budget"`` (the budget, the estimated cost and, if it fell back, why).
    """
    notes: dict[str, Any] = {}
    fingerprint = None
    if method == "auto":
        from ..select import choose

        mode = "online" if budget_s is not None else "offline"
        decision = choose(frame, budget_s=budget_s, mode=mode, fixed=dict(params) or None)
        name, chosen = decision.method, {**decision.parameters, **params}
        notes["selection"] = decision.to_dict()
        fingerprint = Fingerprint.of(frame)
    else:
        name, chosen = method, dict(params)
    if budget_s is None:
        return Plan(name, chosen, notes, frame.shape, fingerprint)
    instance: Method = get_method(name)
    cost = float(instance.cost(frame.shape, instance.validate(**chosen)))
    notes["budget"] = {"budget_s": budget_s, "method": name, "estimated_s": cost}
    if cost <= budget_s:
        return Plan(name, chosen, notes, frame.shape, fingerprint)
    candidates = _applicable(frame)
    restoring = [(c, n) for c, n in candidates if registry()[n].family != "reference"]
    within = [(c, n) for c, n in restoring if c <= budget_s]
    fallback_cost, fallback = (within or restoring or candidates)[0]
    reason = (
        f"{name} needs an estimated {cost:.3g} s per frame of shape {list(frame.shape)}, over the budget of "
        f"{budget_s:.3g} s: using {fallback}, the cheapest applicable method ({fallback_cost:.3g} s)"
    )
    if fallback_cost > budget_s:
        reason += " although it too is over budget"
    notes["budget"].update({"fallback": fallback, "fallback_estimated_s": fallback_cost, "reason": reason})
    return Plan(fallback, {}, notes, frame.shape, fingerprint)
