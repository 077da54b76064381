"""The pretraining corpus of FCA-SR: sharp X-ray-like images made here, offline.

No X-ray super-resolution data set can be downloaded at a beamline (nor here), so the
corpus is built from what asirp and scikit-image ship:

* **micro-XRF maps**: copper mesh grids AG175/AG300 (:func:`asirp.synth.mesh_grid_map`)
  at random steps (4-25 µm, i.e. 6-36 px per pitch), rotations and contrasts; and
  "biological" element maps: smooth cell-like compartments with walls, a seed-like
  outline and small bright inclusions;
* **tomography**: parallel-beam projections and slices of random cathode-particle
  phantoms (:func:`asirp.synth.tomo_phantom` / :func:`asirp.synth.tomo_projections`)
  with seeds from :data:`CORPUS_SEED` on, far from the seeds the benchmarks use
  (below 1000);
* **micrographs and textures** bundled in the scikit-image wheel (no network needed):
  ``cell``, ``microaneurysms``, the IHC stain channels, ``retina``, ``moon``, ``coins``,
  ``hubble_deep_field``, ``camera``, ``brick``, ``gravel``, ``grass``, ``text``;
* **detector frames**: powder, textured, single-crystal and SAXS patterns
  (:func:`asirp.synth.diffraction_frame`), gaps filled.

Every image is the *sharp, noise-free* object, scaled by its 99.9th percentile so
that 1 is the bright end; the degradation (beam blur, area averaging, noise) is drawn
afresh for every training crop (:mod:`asirp.methods.sr.training`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ... import synth
from ...filters import fill_masked
from ...progress import progress

#: First seed of the corpus generators; the benchmark suites use seeds below 1000.
CORPUS_SEED = 10_000


def _unit(image: np.ndarray) -> np.ndarray:
    """float32 image scaled so its 99.9th percentile is 1 (non-negative images stay so)."""
    image = np.asarray(image, dtype=np.float64)
    image = image - min(0.0, float(image.min()))
    top = float(np.percentile(image, 99.9))
    return (image / (top if top > 0 else 1.0)).astype(np.float32)


def mesh_maps(rng: np.random.Generator, count: int, side: int) -> list[np.ndarray]:
    """Sharp Cu Kα maps of the AG175/AG300 grids at random steps, rotations and contrasts."""
    images = []
    for _ in range(count):
        result = synth.mesh_grid_map(
            str(rng.choice(["AG175", "AG300"])),
            shape=(side, side),
            step_um=float(rng.uniform(4.0, 25.0)),
            beam_fwhm_um=0.0,
            counts=100.0,
            background=float(rng.uniform(0.0, 40.0)),
            rotation_deg=float(rng.uniform(0.0, 90.0)),
            seed=int(rng.integers(CORPUS_SEED, 2**31)),
            supersample=4,
        )
        images.append(_unit(result.truth.data))
    return images


def biological_map(rng: np.random.Generator, side: int) -> np.ndarray:
    """A smooth biological element map: a seed-like body of cells with walls and bright inclusions."""
    yy, xx = np.mgrid[:side, :side] / side - 0.5
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    outline = np.hypot(u / rng.uniform(0.3, 0.6), v / rng.uniform(0.25, 0.5))
    body = 1.0 / (1.0 + np.exp((outline - 1.0) * rng.uniform(20, 80)))  # soft-edged seed
    # Cells: the ridges between the minima of smoothed noise are cell walls.
    field = ndimage.gaussian_filter(rng.normal(size=(side, side)), rng.uniform(2.0, 8.0))
    field /= field.std() + 1e-12
    walls = np.exp(-((ndimage.gaussian_gradient_magnitude(field, 1.0) / rng.uniform(0.2, 0.6)) ** 2))
    texture = 0.5 + 0.5 * np.tanh(field * rng.uniform(0.5, 3.0))
    image = body * (rng.uniform(0.2, 0.6) + 0.4 * texture + rng.uniform(0.0, 0.8) * (1 - walls))
    spots = np.zeros((side, side))
    n = int(rng.integers(0, 40))
    spots[rng.integers(0, side, n), rng.integers(0, side, n)] = rng.uniform(2, 20, n)
    image = image + ndimage.gaussian_filter(spots, rng.uniform(0.5, 1.5)) * body
    return _unit(image + rng.uniform(0.0, 0.1))


def tomography(rng: np.random.Generator, count: int, size: int) -> list[np.ndarray]:
    """Projections (transmission) and slices (attenuation) of random phantoms, ``count`` phantoms."""
    images: list[np.ndarray] = []
    for _ in range(count):
        seed = int(rng.integers(CORPUS_SEED, 2**31))
        volume = synth.tomo_phantom(size, n_slices=size, seed=seed, max_line_integral=float(rng.uniform(0.5, 3.0)))
        result = synth.tomo_projections(volume, n_angles=3, beam_fwhm_px=0.0, photons=1000.0, seed=seed)
        images.extend(_unit(projection) for projection in result.truth.data)
        images.extend(_unit(volume[z]) for z in rng.choice(size, 2, replace=False))
    return images


def micrographs() -> list[np.ndarray]:
    """Grey micrographs and textures bundled in scikit-image (no download)."""
    from skimage import color, data

    greys: list[np.ndarray] = [data.cell(), data.microaneurysms(), data.moon(), data.coins(), data.camera()]
    greys += [data.brick(), data.gravel(), data.grass(), data.text()]
    stain = color.rgb2hed(data.immunohistochemistry())
    greys += [stain[..., 0], stain[..., 2]]
    greys.append(data.retina()[..., 1])
    greys.append(color.rgb2gray(data.hubble_deep_field()))
    return [_unit(image) for image in greys]


def detector_frames(rng: np.random.Generator, count: int, side: int) -> list[np.ndarray]:
    """Noise-free diffraction and SAXS frames with their gaps filled."""
    patterns = ["powder", "textured", "single_crystal", "saxs", "saxs_fibre"]
    images = []
    for i in range(count):
        result = synth.diffraction_frame(
            patterns[i % len(patterns)], shape=(side, side), dose=100.0, seed=int(rng.integers(CORPUS_SEED, 2**31))
        )
        images.append(_unit(fill_masked(result.truth.data, result.truth.valid)))
    return images


def pretraining_corpus(seed: int = CORPUS_SEED, *, size: str = "full") -> list[np.ndarray]:
    """All corpus images (float32, 1 = bright end), deterministic for a seed.

    ``size="full"``: ~160 images of 128-1400 px (about ten seconds to make);
    ``"tiny"``: a handful of small ones, for tests.
    """
    rng = np.random.default_rng(seed)
    if size == "tiny":
        makers: list[Callable[[], list[np.ndarray]]] = [
            lambda: mesh_maps(rng, 1, 64),
            lambda: [biological_map(rng, 64)],
            lambda: tomography(rng, 1, 32),
        ]
    else:
        makers = [
            lambda: mesh_maps(rng, 24, 256),
            lambda: [biological_map(rng, 256) for _ in range(24)],
            lambda: tomography(rng, 12, 128),
            lambda: tomography(rng, 6, 192),
            micrographs,
            lambda: detector_frames(rng, 10, 256),
        ]
    images: list[np.ndarray] = []
    for make in progress(makers, desc="corpus", unit="group"):
        images.extend(make())
    return images
