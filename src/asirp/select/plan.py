"""A plan: the method a frame gets, why, and under which budget; made once, run on many frames.

Every way of restoring in asirp goes through here: :func:`asirp.restore` and the
``asirp restore`` command, the pipeline (offline and online, on threads or Dask
workers), tomography stacks and XRF maps. :func:`make_plan` decides (the selector for
``"auto"``, then the per-frame time budget); :meth:`Plan.run` restores a frame as
planned and records the decision in the frame's history step, so every output says the
same things about how its method was chosen, whichever entry point made it.

A plan made on one frame is reused for frames like it (a scan's next frames, the
other batches of a stack): :meth:`Plan.drift` says when a frame's data differ enough
(:class:`Fingerprint`) that ``auto`` should decide again.

The budget: online, a method slower than the acquisition makes the queue grow, so a
frame may get a time budget. For ``auto`` the budget goes to the selector
(:func:`~asirp.select.choose`); then, for ``auto`` and named methods alike, when the
chosen method's cost model (:meth:`Method.cost`, seconds on one core) exceeds it, the
cheapest applicable restoring method is used instead, and the plan says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..frame import Frame
from ..kinds import Kind
from ..methods.base import Method, get_method, registry
from .decide import Decision, Mode, choose
from .features import quick_noise_sigma, representative_image

#: Families a budget fallback may use (super-resolution changes the grid: never a silent fallback).
_FALLBACK_FAMILIES = frozenset({"reference", "denoising", "deconvolution"})

#: A fingerprint level (mean or noise σ) changing by more than this factor triggers a new decision.
DRIFT_FACTOR = 1.5
#: Side (px) of the central region whose noise level the fingerprint measures.
FINGERPRINT_SIDE = 128


@dataclass(frozen=True)
class Fingerprint:
    """Cheap summary of a frame used to detect that the data changed."""

    kind: str
    shape: tuple[int, ...]
    mean: float
    sigma: float

    @classmethod
    def of(cls, frame: Frame) -> Fingerprint:
        """The fingerprint of ``frame``: its mean and its noise level on the central
        FINGERPRINT_SIDE² pixels (a few ms at most; drift detection compares like with like)."""
        image = representative_image(frame)
        values = image.data[image.valid]
        ny, nx = image.image_shape
        y0, x0 = max(0, (ny - FINGERPRINT_SIDE) // 2), max(0, (nx - FINGERPRINT_SIDE) // 2)
        centre = (slice(y0, y0 + FINGERPRINT_SIDE), slice(x0, x0 + FINGERPRINT_SIDE))
        return cls(frame.kind, frame.image_shape, float(values.mean()), quick_noise_sigma(image.data[centre], image.valid[centre]))

    def drifted_from(self, other: Fingerprint) -> str | None:
        """Why this fingerprint differs from ``other`` enough to decide again (None: it does not)."""
        if (self.kind, self.shape) != (other.kind, other.shape):
            return f"kind/shape changed ({other.kind} {other.shape} -> {self.kind} {self.shape})"
        for name in ("mean", "sigma"):
            a, b = abs(getattr(self, name)), abs(getattr(other, name))
            if max(a, b) > DRIFT_FACTOR * max(min(a, b), 1e-12):
                return f"{name} level changed from {b:.3g} to {a:.3g}"
        return None


@dataclass(frozen=True)
class Plan:
    """The method a frame gets, its parameters, and the record of how it was chosen.

    Plans are plain picklable values: a pipeline sends them to its workers.
    """

    method: str
    params: dict[str, Any]
    #: The kind the method treats the frame as (``auto`` may classify it anew); None: the frame's own.
    kind: Kind | None = None
    #: The selector's decision for an ``auto`` plan (recorded as ``notes["selection"]``).
    decision: Decision | None = None
    #: The per-frame budget, the method's estimated cost and, after a fallback, why (``notes["budget"]``).
    budget: dict[str, Any] | None = None
    #: Why this plan replaced an earlier one of the same run (``notes["redecided"]``).
    redecided: str | None = None
    #: Parameters estimated once on the plan's frame for the whole series (``notes["series_parameters"]``,
    #: :meth:`asirp.Method.series_parameters`); already merged into :attr:`params`.
    series: dict[str, Any] | None = None
    #: Shape of the frame the plan was made for (the cost depends on it); None: any.
    shape: tuple[int, ...] | None = None
    #: For an ``auto`` plan, the data it was decided on: see :meth:`drift`.
    fingerprint: Fingerprint | None = field(default=None, repr=False)

    @classmethod
    def from_decision(cls, frame: Frame, decision: Decision, params: dict[str, Any] | None = None) -> Plan:
        """The plan of a selector decision made on ``frame``; ``params`` override the chosen parameters."""
        return cls(decision.method, {**decision.parameters, **(params or {})}, decision.kind, decision,
                   shape=frame.shape, fingerprint=Fingerprint.of(frame))

    @property
    def notes(self) -> dict[str, Any]:
        """What the restored frame's history step records about the choice (empty for a plain named method)."""
        notes: dict[str, Any] = {}
        if self.decision is not None:
            notes["selection"] = self.decision.to_dict()
        if self.budget is not None:
            notes["budget"] = dict(self.budget)
        if self.redecided is not None:
            notes["redecided"] = self.redecided
        if self.series:
            notes["series_parameters"] = dict(self.series)
        return notes

    def fits(self, frame: Frame) -> bool:
        """Whether the plan was made for frames of this shape (None: any)."""
        return self.shape is None or self.shape == frame.shape

    def drift(self, frame: Frame) -> str | None:
        """Why ``frame`` needs a new plan (its data drifted from those an ``auto`` decision or series
        parameters were made on: kind, shape, counts or noise level beyond :data:`DRIFT_FACTOR`), or None."""
        return None if self.fingerprint is None else Fingerprint.of(frame).drifted_from(self.fingerprint)

    def run(self, frame: Frame, method: Method | None = None) -> Frame:
        """Restore ``frame`` as planned and record the choice (:attr:`notes`) in its new history step.

        ``method`` is an instance to run instead of the registered one of :attr:`method`
        (a pipeline's custom method given in code).
        """
        work = frame if self.kind is None or frame.kind == self.kind else replace(frame, kind=self.kind)
        restored = (method or get_method(self.method)).run(work, **self.params)
        notes = self.notes
        if not notes:
            return restored
        last = restored.history[-1]
        return replace(restored, history=restored.history[:-1] + (replace(last, notes={**last.notes, **notes}),))


def make_plan(
    frame: Frame,
    method: str = "auto",
    params: dict[str, Any] | None = None,
    *,
    budget_s: float | None = None,
    mode: Mode = "offline",
    series: bool = False,
) -> Plan:
    """Decide the method and parameters for ``frame`` (and frames like it).

    Parameters
    ----------
    frame:
        The frame, or a representative one (the first of a run, a stack).
    method:
        A registered method name or ``"auto"`` (the selector decides).
    params:
        Parameters overriding the selector's (or the named method's defaults); a named
        method validates them here, before any work.
    budget_s:
        Per-frame time budget in seconds, or None for no limit.
    mode:
        ``"offline"`` (the budget bounds deciding and running together) or ``"online"``
        (decisions are reused across frames): see :func:`~asirp.select.choose`.
    series:
        The plan serves a series of frames like this one (a pipeline run): what the method
        would estimate on every frame (:meth:`asirp.Method.series_parameters`: a PSF
        width, Wiener's spectra) is estimated here once and pinned, until the data drift.
    """
    params = dict(params or {})
    if method == "auto":
        decision = choose(frame, budget_s=budget_s, mode=mode, scale=params.get("scale"), fixed=params or None)
        plan = Plan.from_decision(frame, decision, params)
    else:
        get_method(method).validate(**params)  # bad parameters fail before any work
        plan = Plan(method, params, shape=frame.shape)
    if series:
        plan = _with_series_parameters(frame, plan)
    return plan if budget_s is None else _within_budget(frame, plan, budget_s)


def _with_series_parameters(frame: Frame, plan: Plan) -> Plan:
    """``plan`` with its method's series parameters estimated on ``frame`` (parameters it sets win)."""
    method = get_method(plan.method)
    work = frame if plan.kind is None or frame.kind == plan.kind else replace(frame, kind=plan.kind)
    pinned = {key: value for key, value in method.series_parameters(work, method.validate(**plan.params)).items()
              if key not in plan.params}
    if not pinned:
        return plan
    return replace(plan, params={**plan.params, **pinned}, series=pinned, fingerprint=plan.fingerprint or Fingerprint.of(frame))


def _within_budget(frame: Frame, plan: Plan, budget_s: float) -> Plan:
    """``plan``, or the cheapest applicable method when the planned one is estimated over ``budget_s``."""
    instance: Method = get_method(plan.method)
    cost = float(instance.cost(frame.shape, instance.validate(**plan.params)))
    budget: dict[str, Any] = {"budget_s": budget_s, "method": plan.method, "estimated_s": cost}
    if cost <= budget_s:
        return replace(plan, budget=budget)
    candidates = _applicable(frame)
    restoring = [(c, n) for c, n in candidates if registry()[n].family != "reference"]
    within = [(c, n) for c, n in restoring if c <= budget_s]
    fallback_cost, fallback = (within or restoring or candidates)[0]
    reason = (
        f"{plan.method} needs an estimated {cost:.3g} s per frame of shape {list(frame.shape)}, over the budget of "
        f"{budget_s:.3g} s: using {fallback}, the cheapest applicable method ({fallback_cost:.3g} s)"
    )
    if fallback_cost > budget_s:
        reason += " although it too is over budget"
    budget.update({"fallback": fallback, "fallback_estimated_s": fallback_cost, "reason": reason})
    return replace(plan, method=fallback, params={}, budget=budget)


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
