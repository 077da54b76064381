"""Where each pixel lies in the scattering plane, and where its partner lies on the detector.

:class:`ScatteringPlane` holds the in-plane scattering vector ``u = (ux, uy)`` of
every pixel: from pyFAI's q and χ arrays when the frame has a geometry (off-centre
beams and detector tilt are then right), or the flat offset from a beam centre in
pixels otherwise. The partner of pixel ``p`` under an operation ``A`` is the point
``p'`` with ``u(p') = A u(p)``; it is found by Newton's method on the bilinearly
interpolated ``u`` maps (``u`` is smooth and nearly affine, so three steps reach
1e-3 px), which no library provides for an arbitrary tilted detector.

Positions follow pyFAI: pixel ``(i, j)`` spans ``[i, i+1) x [j, j+1)``; array index
coordinates (``i``, ``j`` at pixel centres) are used for sampling.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .operations import Operation

#: Newton steps for tilted geometries; the residual is checked afterwards.
_NEWTON_STEPS = 3
#: Largest accepted residual of the partner equation, in pixels.
_TOLERANCE_PX = 0.02
#: Grid step (px) on which partner positions are solved before spline interpolation.
_GRID_STEP = 4

_U_CACHE: weakref.WeakKeyDictionary[Geometry, dict[tuple[int, int], np.ndarray]] = weakref.WeakKeyDictionary()


def _u_maps(geometry: Geometry, shape: tuple[int, int]) -> np.ndarray:
    """``(2, ny, nx)`` maps of ``(q cos χ, q sin χ)`` in nm^-1 at pixel centres (cached per geometry)."""
    per_geometry = _U_CACHE.setdefault(geometry, {})
    if shape not in per_geometry:
        integrator = geometry.integrator
        if integrator.wavelength is None:
            # Without a wavelength, 2θ is still known and serves as the radial coordinate.
            radial = integrator.center_array(shape, unit="2th_rad", scale=False)
        else:
            radial = integrator.center_array(shape, unit="q_nm^-1", scale=True)
        chi = integrator.center_array(shape, unit="chi_rad", scale=True)
        per_geometry[shape] = np.stack([radial * np.cos(chi), radial * np.sin(chi)]).astype(np.float64)
    return per_geometry[shape]


def bilinear(maps: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``maps`` (C, ny, nx) at index coordinates, clamped to the array."""
    channels, ny, nx = maps.shape
    # Non-finite coordinates (a diverged solve) read the corner; callers mark them not found.
    iy = np.clip(np.nan_to_num(iy, nan=0.0, posinf=ny, neginf=0.0), 0.0, ny - 1.000001)
    ix = np.clip(np.nan_to_num(ix, nan=0.0, posinf=nx, neginf=0.0), 0.0, nx - 1.000001)
    y0 = iy.astype(np.intp)  # floor: coordinates are non-negative
    x0 = ix.astype(np.intp)
    fy, fx = iy - y0, ix - x0
    base = (y0 * nx + x0).ravel()
    flat = maps.reshape(channels, -1)
    out = np.zeros((channels, base.size))
    for offset, w in ((0, (1 - fy) * (1 - fx)), (nx, fy * (1 - fx)), (1, (1 - fy) * fx), (nx + 1, fy * fx)):
        out += np.take(flat, base + offset, axis=1) * w.ravel()
    return out.reshape((channels, *iy.shape))


@dataclass(frozen=True, eq=False)
class ScatteringPlane:
    """The in-plane scattering vector of every pixel of one detector frame.

    Build it with :meth:`flat` (beam centre in pixels, untilted detector) or
    :meth:`from_geometry` (pyFAI geometry).

    Attributes
    ----------
    shape:
        Image shape ``(ny, nx)``.
    center:
        Beam centre ``(y, x)`` in pixels, pyFAI convention.
    geometry:
        The geometry used, or None for the flat model.
    """

    shape: tuple[int, int]
    center: tuple[float, float]
    geometry: Geometry | None = None
    u_maps: np.ndarray | None = None

    @classmethod
    def flat(cls, shape: tuple[int, int], center: tuple[float, float]) -> ScatteringPlane:
        return cls((int(shape[0]), int(shape[1])), (float(center[0]), float(center[1])))

    @classmethod
    def from_geometry(cls, geometry: Geometry, shape: tuple[int, int]) -> ScatteringPlane:
        geometry.check_shape(shape, "geometry")
        return cls((int(shape[0]), int(shape[1])), geometry.beam_center_px(), geometry)

    def binned(self, factor: int) -> ScatteringPlane:
        """The plane of the frame binned ``factor`` x ``factor`` (block means of ``u``; edges cropped)."""
        if factor == 1:
            return self
        ny, nx = (s // factor for s in self.shape)
        center = (self.center[0] / factor, self.center[1] / factor)
        if self.geometry is None and self.u_maps is None:
            return ScatteringPlane((ny, nx), center)
        u = self.u()[:, : ny * factor, : nx * factor].reshape(2, ny, factor, nx, factor).mean(axis=(2, 4))
        return ScatteringPlane((ny, nx), center, None, u)

    # -- coordinates ---------------------------------------------------------------
    def u(self) -> np.ndarray:
        """``(2, ny, nx)`` array of ``(ux, uy)``: nm^-1 with a geometry, pixels without."""
        if self.u_maps is not None:
            return self.u_maps
        if self.geometry is not None:
            return _u_maps(self.geometry, self.shape)
        yy, xx = np.indices(self.shape, dtype=np.float64) + 0.5
        return np.stack([xx - self.center[1], yy - self.center[0]])

    def radius_px(self) -> np.ndarray:
        """Distance of every pixel centre from the beam centre, pixels."""
        yy, xx = np.indices(self.shape, dtype=np.float64) + 0.5
        return np.hypot(yy - self.center[0], xx - self.center[1])

    def azimuth_deg(self) -> np.ndarray:
        """pyFAI azimuth χ of every pixel, degrees in (-180, 180]."""
        u = self.u()
        return np.degrees(np.arctan2(u[1], u[0]))

    def partner_positions(self, op: Operation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index coordinates ``(iy, ix)`` of every pixel's partner under ``op``, and where they exist.

        Returns
        -------
        iy, ix:
            Float arrays of the image shape (array index coordinates).
        found:
            True where the partner lies on the detector (within the outer pixel
            centres) and, for a geometry, the partner equation converged. Where no
            finite position exists (the solve diverged, or the geometry gives no
            ``u`` there), the position is 0 and ``found`` False.
        """
        ny, nx = self.shape
        a = op.array
        if self.geometry is None and self.u_maps is None:
            yy, xx = np.indices(self.shape, dtype=np.float64) + 0.5
            dx, dy = xx - self.center[1], yy - self.center[0]
            px = self.center[1] + a[0, 0] * dx + a[0, 1] * dy - 0.5
            py = self.center[0] + a[1, 0] * dx + a[1, 1] * dy - 0.5
            found = (py >= 0) & (py <= ny - 1) & (px >= 0) & (px <= nx - 1)
            return py, px, found
        with np.errstate(all="ignore"):
            return self._solve_partners(op)

    def _solve_partners(self, op: Operation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ny, nx = self.shape
        a = op.array
        u = self.u()
        target = np.einsum("ij,jyx->iyx", a, u)
        # Solve on a coarse grid (the partner field is smooth), then interpolate with
        # bicubic splines: 1/16 of the Newton work, errors far below 1e-3 px.
        step = _GRID_STEP if min(ny, nx) >= 8 * _GRID_STEP else 1
        gy = np.unique(np.append(np.arange(0, ny, step), ny - 1))
        gx = np.unique(np.append(np.arange(0, nx, step), nx - 1))
        py, px = self._newton(u, target[:, gy][:, :, gx])
        # Diverged or undefined grid solutions: a finite placeholder for the spline (the
        # residual check below then rejects the pixels they influence).
        bad = ~(np.isfinite(py) & np.isfinite(px))
        if bad.any():
            py, px = np.where(bad, 0.0, py), np.where(bad, 0.0, px)
        if step > 1:
            from scipy.interpolate import RectBivariateSpline

            iy_all, ix_all = np.arange(ny), np.arange(nx)
            py = RectBivariateSpline(gy, gx, py, kx=3, ky=3)(iy_all, ix_all)
            px = RectBivariateSpline(gy, gx, px, kx=3, ky=3)(iy_all, ix_all)
        finite = np.isfinite(py) & np.isfinite(px)
        py, px = np.where(finite, py, 0.0), np.where(finite, px, 0.0)
        inside = (py >= 0) & (py <= ny - 1) & (px >= 0) & (px <= nx - 1)
        residual = target - bilinear(u, py, px)
        error = np.hypot(residual[0], residual[1])
        converged = np.isfinite(error) & (np.nan_to_num(error, nan=np.inf) <= _TOLERANCE_PX * self._scale(u))
        return py, px, finite & inside & converged

    @staticmethod
    def _scale(u: np.ndarray) -> float:
        """Mean |du/dp| (plane units per pixel) near the middle of the frame (0 if ``u`` is nowhere finite)."""
        du_dy, du_dx = np.gradient(u, axis=(1, 2))
        jac = np.abs(du_dx[0] * du_dy[1] - du_dx[1] * du_dy[0])
        jac = jac[np.isfinite(jac)]
        return float(np.sqrt(np.median(jac))) if jac.size else 0.0

    def _newton(self, u: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index coordinates ``p'`` with ``u(p') = target`` (any array of targets ``(2, ...)``)."""
        ny, nx = self.shape
        yy, xx = np.indices((ny, nx), dtype=np.float64)
        design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], axis=1)[::7]
        samples = u.reshape(2, -1).T[::7]
        usable = np.isfinite(samples).all(axis=1)
        if usable.sum() < 3:  # no u anywhere: nothing can be paired
            nan = np.full(target.shape[1:], np.nan)
            return nan, nan.copy()
        coef, *_ = np.linalg.lstsq(design[usable], samples[usable], rcond=None)
        m = coef[:2].T  # du/d(x, y) of the best affine model
        # pinv: a degenerate geometry (u constant along a direction) gives a finite guess.
        guess = np.linalg.pinv(m) @ (target.reshape(2, -1) - coef[2][:, None])
        px, py = guess[0].reshape(target.shape[1:]), guess[1].reshape(target.shape[1:])
        du_dy, du_dx = np.gradient(u, axis=(1, 2))
        jac_maps = np.stack([du_dx[0], du_dy[0], du_dx[1], du_dy[1]])
        for _ in range(_NEWTON_STEPS):
            value = bilinear(u, py, px)
            j = bilinear(jac_maps, py, px)
            rx, ry = target[0] - value[0], target[1] - value[1]
            det = j[0] * j[3] - j[1] * j[2]
            det = np.where(np.abs(det) < 1e-30, 1e-30, det)
            px = px + (j[3] * rx - j[1] * ry) / det
            py = py + (-j[2] * rx + j[0] * ry) / det
        return py, px


def plane_for(shape: tuple[int, int], center: tuple[float, float] | None, geometry: Geometry | None) -> ScatteringPlane:
    """The plane of a frame: its geometry when given, else the flat model about ``center``."""
    if geometry is not None:
        return ScatteringPlane.from_geometry(geometry, shape)
    if center is None:
        raise InputError("a beam centre or a geometry is needed to pair pixels")
    return ScatteringPlane.flat(shape, center)
