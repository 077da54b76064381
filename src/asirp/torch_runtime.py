"""The one torch runtime of asirp: device choice, CPU threads, inference dtype, networks on a device.

Every torch method (the symmetry denoisers, the super-resolution networks, Noise2Inverse)
and the torch backend of the iterative deconvolutions choose where they compute here:

* :data:`DEVICES` / :data:`DeviceName`: ``"auto"`` (a CUDA GPU when torch sees one, else
  the CPU), ``"cpu"`` or ``"cuda"``; the ``device`` parameter of every torch method
  (:func:`device_field`) and ``asirp train ... --device``.
* :func:`device`: the ``torch.device`` for a name; ``"cuda"`` without a GPU is a
  :class:`~asirp.errors.ParameterError`, never a silent fall back to the CPU.
* :func:`configure_threads`: the CPU threads torch may use, from ``ASIRP_THREADS`` when set
  (a beamline computer shared with the acquisition keeps cores free that way).
* Precision: float32 on every device. On a GPU, :func:`device` turns TensorFloat-32 off
  for convolutions and matrix products (cuDNN allows it by default: ~1e-3 relative error
  per layer), so a network gives the CPU's result within 1e-3; bfloat16 (4e-3) would not.
* :func:`module_on`: a network on a device, moved once and reused (the cached network
  of a weights file stays where it was loaded).
* :func:`to_numpy`: a tensor back on the host as a float32 numpy array.

This module imports torch only inside its functions: the parameter models and the
``asirp`` parser use its names without paying torch's import time.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .errors import ParameterError

if TYPE_CHECKING:
    import numpy as np
    import torch

DeviceName = Literal["auto", "cpu", "cuda"]
#: Any network class: :func:`module_on` gives back the class it was given.
_Net = TypeVar("_Net", bound="torch.nn.Module")
#: The device names every torch method and ``asirp train`` accept.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
#: Description of the ``device`` parameter (the same words in every parameter model).
DEVICE_DESCRIPTION = "compute device: auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda"


def device_field() -> Any:
    """The pydantic field of a method's ``device`` parameter (default ``"auto"``)."""
    from pydantic import Field

    return Field("auto", description=DEVICE_DESCRIPTION)


def cuda_present() -> bool:
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


def configure_threads() -> int:
    """Apply ``ASIRP_THREADS`` (a positive integer) to torch; returns torch's CPU thread count."""
    import torch

    value = os.environ.get("ASIRP_THREADS", "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ParameterError(f"ASIRP_THREADS must be a positive integer, got {value!r}")
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return torch.get_num_threads()


def check_name(name: str) -> str:
    """``name`` if it is one of :data:`DEVICES`, else a :class:`ParameterError`."""
    if name not in DEVICES:
        raise ParameterError(f"unknown device {name!r}; use {', '.join(DEVICES)}")
    return name


def device(name: str = "auto") -> torch.device:
    """The torch device to compute on (threads configured): ``"auto"`` picks CUDA when available.

    Raises
    ------
    ParameterError
        ``"cuda"`` asked for on a machine where torch sees no CUDA GPU, or an unknown name.
    """
    import torch

    check_name(name)
    configure_threads()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    if name == "cuda":
        _full_float32(torch)
    return torch.device(name)


def _full_float32(torch: Any) -> None:
    """No TensorFloat-32 in convolutions and matrix products: GPU results within 1e-3 of the CPU's."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


#: Copies of networks moved to another device, per original network and device.
_MOVED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def module_device(net: torch.nn.Module) -> torch.device:
    """The device of a network's parameters (the CPU for a network without any)."""
    import torch

    for parameter in net.parameters():
        return parameter.device
    return torch.device("cpu")


def module_on(net: _Net, on: torch.device) -> _Net:
    """``net`` itself when it is on ``on``, else a copy there (made once per network and device).

    ``nn.Module.to`` moves a network in place; the networks of weights files are cached
    and shared, so they are copied rather than moved. The copy keeps the original's
    training mode and ``requires_grad`` flags.
    """
    import copy

    if module_device(net) == on:
        return net
    copies = _MOVED.setdefault(net, {})
    key = str(on)
    if key not in copies:
        copies[key] = copy.deepcopy(net).to(on)
    return copies[key]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor on the host as a float32 numpy array (detached; one copy from a GPU)."""
    import torch

    return tensor.detach().to("cpu", torch.float32).numpy()
