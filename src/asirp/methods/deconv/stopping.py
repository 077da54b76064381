"""When to stop iterating: fixed counts, the discrepancy principle, data splitting.

Iterative deconvolution first restores the object and then, if left running, fits the
noise: the iteration count is the regularisation parameter. The rules here decide
after every iteration, frame by frame, whether to stop:

* :class:`FixedIterations`: a given count (MATLAB ``deconvlucy`` behaviour);
* :class:`Discrepancy`: stop once the model fits the data to the noise level, i.e. the
  mean misfit per valid pixel (Poisson deviance, or squared residual over the noise
  variance for least squares) has dropped to ``target`` (≈ 1 for Poisson counts of
  more than a few photons);
* :class:`CrossValidation`: binomial data splitting for photon counts (see
  :func:`binomial_split`; non-integer data are first turned into approximate counts
  with their measured variance-to-mean ratio): thinning each
  count with probability ½ gives two independent Poisson images of the same object;
  deconvolve each and score how well it predicts the other. The iteration count that
  predicts best is then used on the full data (a slightly conservative choice: the
  full data, with twice the counts, could bear a few more iterations).

References
----------
.. [1] V. A. Morozov, "On the solution of functional equations by the method of
       regularization", Soviet Math. Dokl. 7, 414-417 (1966) (discrepancy principle).
.. [2] M. Bertero, P. Boccacci, G. Talenti, R. Zanella, L. Zanni, "A discrepancy principle
       for Poisson data", Inverse Problems 26, 105004 (2010).
.. [3] A. K. Oh, Z. T. Harmany, R. M. Willett, "To e or not to e in Poisson image
       reconstruction", ICIP (2014); and the binomial-thinning cross-validation of
       D. L. Snyder et al.: thinning a Poisson count keeps it Poisson.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...counts import binomial_half
from ...errors import ParameterError

#: Iterations the cross-validation rule always runs before it may stop.
MIN_CROSS_VALIDATION_ITERATIONS = 20


class StopRule:
    """Decides after each iteration which frames are done.

    Subclasses implement :meth:`update`; ``needs_misfit`` says whether they need the
    per-frame misfit, ``needs_prediction`` whether they need the model prediction.

    A rule that decides from the iteration number alone (``on_host``) answers with a
    numpy array and costs nothing on a GPU. The others get their inputs as per-frame
    vectors on the array backend (:mod:`._backend`) and answer with a vector there, so
    the iterations never wait for the device: :meth:`start` gives them the backend and
    the batch size, and :meth:`finish` reads what they found back to the host once, after
    the iterations.
    """

    needs_misfit = False
    needs_prediction = False
    on_host = True

    def __init__(self, max_iterations: int):
        self.max_iterations = int(max_iterations)
        self.reasons: dict[int, str] = {}
        self.ops: Any = None

    def start(self, ops: Any, n_frames: int) -> None:
        """Before the first iteration: the backend the iterations run on, and the frames in the batch."""
        self.ops = ops

    def update(self, iteration: int, misfit: Any, prediction: Any = None) -> Any:
        """Frames (bool per frame; numpy when :attr:`on_host`, else on the backend) that stop after ``iteration`` updates."""
        raise NotImplementedError

    def finish(self) -> None:
        """After the iterations: what the rule found, on the host (:attr:`reasons`, and the rule's own results)."""

    def reason(self, frame: int) -> str:
        return self.reasons.get(frame, f"maximum iterations reached ({self.max_iterations})")


class FixedIterations(StopRule):
    """Stop every frame after ``iterations`` updates."""

    def update(self, iteration: int, misfit: Any, prediction: Any = None) -> np.ndarray:
        return np.full(1, iteration >= self.max_iterations)

    def reason(self, frame: int) -> str:
        return f"fixed iteration count ({self.max_iterations})"


class PerFrameIterations(StopRule):
    """Stop frame ``i`` after ``counts[i]`` updates (counts chosen beforehand, e.g. by cross-validation)."""

    def __init__(self, counts: np.ndarray, why: str):
        counts = np.maximum(np.asarray(counts, dtype=int), 1)
        super().__init__(int(counts.max()))
        self.counts = counts
        self.why = why

    def update(self, iteration: int, misfit: Any, prediction: Any = None) -> np.ndarray:
        return self.counts <= iteration

    def reason(self, frame: int) -> str:
        return f"{self.why}: {int(self.counts[frame])} iterations"


class Discrepancy(StopRule):
    """Stop a frame once its mean misfit per valid pixel is at most ``target``."""

    needs_misfit = True
    on_host = False

    def __init__(self, max_iterations: int, target: float = 1.0, what: str = "Poisson deviance"):
        super().__init__(max_iterations)
        if not (target > 0 and math.isfinite(target)):
            raise ParameterError(f"discrepancy target must be a positive number, got {target}")
        self.target = float(target)
        self.what = what

    def start(self, ops: Any, n_frames: int) -> None:
        super().start(ops, n_frames)
        self._reached = ops.full((n_frames,), False, bool)
        self._misfit_reached = ops.full((n_frames,), math.nan)

    def update(self, iteration: int, misfit: Any, prediction: Any = None) -> Any:
        assert misfit is not None
        reached = misfit <= self.target
        self._misfit_reached = self.ops.where(reached & ~self._reached, misfit, self._misfit_reached)
        self._reached = self._reached | reached
        return reached | (iteration >= self.max_iterations)

    def finish(self) -> None:
        reached, misfit = self.ops.to_host(self._reached), self.ops.to_host(self._misfit_reached)
        for frame in np.flatnonzero(reached):
            self.reasons.setdefault(
                int(frame), f"discrepancy principle: mean {self.what} per pixel {misfit[frame]:.3f} <= {self.target:g}"
            )


class CrossValidation(StopRule):
    """Binomial split-data cross-validation on a batch ``[half 1 of n frames, half 2 of n frames]``.

    After each iteration, the prediction of each half is scored with the Poisson
    log-likelihood of the other half; a frame pair stops when its score has not
    improved for ``patience`` iterations (and for half the iterations it took to reach
    its best, after at least :data:`MIN_CROSS_VALIDATION_ITERATIONS`). Once stopped, a
    pair's best is final. :attr:`best` holds, per original frame, the number of updates
    with the best score (and :attr:`best_score` that score), on the host after :meth:`finish`.
    """

    needs_prediction = True
    on_host = False

    def __init__(self, max_iterations: int, halves: tuple[Any, Any], weights: Any, backend: Any, patience: int = 5):
        """``halves``: the two halves' weighted data ``w·y`` and ``weights`` the ``w`` of one half, as
        backend arrays of shape ``(n, Ny, Nx)`` on the padded domain."""
        super().__init__(max_iterations)
        self.first, self.second = halves
        self.weights = weights
        self.ops = backend
        self.patience = int(patience)
        n = int(self.first.shape[0])
        self.best = np.zeros(n, dtype=int)
        self.best_score = np.full(n, -np.inf)

    def start(self, ops: Any, n_frames: int) -> None:
        super().start(ops, n_frames)
        n = self.best.size
        self._best = ops.full((n,), 0, np.int64)
        self._best_score = ops.full((n,), -np.inf)
        self._stopped = ops.full((n,), False, bool)

    def update(self, iteration: int, misfit: Any, prediction: Any = None) -> Any:
        ops, n = self.ops, self.best.size
        # The prediction was evaluated before update `iteration`, i.e. after iteration - 1 updates.
        score = self._cross_score(prediction[:n], self.second) + self._cross_score(prediction[n:], self.first)
        improved = (score > self._best_score) & ~self._stopped
        self._best_score = ops.where(improved, score, self._best_score)
        self._best = ops.where(improved, iteration - 1, self._best)
        # From the flat start the score can dip for a few iterations before it rises (a wide
        # PSF): never stop before MIN_CROSS_VALIDATION_ITERATIONS, and go at least half as far
        # again past the best as the best itself before believing it.
        gap = iteration - 1 - self._best
        half = self._best // 2
        done = (gap >= ops.where(half > self.patience, half, self.patience)) & (iteration >= MIN_CROSS_VALIDATION_ITERATIONS)
        self._stopped = self._stopped | done | (iteration >= self.max_iterations)
        return ops.concatenate([self._stopped, self._stopped])

    def finish(self) -> None:
        self.best = self.ops.to_host(self._best).astype(int)
        self.best_score = self.ops.to_host(self._best_score)
        for frame in np.flatnonzero(self.ops.to_host(self._stopped)):
            self.reasons.setdefault(int(frame), "binomial split-data cross-validation")

    def _cross_score(self, predicted: Any, other_half: Any) -> Any:
        ops = self.ops
        # float64 sums: the scores of successive iterations differ in the 6th digit.
        log_prediction = ops.log(predicted)
        return ops.frame_sum(ops.mul(other_half, log_prediction)) - ops.frame_sum(ops.mul(self.weights, predicted))


def binomial_split(
    data: np.ndarray, valid: np.ndarray, psf: np.ndarray, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split photon counts into two independent halves by binomial thinning (p = ½).

    Each count ``k`` becomes ``k₁ ~ Binomial(k, ½)`` and ``k₂ = k − k₁``; for Poisson
    data both halves are independent Poisson images with half the mean.

    Data that are not integers (normalised by I0 or live time, or in other units)
    are first converted to approximate counts ``round(y / g)`` with the per-frame gain
    ``g = noise variance / mean`` (1 for raw counts; the noise variance is measured
    where the PSF has removed the signal, :func:`.noise.noise_variance`); the halves
    are returned in the data's units (``g·k₁``, ``g·k₂``).

    Parameters
    ----------
    data, valid:
        Non-negative stack ``(n, ny, nx)`` and its mask.
    psf:
        The blur, used to locate the noise-only frequencies for non-integer data.
    seed:
        Random seed of the thinning.

    Returns
    -------
    first, second, gain:
        The halves (float32, masked pixels 0) and the gain per frame (data units per count).
    """
    from .noise import noise_variance

    gain = np.ones(data.shape[0])
    integer = np.allclose(data[valid], np.round(data[valid]), atol=1e-3)
    if not integer:
        means = np.array([max(float(frame[mask].mean()), 1e-30) for frame, mask in zip(data, valid)])
        # A gain below mean·1e-9 would mean more than 1e9 counts per pixel: noise-free for our purposes.
        gain = np.maximum(noise_variance(data, valid, psf) / means, 1e-9 * means)
    counts = np.where(valid, np.round(data / gain[:, None, None]), 0).astype(np.int64)
    first = binomial_half(counts, np.random.default_rng(seed))
    scale = gain[:, None, None]
    return (first * scale).astype(np.float32), ((counts - first) * scale).astype(np.float32), gain


def gaussian_constant(valid: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Per-frame ``-½ N log(2π σ²)`` of a Gaussian log-likelihood over ``N`` valid pixels."""
    count = valid.sum(axis=(-2, -1)).astype(np.float64)
    return -0.5 * count * np.log(2.0 * np.pi * np.asarray(variance, dtype=np.float64))
