"""One torch runtime (issue 18): the ``device`` parameter of every torch method.

Here (no GPU): ``auto`` is the CPU, ``cpu`` gives the same result, ``cuda`` is a clear
:class:`ParameterError`. On a CUDA machine the last tests run every torch method on the GPU
and compare with the CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import asirp
from asirp.bench.suites.gpu_suite import TORCH_METHODS, agreement_cases
from asirp.errors import ParameterError
from asirp.frame import Frame
from asirp.torch_runtime import DEVICES, device, module_on

torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()



@pytest.fixture(autouse=True)
def two_torch_threads(monkeypatch):
    monkeypatch.setenv("ASIRP_THREADS", "2")


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, tuple[Frame, dict]]:
    """A small frame and quick settings per method, as the ``gpu`` bench suite compares them."""
    return agreement_cases(str(tmp_path_factory.mktemp("weights")))


def test_device_names():
    assert DEVICES == ("auto", "cpu", "cuda")
    assert device("auto").type == ("cuda" if CUDA else "cpu")
    assert device("cpu").type == "cpu"
    with pytest.raises(ParameterError, match="unknown device 'gpu'"):
        device("gpu")
    if not CUDA:
        with pytest.raises(ParameterError, match="device='cuda' was asked for but torch sees no CUDA GPU"):
            device("cuda")


def test_module_on_leaves_a_shared_network_where_it_is():
    net = torch.nn.Conv2d(1, 1, 3)
    assert module_on(net, torch.device("cpu")) is net
    if CUDA:
        moved = module_on(net, torch.device("cuda"))
        assert moved is not net and next(moved.parameters()).is_cuda and not next(net.parameters()).is_cuda
        assert module_on(net, torch.device("cuda")) is moved  # moved once


def test_methods_listing_shows_the_device_of_every_torch_method():
    done = subprocess.run([sys.executable, "-m", "asirp.cli", "methods", "--json"], capture_output=True, text=True,
                          timeout=300, check=True)
    listed = {m["name"]: m["parameters"] for m in json.loads(done.stdout)}
    for name in TORCH_METHODS:
        assert listed[name]["device"]["default"] == "auto", name
        assert listed[name]["device"]["enum"] == list(DEVICES), name
        assert "CUDA" in listed[name]["device"]["description"], name
    assert "device" not in listed["wiener"] and "device" not in listed["bicubic"]


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without a CUDA GPU")
@pytest.mark.parametrize("name", TORCH_METHODS)
def test_cuda_without_a_gpu_is_a_clear_parameter_error(cases, name):
    frame, settings = cases[name]
    with pytest.raises(ParameterError, match="torch sees no CUDA GPU"):
        asirp.restore(frame, name, device="cuda", **settings)


@pytest.mark.skipif(CUDA, reason="auto is the CPU only on a machine without a CUDA GPU")
@pytest.mark.parametrize("name", ["supervised", "smae_halves", "symmetry", "fca_sr", "richardson_lucy"])
def test_auto_is_the_cpu_here_and_cpu_gives_the_same_result(cases, name):
    frame, settings = cases[name]
    auto = asirp.restore(frame, name, **settings)
    cpu = asirp.restore(frame, name, device="cpu", **settings)
    assert auto.data.dtype == cpu.data.dtype == np.float32
    assert np.array_equal(auto.data, cpu.data)
    assert cpu.history[-1].parameters["device"] == "cpu"


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-30))


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("name", TORCH_METHODS)
def test_every_torch_method_gives_the_cpu_result_on_the_gpu(cases, name):
    """Inference and the deconvolutions agree within 1e-3; noise2self trains on the frame for 10
    steps, where float round-off in Adam's steps leaves a little more (1e-2)."""
    frame, settings = cases[name]
    cpu = asirp.restore(frame, name, device="cpu", **settings)
    gpu = asirp.restore(frame, name, device="cuda", **settings)
    assert gpu.data.dtype == np.float32 and gpu.shape == cpu.shape
    bound = 1e-2 if name == "noise2self" else 1e-3
    assert _relative_difference(gpu.data, cpu.data) <= bound


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_auto_is_the_gpu_when_there_is_one(cases):
    frame, settings = cases["fca_sr"]
    assert asirp.restore(frame, "fca_sr", **settings).history[-1].notes["device"].startswith("cuda")
