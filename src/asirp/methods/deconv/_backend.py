"""Array backends for the iterative deconvolutions: numpy/scipy.fft or torch.

The iterations are written once against the small set of primitives below, so the
same code runs on the CPU with multithreaded ``scipy.fft`` real transforms or on a
GPU with ``torch.fft``. Everything is float32 (complex64 in Fourier space): the
precision of counting data and twice the speed of float64. Reductions (likelihoods,
inner products) accumulate in float64 and give *per-frame vectors*, one value per frame
of the batch, that stay on the backend: numpy arrays, or float64 tensors on the torch
device. Vectors reach the host only through :meth:`to_host`.

On a GPU a host synchronisation costs more than an iteration's arithmetic at small
sizes and stalls the queue of work at any size, so the torch backend never reads a
value back inside the iterations: the loops check their stopping rules on the host
every :attr:`TorchBackend.check_every` iterations (:data:`CHECK_EVERY`) and count the
reads in :attr:`TorchBackend.host_syncs`. The numpy backend checks every iteration (its
values are on the host already).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.linalg.blas
from scipy.special import xlogy
from threadpoolctl import ThreadpoolController

from ...errors import ParameterError
from ...torch_runtime import DeviceName, check_name, cuda_present

BackendName = Literal["auto", "numpy", "torch"]
#: Iterations between two host reads of the torch backend's stopping state: a frame's
#: stop iteration and image are still exact (frozen on the device when its rule fires);
#: the loop may run up to ``CHECK_EVERY - 1`` iterations past the last frame's stop.
CHECK_EVERY = 10


def poisson_constant(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-frame ``Σ w·(y log y − y)``: the saturated Poisson log-likelihood, less ``Σ log y!``.

    The log-likelihood ``Σ w·(y log μ − μ)`` of an estimate is this constant minus half
    its deviance. The data-only term ``−Σ log y!`` is left out of every reported
    log-likelihood: it does not depend on the estimate, and computing it costs more
    than an iteration on large images.
    """
    y = np.where(valid, data, 0).astype(np.float32)
    # xlogy: 0·log 0 = 0 in one pass; float32 terms (1e-7 relative) summed in float64.
    terms: np.ndarray = xlogy(y, y)
    return terms.sum(axis=(-2, -1), dtype=np.float64) - y.sum(axis=(-2, -1), dtype=np.float64)


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's native thread pools (found once: a few ms; limiting them then costs ~20 µs)."""
    return ThreadpoolController()


class NumpyBackend:
    """numpy arrays, ``scipy.fft`` real FFTs on all cores (``workers=-1``)."""

    name = "numpy"
    #: Stopping rules are checked after every iteration (the values are on the host).
    check_every = 1

    def iteration_threads(self) -> contextlib.AbstractContextManager[Any]:
        """Run the iterations with single-threaded BLAS.

        The loops call BLAS (dot products, ``saxpy``) between multithreaded FFTs. OpenBLAS's
        threads spin for a while after each call and take the cores from the FFT
        workers: 30-50 % slower iterations on a 2-core machine. The BLAS calls are
        memory-bound, so one thread loses nothing.
        """
        return _thread_pools().limit(limits=1, user_api="blas")

    def asarray(self, array: Any) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=np.float32)

    def ascomplex(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=np.complex64)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def to_host(self, vector: np.ndarray) -> np.ndarray:
        """A per-frame vector (or any backend array) as a numpy array."""
        return np.asarray(vector)

    def vector(self, values: Any, dtype: Any = np.float64) -> np.ndarray:
        """A per-frame vector from host values."""
        return np.array(values, dtype=dtype)

    def full(self, shape: tuple[int, ...], value: float, dtype: Any = np.float64) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    def pad(self, stack: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
        """Zero padding of ``(n, ny, nx)`` by ``pads`` (as :func:`numpy.pad`'s), float32."""
        return np.pad(np.asarray(stack, dtype=np.float32), pads)

    def poisson_constant(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Per-frame ``Σ w·(y log y − y)`` (:func:`poisson_constant`)."""
        return poisson_constant(data, valid)

    def mean_abs(self, data: np.ndarray, valid: np.ndarray) -> float:
        """Mean ``|value|`` over the valid pixels (``valid`` > 0) of the whole batch."""
        return float(np.abs(data[valid > 0]).mean())

    def frame_means(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Mean of the valid pixels (``valid`` > 0) of each frame."""
        return np.array([frame[mask > 0].mean() for frame, mask in zip(data, valid)])

    def unit_interval(self, vector: np.ndarray) -> np.ndarray:
        """NaN to 0, then clipped to [0, 1]."""
        return np.clip(np.nan_to_num(vector), 0.0, 1.0)

    def where(self, condition: Any, a: Any, b: Any) -> np.ndarray:
        return np.where(condition, a, b)

    def concatenate(self, vectors: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(vectors)

    def freeze(self, images: np.ndarray, current: np.ndarray, frames: np.ndarray) -> None:
        """``images[i] = current[i]`` for the frames flagged in the per-frame bool vector ``frames``."""
        if frames.any():
            images[frames] = current[frames]

    def rfft2(self, array: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Real FFT of the last two axes (``out`` is for the torch backend's reuse; ignored here)."""
        return scipy.fft.rfft2(array, workers=-1)

    def irfft2(self, spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        # overwrite_x: the spectrum is a temporary; saves one complex copy per call.
        return scipy.fft.irfft2(spectrum, s=shape, workers=-1, overwrite_x=True)

    def empty_like(self, array: np.ndarray) -> np.ndarray:
        return np.empty_like(array)

    def conj(self, spectrum: np.ndarray) -> np.ndarray:
        return np.conj(spectrum)

    def sum_frames(self, a: np.ndarray) -> np.ndarray:
        """Sum over the stack axis, keeping it: ``(n, ny, nx) -> (1, ny, nx)``."""
        return a.sum(axis=0, keepdims=True)

    def mul(self, a: Any, b: Any, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(a, b, out=out)

    def div(self, a: Any, b: Any, out: np.ndarray | None = None) -> np.ndarray:
        return np.divide(a, b, out=out)

    def add(self, a: Any, b: Any, out: np.ndarray | None = None) -> np.ndarray:
        return np.add(a, b, out=out)

    def sub(self, a: Any, b: Any, out: np.ndarray | None = None) -> np.ndarray:
        return np.subtract(a, b, out=out)

    def clip_min(self, a: np.ndarray, value: float, out: np.ndarray | None = None) -> np.ndarray:
        return np.maximum(a, np.float32(value), out=out)

    def clip_max(self, a: np.ndarray, value: float, out: np.ndarray | None = None) -> np.ndarray:
        return np.minimum(a, np.float32(value), out=out)

    def log(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.log(a, out=out)

    def sqrt(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(a)

    def roll(self, a: np.ndarray, shift: int, axis: int) -> np.ndarray:
        return np.roll(a, shift, axis=axis)

    def frame_sum(self, a: np.ndarray) -> np.ndarray:
        """Sum over the two image axes, float64, one value per frame."""
        return a.sum(axis=(-2, -1), dtype=np.float64)

    def frame_dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Inner product over the two image axes, one value per frame.

        float32 BLAS, 5x faster than a float64 sum: ~1e-6 relative error, enough for
        the acceleration factor and the likelihood trace.
        """
        return np.array([float(np.dot(x.ravel(), y.ravel())) for x, y in zip(a, b)])

    def combine(self, terms: list[tuple[np.ndarray, np.ndarray]], out: np.ndarray) -> np.ndarray:
        """``out = Σ c·a`` over ``(c, a)`` terms, ``c`` one coefficient per frame.

        One multiply, then BLAS ``saxpy`` in place per further term: one pass over
        memory per term, against two or three for numpy's ``out += c[:, None, None] * a``.
        """
        (first_coefficients, first), *rest = terms
        np.multiply(first, np.asarray(first_coefficients, dtype=np.float32)[:, None, None], out=out)
        for coefficients, array in rest:
            for c, frame, out_frame in zip(coefficients, array, out):
                scipy.linalg.blas.saxpy(frame.ravel(), out_frame.ravel(), a=float(c))
        return out

    def abs(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.abs(a, out=out)



class TorchBackend:
    """torch tensors on ``device`` (:func:`asirp.torch_runtime.device`: a CUDA GPU when present); ``torch.fft`` real FFTs.

    Per-frame vectors (reductions) are float64 tensors on the device; nothing is read back
    to the host except through :meth:`to_host` and :meth:`to_numpy`, which count the reads
    in :attr:`host_syncs`.
    """

    name = "torch"
    #: Iterations between two host reads of the stopping state (:data:`CHECK_EVERY`).
    check_every = CHECK_EVERY

    def __init__(self, device: DeviceName = "auto"):
        import torch

        from ...torch_runtime import device as torch_device

        self.torch = torch
        self.device = torch_device(device)
        #: Reads of device values by the host (each one waits for the queued work on a GPU).
        self.host_syncs = 0

    def iteration_threads(self) -> contextlib.AbstractContextManager[Any]:
        """torch manages its own threads."""
        return contextlib.nullcontext()

    def asarray(self, array: Any) -> Any:
        """A float32 tensor on the device; host arrays go up once, through pinned memory to a GPU."""
        if isinstance(array, self.torch.Tensor):
            return array.to(device=self.device, dtype=self.torch.float32).contiguous()
        host = self.torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if self.device.type == "cuda":
            return host.pin_memory().to(self.device, non_blocking=True)
        return host.to(self.device)

    def ascomplex(self, array: np.ndarray) -> Any:
        return self.torch.as_tensor(np.ascontiguousarray(array, dtype=np.complex64), device=self.device)

    def to_numpy(self, array: Any) -> np.ndarray:
        self.host_syncs += 1
        return array.detach().cpu().numpy()

    def to_host(self, vector: Any) -> np.ndarray:
        """A per-frame vector (or any tensor) as a numpy array: one host read."""
        return self.to_numpy(vector)

    def vector(self, values: Any, dtype: Any = np.float64) -> Any:
        """A per-frame vector on the device from host values (a copy up, no read back)."""
        return self.torch.as_tensor(np.array(values, dtype=dtype), device=self.device)

    def full(self, shape: tuple[int, ...], value: float, dtype: Any = np.float64) -> Any:
        return self.torch.full(shape, value, dtype=self.torch.from_numpy(np.zeros(0, dtype)).dtype, device=self.device)

    def pad(self, stack: Any, pads: tuple[tuple[int, int], ...]) -> Any:
        """Zero padding of ``(n, ny, nx)`` by ``pads`` (as :func:`numpy.pad`'s), on the device."""
        (_, _), (top, bottom), (left, right) = pads
        return self.torch.nn.functional.pad(self.asarray(stack), (left, right, top, bottom))

    def poisson_constant(self, data: Any, valid: Any) -> Any:
        """Per-frame ``Σ w·(y log y − y)`` on the device (float32 terms summed in float64)."""
        y = self.torch.where(valid.bool(), data, 0.0)
        xlogx = self.torch.special.xlogy(y, y)
        return xlogx.sum(dim=(-2, -1), dtype=self.torch.float64) - y.sum(dim=(-2, -1), dtype=self.torch.float64)

    def mean_abs(self, data: Any, valid: Any) -> float:
        """Mean ``|value|`` over the valid pixels of the whole batch (one host read: set-up only)."""
        total = (data.abs() * valid).sum(dtype=self.torch.float64) / valid.sum(dtype=self.torch.float64)
        return float(self.to_host(total))

    def frame_means(self, data: Any, valid: Any) -> Any:
        """Mean of the valid pixels of each frame, on the device."""
        return self.frame_sum(data * valid) / self.frame_sum(valid)

    def unit_interval(self, vector: Any) -> Any:
        """NaN to 0, then clipped to [0, 1]."""
        return self.torch.nan_to_num(vector).clamp_(0.0, 1.0)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self.torch.where(condition, a, b)

    def concatenate(self, vectors: list[Any]) -> Any:
        return self.torch.cat(vectors)

    def freeze(self, images: Any, current: Any, frames: Any) -> None:
        """``images[i] = current[i]`` for the frames flagged in ``frames``, without a host read."""
        self.torch.where(frames[:, None, None], current, images, out=images)

    def rfft2(self, array: Any, out: Any = None) -> Any:
        """Real FFT of the last two axes, into ``out`` (a reused spectrum) when given."""
        if out is not None:
            return self.torch.fft.rfft2(array, out=out)
        return self.torch.fft.rfft2(array)

    def irfft2(self, spectrum: Any, shape: tuple[int, int]) -> Any:
        return self.torch.fft.irfft2(spectrum, s=shape)

    def empty_like(self, array: Any) -> Any:
        return self.torch.empty_like(array)

    def conj(self, spectrum: Any) -> Any:
        return self.torch.conj(spectrum).resolve_conj()

    def sum_frames(self, a: Any) -> Any:
        return a.sum(dim=0, keepdim=True)

    def mul(self, a: Any, b: Any, out: Any = None) -> Any:
        return self.torch.mul(a, b, out=out) if out is not None else self.torch.mul(a, b)

    def div(self, a: Any, b: Any, out: Any = None) -> Any:
        return self.torch.div(a, b, out=out) if out is not None else self.torch.div(a, b)

    def add(self, a: Any, b: Any, out: Any = None) -> Any:
        return self.torch.add(a, b, out=out) if out is not None else self.torch.add(a, b)

    def sub(self, a: Any, b: Any, out: Any = None) -> Any:
        return self.torch.sub(a, b, out=out) if out is not None else self.torch.sub(a, b)

    def clip_min(self, a: Any, value: float, out: Any = None) -> Any:
        return self.torch.clamp(a, min=float(value), out=out) if out is not None else self.torch.clamp(a, min=float(value))

    def clip_max(self, a: Any, value: float, out: Any = None) -> Any:
        return self.torch.clamp(a, max=float(value), out=out) if out is not None else self.torch.clamp(a, max=float(value))

    def log(self, a: Any, out: Any = None) -> Any:
        return self.torch.log(a, out=out) if out is not None else self.torch.log(a)

    def sqrt(self, a: Any) -> Any:
        return self.torch.sqrt(a)

    def roll(self, a: Any, shift: int, axis: int) -> Any:
        return self.torch.roll(a, shifts=shift, dims=axis)

    def frame_sum(self, a: Any) -> Any:
        """Sum over the two image axes, float64, one value per frame (on the device)."""
        return a.sum(dim=(-2, -1), dtype=self.torch.float64)

    def frame_dot(self, a: Any, b: Any) -> Any:
        """Inner product over the two image axes, one float64 value per frame, on the device: a
        float32 batched matrix product (BLAS, as :meth:`NumpyBackend.frame_dot`), ~10x faster
        than converting both operands to float64."""
        n = a.shape[0]
        return self.torch.bmm(a.reshape(n, 1, -1), b.reshape(n, -1, 1)).reshape(n).double()

    def combine(self, terms: list[tuple[Any, Any]], out: Any) -> Any:
        """``out = Σ c·a`` over ``(c, a)`` terms, ``c`` a per-frame vector (on the device or the host)."""

        def weights(coefficients: Any) -> Any:
            if isinstance(coefficients, self.torch.Tensor):
                return coefficients.to(self.torch.float32)[:, None, None]
            return self.torch.as_tensor(np.asarray(coefficients, dtype=np.float32), device=self.device)[:, None, None]

        (first_coefficients, first), *rest = terms
        self.torch.mul(first, weights(first_coefficients), out=out)
        for coefficients, array in rest:
            out.addcmul_(array, weights(coefficients))
        return out

    def abs(self, a: Any, out: Any = None) -> Any:
        return self.torch.abs(a, out=out) if out is not None else self.torch.abs(a)



Backend = NumpyBackend | TorchBackend


def get_backend(name: BackendName = "auto", device: DeviceName = "auto") -> Backend:
    """The array backend ``name`` on ``device``.

    * ``"numpy"``: the CPU (``device="cuda"`` is refused: numpy has no GPU);
    * ``"torch"``: torch on ``device`` (``"auto"``: a CUDA GPU when present, else the CPU);
    * ``"auto"``: torch on a CUDA GPU when one is present (or ``device="cuda"``), numpy
      otherwise (or with ``device="cpu"``: numpy is the faster CPU path).

    Raises
    ------
    ParameterError
        Unknown names, ``device="cuda"`` without a CUDA GPU (or with ``backend="numpy"``),
        or ``backend="torch"`` without PyTorch.
    """
    check_name(device)
    if name == "numpy":
        if device == "cuda":
            raise ParameterError("backend='numpy' computes on the CPU; use backend='torch' (or 'auto') with device='cuda'")
        return NumpyBackend()
    if name == "torch":
        try:
            return TorchBackend(device)
        except ImportError:
            raise ParameterError("backend='torch' needs PyTorch installed") from None
    if name == "auto":
        if device == "cuda" or (device == "auto" and cuda_present()):
            return TorchBackend("cuda")
        return NumpyBackend()
    raise ParameterError(f"unknown backend {name!r}; use 'auto', 'numpy' or 'torch'")
