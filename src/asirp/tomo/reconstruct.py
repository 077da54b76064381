"""Parallel-beam reconstruction: filtered back-projection and SIRT, through the Fourier slice theorem.

Choice of library (measured on this project's 2-core machine, 180 angles, 512 x 512 slices):

* **TomoPy** (gridrec) is not on PyPI.
* **astra-toolbox** (PyPI 2.5) installs as a CUDA build: the wheel requires
  ``nvidia-cuda-runtime-cu12`` and ``nvidia-cufft-cu12`` (hundreds of MB) even on a
  CPU machine, and its CPU algorithms are 2-D, single-threaded and slice by slice.
* **algotom** (PyPI 1.7) pulls in numba; its CPU FBP took 0.26 s per 512² slice
  (133 s for 512 slices), its direct Fourier inversion 0.74 s per slice.
* **scikit-image** ``iradon``: about 1 s per slice (about 9 minutes for 512 slices).
* a torch back-projection by interpolation, batched over slices (a gather of
  ``n_angles x ny x nx`` detector values per slice, memory-bound): about 2 s per
  slice on 2 cores here, far too slow.

None reaches the 60 s budget for restoring *and* reconstructing 180 x 512 x 512
projections, so the back-projection is written here on **FINUFFT** (PyPI ``finufft``,
a CPU wheel depending only on numpy; Barnett, Magland & af Klinteberg, SIAM J. Sci.
Comput. 41, C479 (2019)), the way TomoPy's gridrec works: by the Fourier slice
theorem the back-projection of filtered projections is a type-1 non-uniform FFT from
the polar grid of the projections' spectra to the image's pixels, ``O(N² log N)`` per
slice instead of ``O(N² n_angles)``, and all slices share the same points, so they go
through FINUFFT as one batch. It measured about 0.03 s per 512² slice here. The
forward projection is the matching type-2 transform, so the pair is an exact adjoint
pair, which SIRT needs.

Conventions (the same as :func:`skimage.transform.radon` and :mod:`asirp.synth`):

* a slice is ``(ny, nx)`` with the rotation axis at pixel ``(N // 2, N // 2)``;
* at angle ``θ`` the detector coordinate of pixel ``(y, x)`` (relative to the axis) is
  ``t = x cos θ - y sin θ``; at 0° the beam runs along y, so ``p(0°) = slice.sum(axis=0)``;
* the rotation axis projects onto detector column ``centre`` (pixel-index units,
  sub-pixel values allowed; a shifted axis is a phase ramp on each projection's
  spectrum, applied exactly, without interpolation);
* values are attenuation per voxel (1/px) when the projections are line integrals in
  pixel units.

The projections' spectra are computed on ``L >= 2 n_det`` points (zero padding), so
the filter is a linear convolution and the projection of the image's corners does not
wrap around.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import fft

from ..errors import InputError, ParameterError
from ..filters import fill_masked
from ..frame import Frame
from ..history import TimedStep
from ..progress import progress
from ..units import PixelSize
from .correct import ATTENUATION
from .options import ALGORITHMS, FILTERS, check_iterations

FilterName = Literal["ramp", "shepp-logan", "cosine", "hamming", "hann"]
Algorithm = Literal["fbp", "sirt"]
#: Relative accuracy asked of FINUFFT (single precision; far below the data's noise).
NUFFT_EPS = 1e-4
#: FINUFFT's fine-grid oversampling: 1.25 instead of the default 2 makes the FFTs 2.5x
#: smaller (3x faster here) at the same accuracy for eps >= 1e-9.
UPSAMPLING = 1.25
#: Below this many output pixels per FINUFFT call, one thread is faster.
SMALL_WORK = 1 << 21
#: Slices transformed in one FINUFFT call (bounds memory: ~50 MB per batch at 512²).
BATCH = 32


def ramp_filter(length: int, filter_name: str = "ramp") -> np.ndarray:
    """Frequency response of a reconstruction filter at the ``length // 2 + 1`` rfft frequencies.

    The ramp is the discrete Ram-Lak filter of Kak & Slaney (1988, eq. 61): the
    spectrum of the band-limited spatial kernel ``h(0) = 1/4``, ``h(n odd) = -1/(πn)²``,
    ``h(n even) = 0``, which equals ``|ω|`` (ω in cycles per pixel) except near 0, where
    it avoids the DC offset of a sampled ``|ω|``. Windows (ω in [0, 1/2]):
    ``shepp-logan`` sinc(ω), ``cosine`` cos(πω), ``hamming`` 0.54 + 0.46 cos(2πω),
    ``hann`` cos²(πω). As in :func:`skimage.transform.iradon`.
    """
    if filter_name not in FILTERS:
        raise ParameterError(f"unknown filter {filter_name!r}; use one of {', '.join(FILTERS)}")
    offsets = np.minimum(np.arange(length), length - np.arange(length))  # circular distance to 0
    kernel = np.zeros(length)
    kernel[0] = 0.25
    odd = offsets % 2 == 1
    kernel[odd] = -1.0 / (np.pi * offsets[odd]) ** 2
    response = np.real(fft.rfft(kernel))
    omega = np.arange(length // 2 + 1) / length
    window = {
        "ramp": np.ones_like(omega),
        "shepp-logan": np.sinc(omega),
        "cosine": np.cos(np.pi * omega),
        "hamming": 0.54 + 0.46 * np.cos(2 * np.pi * omega),
        "hann": np.cos(np.pi * omega) ** 2,
    }[filter_name]
    return response * window


def angular_weights(angles_deg: np.ndarray) -> np.ndarray:
    """Angular interval (radians) each projection stands for in the back-projection integral.

    Half the gap to the previous plus half the gap to the next direction, directions
    taken modulo 180° (a projection at θ + 180° is the mirror image of the one at θ),
    cyclically. Evenly spaced angles over 180° all get ``π / n_angles``; a repeated
    direction (0° and 180°) shares its interval.
    """
    directions = np.mod(np.asarray(angles_deg, dtype=np.float64), 180.0)
    order = np.argsort(directions, kind="stable")
    ordered = directions[order]
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 180.0]))
    weights = np.empty_like(directions)
    weights[order] = 0.5 * (gaps + np.roll(gaps, 1))
    return np.radians(weights)


class FourierProjector:
    """Parallel-beam projection and back-projection of slice stacks by non-uniform FFTs.

    Parameters
    ----------
    n_det:
        Detector columns.
    angles_deg:
        Projection angles, degrees.
    size:
        Side ``N`` of the reconstructed slices (default ``n_det``).
    eps:
        FINUFFT relative accuracy.
    threads:
        Threads for FINUFFT (default: 1 for small batches, else all cores).

    Examples
    --------
    Project and back-project one 32 x 32 slice; the pair is adjoint:

    >>> rng = np.random.default_rng(0)
    >>> proj = FourierProjector(32, np.arange(0, 180, 6.0))
    >>> x, y = rng.random((1, 32, 32)), rng.random((1, 30, 32))
    >>> lhs = float(np.sum(proj.project(x, 16.0) * y))
    >>> rhs = float(np.sum(x * proj.backproject(y, 16.0)))
    >>> abs(lhs - rhs) / abs(lhs) < 1e-3
    True
    """

    def __init__(self, n_det: int, angles_deg: np.ndarray, *, size: int | None = None, eps: float = NUFFT_EPS,
                 threads: int | None = None):
        self.n_det = int(n_det)
        self.angles_deg = np.asarray(angles_deg, dtype=np.float64)
        self.size = int(size or n_det)
        if self.n_det < 2 or self.size < 2 or self.angles_deg.ndim != 1 or self.angles_deg.size == 0:
            raise ParameterError(f"need >= 2 detector columns, a slice side >= 2 and angles; got {n_det}, {size}")
        self.eps = float(eps)
        self.threads = threads
        # Enough zero padding for a linear (not circular) filter and for the slice's
        # diagonal (sqrt(2) N) to project without wrapping around.
        self.length = 2 * fft.next_fast_len(max(self.n_det, (3 * self.size) // 4 + 1))
        frequencies = np.arange(self.length // 2 + 1) / self.length  # cycles per pixel
        self.frequencies = frequencies
        theta = np.radians(self.angles_deg)
        radial = 2 * np.pi * frequencies
        # Points (ky, kx) = 2π ω (-sin θ, cos θ): t = x cos θ - y sin θ.
        self._ky = np.ascontiguousarray((-radial[None, :] * np.sin(theta)[:, None]).ravel(), dtype=np.float32)
        self._kx = np.ascontiguousarray((radial[None, :] * np.cos(theta)[:, None]).ravel(), dtype=np.float32)
        # Hermitian half spectrum: frequencies other than 0 and Nyquist stand for two.
        multiplicity = np.full(frequencies.size, 2.0)
        multiplicity[0] = 1.0
        if self.length % 2 == 0:
            multiplicity[-1] = 1.0
        self._multiplicity = multiplicity
        self._plans: dict[tuple[int, int], object] = {}

    @property
    def n_angles(self) -> int:
        return int(self.angles_deg.size)

    def _plan(self, kind: int, n_trans: int) -> object:
        import finufft

        key = (kind, n_trans)
        if key not in self._plans:
            options = {"nthreads": self._threads(n_trans)}
            plan = finufft.Plan(kind, (self.size, self.size), n_trans=n_trans, eps=self.eps,
                                isign=1 if kind == 1 else -1, dtype="complex64", upsampfac=UPSAMPLING, **options)
            plan.setpts(self._ky, self._kx)
            self._plans[key] = plan
        return self._plans[key]

    def _threads(self, n_trans: int) -> int:
        """FINUFFT threads: as asked, else 1 for small batches (thread start-up and
        synchronisation cost more than they save there, much more on a busy machine), else
        every core available."""
        if self.threads is not None:
            return max(1, int(self.threads))
        if self.size * self.size * n_trans < SMALL_WORK:
            return 1
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def _phase(self, centre: np.ndarray, sign: float) -> np.ndarray:
        """``exp(sign 2πi ω c)`` per slice ``(n, 1, n_freq)``: the detector offset of the rotation axis."""
        return np.exp(sign * 2j * np.pi * centre[:, None, None] * self.frequencies[None, None, :]).astype(np.complex64)

    def _centres(self, centre: float | np.ndarray, n: int) -> np.ndarray:
        values = np.broadcast_to(np.asarray(centre, dtype=np.float64), (n,))
        if not np.isfinite(values).all():
            raise ParameterError("the rotation centre must be a finite detector position (px)")
        return values

    def backproject(self, sinograms: np.ndarray, centre: float | np.ndarray, *, filter_name: str | None = None,
                    weights: np.ndarray | None = None) -> np.ndarray:
        """Back-project sinograms ``(n, n_angles, n_det)`` into slices ``(n, N, N)``, float32.

        With ``filter_name`` this is filtered back-projection: each projection is
        filtered (:func:`ramp_filter`) and weighted by its angular interval (``weights``,
        radians; default :func:`angular_weights`), giving attenuation per voxel. Without
        it, the exact adjoint of :meth:`project` (no filter, no weights).
        ``centre`` is the rotation axis's detector column, one value or one per slice.
        """
        sinograms = np.asarray(sinograms, dtype=np.float32)
        if sinograms.ndim != 3 or sinograms.shape[1:] != (self.n_angles, self.n_det):
            raise InputError(f"sinograms must be (n, {self.n_angles}, {self.n_det}), got {sinograms.shape}")
        n = sinograms.shape[0]
        centres = self._centres(centre, n)
        factor = self._multiplicity[None, :] / self.length
        if filter_name is not None:
            angle_weights = angular_weights(self.angles_deg) if weights is None else np.asarray(weights, dtype=np.float64)
            factor = factor * ramp_filter(self.length, filter_name)[None, :] * angle_weights[:, None]
        factor = factor.astype(np.float32)
        out = np.empty((n, self.size, self.size), dtype=np.float32)
        for start, stop in _batches(n):
            spectra = fft.rfft(sinograms[start:stop], n=self.length, axis=-1, workers=-1).astype(np.complex64)
            spectra *= factor
            spectra *= self._phase(centres[start:stop], +1.0)
            coefficients = spectra.reshape(stop - start, -1)
            plan = self._plan(1, stop - start)
            out[start:stop] = plan.execute(coefficients).real  # type: ignore[attr-defined]
        return out

    def project(self, slices: np.ndarray, centre: float | np.ndarray) -> np.ndarray:
        """Line integrals of slices ``(n, N, N)`` as sinograms ``(n, n_angles, n_det)``, float32.

        The projection of the band-limited (sinc) interpolant of the pixels: by the
        Fourier slice theorem, the 1-D spectrum of each projection is the 2-D spectrum
        of the slice along a line through the origin (type-2 non-uniform FFT).
        """
        slices = np.asarray(slices, dtype=np.float32)
        if slices.ndim != 3 or slices.shape[1:] != (self.size, self.size):
            raise InputError(f"slices must be (n, {self.size}, {self.size}), got {slices.shape}")
        n = slices.shape[0]
        centres = self._centres(centre, n)
        out = np.empty((n, self.n_angles, self.n_det), dtype=np.float32)
        for start, stop in _batches(n):
            plan = self._plan(2, stop - start)
            values = plan.execute(slices[start:stop].astype(np.complex64))  # type: ignore[attr-defined]
            spectra = values.reshape(stop - start, self.n_angles, -1) * self._phase(centres[start:stop], -1.0)
            out[start:stop] = fft.irfft(spectra, n=self.length, axis=-1, workers=-1)[..., : self.n_det]
        return out


def _batches(n: int, size: int = BATCH) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of batches of at most ``size`` slices, all as equal as possible (one FINUFFT plan)."""
    count = -(-n // size)
    edges = np.linspace(0, n, count + 1).round().astype(int)
    yield from zip(edges[:-1].tolist(), edges[1:].tolist())


def reconstruction_circle(size: int, centre: float, n_det: int) -> np.ndarray:
    """Pixels of an ``N x N`` slice seen at every angle: within the distance from the axis to the nearer detector edge."""
    radius = min(centre, n_det - 1 - centre)
    coords = np.arange(size) - size // 2
    return coords[:, None] ** 2 + coords[None, :] ** 2 <= radius**2


@dataclass(frozen=True)
class _Inputs:
    sinograms: np.ndarray  # (nz, n_angles, n_det)
    angles_deg: np.ndarray
    centre: float
    size: int


def check_centre(centre: float, n_det: int) -> float:
    """``centre`` (px) if the rotation axis lies on a detector of ``n_det`` columns, else the one-line error."""
    axis = float(centre)
    if not 0 <= axis <= n_det - 1:
        raise ParameterError(f"rotation centre {axis} px is outside the detector (0 to {n_det - 1} px)")
    return axis


def _inputs(frame: Frame, centre: float | None, size: int | None) -> _Inputs:
    source = frame.meta.get("source")
    if not isinstance(frame, Frame) or not frame.is_stack:
        raise InputError("reconstruction needs a projection stack Frame (n_angles, ny, nx)", source)
    if frame.meta.get("quantity", ATTENUATION) != ATTENUATION:
        raise InputError(f"reconstruction needs attenuation (line integrals), got {frame.meta['quantity']!r}; "
                         "run asirp.tomo.normalise and minus_log first", source)
    if "angles_deg" not in frame.meta:
        raise InputError("the projections carry no angles (meta['angles_deg'])", source)
    angles = np.asarray(frame.meta["angles_deg"], dtype=np.float64)
    n_angles, _, n_det = frame.shape
    if angles.size != n_angles:
        raise InputError(f"{n_angles} projections but {angles.size} angles", source)
    axis = check_centre(n_det // 2 if centre is None else centre, n_det)
    data = frame.data
    if not frame.valid.all():  # gaps would back-project as streaks: interpolate from valid neighbours
        data = np.stack([fill_masked(image, ok) for image, ok in zip(frame.data, frame.valid, strict=True)])
    sinograms = np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(1, 0, 2))
    return _Inputs(sinograms, angles, axis, int(size or n_det))


def _volume(frame: Frame, slices: np.ndarray, inputs: _Inputs, step: TimedStep, notes: dict[str, object]) -> Frame:
    circle = reconstruction_circle(inputs.size, inputs.centre, frame.shape[2])
    valid = np.broadcast_to(circle, slices.shape).copy()
    slices = np.where(valid, slices, np.float32(0))
    pixel = frame.pixel_size
    meta = {
        key: value for key, value in frame.meta.items() if key not in ("angles_deg", "quantity")
    } | {
        "quantity": "attenuation coefficient",
        "units": "1/px (attenuation per voxel)",
        "rotation_centre_px": inputs.centre,
        "n_angles": int(inputs.angles_deg.size),
        "slice_spacing": None if pixel is None else {"value": pixel.y, "unit": pixel.unit},
    }
    voxel = None if pixel is None else PixelSize(pixel.x, pixel.x, pixel.unit)
    return step.apply(frame, slices, notes=notes, valid=valid, kind="image", pixel_size=voxel, meta=meta)


def fbp_slices(sinograms: np.ndarray, angles_deg: np.ndarray, centre: float, *, filter_name: FilterName = "ramp",
               size: int | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FBP of sinograms ``(nz, n_angles, n_det)`` on arrays: slices ``(nz, N, N)`` and their validity.

    Pixels outside the reconstruction circle (:func:`reconstruction_circle`) are 0 and
    not valid. :func:`fbp` is this on a projection Frame, with provenance.
    """
    if filter_name not in FILTERS:
        raise ParameterError(f"unknown filter {filter_name!r}; use one of {', '.join(FILTERS)}")
    sinograms = np.asarray(sinograms, dtype=np.float32)
    n_det = sinograms.shape[-1]
    projector = FourierProjector(n_det, angles_deg, size=size, threads=threads)
    slices = projector.backproject(sinograms, centre, filter_name=filter_name)
    valid = np.broadcast_to(reconstruction_circle(projector.size, float(centre), n_det), slices.shape).copy()
    return np.where(valid, slices, np.float32(0)), valid


def fbp(frame: Frame, *, centre: float | None = None, filter_name: FilterName = "ramp", size: int | None = None,
        threads: int | None = None) -> Frame:
    """Filtered back-projection of every detector row of an attenuation projection stack.

    Parameters
    ----------
    frame:
        Attenuation projections ``(n_angles, ny, nx)`` (line integrals, from
        :func:`asirp.tomo.minus_log`) with ``meta["angles_deg"]``.
    centre:
        Detector column of the rotation axis, px (default ``nx // 2``; see
        :func:`asirp.tomo.find_centre`).
    filter_name:
        ``ramp`` (sharpest), ``shepp-logan``, ``cosine``, ``hamming`` or ``hann`` (smoothest).
    size:
        Side of the reconstructed slices, px (default ``nx``).
    threads:
        FINUFFT threads (default: 1 for small batches, else all cores).

    Returns
    -------
    Frame
        Kind ``"image"``, stack ``(ny, size, size)``: one slice per detector row,
        attenuation per voxel (1/px); pixels outside the circle seen at every angle
        are masked. The pixel size is the detector's, when known.
    """
    step = TimedStep("fbp", centre_px=None if centre is None else float(centre), filter_name=filter_name, size=size,
                library=f"finufft {_finufft_version()}")
    inputs = _inputs(frame, centre, size)
    slices, _ = fbp_slices(inputs.sinograms, inputs.angles_deg, inputs.centre, filter_name=filter_name,
                           size=inputs.size, threads=threads)
    step.parameters["centre_px"] = inputs.centre
    return _volume(frame, slices, inputs, step, {"slices": int(slices.shape[0])})


def sirt(frame: Frame, *, iterations: int = 100, centre: float | None = None, non_negative: bool = True,
         size: int | None = None, threads: int | None = None) -> Frame:
    """SIRT: the simultaneous iterative reconstruction technique (Gilbert 1972), as ASTRA runs it.

    ``x ← x + C Aᵀ R (b - A x)`` with ``R = 1 / A 1`` (inverse ray lengths through the
    reconstruction circle) and ``C = 1 / Aᵀ 1`` (inverse number of rays per pixel),
    starting from 0, with ``x ≥ 0`` enforced after each update when ``non_negative``
    (attenuation is not negative) and ``x = 0`` outside the reconstruction circle.
    Converges to a weighted least-squares solution; early iterations are smooth,
    so the iteration count acts as a regulariser for noisy data.

    Parameters
    ----------
    frame, centre, size, threads:
        As for :func:`fbp`.
    iterations:
        Number of updates (1 to 10000).
    non_negative:
        Clip negative attenuation to 0 after each update.

    Returns
    -------
    Frame
        As :func:`fbp`; the step's notes hold the relative residual
        ``|b - A x| / |b|`` after every iteration.
    """
    check_iterations(iterations)
    step = TimedStep("sirt", iterations=int(iterations), centre_px=None if centre is None else float(centre),
                non_negative=bool(non_negative), size=size, library=f"finufft {_finufft_version()}")
    inputs = _inputs(frame, centre, size)
    projector = FourierProjector(frame.shape[2], inputs.angles_deg, size=inputs.size, threads=threads)
    circle = reconstruction_circle(inputs.size, inputs.centre, frame.shape[2]).astype(np.float32)[None]
    ray_length = projector.project(circle, inputs.centre)[0]
    row_weight = np.where(ray_length > 0.5, 1.0 / np.maximum(ray_length, 0.5), 0.0).astype(np.float32)
    rays = projector.backproject(np.ones((1, projector.n_angles, projector.n_det), np.float32), inputs.centre)[0]
    column_weight = np.where(circle[0] > 0, 1.0 / np.maximum(rays, 1e-3), 0.0).astype(np.float32)
    b = inputs.sinograms
    x = np.zeros((b.shape[0], inputs.size, inputs.size), dtype=np.float32)
    norm_b = float(np.linalg.norm(b)) or 1.0
    residuals = []
    for _ in progress(range(int(iterations)), desc="SIRT", unit="iteration"):
        residual = b - projector.project(x, inputs.centre)
        residuals.append(float(np.linalg.norm(residual)) / norm_b)
        x += column_weight * projector.backproject(residual * row_weight, inputs.centre)
        if non_negative:
            np.maximum(x, 0, out=x)
    step.parameters["centre_px"] = inputs.centre
    return _volume(frame, x, inputs, step, {"slices": int(x.shape[0]), "relative_residual": residuals})


def reconstruct(frame: Frame, algorithm: Algorithm = "fbp", **options: object) -> Frame:
    """Reconstruct with ``algorithm`` (``"fbp"`` or ``"sirt"``); options as for :func:`fbp` / :func:`sirt`."""
    if algorithm == "fbp":
        return fbp(frame, **options)  # type: ignore[arg-type]
    if algorithm == "sirt":
        return sirt(frame, **options)  # type: ignore[arg-type]
    raise ParameterError(f"unknown reconstruction algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")


def _finufft_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("finufft")
    except PackageNotFoundError:  # pragma: no cover - finufft is a dependency
        return "unknown"
