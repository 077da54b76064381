"""Iterative non-blind deconvolution: Richardson-Lucy, Landweber, van Cittert.

All three run on the padded domain of :mod:`.operator` (non-circulant boundaries,
masked pixels weighted out), on a whole stack at once (FFTs over the last two axes),
in float32 with the transfer function computed once, on numpy or torch.

* :func:`richardson_lucy`: Poisson maximum likelihood (EM), with second-order Biggs-Andrews
  vector extrapolation, ``deconvlucy``-style damping, optional total-variation
  regularisation (RL-TV) and automatic stopping. Non-negative by construction.
* :func:`landweber`: projected gradient descent on the weighted least-squares misfit.
* :func:`van_cittert`: the relaxed fixed-point iteration ``u ← u + β·w·(y − Hu)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from ...errors import ParameterError
from ...progress import progress
from ...psf import validate_psf
from ...torch_runtime import DeviceName
from ._backend import Backend, BackendName, TorchBackend, get_backend
from .noise import noise_variance as noise_variance_of
from .operator import blur_operator
from .result import DeconvResult, Inputs, check_iterations, prepare_inputs
from .stopping import (
    CrossValidation,
    Discrepancy,
    FixedIterations,
    PerFrameIterations,
    StopRule,
    binomial_split,
    gaussian_constant,
)

StopName = Literal["fixed", "discrepancy", "split"]

#: Floor of the Bertero-Boccacci normalisation ``Hᵀw`` (its maximum is 1). Padding pixels
#: below it touch the measured pixels with less than this total weight: they decay
#: instead of following the round-off of ``Hᵀ(ratio)/Hᵀw``, without visible effect.
NORM_FLOOR = 1e-4
#: Exponent of the ``deconvlucy`` damping function (MATLAB uses 10).
DAMPING_ORDER = 10


class _Problem:
    """Padded data, weights and operator shared by the iterative methods.

    The data go to the backend once; the weights, the padding, the Poisson constant,
    the scale and the flat start are computed there (on the GPU for torch).
    ``spatial=False`` forces the FFT operator (blind deconvolution changes the PSF on
    the padded domain between iterations).
    """

    def __init__(self, inputs: Inputs, psf: np.ndarray, backend: Backend, *, spatial: bool = True):
        self.inputs = inputs
        self.backend = backend
        self.blur = blur_operator(inputs.data.shape[-2:], psf, backend, spatial=spatial)
        self.domain = self.blur.domain
        self._data = backend.asarray(inputs.data)
        self._valid = backend.asarray(inputs.valid)  # weights: 1 measured, 0 masked
        self.w = backend.pad(self._valid, self.domain.pads)
        self.wy = backend.mul(backend.pad(self._data, self.domain.pads), self.w)
        #: Valid pixels per frame (a per-frame vector on the backend).
        self.n_valid = backend.frame_sum(self._valid)
        #: Per-frame Σ w·(y log y − y): the deviance is 2·(this − Σ w·y·log μ + Σ w·μ).
        self.saturated = backend.poisson_constant(self._data, self._valid)
        #: A typical magnitude of the data (mean |value| over valid pixels), for scale-free floors.
        magnitude = backend.mean_abs(self._data, self._valid)
        self.scale = magnitude if magnitude > 0 else 1.0

    def inverse_normalisation(self) -> Any:
        """``1 / Hᵀw``: the Bertero-Boccacci normalisation, its denominator floored at :data:`NORM_FLOOR`."""
        norm = self.backend.clip_min(self.blur.adjoint(self.w), NORM_FLOOR)
        return self.backend.div(1.0, norm, out=norm)

    def flat_start(self, offset: float = 0.0) -> Any:
        """Initial estimate of Richardson-Lucy: the mean of the valid data (less ``offset``) everywhere.

        The classic choice (Lucy 1974): the iterations then restore the coarse structure
        first and the fine detail later, so the likelihood of held-out data first rises
        and then falls, which is what the stopping rules look for. (Starting from the
        noisy data itself, as ``deconvlucy`` does, begins with the noise already in.)
        """
        ops = self.backend
        means = ops.frame_means(self._data, self._valid) - offset
        floor = 1e-3 * self.scale
        level = ops.where(means > floor, means, floor)
        # Zero outside the object's support: no data reach those points, and the
        # result no longer depends on how far the FFT domain was rounded up.
        start = ops.full((level.shape[0], *self.domain.shape), 0.0, np.float32)
        start[(slice(None), *self.domain.support)] = level[:, None, None]
        return start

    def extended_start(self) -> Any:
        """Initial estimate of the least-squares methods: the data mirrored into the padding, masked pixels filled."""
        return self.backend.asarray(self.domain.extend(self.inputs.data, self.inputs.valid))


class _Tracker:
    """Collects per-frame results as frames stop, and the likelihood trace, on the backend.

    A frame's image is frozen when its rule stops it (on the device for torch: no read
    back); the loop asks :meth:`record` whether every frame has stopped, which reads the
    device every ``backend.check_every`` iterations only. :meth:`result` brings the images
    and the trace to the host once.
    """

    def __init__(self, problem: _Problem, rule: StopRule, non_negative: bool = False):
        ops = problem.backend
        n = problem.inputs.data.shape[0]
        self.ops = ops
        self.non_negative = non_negative
        self.problem = problem
        self.rule = rule
        self.images = ops.full(problem.inputs.data.shape, 0.0, np.float32)
        self.used = np.zeros(n, dtype=int)
        self.done = np.zeros(n, dtype=bool)
        self.trace: Any = None
        if not rule.on_host:
            self._used = ops.full((n,), 0, np.int64)
            self._done = ops.full((n,), False, bool)
        rule.start(ops, n)

    def record(self, iteration: int, u: Any, misfit: Any, log_likelihood: Any, prediction: Any) -> bool:
        """Store the trace; freeze frames that stop; True when every frame has stopped (checked
        every ``check_every`` iterations on the device; always False in between)."""
        ops = self.ops
        if log_likelihood is not None:
            if self.trace is None:
                self.trace = ops.full((self.used.size, self.rule.max_iterations), np.nan)
            self.trace[:, iteration - 1] = log_likelihood
        current = self.problem.domain.crop(u)  # a view: nothing is copied unless a frame stops
        decision = self.rule.update(iteration, misfit, prediction)
        if self.rule.on_host:
            stopping = np.broadcast_to(decision, self.done.shape) & ~self.done
            for frame in np.flatnonzero(stopping):  # integer indices: no copy of a mask to the device
                self.images[int(frame)] = current[int(frame)]
            self.used[stopping] = iteration
            self.done |= stopping
            return bool(self.done.all())
        stopping = decision & ~self._done
        ops.freeze(self.images, current, stopping)
        self._used = ops.where(stopping, iteration, self._used)
        self._done = self._done | stopping
        if iteration % ops.check_every and iteration < self.rule.max_iterations:
            return False
        return bool(ops.to_host(self._done).all())

    def close(self) -> None:
        """After the iterations: the stop iterations and the rule's findings on the host."""
        if not self.rule.on_host:
            self.used = self.ops.to_host(self._used).astype(int)
            self.done = self.ops.to_host(self._done).astype(bool)
        self.rule.finish()

    def result(self, track: bool, psf: np.ndarray, info: dict[str, Any]) -> DeconvResult:
        inputs = self.problem.inputs
        reasons = sorted({self.rule.reason(i) for i in range(self.used.size)})
        iterations = int(self.used.max())
        images = self.ops.to_numpy(self.images)
        # Multiplicative updates skip the per-iteration clip: only round-off can go below 0.
        if self.non_negative:
            images = np.maximum(images, 0.0)
        if track and self.trace is not None:
            trace = self.ops.to_host(self.trace)[:, :iterations].copy()
            trace[np.arange(iterations)[None, :] >= self.used[:, None]] = np.nan  # after a frame stopped
        else:
            trace = np.zeros((self.used.size, 0))
        return DeconvResult(
            image=inputs.output(images),
            iterations_used=inputs.per_frame(self.used),
            stop_reason="; ".join(reasons),
            log_likelihood=trace if inputs.is_stack else trace[0],
            psf=psf,
            info=info,
        )


def _tv_divergence(u: Any, eps: float, ops: Backend) -> Any:
    """``div(∇u / |∇u|)`` with forward differences (periodic on the padded domain).

    ``eps`` (same unit as ``u``) smooths ``|∇u|`` near zero gradient.
    """
    dx = ops.sub(ops.roll(u, -1, -1), u)
    dy = ops.sub(ops.roll(u, -1, -2), u)
    magnitude = ops.sqrt(ops.add(ops.add(ops.mul(dx, dx), ops.mul(dy, dy)), eps * eps))
    ops.div(dx, magnitude, out=dx)
    ops.div(dy, magnitude, out=dy)
    return ops.add(ops.sub(dx, ops.roll(dx, 1, -1)), ops.sub(dy, ops.roll(dy, 1, -2)))


def _poisson_ratio(
    problem: _Problem, prediction: Any, workspace: Any, *, damping: float, need_misfit: bool, keep_prediction: bool
) -> tuple[Any, np.ndarray | None]:
    """``w·y / μ`` for the prediction ``μ``, damped as in ``deconvlucy``; and the per-frame deviance.

    ``workspace`` is a scratch array of the padded shape. ``keep_prediction`` leaves
    ``prediction`` intact (the cross-validation rule scores it); otherwise the ratio
    is computed in its memory.
    """
    ops = problem.backend
    w, wy = problem.w, problem.wy
    deviance = w_prediction = None
    if damping > 0:
        w_prediction = ops.mul(w, prediction)
    if need_misfit:
        # Poisson deviance 2·Σ w·[y·log(y/μ) − y + μ] = 2·[Σ w·(y log y − y) − Σ w·y·log μ + Σ w·μ]:
        # two float32 BLAS products with μ before it is overwritten (~1e-5 relative error).
        log_prediction = ops.log(prediction, out=workspace)
        deviance = 2.0 * (problem.saturated - ops.frame_dot(wy, log_prediction) + ops.frame_dot(w, prediction))
    ratio = ops.div(wy, prediction, out=None if keep_prediction else prediction)
    if w_prediction is not None:
        # deconvlucy damping: ratio ← 1 + G(g)·(ratio − 1) with g = pixel deviance / damping² (capped
        # at 1) and G(g) = g^(m−1)·(m − (m−1)·g): pixels already fitted to within `damping`
        # standard deviations stop changing.
        log_ratio = ops.log(ops.clip_min(ratio, 1e-30, out=workspace), out=workspace)
        half_deviance = ops.add(ops.sub(ops.mul(log_ratio, wy, out=workspace), wy, out=workspace), w_prediction, out=workspace)
        g = ops.clip_max(ops.mul(half_deviance, 2.0 / damping**2, out=workspace), 1.0, out=workspace)
        gain = ops.mul(ops.sub(DAMPING_ORDER, ops.mul(g, DAMPING_ORDER - 1)), g ** (DAMPING_ORDER - 1))
        ops.sub(ratio, 1.0, out=ratio)
        ops.mul(ratio, gain, out=ratio)
        ops.add(ratio, 1.0, out=ratio)
        ops.mul(ratio, w, out=ratio)
    return ratio, deviance


class _VectorExtrapolation:
    """Second-order Biggs-Andrews vector extrapolation of the Richardson-Lucy iterates.

    With ``x_k`` the estimates, ``h_k = x_k − x_{k−1}`` and ``g_k`` the change the RL
    update made at the previous extrapolated point, the next update is applied at

        ``y_k = max(x_k + α h_k + (α²/2)(h_k − h_{k−1}), 0)``,
        ``α = Σ g_k·g_{k−1} / Σ g_{k−1}²`` clipped to [0, 1], per frame,

    computed as ``(1 + α + α²/2)·x_k − (α + α²)·x_{k−1} + (α²/2)·x_{k−2}`` (three passes
    over memory). The second-order term (Biggs & Andrews 1997, eq. 20) follows the
    curvature of the path: on oversampled maps (a PSF σ of 4 px) the first-order form
    stalls for ~10 iterations between bursts of α = 1, the second-order one does not
    (``asirp bench deconv``: the likelihood of 50 plain iterations in 13-15 instead of 16-26).
    """

    def __init__(self, ops: Backend, like: Any):
        self.ops = ops
        self._point = ops.empty_like(like)
        self._g: Any = None
        self._g_previous: Any = None
        self._x_previous: list[Any] = []

    def point(self, x: Any) -> Any:
        """Where to apply the next RL update: ``x`` itself until two updates exist."""
        ops = self.ops
        if self._g_previous is None:
            return x
        # Per-frame vectors on the backend (the device for torch: nothing is read back).
        alpha = ops.frame_dot(self._g, self._g_previous) / (ops.frame_dot(self._g_previous, self._g_previous) + 1e-30)
        alpha = ops.unit_interval(alpha)
        # The second-order term needs x_{k−2}; the first extrapolation has only x_{k−1}.
        half_square = 0.5 * alpha**2 if len(self._x_previous) == 2 else 0.0 * alpha
        terms = [(1.0 + alpha + half_square, x), (-(alpha + 2.0 * half_square), self._x_previous[-1])]
        if len(self._x_previous) == 2:
            terms.append((half_square, self._x_previous[0]))
        point = ops.combine(terms, out=self._point)
        return ops.clip_min(point, 0.0, out=point)

    def record(self, x: Any, point: Any, new: Any) -> None:
        """Note the update ``new = RL(point)`` made from the estimate ``x`` (kept, not copied:
        every RL update returns a new array)."""
        scratch = self._g_previous
        self._g_previous = self._g
        self._g = self.ops.sub(new, point, out=scratch) if scratch is not None else self.ops.sub(new, point)
        self._x_previous = [*self._x_previous[-1:], x]


def _iterations(rule: StopRule, desc: str) -> Iterable[int]:
    """Iteration numbers 1 .. the rule's maximum, with a progress bar (the rule may stop them earlier)."""
    return progress(range(1, rule.max_iterations + 1), desc=f"{desc} (at most {rule.max_iterations})",
                    total=rule.max_iterations, unit="iteration")


class _RLSettings(TypedDict):
    """The Richardson-Lucy keywords of :func:`_rl_run` that :func:`richardson_lucy` passes through."""

    background: float
    damping: float
    tv: float
    accelerate: bool


def _rl_run(
    problem: _Problem,
    rule: StopRule,
    *,
    background: float,
    damping: float,
    tv: float,
    accelerate: bool,
    track: bool,
    psf_update: Callable[[Any], None] | None = None,
    desc: str = "Richardson-Lucy",
) -> _Tracker:
    """The Richardson-Lucy iterations on a prepared problem (see :func:`richardson_lucy`).

    ``psf_update(u)``, when given, is called after every image update and may change
    the PSF of ``problem.blur`` (blind deconvolution); the normalisation follows.
    ``desc`` names the progress bar of the iterations (out of the rule's maximum).
    """
    ops = problem.backend
    blur = problem.blur
    # The prediction H·u ≥ 0 up to FFT round-off (~1e-7 of its maximum) where u ~ 0:
    # |H·u| + background + this floor keeps it positive. (abs and add together cost
    # half of one clip.)
    offset = background + 1e-6 * problem.scale
    inverse_norm = problem.inverse_normalisation()
    u = problem.flat_start(background)
    tracker = _Tracker(problem, rule, non_negative=True)
    need_misfit = track or damping > 0 or rule.needs_misfit
    workspace = ops.empty_like(u) if need_misfit or damping > 0 else None
    constant = problem.saturated if track else None
    extrapolation = _VectorExtrapolation(ops, u) if accelerate else None
    with ops.iteration_threads():
        for iteration in _iterations(rule, desc):
            point = extrapolation.point(u) if extrapolation is not None else u
            prediction = blur.forward(point)
            ops.abs(prediction, out=prediction)
            ops.add(prediction, offset, out=prediction)
            ratio, deviance = _poisson_ratio(
                problem, prediction, workspace, damping=damping, need_misfit=need_misfit, keep_prediction=rule.needs_prediction
            )
            correction = blur.adjoint(ratio)
            ops.mul(correction, point, out=correction)
            if tv > 0:
                # RL-TV (Dey et al. 2006): divide by Hᵀw·(1 − λ div(∇u/|∇u|)); λ ≤ 0.2 keeps it positive.
                factor = ops.sub(1.0, ops.mul(_tv_divergence(point, 1e-2 * problem.scale, ops), tv))
                ops.div(correction, factor, out=correction)
            new = ops.mul(correction, inverse_norm, out=correction)
            if extrapolation is not None:
                extrapolation.record(u, point, new)
            u = new
            if psf_update is not None:
                psf_update(u)
                inverse_norm = problem.inverse_normalisation()
            misfit = None if deviance is None else deviance / problem.n_valid
            log_likelihood = None if constant is None or deviance is None else constant - 0.5 * deviance
            if tracker.record(iteration, u, misfit, log_likelihood, prediction if rule.needs_prediction else None):
                break
    tracker.close()
    return tracker


def _stop_rule(stop: str, iterations: int, target: float, what: str) -> StopRule:
    if stop == "fixed":
        return FixedIterations(iterations)
    if stop == "discrepancy":
        return Discrepancy(iterations, target, what)
    raise ParameterError(f"unknown stop rule {stop!r}; use 'fixed', 'discrepancy' or 'split'")


def richardson_lucy(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    iterations: int = 10,
    valid: ArrayLike | None = None,
    background: float = 0.0,
    damping: float = 0.0,
    tv: float = 0.0,
    accelerate: bool = True,
    stop: StopName = "fixed",
    target: float = 1.0,
    track: bool = True,
    seed: int | None = 0,
    backend: BackendName = "auto",
    device: DeviceName = "auto",
) -> DeconvResult:
    """Richardson-Lucy deconvolution of Poisson data, without edge artefacts.

    Maximises the Poisson likelihood of ``image`` given ``H u + background`` over
    non-negative objects ``u`` with the EM iteration ``u ← u·Hᵀ(w·y/(Hu+b))/Hᵀw``, on
    a padded domain (Bertero-Boccacci boundaries: no darkening at the edges or around
    masked pixels). The estimate starts flat, at the mean of the data.

    Parameters
    ----------
    image:
        Non-negative counts (any scale; the result has the same units), a 2-D image or
        a ``(n, ny, nx)`` stack deconvolved as one batch. NaN/inf pixels are masked.
    psf:
        2-D PSF in pixels (validated, centred and normalised: :func:`asirp.psf.validate_psf`).
    iterations:
        Number of updates (``stop="fixed"``; default 10, as ``deconvlucy``) or the
        maximum (automatic stopping).
    valid:
        Boolean mask, True where measured; masked pixels get weight 0.
    background:
        Known additive background per pixel, in the image's units (e.g. counts):
        the model is ``y ~ Poisson(Hu + background)``.
    damping:
        ``deconvlucy``'s DAMPAR in standard deviations: pixels whose Poisson
        deviance is below ``damping²`` are not updated further, which suppresses
        noise amplification in flat regions. 0 disables it.
    tv:
        Weight λ of total-variation regularisation (RL-TV, Dey et al. 2006),
        dimensionless, 0 ≤ λ ≤ 0.2; typical 0.001-0.01.
    accelerate:
        Second-order Biggs-Andrews vector extrapolation (``deconvlucy`` uses the
        first order): reaches the likelihood of 50 plain iterations in 13-15.
    stop:
        ``"fixed"``; ``"discrepancy"`` (stop when the mean Poisson deviance per valid
        pixel reaches ``target``; assumes the data are photon counts); or ``"split"``
        (binomial split-data cross-validation, see
        :func:`~asirp.methods.deconv.stopping.binomial_split`; costs about three runs).
    target:
        Mean deviance per pixel for ``stop="discrepancy"`` (1 for Poisson counts).
    track:
        Record the Poisson log-likelihood at every iteration (a few % extra time).
    seed:
        Random seed of the binomial split (``stop="split"``).
    backend:
        ``"auto"`` (torch on a CUDA GPU when present, numpy otherwise), ``"numpy"`` or
        ``"torch"``.
    device:
        Where the torch backend computes: ``"auto"`` (a CUDA GPU when present), ``"cpu"``
        or ``"cuda"`` (:func:`~asirp.methods.deconv._backend.get_backend`). On the
        torch backend nothing is read back to the host inside the iterations: the
        stopping rules are checked every :data:`~asirp.methods.deconv._backend.CHECK_EVERY`
        iterations, a frame's image and stop iteration staying those of the iteration
        its rule fired at (the loop may run a few iterations longer).

    Returns
    -------
    DeconvResult
        ``image`` (float32, non-negative, never NaN), ``iterations_used``,
        ``stop_reason``, ``log_likelihood`` per iteration, the normalised ``psf``.

    References
    ----------
    .. [1] W. H. Richardson, JOSA 62, 55 (1972); L. B. Lucy, AJ 79, 745 (1974).
    .. [2] D. S. C. Biggs and M. Andrews, "Acceleration of iterative image restoration
           algorithms", Applied Optics 36, 1766-1775 (1997).
    .. [3] M. Bertero and P. Boccacci, A&A 437, 369-374 (2005).
    .. [4] N. Dey et al., "Richardson-Lucy algorithm with total variation regularization
           for 3D confocal microscope deconvolution", Microsc. Res. Tech. 69, 260 (2006).

    Examples
    --------
    >>> from asirp.psf import gaussian_psf
    >>> flat = np.full((32, 32), 100.0)
    >>> result = richardson_lucy(flat, gaussian_psf(1.5), iterations=50)
    >>> bool(np.allclose(result.image, 100.0, rtol=1e-3))
    True
    """
    iterations = check_iterations(iterations)
    inputs = prepare_inputs(image, valid, non_negative=True)
    kernel = validate_psf(psf, inputs.data.shape)
    _check_range("background", background, 0.0, np.inf)
    _check_range("damping", damping, 0.0, np.inf)
    _check_range("tv", tv, 0.0, 0.2)
    ops = get_backend(backend, device)
    settings: _RLSettings = {"background": float(background), "damping": float(damping), "tv": float(tv), "accelerate": bool(accelerate)}
    info: dict[str, Any] = {"backend": ops.name, "device": _device_name(ops)}
    if stop == "split":
        first, second, gain = binomial_split(inputs.data, inputs.valid, kernel, seed)
        info["split_gain"] = [float(g) for g in gain]
        halves = Inputs(np.concatenate([first, second]), np.concatenate([inputs.valid, inputs.valid]), True)
        split_problem = _Problem(halves, kernel, ops)
        n = inputs.data.shape[0]
        rule = CrossValidation(
            iterations, (split_problem.wy[:n], split_problem.wy[n:]), split_problem.w[:n], ops
        )
        split_settings: _RLSettings = {**settings, "background": 0.5 * float(background)}
        _rl_run(split_problem, rule, **split_settings, track=False, desc="Richardson-Lucy, when to stop (split data)")
        info["split_best_iterations"] = [int(k) for k in rule.best]
        main_rule: StopRule = PerFrameIterations(rule.best, "binomial split-data cross-validation")
    else:
        main_rule = _stop_rule(stop, iterations, target, "Poisson deviance")
    problem = _Problem(inputs, kernel, ops)
    info["convolution"] = problem.blur.name
    tracker = _rl_run(problem, main_rule, **settings, track=track)
    return tracker.result(track, kernel, info)


def _device_name(ops: Backend) -> str:
    """Where a backend computes, for the results' info: ``cpu`` or the torch device."""
    return str(ops.device) if isinstance(ops, TorchBackend) else "cpu"


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """A :class:`ParameterError` unless ``value`` is a number in ``[low, high]``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if np.isnan(number) or not low <= number <= high:
        raise ParameterError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")


def _least_squares_run(
    problem: _Problem,
    rule: StopRule,
    *,
    adjoint: bool,
    relaxation: float,
    non_negative: bool,
    variance: np.ndarray | None,
) -> _Tracker:
    """Additive iterations on the weighted residual ``r = w·(y − Hu)``.

    ``adjoint=True``: Landweber, ``u ← u + τ Hᵀr`` with ``τ = relaxation/‖H‖²``;
    ``adjoint=False``: van Cittert, ``u ← u + β r``. Unmeasured pixels (padding, masked)
    receive no residual; van Cittert keeps them at their starting values.
    """
    ops = problem.backend
    blur = problem.blur
    step = relaxation / blur.norm2 if adjoint else relaxation
    u = problem.extended_start()
    tracker = _Tracker(problem, rule)
    constant = None if variance is None else ops.vector(gaussian_constant(problem.inputs.valid, variance))
    variance = None if variance is None else ops.vector(variance)
    with ops.iteration_threads():
        for iteration in _iterations(rule, "Landweber" if adjoint else "van Cittert"):
            residual = blur.forward(u)
            ops.mul(residual, problem.w, out=residual)
            ops.sub(problem.wy, residual, out=residual)
            misfit = log_likelihood = None
            if variance is not None:
                chi2 = ops.frame_sum(ops.mul(residual, residual)) / variance
                misfit = chi2 / problem.n_valid
                log_likelihood = constant - 0.5 * chi2
            update = blur.adjoint(residual) if adjoint else residual
            ops.mul(update, step, out=update)
            ops.add(u, update, out=u)
            if non_negative:
                ops.clip_min(u, 0.0, out=u)
            if tracker.record(iteration, u, misfit, log_likelihood, None):
                break
    tracker.close()
    return tracker


def _least_squares(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    adjoint: bool,
    iterations: int,
    valid: ArrayLike | None,
    relaxation: float,
    non_negative: bool,
    stop: str,
    target: float,
    noise_variance: float | None,
    track: bool,
    backend: BackendName,
    device: DeviceName = "auto",
) -> DeconvResult:
    iterations = check_iterations(iterations)
    _check_range("relaxation", relaxation, 1e-6, 2.0 - 1e-6)
    inputs = prepare_inputs(image, valid)
    kernel = validate_psf(psf, inputs.data.shape)
    variance = None
    if noise_variance is not None:
        if not (np.isfinite(noise_variance) and noise_variance > 0):
            raise ParameterError(f"noise_variance must be a positive number, got {noise_variance!r}")
        variance = np.full(inputs.data.shape[0], float(noise_variance))
    elif track or stop == "discrepancy":
        variance = noise_variance_of(inputs.data, inputs.valid, kernel)
    rule = _stop_rule(stop, iterations, target, "squared residual / noise variance")
    ops = get_backend(backend, device)
    problem = _Problem(inputs, kernel, ops)
    tracker = _least_squares_run(problem, rule, adjoint=adjoint, relaxation=relaxation, non_negative=non_negative, variance=variance)
    info: dict[str, Any] = {"backend": ops.name, "device": _device_name(ops), "convolution": problem.blur.name}
    if variance is not None:
        info["noise_variance"] = [float(v) for v in variance]
    return tracker.result(track and variance is not None, kernel, info)


def landweber(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    iterations: int = 30,
    valid: ArrayLike | None = None,
    relaxation: float = 1.0,
    non_negative: bool = True,
    stop: Literal["fixed", "discrepancy"] = "fixed",
    target: float = 1.0,
    noise_variance: float | None = None,
    track: bool = True,
    backend: BackendName = "auto",
    device: DeviceName = "auto",
) -> DeconvResult:
    """Projected Landweber iteration: gradient descent on the weighted least-squares misfit.

    ``u ← P₊(u + τ·Hᵀ(w·(y − Hu)))`` with step ``τ = relaxation/‖H‖²``
    (``0 < relaxation < 2`` guarantees convergence) and ``P₊`` the projection on
    non-negative values. Starts from the data (mirrored into the padding, masked
    pixels filled); converges slowly but steadily, low frequencies first, so the
    iteration count regularises. Suited to Gaussian noise; use Richardson-Lucy for counts.

    Parameters
    ----------
    image:
        2-D image or ``(n, ny, nx)`` stack (any sign unless ``non_negative``).
    psf:
        2-D PSF in pixels (validated and normalised).
    iterations:
        Number of updates (``stop="fixed"``) or the maximum.
    valid:
        Boolean mask, True where measured (weight 1; masked pixels weight 0).
    relaxation:
        Step in units of ``1/‖H‖²``, in (0, 2).
    non_negative:
        Project on non-negative values after each step.
    stop:
        ``"fixed"`` or ``"discrepancy"``: stop once the mean squared residual reaches
        ``target`` times the noise variance.
    target:
        Discrepancy level (1: the noise variance).
    noise_variance:
        Noise variance in squared image units; default measured from the data
        (:func:`~asirp.methods.deconv.noise.noise_variance`).
    track:
        Record the Gaussian log-likelihood per iteration.
    backend:
        ``"auto"``, ``"numpy"`` or ``"torch"``.
    device:
        Where the torch backend computes: ``"auto"``, ``"cpu"`` or ``"cuda"`` (as for
        :func:`richardson_lucy`).

    References
    ----------
    .. [1] L. Landweber, "An iteration formula for Fredholm integral equations of the
           first kind", Amer. J. Math. 73, 615-624 (1951).
    .. [2] M. Bertero and P. Boccacci, *Introduction to Inverse Problems in Imaging* (1998), ch. 6.
    """
    return _least_squares(
        image, psf, adjoint=True, iterations=iterations, valid=valid, relaxation=relaxation, non_negative=non_negative,
        stop=stop, target=target, noise_variance=noise_variance, track=track, backend=backend, device=device,
    )


def van_cittert(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    iterations: int = 3,
    valid: ArrayLike | None = None,
    relaxation: float = 1.0,
    non_negative: bool = False,
    stop: Literal["fixed", "discrepancy"] = "fixed",
    target: float = 1.0,
    noise_variance: float | None = None,
    track: bool = True,
    backend: BackendName = "auto",
    device: DeviceName = "auto",
) -> DeconvResult:
    """Van Cittert iteration with relaxation: ``u ← u + β·w·(y − Hu)``.

    The oldest iterative deconvolution (a Jacobi iteration for ``Hu = y``): half the
    FFTs of Landweber per iteration, and fast, but it converges only when the OTF is
    real and positive (symmetric, Gaussian-like PSFs) with ``0 < β < 2``, and it
    amplifies noise quickly: use few iterations. Unmeasured pixels (padding, masked)
    stay at their starting values (the data mirrored/filled), which acts as a
    reflective boundary condition.

    Parameters are those of :func:`landweber`, with ``relaxation`` = β (default 1)
    and ``non_negative`` off by default.

    References
    ----------
    .. [1] P. H. van Cittert, "Zum Einfluß der Spaltbreite auf die Intensitätsverteilung
           in Spektrallinien II", Z. Physik 69, 298-308 (1931).
    .. [2] P. A. Jansson (ed.), *Deconvolution of Images and Spectra*, 2nd ed. (1997), ch. 3.
    """
    return _least_squares(
        image, psf, adjoint=False, iterations=iterations, valid=valid, relaxation=relaxation, non_negative=non_negative,
        stop=stop, target=target, noise_variance=noise_variance, track=track, backend=backend, device=device,
    )
