"""The smooth relative detector response, fitted from the pixel/partner mismatch of one frame.

A symmetry partner measures the same scattered intensity as its pixel only up to
smooth factors: polarisation, solid angle, absorption in the sample and the air,
the flat field and the detector response. :mod:`asirp.symmetry.pairing` applies the
solid-angle ratio from the geometry; the rest is lumped into one relative response
``F(p)`` fitted here, so that ``x(p) ≈ F(p) I(u(p))`` for every pixel ``p``:

``log F(p) = sum_k c_k h_k(xn, yn)  +  log P_f(p)``

with ``xn, yn`` the pixel offsets from the beam centre (clamped to the detector) over
half the larger image side, ``h_k`` the polynomials of degree 1..``degree`` written in
the polar harmonic basis ``r^n cos(m φ)``, ``r^n sin(m φ)`` (``m = n, n-2, ...``; the
same space as the monomials ``xn^i yn^j``, but rotations about the beam only mix the
two terms of one ``(n, m)``), and ``P_f`` pyFAI's polarisation factor for a fitted
``f`` in [-1, 1] (only with a geometry: ``integrator.polarization(shape, factor=f)``,
which is linear in ``f``).

**Observations.** Pixels are grouped in ``block`` x ``block`` blocks. For operation
``S_k`` and block ``b``, ``X`` is the sum of the counts of the pixels whose partner is
usable and ``Y`` the sum of those partners' values (bilinear, solid-angle corrected);
then ``log((X + 1/2) / (Y + 1/2)) ≈ log F(p_b) - log F(S_k p_b)`` (the 1/2 removes the
first-order bias of the log of Poisson counts) with ``p_b`` the mean pixel position and
``S_k p_b`` the mean partner position, with Poisson weight ``1 / (1/X + 1/Y)``. Blocks
with fewer than :data:`MIN_BLOCK_COUNTS` counts on either side are not used.

**What can be fitted.** Terms even under the operations cancel between pixel and
partner (the inversion sees no inversion-symmetric factor, isotropy no radial one):
that is right, they do not matter for that pairing. Terms whose pixel-minus-partner
difference is below :data:`VISIBILITY_MIN` of their size (invisible, or seen only
through a small detector tilt, where systematics would set them and they would
extrapolate wildly) are not fitted at all; the others get weighted least squares with
a Gaussian prior of width :data:`PRIOR_SIGMA` (a small ridge).

**Polarisation first.** ``r^2 cos 2φ`` and ``r^4 cos 2φ`` can mimic the polarisation's
anisotropy (``~ f cos 2χ sin^2 2θ``), so ``f`` is found with those two terms left out
(bounded 1-D search about the linearised fit), then every term is refitted at that
``f``: the physical form gets the anisotropy first, the polynomial takes what is left.

**Robustness.** The fit is iterated: the scatter of the normalised residuals sets an
over-dispersion scale ``s`` (robust, from the median absolute residual, at least 1),
blocks beyond :data:`TRIM_SIGMA` ``s`` are dropped (asymmetric features, a beamstop
shadow, parasitic scattering, hot spots must not bend the field) and the fit is
repeated until the kept set is stable. The degree is then chosen by the Bayesian
information criterion on the kept blocks (higher terms only where the data need them).

**Sparse frames.** With fewer than :data:`MIN_OBS_PER_TERM` usable block
observations per fitted term the degree is lowered; below one term, or when no term
improves the criterion, the field is ``F = 1`` (``terms_used == 0``, and ``note``
says why).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ..memo import ContentMemo, array_digest
from .operations import Operation
from .pairing import partner_map
from .plane import ScatteringPlane, bilinear

#: Smallest counts of a block (pixel side and partner side) for it to be an observation.
MIN_BLOCK_COUNTS = 20.0
#: Block observations needed per fitted term (else fewer terms, or F = 1).
MIN_OBS_PER_TERM = 10
#: Prior standard deviation of each polynomial coefficient (log units): the ridge.
PRIOR_SIGMA = 0.5
#: Blocks whose normalised residual exceeds this many (over-dispersion scaled) sigma are dropped.
TRIM_SIGMA = 4.0
#: Smallest RMS of a term's pixel-minus-partner difference relative to its RMS at the
#: pixels for it to be fitted (0 for terms even under every operation, ~2 for odd ones).
VISIBILITY_MIN = 0.25
#: Largest number of fit / trim rounds.
MAX_ROUNDS = 8
#: Largest factor the fitted response may reach either way from its mean. Polarisation,
#: absorption, the flat field and the solid angle of a flat detector stay well within a
#: factor of two over a detector; a polynomial beyond that is extrapolating (on a 256²
#: crop with the beam near its edge a degree-4 fit reached 1e-11..1e3 and ruined the partners).
MAX_RESPONSE = 2.0


@dataclass(frozen=True, eq=False)
class ResponseFit:
    """The outcome of :func:`fit_response`.

    Attributes
    ----------
    field:
        Relative response ``F(p)``, float32 ``(ny, nx)``, mean 1 over the valid pixels
        (all ones when nothing was fitted).
    terms:
        Names of the fitted polynomial terms, ``"r^n cos mφ"``, ``"r^n sin mφ"`` or
        ``"r^n"`` (``r``, ``φ``: polar coordinates of ``(xn, yn)``, φ from the +x
        column axis towards +y rows).
    coefficients:
        Their coefficients (log units), float64.
    polarization_factor:
        Fitted pyFAI polarisation factor ``f``, or None (no geometry, not asked, not
        seen by these operations, or too few observations).
    terms_used:
        Number of fitted parameters (polynomial terms, plus 1 for the polarisation);
        0 means ``F = 1``.
    degree:
        Polynomial degree used (may be below the one asked for: sparse frames, or
        higher terms not supported by the data).
    n_blocks:
        Block observations with enough counts (over all operations).
    n_trimmed:
        Of those, how many were dropped as outliers.
    chi2_before, chi2_after:
        Poisson-weighted ``sum w r^2`` per degree of freedom over the kept blocks,
        before (``F = 1``) and after the fit (NaN when there are no observations).
    improvement:
        ``chi2_before / chi2_after`` (1.0 when nothing was fitted).
    dispersion:
        Final over-dispersion scale ``s`` of the normalised residuals (1 for pure
        Poisson scatter about the model).
    note:
        A sentence on what was done (fallbacks say why).
    """

    field: np.ndarray
    terms: tuple[str, ...]
    coefficients: np.ndarray
    polarization_factor: float | None
    terms_used: int
    degree: int
    n_blocks: int
    n_trimmed: int
    chi2_before: float
    chi2_after: float
    improvement: float
    dispersion: float
    note: str

    @property
    def fitted(self) -> bool:
        return self.terms_used > 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts of the fit (NaN written as None; the field itself left out)."""

        def number(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "terms_used": self.terms_used,
            "degree": self.degree,
            "polarization_factor": number(self.polarization_factor),
            "coefficients": {name: float(c) for name, c in zip(self.terms, self.coefficients)},
            "n_blocks": self.n_blocks,
            "n_trimmed": self.n_trimmed,
            "chi2_before": number(self.chi2_before),
            "chi2_after": number(self.chi2_after),
            "improvement": number(self.improvement),
            "dispersion": number(self.dispersion),
            "field_range": [float(self.field.min()), float(self.field.max())],
            "note": self.note,
        }


#: Fits remembered by content (:func:`fit_response`): a selection fits the whole frame, then a
#: dozen small scoring copies, then the whole frame again in the final run (4 MB per Mpx each).
_FITS: ContentMemo[ResponseFit] = ContentMemo(16)


def _harmonics(degree: int) -> list[tuple[int, int, str]]:
    """Terms ``(n, m, kind)`` of the polar harmonic polynomial basis up to ``degree`` (no constant).

    ``r^n cos(m φ)`` and ``r^n sin(m φ)`` with ``m = n, n-2, ... >= 0`` are polynomials
    in ``(xn, yn)`` (``r^(n-m) Re/Im (xn + i yn)^m``) and span all polynomials of degree
    ``<= degree``; rotations about the beam only mix the two of one ``(n, m)``, so the
    terms an operation cannot see are basis elements (``m = 0``: every rotation;
    even ``m``: the inversion), which the ridge keeps at exactly 0.
    """
    terms = []
    for n in range(1, degree + 1):
        for m in range(n, -1, -2):
            terms.append((n, m, "cos"))
            if m > 0:
                terms.append((n, m, "sin"))
    return terms


def _term_name(n: int, m: int, kind: str) -> str:
    return f"r^{n}" if m == 0 else f"r^{n} {kind} {m}φ"


def _basis(xn: np.ndarray, yn: np.ndarray, terms: list[tuple[int, int, str]]) -> np.ndarray:
    if not terms:
        return np.zeros((*np.shape(xn), 0))
    return np.stack(list(_basis_columns(xn, yn, terms)), axis=-1)


def _basis_columns(xn: np.ndarray, yn: np.ndarray, terms: list[tuple[int, int, str]]) -> Iterator[np.ndarray]:
    """The values of each term at ``(xn, yn)``, one array at a time; the powers of ``z = xn + i yn`` and of
    ``r^2`` are built by repeated multiplication and shared between terms (``z**m`` per term cost 4x more)."""
    z = xn + 1j * yn
    r2 = xn * xn + yn * yn
    z_powers: list[Any] = [np.ones_like(z)]
    r2_powers: list[Any] = [np.ones_like(r2)]
    for n, m, kind in terms:
        while len(z_powers) <= m:
            z_powers.append(z_powers[-1] * z)
        while len(r2_powers) <= (n - m) // 2:
            r2_powers.append(r2_powers[-1] * r2)
        zm = z_powers[m]
        yield r2_powers[(n - m) // 2] * (zm.real if kind == "cos" else zm.imag)


def _block_sum(a: np.ndarray, block: int, nby: int, nbx: int) -> np.ndarray:
    return a[: nby * block, : nbx * block].reshape(nby, block, nbx, block).sum(axis=(1, 3)).ravel()


@dataclass
class _Observations:
    """Per block and operation: log(X/Y), its Poisson weight, mean pixel and partner positions."""

    y: np.ndarray
    w: np.ndarray
    pix: np.ndarray  # (n, 2) index coordinates (y, x)
    par: np.ndarray  # (n, 2)


def _observations(plane: ScatteringPlane, operations: list[Operation], data: np.ndarray, valid: np.ndarray,
                  block: int) -> _Observations:
    ny, nx = plane.shape
    nby, nbx = ny // block, nx // block
    yy, xx = np.indices((ny, nx), dtype=np.float64)
    ys, ws, pix, par = [], [], [], []
    for op in operations:
        pmap = partner_map(plane, op)
        value, _, ok = pmap.sample(data, valid)
        use = ok & valid
        u = use.astype(np.float64)
        n = _block_sum(u, block, nby, nbx)
        x_sum = _block_sum(np.where(use, data, 0.0), block, nby, nbx)
        y_sum = _block_sum(np.where(use, value, 0.0), block, nby, nbx)
        keep = (n > 0) & (x_sum >= MIN_BLOCK_COUNTS) & (y_sum >= MIN_BLOCK_COUNTS)
        if not keep.any():
            continue
        assert pmap.py is not None and pmap.px is not None
        safe = n[keep]
        pix.append(np.stack([_block_sum(yy * u, block, nby, nbx)[keep] / safe,
                             _block_sum(xx * u, block, nby, nbx)[keep] / safe], axis=1))
        par.append(np.stack([_block_sum(pmap.py * u, block, nby, nbx)[keep] / safe,
                             _block_sum(pmap.px * u, block, nby, nbx)[keep] / safe], axis=1))
        xk, yk = x_sum[keep], y_sum[keep]
        ys.append(np.log((xk + 0.5) / (yk + 0.5)))
        ws.append(1.0 / (1.0 / xk + 1.0 / yk))
    if not ys:
        empty = np.zeros(0)
        return _Observations(empty, empty, np.zeros((0, 2)), np.zeros((0, 2)))
    return _Observations(np.concatenate(ys), np.concatenate(ws), np.concatenate(pix), np.concatenate(par))


class _Model:
    """Design of the observations for one polynomial degree, and the polarisation offsets."""

    def __init__(self, plane: ScatteringPlane, obs: _Observations, degree: int, pol_maps: np.ndarray | None):
        ny, nx = plane.shape
        # Beam centre clamped to the detector (a far-off beam would make huge powers).
        self.cy = min(max(plane.center[0], 0.0), float(ny))
        self.cx = min(max(plane.center[1], 0.0), float(nx))
        self.scale = 0.5 * max(ny, nx)
        # Farthest observed position (normalised radius): the field is not extrapolated beyond it.
        seen_at = np.concatenate([obs.pix, obs.par]) if obs.pix.size else np.zeros((1, 2))
        self.r_seen = float(np.max(np.hypot(*self._normalised(seen_at[:, 0], seen_at[:, 1]))))
        self.degree = degree
        terms = _harmonics(degree)
        here = _basis(*self._normalised(obs.pix[:, 0], obs.pix[:, 1]), terms)
        design = here - _basis(*self._normalised(obs.par[:, 0], obs.par[:, 1]), terms)
        if design.shape[0]:
            # Terms the operations (nearly) cannot see are not fitted: exactly invisible ones
            # (even under them) would stay 0 anyway, and ones seen only through a small
            # tilt would be set by systematics and extrapolate wildly.
            visibility = np.sqrt(np.mean(design**2, axis=0) / np.maximum(np.mean(here**2, axis=0), 1e-300))
            seen = visibility >= VISIBILITY_MIN
            terms, design = [t for t, k in zip(terms, seen) if k], design[:, seen]
        self.terms = terms
        self.design = design
        # While f is searched, the cos 2φ terms (which mimic the polarisation's
        # anisotropy, ~cos 2χ sin^2 2θ) are left out: the physical form gets it first.
        self.pol_free = np.array([not (m == 2 and kind == "cos") for _, m, kind in self.terms], bool)
        self.pol: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        if pol_maps is not None:
            # P0 and P1 at pixel and partner: P_f = P0 + f (P1 - P0) (pyFAI's factor is linear in f).
            here = bilinear(pol_maps, obs.pix[:, 0], obs.pix[:, 1])
            there = bilinear(pol_maps, obs.par[:, 0], obs.par[:, 1])
            self.pol = ((here[0], here[1]), (there[0], there[1]))

    @property
    def n_params(self) -> int:
        return self.design.shape[1] + int(self.pol is not None)

    def subset(self, keep: np.ndarray) -> _Model:
        """The same model restricted to the observations ``keep``."""
        sub = copy.copy(self)
        sub.design = self.design[keep]
        if self.pol is not None:
            sub.pol = ((self.pol[0][0][keep], self.pol[0][1][keep]), (self.pol[1][0][keep], self.pol[1][1][keep]))
        return sub

    def _normalised(self, iy: np.ndarray, ix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Index coordinates -> pyFAI pixel coordinates (+0.5) -> offsets from the beam centre.
        return (ix + 0.5 - self.cx) / self.scale, (iy + 0.5 - self.cy) / self.scale

    def _features(self, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
        return _basis(*self._normalised(iy, ix), self.terms)

    def log_field(self, coef: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``log F`` over the detector; beyond the farthest observation it keeps its value there
        (radius clamped along each direction from the beam): a polynomial extrapolates wildly."""
        out = np.zeros(shape)
        xn, yn = self._normalised(*np.indices(shape, dtype=np.float64))
        r = np.hypot(xn, yn)
        shrink = np.where(r > self.r_seen, self.r_seen / np.maximum(r, 1e-300), 1.0)
        xn, yn = xn * shrink, yn * shrink
        for column, c in zip(_basis_columns(xn, yn, self.terms), coef):
            if c != 0.0:
                out += c * column
        return out

    def offset(self, f: float | None) -> np.ndarray:
        """``log P_f(pixel) - log P_f(partner)`` per observation (0 without polarisation)."""
        if self.pol is None or f is None:
            return np.zeros(self.design.shape[0])
        here = self.pol[0][0] + f * (self.pol[0][1] - self.pol[0][0])
        there = self.pol[1][0] + f * (self.pol[1][1] - self.pol[1][0])
        return np.log(np.maximum(here, 1e-6)) - np.log(np.maximum(there, 1e-6))

    def solve(self, y: np.ndarray, w: np.ndarray, f: float | None) -> np.ndarray:
        """Ridge WLS coefficients at polarisation ``f``."""
        return _Ridge(self.design, w).solve(y - self.offset(f))[0]

    def linear_polarization(self, y: np.ndarray, w: np.ndarray) -> float:
        """``f`` of the fit linearised about ``f = 0``: ``log P_f ≈ log P0 + f (P1 - P0) / P0``."""
        assert self.pol is not None
        (p0h, p1h), (p0t, p1t) = self.pol
        base = self.offset(0.0)
        column = (p1h - p0h) / np.maximum(p0h, 1e-6) - (p1t - p0t) / np.maximum(p0t, 1e-6)
        a = np.concatenate([self.design[:, self.pol_free], column[:, None]], axis=1)
        aw = a * w[:, None]
        prior = np.full(a.shape[1], 1.0 / PRIOR_SIGMA**2)
        prior[-1] = 0.0
        normal = a.T @ aw + np.diag(prior)
        try:
            return float(np.linalg.solve(normal, aw.T @ (y - base))[-1])
        except np.linalg.LinAlgError:
            return 0.0

    def polarization_visible(self, w: np.ndarray) -> bool:
        """Whether the operations see the polarisation at all (the inversion does not)."""
        if self.pol is None or w.size == 0:
            return False
        d = self.offset(1.0) - self.offset(0.0)
        return bool(np.sqrt(np.sum(w * d**2) / np.sum(w)) > 1e-4)

    def fit(self, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float | None]:
        """Coefficients and polarisation factor (None without) for observations ``y``, weights ``w``."""
        if self.pol is None:
            return self.solve(y, w, None), None
        f = _fit_polarization(self, y, w)
        return self.solve(y, w, f), f


class _Ridge:
    """Weighted least squares with the Gaussian prior, for one design and many targets."""

    def __init__(self, a: np.ndarray, w: np.ndarray):
        self.a, self.w = a, w
        self.aw = a * w[:, None]
        if a.shape[1]:
            self.normal = a.T @ self.aw + np.eye(a.shape[1]) / PRIOR_SIGMA**2

    def solve(self, target: np.ndarray) -> tuple[np.ndarray, float]:
        """Coefficients and the penalised chi-square ``sum w r^2 + |c|^2 / PRIOR_SIGMA^2``."""
        if self.a.shape[1] == 0:
            return np.zeros(0), float(np.sum(self.w * target**2))
        coef = np.linalg.solve(self.normal, self.aw.T @ target)
        r = target - self.a @ coef
        return coef, float(np.sum(self.w * r**2) + np.sum(coef**2) / PRIOR_SIGMA**2)


def _fit_polarization(model: _Model, y: np.ndarray, w: np.ndarray) -> float:
    """Bounded 1-D search of ``f`` about the linearised estimate (widened to [-1, 1] at an edge)."""
    from scipy.optimize import minimize_scalar

    start = float(np.clip(model.linear_polarization(y, w), -1.0, 1.0))

    ridge = _Ridge(model.design[:, model.pol_free], w)

    def cost(f: float) -> float:
        return ridge.solve(y - model.offset(f))[1]

    lo, hi = max(-1.0, start - 0.25), min(1.0, start + 0.25)
    best = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    f, fun = float(best.x), float(best.fun)
    if (f - lo < 1e-3 and lo > -1.0) or (hi - f < 1e-3 and hi < 1.0):
        wide = minimize_scalar(cost, bounds=(-1.0, 1.0), method="bounded", options={"xatol": 1e-4})
        if wide.fun < fun:
            f = float(wide.x)
    return f


def _closed_under_inverse(operations: list[Operation]) -> bool:
    """Every operation's inverse is in the list (itself for an involution)."""
    keys = {tuple(np.rint(op.array.ravel() * 1e6).astype(int).tolist()) for op in operations}
    return all(tuple(np.rint(op.array.T.ravel() * 1e6).astype(int).tolist()) in keys for op in operations)


def fit_response(
    plane: ScatteringPlane,
    operations: list[Operation],
    data: np.ndarray,
    valid: np.ndarray,
    *,
    degree: int = 4,
    polarization: bool = True,
    block: int = 8,
) -> ResponseFit:
    """Fit the smooth relative response ``F`` of one frame from its pixel/partner mismatch.

    Parameters
    ----------
    plane:
        The frame's scattering plane (geometry or flat model).
    operations:
        Operations whose partners are compared (those that hold, e.g.
        ``report.group()``; every one should hold at least in most places).
    data, valid:
        One image of counts ``(ny, nx)`` and its measured-pixel mask.
    degree:
        Largest total degree of the polynomial in ``log F`` (0..6).
    polarization:
        Fit pyFAI's polarisation factor ``f`` (needs the plane's geometry).
    block:
        Block size (pixels) over which counts are summed for the observations.

    Returns
    -------
    ResponseFit
        Pass ``fit.field`` to :meth:`Pairing.build(..., response=)
        <asirp.symmetry.Pairing.build>` or :func:`asirp.symmetry.analyze`.

    Examples
    --------
    >>> import numpy as np
    >>> from asirp import synth
    >>> from asirp.symmetry import ScatteringPlane, fit_response, parse
    >>> frame = synth.diffraction_frame("powder", shape=(128, 128), dose=0.005, seed=0).noisy
    >>> plane = ScatteringPlane.from_geometry(frame.geometry, frame.data.shape)
    >>> fit = fit_response(plane, parse("isotropy"), frame.data, frame.valid)
    >>> fit.terms_used, bool(np.all(fit.field == 1))
    (0, True)

    The fit is remembered for the last few frames by content (a selection fits the
    whole frame for scoring and again in the final run; ~1 s on 1 Mpx); treat the
    returned ``field`` as read-only.
    """
    if plane.u_maps is not None:  # a binned plane: nothing to key it by, and cheap
        return _fit_response(plane, operations, data, valid, degree=degree, polarization=polarization, block=block)
    ops = tuple(tuple(np.round(op.array, 9).ravel()) for op in operations)
    # The geometry itself in the key (compared by identity, kept alive by the memo): an id could be reused.
    key = (plane.shape, plane.center, plane.geometry, ops, array_digest(np.asarray(data), np.asarray(valid, bool)),
           degree, polarization, block)
    return _FITS.get(key, lambda: _fit_response(plane, operations, data, valid, degree=degree,
                                                 polarization=polarization, block=block))


def _fit_response(plane: ScatteringPlane, operations: list[Operation], data: np.ndarray, valid: np.ndarray, *,
                  degree: int, polarization: bool, block: int) -> ResponseFit:
    """:func:`fit_response` without its memo."""
    data = np.asarray(data)
    valid = np.asarray(valid, bool)
    if data.shape != plane.shape or valid.shape != plane.shape:
        raise InputError(f"data {data.shape} and mask {valid.shape} must have the plane's shape {plane.shape}")
    if not 0 <= int(degree) <= 6 or int(degree) != degree:
        raise ParameterError(f"degree must be an integer in 0..6, got {degree!r}")
    if int(block) != block or not 1 <= int(block) <= min(plane.shape):
        raise ParameterError(f"block must be an integer in 1..{min(plane.shape)}, got {block!r}")
    degree, block = int(degree), int(block)
    finite = np.isfinite(data)
    valid = valid & finite
    data = np.where(valid, data, 0.0).astype(np.float32)
    if np.any(data < 0):
        raise InputError("negative values at measured pixels: the response fit needs photon counts")
    ones = np.ones(plane.shape, np.float32)
    operations = [op for op in operations if not op.is_identity]

    def unity(note: str, n_blocks: int = 0) -> ResponseFit:
        return ResponseFit(ones, (), np.zeros(0), None, 0, 0, n_blocks, 0, math.nan, math.nan, 1.0, 1.0, note)

    if not operations:
        return unity("no operation to pair with: F = 1")
    obs = _observations(plane, operations, data, valid, block)
    n_obs = obs.y.size
    use_pol = polarization and plane.geometry is not None
    pol_maps = None
    if use_pol:
        integrator = plane.geometry.integrator  # type: ignore[union-attr]
        p0 = np.asarray(integrator.polarization(plane.shape, factor=0.0), np.float64)
        p1 = np.asarray(integrator.polarization(plane.shape, factor=1.0), np.float64)
        pol_maps = np.stack([p0, p1])
    # Degree ladder: fewer terms while the observations cannot carry them.
    top: _Model | None = None
    model: _Model | None  # each candidate; after the BIC choice, None when no term is supported
    pol_here = False
    for d in range(degree, -1, -1):
        model = _Model(plane, obs, d, pol_maps)
        pol_here = model.polarization_visible(obs.w)
        if not pol_here:
            model.pol = None
        if model.n_params > 0 and n_obs >= MIN_OBS_PER_TERM * model.n_params:
            top = model
            break
    if top is None:
        return unity(f"only {n_obs} block observations with >= {MIN_BLOCK_COUNTS:g} counts: too few to fit; F = 1",
                     n_obs)
    # Robust fit with the largest model: which blocks are outliers, and the over-dispersion.
    keep = np.ones(n_obs, bool)
    scale = 1.0
    for round_ in range(MAX_ROUNDS):
        coef, f = top.subset(keep).fit(obs.y[keep], obs.w[keep] / scale**2)
        if round_ == MAX_ROUNDS - 1:
            break
        residual = (obs.y - top.offset(f) - top.design @ coef) * np.sqrt(obs.w)
        scale = max(1.0, 1.4826 * float(np.median(np.abs(residual[keep]))))
        new_keep = np.abs(residual) <= TRIM_SIGMA * scale
        if new_keep.sum() < MIN_OBS_PER_TERM * top.n_params or np.array_equal(new_keep, keep):
            break  # stable, or the trim would leave too little: keep this fit
        keep = new_keep
    # Degree by the Bayesian information criterion on the kept blocks: terms the data do
    # not support (noise, or seen only where few partners exist) are left out.
    y, w = obs.y[keep], obs.w[keep]
    ws = w / scale**2
    n_kept = int(keep.sum())
    # A closed set of operations sees every pair twice (S and S^-1): half as many independent observations.
    twice = _closed_under_inverse(operations)
    n_eff = n_kept / 2.0 if twice else float(n_kept)
    chi2_zero = float(np.sum(ws * y**2))
    best: tuple[float, _Model | None, np.ndarray, float | None]  # criterion, model, coefficients, polarisation f
    best = (chi2_zero / (2.0 if twice else 1.0), None, np.zeros(0), None)  # no model: F = 1
    for d in range(top.degree + 1):
        model = _Model(plane, obs, d, pol_maps if top.pol is not None else None).subset(keep)
        if model.n_params == 0:
            continue
        coef_d, f_d = model.fit(y, ws)
        r = y - model.offset(f_d) - model.design @ coef_d
        chi2 = float(np.sum(ws * r**2)) / (2.0 if twice else 1.0)
        criterion = chi2 + model.n_params * math.log(max(n_eff, 2.0))
        if criterion < best[0]:
            best = (criterion, model, coef_d, f_d)
    _, model, coef, f = best
    n_trim = n_obs - n_kept
    chi2_before = float(np.sum(w * y**2) / n_kept)
    if model is None:
        return ResponseFit(ones, (), np.zeros(0), None, 0, 0, n_obs, n_trim, chi2_before, chi2_before, 1.0, scale,
                           f"no response term is supported by the {n_kept} block observations "
                           f"({n_trim} trimmed; chi2/dof {chi2_before:.3g}): F = 1")
    n_params = model.n_params
    r_after = y - model.offset(f) - model.design @ coef
    dof = max(n_kept - n_params, 1)
    chi2_after = float(np.sum(w * r_after**2) / dof)
    log_field = model.log_field(coef, plane.shape)
    if f is not None and pol_maps is not None:
        log_field = log_field + np.log(np.maximum(pol_maps[0] + f * (pol_maps[1] - pol_maps[0]), 1e-6))
    inside = valid if valid.any() else np.ones(plane.shape, bool)
    log_field -= float(np.mean(log_field[inside]))
    bound = math.log(MAX_RESPONSE)
    clipped = float(np.mean(np.abs(log_field[inside]) > bound))
    field = np.exp(np.clip(log_field, -bound, bound))
    field = (field / float(np.mean(field[inside]))).astype(np.float32)
    terms = tuple(_term_name(*t) for t in model.terms)
    degree_used = model.degree
    parts = [f"{len(terms)} polynomial terms (degree {degree_used})"]
    if f is not None:
        parts.append(f"polarisation factor {f:.3f}")
    elif use_pol:
        parts.append("polarisation not seen by these operations")
    note = (f"fitted {', '.join(parts)} on {n_kept} of {n_obs} block observations "
            f"({n_trim} trimmed); chi2/dof {chi2_before:.3g} -> {chi2_after:.3g}")
    top_degree = top.degree
    if top_degree < degree:
        note += f"; degree limited to {top_degree} (few observations)"
    if degree_used < top_degree:
        note += f"; degree {degree_used} chosen by BIC (higher terms not supported)"
    if clipped > 0:
        note += f"; held within a factor {MAX_RESPONSE:g} of its mean at {clipped:.1%} of the pixels"
    return ResponseFit(field, terms, np.asarray(coef, np.float64), f, n_params, degree_used, n_obs, n_trim,
                       chi2_before, chi2_after, chi2_before / chi2_after if chi2_after > 0 else math.inf, scale, note)
