"""Detector frames of diffraction, scattering and total scattering (PDF), single and in series.

A frame is built in four steps: a pyFAI geometry gives q and χ for every pixel; a
pattern model (:mod:`asirp.synth.patterns`) gives the intensity there, multiplied by
each pixel's solid angle; the result is scaled to the requested dose; Poisson noise
is drawn on the valid pixels of a detector mask (:mod:`asirp.synth.detector`).
Photon-counting detectors (Pilatus, Eiger) have no read noise, so Poisson is the
whole noise model; there is no blur (``psf`` is None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..geometry import Geometry
from . import _checks
from .detector import default_geometry, detector_mask, q_chi
from .patterns import PATTERNS, Pattern, QSpace, gaussian
from .result import SynthResult

#: Events :func:`diffraction_series` can simulate.
EVENTS = ("new_ring", "ring_shift")


@dataclass(frozen=True)
class _Scene:
    """Everything about a frame but its random pattern: geometry, q space, mask, solid angle."""

    pattern: Pattern
    geometry: Geometry
    space: QSpace
    valid: np.ndarray
    solid_angle: np.ndarray
    pattern_seed: np.random.SeedSequence
    noise_rng: np.random.Generator
    extra_rng: np.random.Generator
    meta: dict[str, Any]

    def intensity(self, space: QSpace | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Noise-free intensity per pixel (arbitrary units, solid angle included) and model facts.

        The pattern's random parameters come from a fresh generator on every call, so
        evaluating a strained ``space`` gives the same sample, moved.
        """
        image, facts = self.pattern.model(space or self.space, np.random.default_rng(self.pattern_seed))
        return image * self.solid_angle, facts


def _scene(
    pattern: str,
    shape: Any,
    *,
    beam_center: tuple[float, float] | None,
    tilt_deg: float,
    tilt_plane_deg: float,
    geometry: Geometry | None,
    mask: str,
    solid_angle: bool,
    seed: Any,
) -> _Scene:
    spec = PATTERNS[_checks.choice("pattern", pattern, PATTERNS)]
    ny, nx = _checks.image_shape(shape, 32)
    seed = _checks.seed(seed)
    if geometry is None:
        if beam_center is not None:
            try:
                cy, cx = (float(v) for v in beam_center)
            except (TypeError, ValueError):
                raise ParameterError(f"beam_center must be a pair (y, x) in pixels, got {beam_center!r}") from None
            if not (0.0 <= cy <= ny and 0.0 <= cx <= nx):
                raise ParameterError(f"beam_center {beam_center!r} px lies outside the {ny}x{nx} frame")
            beam_center = (cy, cx)
        tilt_deg = _checks.number("tilt_deg", tilt_deg, unit="degrees")
        tilt_plane_deg = _checks.number("tilt_plane_deg", tilt_plane_deg, unit="degrees")
        if abs(tilt_deg) >= 45.0:
            raise ParameterError(f"tilt_deg must be a detector tilt below 45 degrees, got {tilt_deg!r}")
        geometry = default_geometry(
            (ny, nx),
            wavelength_m=spec.wavelength_m,
            q_edge_nm=spec.q_edge_nm,
            beam_center=beam_center,
            tilt_deg=tilt_deg,
            tilt_plane_deg=tilt_plane_deg,
        )
    elif not isinstance(geometry, Geometry):
        raise ParameterError(f"geometry must be an asirp Geometry, got {type(geometry).__name__}")
    elif beam_center is not None or tilt_deg != 0.0:
        raise ParameterError("give either geometry or beam_center/tilt_deg, not both: the geometry fixes them")
    else:
        geometry.check_shape((ny, nx), "geometry")
    q, chi = q_chi(geometry, (ny, nx))
    pattern_seed, mask_seed, noise_seed, extra_seed = np.random.SeedSequence(seed).spawn(4)
    center = geometry.beam_center_px()
    fit2d = geometry.integrator.getFit2D()  # tilt as given, or as implied by a user geometry
    mask_info = detector_mask(mask, (ny, nx), center, np.random.default_rng(mask_seed))
    sa = geometry.integrator.solidAngleArray((ny, nx)) if solid_angle else np.ones((ny, nx))
    space = QSpace.of(q, chi)
    meta = {
        "pattern": spec.name,
        "kind": spec.kind,
        "shape": (ny, nx),
        "beam_center_px": center,
        "tilt_deg": float(fit2d["tilt"]),
        "tilt_plane_deg": float(fit2d["tiltPlanRotation"]),
        "wavelength_m": float(geometry.integrator.wavelength),
        "distance_m": float(geometry.integrator.dist),
        "q_range_nm": (float(q.min()), space.q_max),
        "solid_angle": bool(solid_angle),
        **mask_info.meta,
        "seed": seed,
    }
    return _Scene(
        spec,
        geometry,
        space,
        mask_info.valid,
        np.asarray(sa, dtype=float),
        pattern_seed,
        np.random.default_rng(noise_seed),
        np.random.default_rng(extra_seed),
        meta,
    )


def diffraction_frame(
    pattern: str = "powder",
    *,
    shape: tuple[int, int] = (256, 256),
    dose: float = 10.0,
    beam_center: tuple[float, float] | None = None,
    tilt_deg: float = 0.0,
    geometry: Geometry | None = None,
    mask: str = "gaps",
    seed: int = 0,
    tilt_plane_deg: float = 0.0,
    solid_angle: bool = True,
) -> SynthResult:
    """One detector frame of a diffraction, scattering or PDF pattern with Poisson noise.

    Parameters
    ----------
    pattern:
        ``"powder"`` (Gaussian rings in q, uniform in χ, smooth background),
        ``"textured"`` (rings modulated by a 2-fold von Mises law in χ; meta
        ``orientation_deg``), ``"single_crystal"`` (Bragg spots at ``g`` and ``-g``
        with equal intensity: Friedel pairs), ``"saxs"`` (polydisperse spheres + Porod,
        ~1e4 dynamic range), ``"saxs_fibre"`` (equatorial streak, meridional
        long-period arcs; meta ``orientation_deg``) or ``"pdf"`` (fcc Ni nanoparticle
        by the Debye equation: many high-Q rings decaying with Q).
    shape:
        Frame size ``(ny, nx)`` in pixels (at least 32 x 32); pixels are 172 µm.
    dose:
        Mean expected counts per valid pixel of ``truth``.
    beam_center:
        Direct-beam position ``(y, x)`` in pixels, pyFAI convention (pixel ``i`` spans
        ``[i, i+1)``), as returned by :meth:`Geometry.beam_center_px`; default the
        frame centre ``(ny/2, nx/2)``.
    tilt_deg, tilt_plane_deg:
        Detector tilt and the direction of its tilt axis (Fit2D convention, degrees),
        turned into pyFAI ``rot1``/``rot2``/``rot3`` by pyFAI.
    geometry:
        A full geometry instead of the default one (then ``beam_center`` and
        ``tilt_deg`` must not be given). It needs a wavelength.
    mask:
        ``"gaps"`` (module gaps, beamstop with holder arm, a few hot pixels),
        ``"beamstop"`` or ``"none"``.
    seed:
        Seed of the pattern, the mask and the noise (independent streams: the same
        seed gives the same pattern whatever the mask).
    solid_angle:
        Multiply the intensity by each pixel's relative solid angle (pyFAI).

    Returns
    -------
    SynthResult
        ``truth`` = ``blurred`` (no blur, ``psf`` None) and ``noisy`` =
        ``Poisson(truth)``, all with the detector mask and geometry. The default
        distance shows q up to 30 nm^-1 at the nearest edge for diffraction (λ = 1 Å,
        0.7 Å for single crystals), 1.5 nm^-1 for SAXS and 180 nm^-1 for PDF
        (λ = 0.2 Å). ``meta`` holds the pattern's facts (``ring_q_nm``,
        ``orientation_deg``, reflections...), ``beam_center_px``, the mask's facts
        and ``scale`` (counts per model unit).

    Examples
    --------
    >>> r = diffraction_frame("powder", shape=(128, 128), dose=10.0, mask="none")
    >>> round(float(r.truth.data.mean()), 3), r.noisy.kind
    (10.0, 'diffraction')
    """
    dose = _checks.positive("dose", dose, unit="counts per pixel")
    scene = _scene(
        pattern,
        shape,
        beam_center=beam_center,
        tilt_deg=tilt_deg,
        tilt_plane_deg=tilt_plane_deg,
        geometry=geometry,
        mask=mask,
        solid_angle=solid_angle,
        seed=seed,
    )
    image, facts = scene.intensity()
    scale = dose / float(image[scene.valid].mean())
    truth = image * scale
    noisy = np.where(scene.valid, scene.noise_rng.poisson(truth), 0)
    meta = {**scene.meta, "generator": "diffraction_frame", "dose": dose, "scale": scale, **facts}
    return SynthResult.from_arrays(
        truth,
        truth,
        noisy,
        valid=scene.valid,
        kind=scene.pattern.kind,
        generator="diffraction_frame",
        seed=scene.meta["seed"],
        psf=None,
        meta=meta,
        geometry=scene.geometry,
    )


def _new_ring(
    scene: _Scene, before: np.ndarray, rings: list[float], strength: float
) -> tuple[np.ndarray, dict[str, float]]:
    """An isotropic ring of a new phase, away from existing rings, with ``strength`` x 10 % of the scattering.

    Its integral over the valid pixels is ``0.1 * strength`` times that of ``before``,
    whatever the pattern, so the change is comparable across patterns and doses.
    """
    space, rng = scene.space, scene.extra_rng
    low = min(max(space.q_lo, 0.15 * space.q_hi) + 3.0 * space.dq_px, 0.5 * space.q_hi)
    candidates = np.linspace(low, space.q_hi, 256)
    if rings:
        clearance = np.min(np.abs(candidates[:, None] - np.asarray(rings)[None, :]), axis=1)
    else:
        clearance = np.full(candidates.shape, np.inf)
    roomy = candidates[clearance >= 8.0 * space.dq_px]
    q_new = float(rng.choice(roomy)) if roomy.size else float(candidates[np.argmax(clearance)])
    sigma = 1.5 * space.dq_px
    ring = gaussian(space.q, q_new, sigma)
    ring *= 0.1 * strength * before[scene.valid].sum() / ring[scene.valid].sum()
    return before + ring, {"event_ring_q_nm": q_new, "event_ring_sigma_nm": sigma}


def diffraction_series(
    n_frames: int = 20,
    *,
    event_frame: int | None = 10,
    pattern: str = "powder",
    shape: tuple[int, int] = (128, 128),
    dose: float = 5.0,
    seed: int = 0,
    event: str = "new_ring",
    event_strength: float = 1.0,
    event_strain: float = 0.02,
    **kw: Any,
) -> SynthResult:
    """A time series of frames of one sample, optionally with a phase transition.

    Every frame has independent Poisson noise. From ``event_frame`` on, the sample
    changes: ``event="new_ring"`` adds an isotropic ring of a new phase (a Gaussian
    in q, away from existing rings, scattering ``event_strength`` x 10 % of the
    frame's pre-event intensity), ``event="ring_shift"`` moves every feature to ``q * (1 +
    event_strain)`` (a lattice contraction by ``event_strain``).

    Parameters
    ----------
    n_frames:
        Number of frames (>= 2 with an event, >= 1 without).
    event_frame:
        First frame showing the change (1 .. n_frames - 1), or None for a static sample.
    pattern, shape, dose, seed:
        As in :func:`diffraction_frame`; ``dose`` is the mean counts per valid pixel
        of the frames before the event (the event adds or moves intensity).
    event, event_strength, event_strain:
        What changes at ``event_frame`` (see above).
    **kw:
        ``beam_center``, ``tilt_deg``, ``tilt_plane_deg``, ``geometry``, ``mask``,
        ``solid_angle``, as in :func:`diffraction_frame`.

    Returns
    -------
    SynthResult
        3-D frames ``(n_frames, ny, nx)`` sharing one mask; ``meta["event_frame"]``,
        ``meta["event"]`` and the event's facts (``event_ring_q_nm`` or
        ``event_strain``).
    """
    allowed = {"beam_center", "tilt_deg", "tilt_plane_deg", "geometry", "mask", "solid_angle"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ParameterError(f"unknown argument(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}")
    n_frames = _checks.integer("n_frames", n_frames, 1)
    dose = _checks.positive("dose", dose, unit="counts per pixel")
    event = _checks.choice("event", event, EVENTS)
    if event_frame is not None:
        event_frame = _checks.integer("event_frame", event_frame, 1)
        if event_frame >= n_frames:
            raise ParameterError(f"event_frame must be between 1 and n_frames - 1 = {n_frames - 1}, got {event_frame}")
    event_strength = _checks.positive("event_strength", event_strength)
    event_strain = _checks.number("event_strain", event_strain)
    if not (-0.5 < event_strain < 0.5 and event_strain != 0.0):
        raise ParameterError(f"event_strain must be a non-zero fraction in (-0.5, 0.5), got {event_strain!r}")
    scene = _scene(
        pattern,
        shape,
        beam_center=kw.get("beam_center"),
        tilt_deg=kw.get("tilt_deg", 0.0),
        tilt_plane_deg=kw.get("tilt_plane_deg", 0.0),
        geometry=kw.get("geometry"),
        mask=kw.get("mask", "gaps"),
        solid_angle=kw.get("solid_angle", True),
        seed=seed,
    )
    before, facts = scene.intensity()
    scale = dose / float(before[scene.valid].mean())
    truth = np.repeat((before * scale)[None], n_frames, axis=0)
    meta = {**scene.meta, "generator": "diffraction_series", "dose": dose, "scale": scale, **facts,
            "n_frames": n_frames, "event_frame": event_frame, "event": None if event_frame is None else event}
    if event_frame is not None:
        if event == "new_ring":
            after, event_facts = _new_ring(scene, before, list(facts.get("ring_q_nm", [])), event_strength)
            event_facts["event_strength"] = event_strength
        else:
            after, _ = scene.intensity(scene.space.strained(event_strain))
            event_facts = {"event_strain": event_strain}
        truth[event_frame:] = after * scale
        meta.update(event_facts)
    valid = np.broadcast_to(scene.valid, truth.shape)
    noisy = np.where(valid, scene.noise_rng.poisson(truth), 0)
    return SynthResult.from_arrays(
        truth,
        truth,
        noisy,
        valid=np.ascontiguousarray(valid),
        kind=scene.pattern.kind,
        generator="diffraction_series",
        seed=scene.meta["seed"],
        psf=None,
        meta=meta,
        geometry=scene.geometry,
    )
