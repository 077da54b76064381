"""Scattering patterns as functions of the scattering vector q (nm^-1) and azimuth χ (rad).

Each model takes a :class:`QSpace` (q and χ of every detector pixel, from pyFAI) and
a random generator, and returns the noise-free intensity per pixel in arbitrary
units plus a dict of the parameters it drew. Working in (q, χ) rather than in pixels
makes off-centre beams and tilted detectors physically right for free. Random
parameters are drawn relative to the q range the frame covers, so every model gives
a useful picture on any geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.spatial.distance import pdist

from ..frame import Kind

Model = Callable[["QSpace", np.random.Generator], tuple[np.ndarray, dict[str, Any]]]


@dataclass(frozen=True)
class QSpace:
    """q and χ of every pixel and the reference scales models draw their parameters from.

    Attributes
    ----------
    q, chi:
        Scattering vector modulus (nm^-1) and azimuth (rad, pyFAI convention) per pixel.
    dq_px:
        Typical q step between neighbouring pixels (median), nm^-1; sets peak widths.
    q_lo, q_hi:
        The 2 % and 75 % quantiles of q over the frame, nm^-1: the range where rings
        are complete circles on a centred frame (75 % ~ the nearest edge).
    q_max:
        Largest q on the frame, nm^-1.
    """

    q: np.ndarray
    chi: np.ndarray
    dq_px: float
    q_lo: float
    q_hi: float
    q_max: float

    @classmethod
    def of(cls, q: np.ndarray, chi: np.ndarray) -> QSpace:
        grad_y, grad_x = np.gradient(q)
        q_lo, q_hi = np.quantile(q, [0.02, 0.75])
        return cls(q, chi, float(np.median(np.hypot(grad_y, grad_x))), float(q_lo), float(q_hi), float(q.max()))

    def strained(self, strain: float) -> QSpace:
        """The same space seen by a sample whose features moved to ``q * (1 + strain)``.

        The reference scales are kept, so a model draws the same parameters and its
        rings appear at ``(1 + strain)`` times their unstrained q (a lattice
        contraction by ``strain`` for ``strain`` > 0).
        """
        return replace(self, q=self.q / (1.0 + strain))


def gaussian(x: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    """Unit-height Gaussian ``exp(-(x - centre)^2 / (2 sigma^2))``."""
    return np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def von_mises_2fold(chi: np.ndarray, chi0: float, kappa: float) -> np.ndarray:
    """Orientation distribution peaking (value 1) at ``chi0`` and ``chi0 + pi``, width set by ``kappa``."""
    return np.exp(kappa * (np.cos(2.0 * (chi - chi0)) - 1.0))


def draw_rings(qs: QSpace, rng: np.random.Generator, n_min: int = 4, n_max: int = 7) -> dict[str, list[float]]:
    """Ring positions (nm^-1), Gaussian widths (nm^-1) and amplitudes, at least 8 px apart.

    Positions are uniform in ``[max(q_lo, 0.15 q_hi), q_hi]``; rings that would come
    closer than 8 pixels to an earlier one are redrawn (up to 200 tries), so a small
    frame may hold fewer than ``n_min`` rings but always one.
    """
    low = min(max(qs.q_lo, 0.15 * qs.q_hi) + 3.0 * qs.dq_px, 0.5 * qs.q_hi)
    separation = 8.0 * qs.dq_px
    target = int(rng.integers(n_min, n_max + 1))
    positions: list[float] = []
    for _ in range(200):
        candidate = float(rng.uniform(low, qs.q_hi))
        if all(abs(candidate - p) >= separation for p in positions):
            positions.append(candidate)
        if len(positions) == target:
            break
    positions.sort()
    sigmas = rng.uniform(1.0, 2.0, len(positions)) * qs.dq_px
    amplitudes = rng.uniform(0.3, 1.0, len(positions))
    return {"ring_q_nm": positions, "ring_sigma_nm": sigmas.tolist(), "ring_amplitude": amplitudes.tolist()}


def ring_profile(q: np.ndarray, rings: dict[str, list[float]]) -> np.ndarray:
    """Sum of Gaussian rings in q (isotropic)."""
    total = np.zeros_like(q)
    for centre, sigma, amplitude in zip(rings["ring_q_nm"], rings["ring_sigma_nm"], rings["ring_amplitude"]):
        total += amplitude * gaussian(q, centre, sigma)
    return total


def _smooth_background(qs: QSpace, rng: np.random.Generator, level: float) -> tuple[np.ndarray, float]:
    """Air/amorphous background: a decay from the beam plus a broad hump, ``level`` high."""
    hump_q = float(rng.uniform(0.3, 0.6)) * qs.q_hi
    q = qs.q
    return level * (0.3 + np.exp(-q / (0.25 * qs.q_hi)) + 0.5 * gaussian(q, hump_q, 0.15 * qs.q_hi)), hump_q


def powder(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Isotropic powder rings (Gaussian in q, uniform in χ) on a smooth background."""
    rings = draw_rings(qs, rng)
    background, hump_q = _smooth_background(qs, rng, 0.05)
    return ring_profile(qs.q, rings) + background, {**rings, "background_hump_q_nm": hump_q}


def textured(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Rings whose intensity follows a 2-fold von Mises law in χ (fibre / rolling texture).

    Every ring peaks at ``orientation_deg`` and ``orientation_deg + 180`` (pyFAI χ,
    degrees); 10 % of each ring's intensity stays isotropic (random grains).
    """
    rings = draw_rings(qs, rng)
    chi0 = float(rng.uniform(0.0, math.pi))
    kappa = float(rng.uniform(2.0, 6.0))
    background, hump_q = _smooth_background(qs, rng, 0.05)
    odf = 0.1 + 0.9 * von_mises_2fold(qs.chi, chi0, kappa)
    meta = {**rings, "orientation_deg": math.degrees(chi0), "kappa": kappa, "isotropic_fraction": 0.1,
            "background_hump_q_nm": hump_q}
    return ring_profile(qs.q, rings) * odf + background, meta


def single_crystal(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Bragg spots of a 2-D reciprocal lattice, each with its Friedel mate of equal intensity.

    Spots are Gaussians in the in-plane scattering vector ``(q cos χ, q sin χ)`` at
    ``g = h a* + k b*`` and ``-g`` (a zone-axis pattern with a flat Ewald sphere).
    60 % of the reflections are excited; intensities follow Wilson statistics
    (exponential) times a Debye-Waller decay ``exp(-(|g| / q_hi)^2)``.
    """
    a_len = float(rng.uniform(0.15, 0.25)) * qs.q_hi
    b_len = a_len * float(rng.uniform(0.8, 1.25))
    gamma = math.radians(float(rng.uniform(60.0, 120.0)))
    phi = float(rng.uniform(0.0, math.pi))
    a_star = a_len * np.array([math.cos(phi), math.sin(phi)])
    b_star = b_len * np.array([math.cos(phi + gamma), math.sin(phi + gamma)])
    reach = int(math.ceil(qs.q_max / (min(a_len, b_len) * math.sin(gamma)))) + 1
    h, k = (m.ravel() for m in np.meshgrid(np.arange(0, reach + 1), np.arange(-reach, reach + 1), indexing="ij"))
    half = (h > 0) | ((h == 0) & (k > 0))  # one of each Friedel pair
    h, k = h[half], k[half]
    g = h[:, None] * a_star + k[:, None] * b_star
    g_len = np.hypot(g[:, 0], g[:, 1])
    keep = (g_len <= qs.q_max) & (rng.random(g_len.size) < 0.6)
    h, k, g, g_len = h[keep], k[keep], g[keep], g_len[keep]
    intensity = rng.exponential(1.0, g_len.size) * np.exp(-((g_len / qs.q_hi) ** 2))
    sigma = float(rng.uniform(1.0, 1.5)) * qs.dq_px
    qx, qy = qs.q * np.cos(qs.chi), qs.q * np.sin(qs.chi)
    image = 0.002 + 0.01 * np.exp(-qs.q / (0.3 * qs.q_hi))
    for (gx, gy), value in zip(g, intensity):
        for sign in (1.0, -1.0):
            image += value * np.exp(-0.5 * ((qx - sign * gx) ** 2 + (qy - sign * gy) ** 2) / sigma**2)
    meta = {
        "a_star_nm": a_star.tolist(),
        "b_star_nm": b_star.tolist(),
        "spot_sigma_nm": sigma,
        "reflections": [
            {"hk": (int(hh), int(kk)), "g_nm": (float(gx), float(gy)), "intensity": float(v)}
            for hh, kk, (gx, gy), v in zip(h, k, g, intensity)
        ],
    }
    return image, meta


def _sphere_amplitude(x: np.ndarray) -> np.ndarray:
    """Normalised form-factor amplitude of a homogeneous sphere, ``3 (sin x - x cos x) / x^3`` (1 at 0)."""
    small = x < 1e-3
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 10.0, 3.0 * (np.sin(safe) - safe * np.cos(safe)) / safe**3)


def saxs(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Isotropic SAXS of polydisperse spheres plus Porod scattering of large aggregates.

    ``I(q) = <P(q, R)> + A / (1 + (q xi)^2)^2 + b``: the sphere form factor averaged
    over a Gaussian size distribution (volume-squared weighted, which keeps damped
    oscillations), a Debye-Bueche term (q^-4 Porod tail) and a flat background. The
    radius puts the first form-factor minimum (q R = 4.493) at 20-35 % of ``q_hi``,
    so the dynamic range over the frame is ~1e4-1e5.
    """
    radius = 4.493 / (float(rng.uniform(0.2, 0.35)) * qs.q_hi)
    spread = float(rng.uniform(0.05, 0.10))
    xi = float(rng.uniform(4.0, 8.0)) * radius
    porod = float(rng.uniform(0.02, 0.05))
    flat = 1e-5
    radii = radius * (1.0 + spread * np.linspace(-3.0, 3.0, 31))
    weights = np.exp(-0.5 * np.linspace(-3.0, 3.0, 31) ** 2) * radii**6
    q_grid = np.linspace(0.0, qs.q_max * 1.001, 2048)
    form = (_sphere_amplitude(q_grid[:, None] * radii[None, :]) ** 2 @ weights) / weights.sum()
    profile = form + porod / (1.0 + (q_grid * xi) ** 2) ** 2 + flat
    meta = {
        "radius_nm": radius,
        "polydispersity": spread,
        "correlation_length_nm": xi,
        "porod_amplitude": porod,
        "flat_background": flat,
        "first_minimum_q_nm": 4.493 / radius,
        "ring_q_nm": [],
    }
    return np.interp(qs.q, q_grid, profile), meta


def saxs_fibre(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Oriented SAXS of a fibre: equatorial streak, meridional long-period arcs, elliptic core.

    With χ0 = ``orientation_deg`` (the equator) and ``q_par``, ``q_perp`` the
    components of q along and across it: fibrils of radius ``Rc`` and length ``Lf``
    give a streak ``1 / (1 + (q_par Rc)^2)^2 * exp(-(q_perp Lf)^2 / 2)``; stacked
    lamellae of long period ``L`` give arcs at ``n 2 pi / L`` (n = 1, 2) on the
    meridian (χ0 + 90°); an elliptic Guinier core and a flat background complete it.
    Every term depends on ``q_par^2``, ``q_perp^2`` or ``cos 2(χ - χ0)``: 2-fold
    (and mirror) symmetric.
    """
    chi0 = float(rng.uniform(0.0, math.pi))
    q_par = qs.q * np.cos(qs.chi - chi0)
    q_perp = qs.q * np.sin(qs.chi - chi0)
    fibril_radius = float(rng.uniform(2.0, 4.0)) / qs.q_hi
    fibril_length = 1.0 / (float(rng.uniform(1.0, 2.0)) * qs.dq_px)
    q_long = float(rng.uniform(0.35, 0.55)) * qs.q_hi
    arc_kappa = float(rng.uniform(3.0, 8.0))
    rg_par, rg_perp = (float(v) / qs.q_hi for v in rng.uniform(12.0, 20.0, 2))
    streak = 1.0 / (1.0 + (q_par * fibril_radius) ** 2) ** 2 * np.exp(-0.5 * (q_perp * fibril_length) ** 2)
    arcs = sum(
        amplitude * gaussian(qs.q, order * q_long, 1.5 * qs.dq_px)
        for order, amplitude in ((1, 0.15), (2, 0.04))
    ) * von_mises_2fold(qs.chi, chi0 + math.pi / 2.0, arc_kappa)
    core = 0.3 * np.exp(-((q_par * rg_par) ** 2 + (q_perp * rg_perp) ** 2) / 3.0)
    meta = {
        "orientation_deg": math.degrees(chi0),
        "fibril_radius_nm": fibril_radius,
        "fibril_length_nm": fibril_length,
        "long_period_nm": 2.0 * math.pi / q_long,
        "ring_q_nm": [q_long, 2.0 * q_long],
        "arc_kappa": arc_kappa,
        "guinier_radius_nm": (rg_par, rg_perp),
    }
    return streak + arcs + core + 1e-4, meta


#: Cromer-Mann coefficients of Ni (International Tables for Crystallography Vol. C,
#: Table 6.1.1.4): f(s) = sum a_i exp(-b_i s^2) + c, s = sin(theta)/lambda in 1/Å.
#: Written out because no installed library provides atomic form factors.
_NI_CROMER_MANN = ((12.8376, 3.8785), (7.2920, 0.2565), (4.4438, 12.1763), (2.3800, 66.3421))
_NI_C = 1.0341
_NI_Z = 28
_NI_LATTICE_NM = 0.35240


def _ni_form_factor(q_nm: np.ndarray) -> np.ndarray:
    s2 = (q_nm / 10.0 / (4.0 * math.pi)) ** 2  # (sin theta / lambda)^2 in 1/Å^2
    factor = np.zeros_like(s2)
    for a, b in _NI_CROMER_MANN:
        factor = factor + a * np.exp(-b * s2)
    return factor + _NI_C


def _fcc_sphere(diameter_nm: float, lattice_nm: float) -> np.ndarray:
    """Atom positions (nm) of an fcc crystal cut to a sphere of ``diameter_nm``."""
    n = int(math.ceil(diameter_nm / lattice_nm / 2.0)) + 1
    cells = np.arange(-n, n + 1)
    corners = np.stack(np.meshgrid(cells, cells, cells, indexing="ij"), axis=-1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    atoms = (corners[:, None, :] + basis[None, :, :]).reshape(-1, 3) * lattice_nm
    return atoms[np.linalg.norm(atoms, axis=1) <= diameter_nm / 2.0]


def _fcc_reflections(lattice_nm: float, q_max: float) -> list[float]:
    """q (nm^-1) of the fcc Bragg reflections (h, k, l all odd or all even) up to ``q_max``."""
    top = int(lattice_nm * q_max / (2.0 * math.pi)) + 1
    index = np.arange(top + 1)
    h, k, l = (m.ravel() for m in np.meshgrid(index, index, index, indexing="ij"))  # noqa: E741 - Miller indices
    parity = h % 2
    allowed = (k % 2 == parity) & (l % 2 == parity) & (h + k + l > 0)
    q = 2.0 * math.pi * np.sqrt(np.unique(h[allowed] ** 2 + k[allowed] ** 2 + l[allowed] ** 2)) / lattice_nm
    return q[q <= q_max].tolist()


def pdf(qs: QSpace, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Total scattering of an fcc Ni nanoparticle from its atom pairs (Debye equation).

    ``I(Q) = f(Q)^2 S(Q) + Z (1 - (f(Q)/Z)^2)`` with
    ``S(Q) = 1 + (2/N) sum_pairs sin(Q r) / (Q r) exp(-sigma^2 Q^2 / 2)``, summed over
    every atom pair of a spherical particle (diameter 2.5-4 nm, N ~ 1000-3000
    atoms), ``sigma^2 = 2 u^2`` for uncorrelated thermal displacements ``u`` and ``f``
    the Ni form factor. The second term is a smooth incoherent (Compton) rise. The
    result shows many finite-size-broadened rings whose amplitude decays with Q.
    """
    diameter = float(rng.uniform(2.5, 4.0))
    u_rms = float(rng.uniform(0.005, 0.009))
    atoms = _fcc_sphere(diameter, _NI_LATTICE_NM)
    bin_nm = 1e-4
    shell_counts = np.bincount(np.rint(pdist(atoms) / bin_nm).astype(np.int64))
    shells = np.flatnonzero(shell_counts)
    r = shells * bin_nm
    q_grid = np.linspace(0.0, qs.q_max * 1.001, 2048)
    damping = np.exp(-(u_rms**2) * q_grid**2)  # exp(-sigma^2 Q^2 / 2), sigma^2 = 2 u^2
    debye = np.sinc(q_grid[:, None] * r[None, :] / math.pi) @ shell_counts[shells]
    structure = 1.0 + 2.0 / len(atoms) * debye * damping
    form = _ni_form_factor(q_grid)
    profile = form**2 * structure + _NI_Z * (1.0 - (form / _NI_Z) ** 2)
    meta = {
        "element": "Ni",
        "lattice_nm": _NI_LATTICE_NM,
        "particle_diameter_nm": diameter,
        "n_atoms": int(len(atoms)),
        "u_rms_nm": u_rms,
        "ring_q_nm": _fcc_reflections(_NI_LATTICE_NM, qs.q_max),
    }
    return np.interp(qs.q, q_grid, profile), meta


@dataclass(frozen=True)
class Pattern:
    """A pattern model with its frame kind and the default geometry that suits it."""

    name: str
    kind: Kind
    wavelength_m: float
    q_edge_nm: float
    model: Model


#: Pattern name -> model. ``q_edge_nm`` is the q at the nearest frame edge in the
#: default geometry: wide angles for diffraction, small angles for SAXS, high Q at a
#: hard-X-ray wavelength (0.2 Å, 62 keV) for total scattering.
PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        Pattern("powder", "diffraction", 1.0e-10, 30.0, powder),
        Pattern("textured", "diffraction", 1.0e-10, 30.0, textured),
        Pattern("single_crystal", "diffraction", 0.7e-10, 40.0, single_crystal),
        Pattern("saxs", "scattering", 1.0e-10, 1.5, saxs),
        Pattern("saxs_fibre", "scattering", 1.0e-10, 1.5, saxs_fibre),
        Pattern("pdf", "pdf", 0.2e-10, 180.0, pdf),
    )
}
