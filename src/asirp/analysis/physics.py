"""Physics checks of diffraction, scattering and PDF frames: what a restoration must preserve.

* :func:`azimuthal_profile`: 1-D azimuthal integration with pyFAI (Poisson error model);
* :func:`find_peaks_1d`: peak positions, widths and areas (``scipy.signal.find_peaks``
  then a pseudo-Voigt + linear background least-squares fit per peak);
* :func:`orientation`: orientation angle and anisotropy of a textured ring, from the
  second azimuthal moment of the intensity in a q band;
* :func:`pdf_transform`: ``G(r)`` from the reduced structure function ``F(Q) = Q[S(Q) - 1]``
  (sine Fourier transform, optional Lorch modification), with
  :func:`structure_factor` giving an ad hoc ``S(Q)`` from a profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal

from ..errors import InputError, ParameterError
from ..frame import Frame
from ..geometry import Geometry

#: Pixel size of the stand-in geometry built for frames without one, metres.
_FLAT_PIXEL_M = 172e-6


def flat_geometry(shape: tuple[int, int], center: tuple[float, float], distance_m: float = 1.0,
                  wavelength_m: float = 1e-10) -> Geometry:
    """A stand-in untilted geometry with the beam at ``center`` (pixels), for frames without a PONI.

    Radial units are then only proportional to the distance from the beam; use it for
    shapes of profiles, not for absolute q.
    """
    return Geometry.from_params(dist=distance_m, poni1=center[0] * _FLAT_PIXEL_M, poni2=center[1] * _FLAT_PIXEL_M,
                                wavelength=wavelength_m, pixel1=_FLAT_PIXEL_M, pixel2=_FLAT_PIXEL_M, max_shape=shape)


@dataclass(frozen=True)
class Profile:
    """An azimuthal profile: radial positions (``unit``), mean intensity and its standard error."""

    radial: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    unit: str


def _image_and_geometry(frame: Frame | np.ndarray, geometry: Geometry | None, valid: np.ndarray | None):
    if isinstance(frame, Frame):
        if frame.is_stack:
            raise InputError("physics checks take one 2-D frame; index the stack first")
        data, mask = np.asarray(frame.data, np.float64), np.asarray(frame.valid)
        geometry = geometry or frame.geometry
    else:
        data = np.asarray(frame, np.float64)
        if data.ndim != 2:
            raise InputError(f"expected a 2-D image, got shape {data.shape}")
        mask = np.ones(data.shape, bool)
    if valid is not None:
        mask = mask & np.asarray(valid, bool)
    if geometry is None:
        raise InputError("a pyFAI geometry is needed (frame.geometry or geometry=)")
    geometry.check_fits(data.shape)
    return data, mask, geometry


def azimuthal_profile(frame: Frame | np.ndarray, *, geometry: Geometry | None = None, valid: np.ndarray | None = None,
                      npt: int = 500, unit: str = "q_nm^-1", radial_range: tuple[float, float] | None = None,
                      azimuth_range: tuple[float, float] | None = None) -> Profile:
    """Azimuthally averaged intensity (pyFAI ``integrate1d``, solid-angle corrected, Poisson errors).

    Parameters
    ----------
    frame:
        A 2-D frame (its geometry and mask are used) or an array with ``geometry``.
    npt:
        Number of radial bins.
    unit:
        pyFAI radial unit (``q_nm^-1``, ``2th_deg``, ``r_mm``...).
    radial_range, azimuth_range:
        Limits in ``unit`` and degrees (pyFAI χ).
    """
    data, mask, geometry = _image_and_geometry(frame, geometry, valid)
    result = geometry.integrator.integrate1d(data, npt, unit=unit, mask=~mask, error_model="poisson",
                                             radial_range=radial_range, azimuth_range=azimuth_range)
    sigma = np.asarray(result.sigma) if result.sigma is not None else np.full(npt, np.nan)
    return Profile(np.asarray(result.radial), np.asarray(result.intensity), sigma, unit)


@dataclass(frozen=True)
class Peak:
    """A fitted peak: position and FWHM in the profile's units, area (intensity x units), height."""

    position: float
    fwhm: float
    area: float
    height: float
    eta: float


def pseudo_voigt(x: np.ndarray, position: float, fwhm: float, height: float, eta: float) -> np.ndarray:
    """``eta`` Lorentzian + ``(1 - eta)`` Gaussian of one FWHM, peak value ``height``."""
    s = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    g = np.exp(-0.5 * ((x - position) / s) ** 2)
    lor = 1.0 / (1.0 + ((x - position) / (0.5 * fwhm)) ** 2)
    return height * (eta * lor + (1.0 - eta) * g)


def _pv_area(fwhm: float, height: float, eta: float) -> float:
    return height * fwhm * (eta * math.pi / 2.0 + (1.0 - eta) * math.sqrt(math.pi / (4.0 * math.log(2.0))))


def find_peaks_1d(x: np.ndarray, y: np.ndarray, *, prominence: float | None = None, max_peaks: int = 20,
                  window_fwhm: float = 3.0) -> list[Peak]:
    """Peaks of a 1-D profile, each refined by a pseudo-Voigt + linear background fit.

    Parameters
    ----------
    x, y:
        Profile (e.g. from :func:`azimuthal_profile`); NaN bins are dropped.
    prominence:
        Minimum prominence for :func:`scipy.signal.find_peaks`; default 5 % of the
        range of ``y``.
    max_peaks:
        Keep at most this many, the most prominent.
    window_fwhm:
        Half-width of the fit window in units of the first FWHM estimate.

    Returns
    -------
    list[Peak]
        Sorted by position; peaks whose fit fails keep the find_peaks estimates.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    good = np.isfinite(y) & np.isfinite(x)
    x, y = x[good], y[good]
    if x.size < 5:
        raise InputError("profile has fewer than 5 finite points")
    prom = prominence if prominence is not None else 0.05 * float(np.ptp(y))
    index, props = signal.find_peaks(y, prominence=prom, width=1)
    order = np.argsort(props["prominences"])[::-1][:max_peaks]
    step = float(np.median(np.diff(x)))
    peaks = []
    for k in order:
        i = int(index[k])
        fwhm0 = max(float(props["widths"][k]) * step, step)
        half = max(window_fwhm * fwhm0, 3 * step)
        sel = (x >= x[i] - half) & (x <= x[i] + half)
        xs, ys = x[sel], y[sel]
        base0 = float(min(ys[0], ys[-1]))
        p0 = [x[i], fwhm0, float(props["prominences"][k]), 0.5, base0, 0.0]

        def model(xx, pos, fwhm, h, eta, b0, b1):
            return pseudo_voigt(xx, pos, fwhm, h, eta) + b0 + b1 * (xx - x[i])

        try:
            popt, _ = optimize.curve_fit(model, xs, ys, p0=p0, maxfev=4000, bounds=(
                [xs[0], step * 0.2, 0.0, 0.0, -np.inf, -np.inf], [xs[-1], 2 * half, np.inf, 1.0, np.inf, np.inf]))
            pos, fwhm, h, eta = (float(v) for v in popt[:4])
        except (RuntimeError, ValueError):
            pos, fwhm, h, eta = float(x[i]), fwhm0, float(props["prominences"][k]), 0.5
        peaks.append(Peak(pos, fwhm, _pv_area(fwhm, h, eta), h, eta))
    return sorted(peaks, key=lambda p: p.position)


@dataclass(frozen=True)
class Orientation:
    """Orientation of a textured ring: angle (pyFAI χ, degrees in [0, 180)) and anisotropy in [0, 1].

    ``anisotropy`` is ``|<exp(2iχ)>|`` of the intensity above the ring's minimum
    (0 = isotropic, 1 = all intensity at one azimuth and its opposite).
    """

    angle_deg: float
    anisotropy: float


def orientation(frame: Frame | np.ndarray, q_range: tuple[float, float], *, geometry: Geometry | None = None,
                valid: np.ndarray | None = None, npt_azim: int = 180, unit: str = "q_nm^-1") -> Orientation:
    """Orientation angle and anisotropy of the intensity in the band ``q_range`` (``unit``).

    The band is integrated over q into an azimuthal profile ``I(χ)`` (pyFAI
    ``integrate_radial``-style via ``integrate2d``); the angle is half the argument of
    ``sum (I(χ) - min I) exp(2iχ)``, the 2-fold circular mean, which is exact for
    any 2-fold symmetric distribution (von Mises, Gaussian).
    """
    data, mask, geometry = _image_and_geometry(frame, geometry, valid)
    if not q_range[0] < q_range[1]:
        raise ParameterError(f"q_range must be increasing, got {q_range!r}")
    res = geometry.integrator.integrate2d(data, 8, npt_azim, unit=unit, radial_range=q_range, mask=~mask)
    cake = np.asarray(res.intensity, float)  # (npt_azim, 8)
    counts = np.asarray(res.count, float) if getattr(res, "count", None) is not None else (cake != 0).astype(float)
    chi = np.radians(np.asarray(res.azimuthal, float))
    seen = counts > 0 if counts.shape == cake.shape else cake != 0
    per_chi = np.where(seen.any(axis=1), (cake * seen).sum(axis=1) / np.maximum(seen.sum(axis=1), 1), np.nan)
    ok = np.isfinite(per_chi)
    if ok.sum() < 8:
        raise InputError(f"too few measured azimuths in the band {q_range} {unit}")
    w = per_chi[ok] - np.nanmin(per_chi[ok])
    moment = np.sum(w * np.exp(2j * chi[ok]))
    total = float(np.sum(w))
    if total <= 0:
        return Orientation(float("nan"), 0.0)
    return Orientation(float(np.degrees(0.5 * np.angle(moment)) % 180.0), float(abs(moment) / total))


def structure_factor(q: np.ndarray, intensity: np.ndarray, *, degree: int = 6) -> np.ndarray:
    """An ad hoc ``S(Q)``: the profile divided by a smooth polynomial fit of it (PDFgetX3-style).

    The smooth part stands for ``<f^2>`` plus incoherent scattering; what is left
    oscillates around 1. Good for comparing restorations of one measurement, not for
    absolute normalisation.
    """
    q, intensity = np.asarray(q, float), np.asarray(intensity, float)
    good = np.isfinite(intensity) & (intensity > 0)
    if good.sum() <= degree + 2:
        raise InputError("too few finite positive points for S(Q)")
    coeffs = np.polynomial.polynomial.polyfit(q[good], intensity[good], degree)
    smooth = np.polynomial.polynomial.polyval(q, coeffs)
    return np.where(good & (smooth > 0), intensity / np.where(smooth > 0, smooth, 1.0), 1.0)


def pdf_transform(q: np.ndarray, s_of_q: np.ndarray, r: np.ndarray, *, q_max: float | None = None,
                  lorch: bool = True) -> np.ndarray:
    """Reduced pair distribution function ``G(r) = (2/π) ∫ Q [S(Q) - 1] M(Q) sin(Qr) dQ``.

    Parameters
    ----------
    q, s_of_q:
        Scattering vector (nm^-1 or Å^-1) and structure factor on it (increasing q).
    r:
        Distances in the reciprocal unit of ``q`` (nm or Å).
    q_max:
        Upper integration limit (default: the last q).
    lorch:
        Multiply by the Lorch function ``M(Q) = sin(πQ/Qmax) / (πQ/Qmax)`` to damp
        termination ripples (at the cost of resolution).

    Examples
    --------
    >>> q = np.linspace(0.01, 300, 6000)
    >>> s = 1 + np.sin(q * 2.5) / (q * 2.5)        # one pair distance at r = 2.5
    >>> r = np.linspace(1, 4, 301)
    >>> round(float(r[np.argmax(pdf_transform(q, s, r))]), 1)
    2.5
    """
    q, s_of_q, r = (np.asarray(v, float) for v in (q, s_of_q, r))
    if q.ndim != 1 or q.shape != s_of_q.shape or q.size < 3 or np.any(np.diff(q) <= 0):
        raise InputError("q must be increasing and match S(Q) in length")
    q_max = float(q[-1]) if q_max is None else float(q_max)
    keep = q <= q_max
    q, f = q[keep], q[keep] * (s_of_q[keep] - 1.0)
    if lorch:
        f = f * np.sinc(q / q_max)  # numpy sinc(x) = sin(πx)/(πx)
    return (2.0 / math.pi) * np.trapezoid(f[None, :] * np.sin(np.outer(r, q)), q, axis=1)
