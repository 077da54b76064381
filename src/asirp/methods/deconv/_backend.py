"""Array backends for the iterative deconvolutions: numpy/scipy.fft or torch.

The iterations are written once against the small set of primitives below, so the
same code runs on the CPU with multithreaded ``scipy.fft`` real transforms or on a
GPU with ``torch.fft``. Everything is float32 (complex64 in Fourier space): the
precision of counting data and twice the speed of float64. Reductions (likelihoods,
inner products) accumulate in float64 and come back as numpy arrays, one value per
frame of the batch.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import sys
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.linalg.blas
from threadpoolctl import ThreadpoolController

from ...errors import ParameterError

BackendName = Literal["auto", "numpy", "torch"]


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's native thread pools (found once: a few ms; limiting them then costs ~20 µs)."""
    return ThreadpoolController()


class NumpyBackend:
    """numpy arrays, ``scipy.fft`` real FFTs on all cores (``workers=-1``)."""

    name = "numpy"

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

    def rfft2(self, array: np.ndarray) -> np.ndarray:
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
        return np.sum(a, axis=(-2, -1), dtype=np.float64)

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
    """torch tensors on ``device`` (a CUDA GPU when present); ``torch.fft`` real FFTs."""

    name = "torch"

    def __init__(self, device: str | None = None):
        import torch

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def iteration_threads(self) -> contextlib.AbstractContextManager[Any]:
        """torch manages its own threads."""
        return contextlib.nullcontext()

    def asarray(self, array: Any) -> Any:
        if isinstance(array, self.torch.Tensor):
            return array.to(device=self.device, dtype=self.torch.float32).contiguous()
        return self.torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=self.device)

    def ascomplex(self, array: np.ndarray) -> Any:
        return self.torch.as_tensor(np.ascontiguousarray(array, dtype=np.complex64), device=self.device)

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.detach().cpu().numpy()

    def rfft2(self, array: Any) -> Any:
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

    def frame_sum(self, a: Any) -> np.ndarray:
        return a.sum(dim=(-2, -1), dtype=self.torch.float64).cpu().numpy()

    def frame_dot(self, a: Any, b: Any) -> np.ndarray:
        """Inner product over the two image axes, one value per frame: a float32 batched
        matrix product (BLAS, as :meth:`NumpyBackend.frame_dot`), ~10x faster than
        converting both operands to float64."""
        n = a.shape[0]
        return self.torch.bmm(a.reshape(n, 1, -1), b.reshape(n, -1, 1)).reshape(n).double().cpu().numpy()

    def combine(self, terms: list[tuple[np.ndarray, Any]], out: Any) -> Any:
        def weights(coefficients: np.ndarray) -> Any:
            return self.torch.as_tensor(np.asarray(coefficients, dtype=np.float32), device=self.device)[:, None, None]

        (first_coefficients, first), *rest = terms
        self.torch.mul(first, weights(first_coefficients), out=out)
        for coefficients, array in rest:
            out.addcmul_(array, weights(coefficients))
        return out

    def abs(self, a: Any, out: Any = None) -> Any:
        return self.torch.abs(a, out=out) if out is not None else self.torch.abs(a)



Backend = NumpyBackend | TorchBackend


def _cuda_present() -> bool:
    """Whether torch can use a CUDA GPU, without paying torch's import time (~1 s) on
    machines that have no NVIDIA device at all."""
    if "torch" not in sys.modules:
        if importlib.util.find_spec("torch") is None:
            return False
        if sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*"):
            return False
        if sys.platform == "darwin":
            return False
    import torch

    return bool(torch.cuda.is_available())


def get_backend(name: BackendName = "auto") -> Backend:
    """The array backend ``name``; ``"auto"`` is torch on a CUDA GPU when one is present, numpy otherwise."""
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        try:
            return TorchBackend()
        except ImportError:
            raise ParameterError("backend='torch' needs PyTorch installed") from None
    if name == "auto":
        return TorchBackend("cuda") if _cuda_present() else NumpyBackend()
    raise ParameterError(f"unknown backend {name!r}; use 'auto', 'numpy' or 'torch'")
