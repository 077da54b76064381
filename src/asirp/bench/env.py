"""The machine and software a benchmark ran on, recorded with its figures.

Timings mean nothing without the CPU, the thread count and the library versions that
produced them; :func:`environment` collects them into a flat, JSON-able dictionary.
"""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__

#: Distributions whose versions shape the timings, by the key they get in the record.
_LIBRARIES: dict[str, str] = {
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "torch": "torch",
    "pyFAI": "pyFAI",
    "h5py": "h5py",
    "hdf5plugin": "hdf5plugin",
    "tifffile": "tifffile",
}


def _cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` is empty or generic on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _torch_facts() -> dict[str, Any]:
    """Torch threads and CUDA, or Nones when torch is not installed."""
    try:
        import torch
    except ImportError:
        return {"torch_threads": None, "cuda": False, "cuda_device": None}
    cuda = bool(torch.cuda.is_available())
    return {
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
    }


def environment() -> dict[str, Any]:
    """Describe this machine and the library versions, for a benchmark report.

    Returns
    -------
    dict
        Flat mapping: ``python``, ``platform``, ``cpu`` (model name), ``n_cpus``
        (logical CPUs of the machine), ``cpus_available`` (those this process may run
        on), ``hostname``, ``asirp`` and the versions of numpy, scipy, skimage, torch,
        pyFAI, h5py, hdf5plugin and tifffile (None when not installed),
        ``torch_threads``, ``cuda`` (bool) and ``cuda_device`` (name or None).
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "n_cpus": os.cpu_count(),
        "cpus_available": available,
        "hostname": socket.gethostname(),
        "asirp": __version__,
    }
    record.update({key: _version(distribution) for key, distribution in _LIBRARIES.items()})
    record.update(_torch_facts())
    return record
