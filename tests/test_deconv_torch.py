"""The torch backend of the iterative deconvolutions (issue 18): the numpy path's results, no host reads in the loop.

Runs on torch's CPU device here; on a CUDA machine the last test repeats the comparison
on the GPU.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy.signal import fftconvolve

from asirp.errors import ParameterError
from asirp.methods.deconv import richardson_lucy
from asirp.methods.deconv._backend import CHECK_EVERY, NumpyBackend, TorchBackend, get_backend
from asirp.psf import gaussian_psf

torch = pytest.importorskip("torch")

RELATIVE = 1e-4  # the bound between the torch and numpy paths


def _counts(shape: tuple[int, int], seed: int, level: float = 10.0) -> np.ndarray:
    """Poisson counts of blurred bars and spots on a background, ``level`` x 5 counts per background pixel.

    (At a few counts per pixel, with zeros, the extrapolation of accelerated RL amplifies
    float32 round-off: both backends then differ by up to 1e-3 after a dozen iterations,
    as they did before the torch loop ran without host reads.)
    """
    rng = np.random.default_rng(seed)
    obj = np.full(shape, 5.0)
    obj[10:-10, 10:12] = 60.0
    obj[10:-10, 16:19] = 40.0
    obj[shape[0] // 2, -14] = 300.0
    obj[rng.integers(8, shape[0] - 8, 6), rng.integers(8, shape[1] - 8, 6)] = 150.0
    field = np.pad(level * obj, 6, mode="edge")
    return rng.poisson(fftconvolve(field, gaussian_psf(1.5), mode="valid")).astype(np.float32)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return _counts((64, 64), 0)


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    return np.stack([_counts((48, 56), seed, level) for seed, level in ((1, 5.0), (2, 10.0), (3, 20.0))])


VARIANTS = {
    "plain": {"iterations": 25, "accelerate": False},
    # Extrapolation amplifies float32 round-off (OpenCV's separable blur against torch's FFTs):
    # ~1e-4 after 10-12 iterations, ~1e-3 after 25 at a few counts per pixel (so before this
    # loop ran without host reads, too).
    "accelerated": {"iterations": 10, "accelerate": True},
    "damped": {"iterations": 12, "damping": 1.0},
    "RL-TV": {"iterations": 12, "tv": 0.01, "background": 1.0, "accelerate": False},
    "discrepancy": {"iterations": 200, "stop": "discrepancy", "target": 1.1},
    "split": {"iterations": 200, "stop": "split"},
}
#: TV's ∇u/|∇u| amplifies float32 round-off where the gradient is small: the backends agree
#: to ~2e-4 there (as they did before the loop ran without host reads); everything else to 1e-4.
TOLERANCE = {"RL-TV": 1e-3}


def _agree(reference, other, tolerance: float = RELATIVE) -> None:
    for ref, oth in zip(np.atleast_3d(reference.image.T).T, np.atleast_3d(other.image.T).T):
        assert np.abs(oth - ref).max() <= tolerance * float(np.abs(ref).max())
    assert other.iterations_used == reference.iterations_used
    # The discrepancy reasons quote the misfit: a float32 sum's cancellation leaves ~1e-3 of it.
    words = [re.sub(r"\d+\.\d+", "#", r) for r in (reference.stop_reason, other.stop_reason)]
    assert words[0] == words[1]
    numbers = [np.array(re.findall(r"\d+\.\d+", r), dtype=float) for r in (reference.stop_reason, other.stop_reason)]
    assert np.allclose(numbers[0], numbers[1], atol=5e-3)
    finite = np.isfinite(reference.log_likelihood)
    assert np.array_equal(finite, np.isfinite(other.log_likelihood))
    assert np.allclose(other.log_likelihood[finite], reference.log_likelihood[finite], rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_torch_cpu_equals_numpy(image, variant):
    reference = richardson_lucy(image, gaussian_psf(1.5), backend="numpy", **VARIANTS[variant])
    other = richardson_lucy(image, gaussian_psf(1.5), backend="torch", device="cpu", **VARIANTS[variant])
    assert other.info["backend"] == "torch" and other.info["device"] == "cpu"
    _agree(reference, other, TOLERANCE.get(variant, RELATIVE))


@pytest.mark.parametrize("variant", ["accelerated", "discrepancy", "split"])
def test_torch_cpu_equals_numpy_on_a_stack(stack, variant):
    """Frames stop at their own iterations; the torch loop reads the device only every few iterations."""
    reference = richardson_lucy(stack, gaussian_psf(1.5), backend="numpy", **VARIANTS[variant])
    other = richardson_lucy(stack, gaussian_psf(1.5), backend="torch", device="cpu", **VARIANTS[variant])
    _agree(reference, other)
    if variant != "accelerated":
        assert len(set(reference.iterations_used)) > 1, "the frames should stop at different iterations"


class _SyncCounter:
    """Counts every way a tensor's value can reach the host (each a synchronisation on a GPU)."""

    NAMES = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__")

    def __init__(self, monkeypatch):
        self.calls: dict[str, int] = dict.fromkeys(self.NAMES, 0)
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.mark.parametrize(
    "settings, iterations",
    [
        ({"accelerate": False, "stop": "fixed"}, 50),
        ({"accelerate": True, "stop": "fixed"}, 50),
        ({"accelerate": True, "stop": "discrepancy", "target": 1e-6}, 50),  # never reached: runs all 50
    ],
    ids=["plain", "accelerated", "discrepancy"],
)
def test_torch_loop_reads_the_device_every_check_interval_only(image, monkeypatch, settings, iterations):
    """Host reads of a whole run: ceil(iterations / CHECK_EVERY) stopping checks plus a few at set-up and end."""
    psf = gaussian_psf(1.5)
    richardson_lucy(image, psf, iterations=2, backend="torch", device="cpu")  # imports and first-call caches
    counter = _SyncCounter(monkeypatch)
    result = richardson_lucy(image, psf, iterations=iterations, backend="torch", device="cpu", **settings)
    assert result.iterations_used == iterations
    # Each read is cpu() then numpy(): two calls. Set-up reads the data's scale (1), the end the
    # image and the trace (2); a data-dependent rule adds its checks and, at the end, the stop
    # iterations, the done flags and its own findings (4).
    assert counter.calls["item"] == counter.calls["__bool__"] == counter.calls["__float__"] == 0, counter.calls
    if settings["stop"] == "fixed":
        assert counter.total <= 2 * 3, counter.calls
    else:
        assert counter.total <= 2 * (math.ceil(iterations / CHECK_EVERY) + 3 + 4), counter.calls


def test_backend_counts_its_host_reads(image):
    backend = TorchBackend("cpu")
    assert backend.check_every == CHECK_EVERY > 1 and NumpyBackend.check_every == 1
    before = backend.host_syncs
    backend.to_host(backend.frame_sum(backend.asarray(image[None])))
    assert backend.host_syncs == before + 1


def test_backend_and_device_choice():
    assert get_backend("numpy").name == "numpy"
    assert get_backend("auto", "cpu").name == "numpy"  # numpy is the faster CPU path
    torch_cpu = get_backend("torch", "cpu")
    assert torch_cpu.name == "torch" and torch_cpu.device.type == "cpu"
    with pytest.raises(ParameterError, match="numpy"):
        get_backend("numpy", "cuda")
    with pytest.raises(ParameterError, match="unknown device"):
        get_backend("torch", "gpu")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        assert get_backend("auto").name == "numpy"
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            get_backend("torch", "cuda")
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            get_backend("auto", "cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("variant", ["plain", "accelerated", "discrepancy", "split"])
def test_torch_cuda_equals_numpy(image, stack, variant):
    for data in (image, stack):
        reference = richardson_lucy(data, gaussian_psf(1.5), backend="numpy", **VARIANTS[variant])
        other = richardson_lucy(data, gaussian_psf(1.5), backend="torch", device="cuda", **VARIANTS[variant])
        assert other.info["device"].startswith("cuda")
        _agree(reference, other, TOLERANCE.get(variant, RELATIVE))
